//! Exactly what a payload signs, for showing the user before signing and for `tssw digest`:
//! the bytes or hash the ceremony signs (from [`ChainPayload::sign_request`], the enclave's
//! own code path) and what another tool needs to check it (the EIP-712 domain separator and
//! struct hash, the Solana message bytes, each PSBT input's sighash type).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use tssw_api::{ChainPayload, PayloadError};
use tssw_chains::bitcoin::Network;
use tssw_chains::evm::TxType;
use tssw_chains::solana::MessageVersion;
use tssw_chains::{Payload, address};
use tssw_protocol::{SignRequest, WalletKey};

use crate::input::SignInput;

/// What one ceremony signs, with the details that let another tool recompute it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Digest {
    /// An EVM transaction: ECDSA over its signing hash.
    EvmTransaction {
        /// The signing address.
        signer: String,
        /// `eip1559` or `legacy`.
        tx_type: &'static str,
        /// The chain id the signature commits to.
        chain_id: u64,
        /// keccak-256 of the unsigned transaction's signing encoding, `0x`-hex.
        signing_hash: String,
        /// The recipient (EIP-55); absent for a contract creation.
        to: Option<String>,
        /// Wei sent, decimal.
        value_wei: String,
        /// The nonce.
        nonce: u64,
        /// The gas limit.
        gas_limit: u64,
        /// Max fee per gas (EIP-1559) or gas price (legacy), wei, decimal.
        max_fee_per_gas_wei: String,
        /// Priority fee per gas (EIP-1559), wei, decimal.
        max_priority_fee_per_gas_wei: Option<String>,
        /// Call data, `0x`-hex.
        data: String,
    },
    /// An EIP-191 `personal_sign` message.
    Eip191 {
        /// The signing address.
        signer: String,
        /// The message bytes, `0x`-hex.
        message: String,
        /// The message as text, when it is UTF-8.
        text: Option<String>,
        /// keccak-256("\x19Ethereum Signed Message:\n" ‖ len ‖ message), `0x`-hex.
        digest: String,
    },
    /// EIP-712 typed data.
    Eip712 {
        /// The signing address.
        signer: String,
        /// The primary type.
        primary_type: String,
        /// hashStruct(domain), `0x`-hex.
        domain_separator: String,
        /// hashStruct(message), `0x`-hex; absent when the primary type is `EIP712Domain`.
        struct_hash: Option<String>,
        /// keccak-256(0x1901 ‖ domain separator ‖ struct hash), `0x`-hex.
        digest: String,
    },
    /// A Solana transaction or bare message: Ed25519 over the message bytes themselves.
    SolanaTransaction {
        /// The signer (base58).
        signer: String,
        /// This wallet's signature slot (0 = fee payer).
        signer_index: usize,
        /// `legacy` or `v0`.
        version: &'static str,
        /// System Program transfers in the message (others are not decoded).
        transfers: Vec<SolanaTransfer>,
        /// Instructions in the message, decoded or not.
        instructions: usize,
        /// The exact message bytes signed, base64.
        message_base64: String,
        /// The same, hex.
        message_hex: String,
    },
    /// A Solana off-chain message: Ed25519 over the header and text.
    SolanaOffchainMessage {
        /// The signer (base58).
        signer: String,
        /// The exact bytes signed (signing domain, header, message), hex.
        signed_hex: String,
    },
    /// One Taproot key-path input of a PSBT: BIP-340 over its BIP-341 sighash.
    BitcoinInput {
        /// The input index.
        input: usize,
        /// `SIGHASH_DEFAULT` or `SIGHASH_ALL`.
        sighash_type: String,
        /// The 32 bytes BIP-340 signs, hex, in the order signed.
        sighash: String,
        /// What the transaction pays: every output, by address (or script hex).
        outputs: Vec<BitcoinOutput>,
        /// Inputs minus outputs, sats (absent if the outputs pay more).
        fee_sat: Option<u64>,
    },
    /// A raw digest (only with the wallet's opt-in).
    Raw {
        /// The digest, hex.
        digest: String,
    },
}

/// A System Program transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SolanaTransfer {
    /// From (base58).
    pub from: String,
    /// To (base58).
    pub to: String,
    /// Lamports.
    pub lamports: u64,
}

/// A transaction output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BitcoinOutput {
    /// Its address on the input's network, or its script in hex.
    pub to: String,
    /// Sats.
    pub value_sat: u64,
}

/// What every payload of `input` signs, in order.
pub fn describe_input(input: &SignInput) -> Result<Vec<Digest>, PayloadError> {
    input.payloads().iter().map(|p| describe(p, input.key(), input.options().network)).collect()
}

/// What `payload` signs for the wallet of `key` (Bitcoin addresses on `network`).
pub fn describe(payload: &ChainPayload, key: &WalletKey, network: Network) -> Result<Digest, PayloadError> {
    let parsed = payload.parse(key)?;
    let evm_signer =
        || -> Result<String, PayloadError> { Ok(address::evm_address_checksummed(parsed.signer.as_bytes())?) };
    let solana_signer = || -> Result<String, PayloadError> { Ok(address::solana_address(parsed.signer.as_bytes())?) };
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    Ok(match (&parsed.chain, &parsed.request) {
        (Some(Payload::EvmTransaction(tx)), SignRequest::Ecdsa { prehash, .. }) => {
            let summary = tx.summary();
            Digest::EvmTransaction {
                signer: evm_signer()?,
                tx_type: match tx.tx_type() {
                    TxType::Eip1559 => "eip1559",
                    TxType::Legacy => "legacy",
                },
                chain_id: tx.chain_id(),
                signing_hash: hex0x(prehash),
                to: summary.to.map(|a| a.to_checksum(None)),
                value_wei: summary.value.to_string(),
                nonce: summary.nonce,
                gas_limit: summary.gas_limit,
                max_fee_per_gas_wei: summary.max_fee_per_gas.to_string(),
                max_priority_fee_per_gas_wei: summary.max_priority_fee_per_gas.map(|f| f.to_string()),
                data: hex0x(&summary.input),
            }
        }
        (Some(Payload::EvmPersonalMessage(m)), SignRequest::Ecdsa { prehash, .. }) => Digest::Eip191 {
            signer: evm_signer()?,
            message: hex0x(m.message()),
            text: String::from_utf8(m.message().to_vec()).ok(),
            digest: hex0x(prehash),
        },
        (Some(Payload::EvmTypedData(t)), SignRequest::Ecdsa { prehash, .. }) => Digest::Eip712 {
            signer: evm_signer()?,
            primary_type: t.typed_data().primary_type.clone(),
            domain_separator: hex0x(t.domain_separator().as_slice()),
            struct_hash: t.struct_hash().map(|h| hex0x(h.as_slice())),
            digest: hex0x(prehash),
        },
        (Some(Payload::SolanaTransaction(tx)), SignRequest::Ed25519 { message }) => Digest::SolanaTransaction {
            signer: solana_signer()?,
            signer_index: tx.signer_index(),
            version: match tx.version() {
                MessageVersion::Legacy => "legacy",
                MessageVersion::V0 => "v0",
            },
            transfers: tx
                .system_transfers()
                .into_iter()
                .map(|(from, to, lamports)| SolanaTransfer { from, to, lamports })
                .collect(),
            instructions: tx.instruction_count(),
            message_base64: BASE64.encode(message),
            message_hex: hex::encode(message),
        },
        (Some(Payload::SolanaOffchainMessage(_)), SignRequest::Ed25519 { message }) => {
            Digest::SolanaOffchainMessage { signer: solana_signer()?, signed_hex: hex::encode(message) }
        }
        (Some(Payload::BitcoinPsbt(psbt)), SignRequest::Bip340 { sighash, .. }) => {
            let index = match payload {
                ChainPayload::BitcoinPsbtInput { input, .. } => usize::try_from(*input).ok(),
                _ => None,
            };
            let owned = psbt
                .owned_inputs()
                .iter()
                .find(|o| Some(o.index) == index)
                .ok_or(PayloadError::Key("PSBT input is not one of this wallet's".into()))?;
            let (outputs, fee_sat) = psbt.outputs(network);
            Digest::BitcoinInput {
                input: owned.index,
                sighash_type: owned.sighash_type.to_string(),
                sighash: hex::encode(sighash),
                outputs: outputs.into_iter().map(|(to, value_sat)| BitcoinOutput { to, value_sat }).collect(),
                fee_sat,
            }
        }
        (None, request) => Digest::Raw { digest: hex::encode(request_bytes(request)) },
        _ => return Err(PayloadError::Key("payload and request disagree".into())),
    })
}

/// The bytes a request signs: the ECDSA prehash, the Ed25519 message, the BIP-340 sighash.
pub fn request_bytes(request: &SignRequest) -> Vec<u8> {
    match request {
        SignRequest::Ecdsa { prehash, .. } => prehash.to_vec(),
        SignRequest::Ed25519 { message } => message.clone(),
        SignRequest::Bip340 { sighash, .. } => sighash.to_vec(),
    }
}
