//! EIP-1559 and legacy EIP-155 transactions from `eth_sendTransaction`-shaped JSON.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::AccessList;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use serde::Deserialize;

use super::{ecdsa_digest, recoverable_signature};
use crate::error::check_size;
use crate::{ChainSignature, Error, SigningDigest, SigningPayload};

/// The transaction types this wallet signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxType {
    /// Type 0 with EIP-155 replay protection (a chain id is always required).
    Legacy,
    /// Type 2 (EIP-1559).
    Eip1559,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum UnsignedTx {
    Legacy(TxLegacy),
    Eip1559(TxEip1559),
}

/// An unsigned EVM transaction from `signer`, ready to hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmTransaction {
    tx: UnsignedTx,
    signer: Address,
    hash: B256,
}

/// A signed transaction in its EIP-2718 encoding (what `eth_sendRawTransaction` takes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEvmTransaction {
    /// The raw EIP-2718 bytes (RLP for legacy, `0x02 ‖ RLP` for EIP-1559).
    pub raw: Vec<u8>,
    /// The transaction hash (keccak-256 of `raw`).
    pub hash: B256,
}

impl SignedEvmTransaction {
    /// `0x`-prefixed hex of the raw transaction.
    pub fn raw_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.raw))
    }
}

/// The `eth_sendTransaction` request object. Unknown fields are refused: the enclave must not
/// sign a request containing something it did not interpret (e.g. blob or authorization lists).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TransactionRequest {
    from: Option<Address>,
    to: Option<Address>,
    #[serde(default, with = "alloy_serde::quantity::opt", alias = "gasLimit")]
    gas: Option<u64>,
    #[serde(default, with = "alloy_serde::quantity::opt")]
    gas_price: Option<u128>,
    #[serde(default, with = "alloy_serde::quantity::opt")]
    max_fee_per_gas: Option<u128>,
    #[serde(default, with = "alloy_serde::quantity::opt")]
    max_priority_fee_per_gas: Option<u128>,
    value: Option<U256>,
    data: Option<Bytes>,
    input: Option<Bytes>,
    #[serde(default, with = "alloy_serde::quantity::opt")]
    nonce: Option<u64>,
    #[serde(default, with = "alloy_serde::quantity::opt")]
    chain_id: Option<u64>,
    #[serde(default, rename = "type", with = "alloy_serde::quantity::opt")]
    tx_type: Option<u8>,
    access_list: Option<AccessList>,
}

impl EvmTransaction {
    /// Largest request JSON accepted: room for a contract deployment at the EIP-3860 initcode
    /// limit (48 KiB, twice that in hex) plus an access list.
    pub const MAX_JSON_LEN: usize = 256 * 1024;

    /// Parses an `eth_sendTransaction` request. The wallet fills in what a dapp usually omits
    /// (nonce, gas, fees, chain id) before this call: there is no RPC here, so every field the
    /// digest covers must be present. `chain_id` is used when the request carries none and
    /// must match it when it does. A `from` must equal `signer`.
    pub fn from_request_json(json: &[u8], signer: Address, chain_id: Option<u64>) -> Result<Self, Error> {
        check_size("transaction request JSON", json.len(), Self::MAX_JSON_LEN)?;
        let req: TransactionRequest =
            serde_json::from_slice(json).map_err(|e| Error::malformed("transaction request JSON", e))?;
        if let Some(from) = req.from
            && from != signer
        {
            return Err(Error::SignerMismatch(format!("request is from {from}, wallet address is {signer}")));
        }
        let chain_id = match (req.chain_id, chain_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::Unsupported(format!("request chain id {a} differs from the wallet's chain id {b}")));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Err(Error::MissingField("chainId")),
        };
        let input = match (req.data, req.input) {
            (Some(d), Some(i)) if d != i => {
                return Err(Error::malformed("transaction request JSON", "`data` and `input` differ"));
            }
            (Some(b), _) | (None, Some(b)) => b,
            (None, None) => Bytes::new(),
        };
        let to = req.to.map_or(TxKind::Create, TxKind::Call);
        let nonce = req.nonce.ok_or(Error::MissingField("nonce"))?;
        let gas_limit = req.gas.ok_or(Error::MissingField("gas"))?;
        let value = req.value.unwrap_or_default();
        let has_1559_fees = req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some();
        let kind = match req.tx_type {
            Some(0) => TxType::Legacy,
            Some(2) => TxType::Eip1559,
            Some(t) => return Err(Error::Unsupported(format!("transaction type {t}"))),
            None if has_1559_fees => TxType::Eip1559,
            None if req.gas_price.is_some() => TxType::Legacy,
            None => return Err(Error::MissingField("maxFeePerGas")),
        };
        let tx = match kind {
            TxType::Legacy => {
                if has_1559_fees || req.access_list.is_some() {
                    return Err(Error::malformed(
                        "transaction request JSON",
                        "legacy transaction with EIP-1559 fields or an access list",
                    ));
                }
                UnsignedTx::Legacy(TxLegacy {
                    chain_id: Some(chain_id),
                    nonce,
                    gas_price: req.gas_price.ok_or(Error::MissingField("gasPrice"))?,
                    gas_limit,
                    to,
                    value,
                    input,
                })
            }
            TxType::Eip1559 => {
                if req.gas_price.is_some() {
                    return Err(Error::malformed("transaction request JSON", "EIP-1559 transaction with gasPrice"));
                }
                UnsignedTx::Eip1559(TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: req.max_fee_per_gas.ok_or(Error::MissingField("maxFeePerGas"))?,
                    max_priority_fee_per_gas: req
                        .max_priority_fee_per_gas
                        .ok_or(Error::MissingField("maxPriorityFeePerGas"))?,
                    to,
                    value,
                    access_list: req.access_list.unwrap_or_default(),
                    input,
                })
            }
        };
        Self::from_unsigned(tx, signer)
    }

    /// A legacy transaction built in code; it must carry a chain id (EIP-155).
    pub fn legacy(tx: TxLegacy, signer: Address) -> Result<Self, Error> {
        if tx.chain_id.is_none() {
            return Err(Error::MissingField("chainId"));
        }
        Self::from_unsigned(UnsignedTx::Legacy(tx), signer)
    }

    /// An EIP-1559 transaction built in code.
    pub fn eip1559(tx: TxEip1559, signer: Address) -> Result<Self, Error> {
        Self::from_unsigned(UnsignedTx::Eip1559(tx), signer)
    }

    fn from_unsigned(tx: UnsignedTx, signer: Address) -> Result<Self, Error> {
        if let UnsignedTx::Eip1559(t) = &tx
            && t.max_priority_fee_per_gas > t.max_fee_per_gas
        {
            return Err(Error::malformed("transaction", "maxPriorityFeePerGas exceeds maxFeePerGas"));
        }
        let hash = match &tx {
            UnsignedTx::Legacy(t) => t.signature_hash(),
            UnsignedTx::Eip1559(t) => t.signature_hash(),
        };
        Ok(Self { tx, signer, hash })
    }

    /// Which type this is.
    pub fn tx_type(&self) -> TxType {
        match self.tx {
            UnsignedTx::Legacy(_) => TxType::Legacy,
            UnsignedTx::Eip1559(_) => TxType::Eip1559,
        }
    }

    /// The chain id the signature commits to.
    pub fn chain_id(&self) -> u64 {
        match &self.tx {
            UnsignedTx::Legacy(t) => t.chain_id.unwrap_or_default(),
            UnsignedTx::Eip1559(t) => t.chain_id,
        }
    }

    /// The digest the ceremony signs (keccak-256 of the signing encoding).
    pub fn signature_hash(&self) -> B256 {
        self.hash
    }

    /// What the transaction does, field by field, for a confirmation screen.
    pub fn summary(&self) -> TxSummary {
        match &self.tx {
            UnsignedTx::Legacy(t) => TxSummary {
                to: t.to.to().copied(),
                value: t.value,
                nonce: t.nonce,
                gas_limit: t.gas_limit,
                max_fee_per_gas: t.gas_price,
                max_priority_fee_per_gas: None,
                input: t.input.clone(),
            },
            UnsignedTx::Eip1559(t) => TxSummary {
                to: t.to.to().copied(),
                value: t.value,
                nonce: t.nonce,
                gas_limit: t.gas_limit,
                max_fee_per_gas: t.max_fee_per_gas,
                max_priority_fee_per_gas: Some(t.max_priority_fee_per_gas),
                input: t.input.clone(),
            },
        }
    }
}

/// The fields of an unsigned transaction a user decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSummary {
    /// The recipient; `None` creates a contract.
    pub to: Option<Address>,
    /// Wei sent.
    pub value: U256,
    /// The sender's nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// EIP-1559 max fee per gas, or the legacy gas price (wei).
    pub max_fee_per_gas: u128,
    /// EIP-1559 priority fee per gas (wei); `None` for legacy.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Call data.
    pub input: Bytes,
}

impl SigningPayload for EvmTransaction {
    type Output = SignedEvmTransaction;

    fn digests(&self) -> Vec<SigningDigest> {
        ecdsa_digest(&self.hash)
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<SignedEvmTransaction, Error> {
        let sig = recoverable_signature(signatures, &self.hash, self.signer)?;
        let envelope: TxEnvelope = match &self.tx {
            UnsignedTx::Legacy(t) => t.clone().into_signed(sig).into(),
            UnsignedTx::Eip1559(t) => t.clone().into_signed(sig).into(),
        };
        Ok(SignedEvmTransaction { raw: envelope.encoded_2718(), hash: *envelope.tx_hash() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const FULL_1559: &str = r#"{"from":"0x0000000000000000000000000000000000000000","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0xde0b6b3a7640000","nonce":"0x9","chainId":"0x1"}"#;

    #[test]
    fn parses_both_types() {
        let tx = EvmTransaction::from_request_json(FULL_1559.as_bytes(), Address::ZERO, None).unwrap();
        assert_eq!(tx.tx_type(), TxType::Eip1559);
        assert_eq!(tx.chain_id(), 1);
        let legacy = r#"{"to":"0x3535353535353535353535353535353535353535","gas":"0x5208","gasPrice":"0x4a817c800","value":"0xde0b6b3a7640000","nonce":"0x9","data":"0x"}"#;
        let tx = EvmTransaction::from_request_json(legacy.as_bytes(), Address::ZERO, Some(1)).unwrap();
        assert_eq!(tx.tx_type(), TxType::Legacy);
    }

    #[test]
    fn malformed_requests_are_errors() {
        let cases: &[(&str, Option<u64>)] = &[
            ("", Some(1)),
            ("{", Some(1)),
            ("null", Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0"}"#, None),
            (r#"{"gas":"0x5208","nonce":"0x0"}"#, Some(1)),
            (r#"{"gasPrice":"0x1","nonce":"0x0"}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1"}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","type":"0x3"}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","type":"0x2"}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","chainId":"0x5"}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","blobs":[]}"#, Some(1)),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","data":"0x00","input":"0x01"}"#, Some(1)),
            (r#"{"gas":"0x5208","maxFeePerGas":"0x1","maxPriorityFeePerGas":"0x2","nonce":"0x0"}"#, Some(1)),
            (r#"{"gas":"0x10000000000000000","gasPrice":"0x1","nonce":"0x0"}"#, Some(1)),
            (
                r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","from":"0x0000000000000000000000000000000000000001"}"#,
                Some(1),
            ),
            (r#"{"gas":"0x5208","gasPrice":"0x1","nonce":"0x0","to":"0x12"}"#, Some(1)),
        ];
        for (json, chain) in cases {
            assert!(EvmTransaction::from_request_json(json.as_bytes(), Address::ZERO, *chain).is_err(), "{json}");
        }
        let big = vec![b' '; EvmTransaction::MAX_JSON_LEN + 1];
        assert!(matches!(EvmTransaction::from_request_json(&big, Address::ZERO, Some(1)), Err(Error::TooLarge { .. })));
    }
}
