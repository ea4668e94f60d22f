//! EIP-712 typed data from `eth_signTypedData_v4` JSON.

use alloy_dyn_abi::TypedData as DynTypedData;
use alloy_primitives::{Address, B256};

use super::{ecdsa_digest, message_signature};
use crate::error::check_size;
use crate::{ChainSignature, Error, SigningDigest, SigningPayload};

/// Typed data for `signer`, with its digest computed once at parse time so a payload that
/// cannot be hashed is refused before any ceremony starts.
#[derive(Clone, Debug)]
pub struct TypedData {
    data: DynTypedData,
    signer: Address,
    hash: B256,
    struct_hash: Option<B256>,
}

impl TypedData {
    /// Largest JSON document accepted; Permit2 batches and Seaport orders stay far below.
    pub const MAX_JSON_LEN: usize = 128 * 1024;

    /// Parses the `eth_signTypedData_v4` parameter: the typed-data object, or (as many dapps
    /// send it) a JSON string containing that object.
    pub fn from_json(json: &[u8], signer: Address) -> Result<Self, Error> {
        check_size("EIP-712 JSON", json.len(), Self::MAX_JSON_LEN)?;
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| Error::malformed("EIP-712 JSON", e))?;
        let value = match value {
            serde_json::Value::String(inner) => {
                serde_json::from_str(&inner).map_err(|e| Error::malformed("EIP-712 JSON", e))?
            }
            other => other,
        };
        let data: DynTypedData = serde_json::from_value(value).map_err(|e| Error::malformed("EIP-712 JSON", e))?;
        let hash = data.eip712_signing_hash().map_err(|e| Error::malformed("EIP-712 typed data", e))?;
        // alloy (like MetaMask) leaves the message out of the digest for this primary type.
        let struct_hash = if data.primary_type == "EIP712Domain" {
            None
        } else {
            Some(data.hash_struct().map_err(|e| Error::malformed("EIP-712 typed data", e))?)
        };
        Ok(Self { data, signer, hash, struct_hash })
    }

    /// The parsed typed data (domain, primary type, message) for policy checks and display.
    pub fn typed_data(&self) -> &DynTypedData {
        &self.data
    }

    /// The EIP-712 signing digest `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The domain separator, `hashStruct(domain)`.
    pub fn domain_separator(&self) -> B256 {
        self.data.domain().separator()
    }

    /// `hashStruct(message)`; `None` when the primary type is `EIP712Domain`, whose digest
    /// is `keccak256(0x1901 ‖ domainSeparator)` alone.
    pub fn struct_hash(&self) -> Option<B256> {
        self.struct_hash
    }
}

impl SigningPayload for TypedData {
    type Output = [u8; 65];

    fn digests(&self) -> Vec<SigningDigest> {
        ecdsa_digest(&self.hash)
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<[u8; 65], Error> {
        message_signature(signatures, &self.hash, self.signer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn malformed_typed_data_is_an_error() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"\"{\"",
            b"{\"types\":{},\"primaryType\":\"Mail\",\"domain\":{},\"message\":{}}",
            b"{\"types\":{\"EIP712Domain\":[],\"A\":[{\"name\":\"a\",\"type\":\"A\"}]},\"primaryType\":\"A\",\"domain\":{},\"message\":{\"a\":{}}}",
        ] {
            assert!(TypedData::from_json(bad, Address::ZERO).is_err(), "{bad:?}");
        }
        let big = vec![b' '; TypedData::MAX_JSON_LEN + 1];
        assert!(matches!(TypedData::from_json(&big, Address::ZERO), Err(Error::TooLarge { .. })));
    }
}
