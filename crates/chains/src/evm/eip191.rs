//! EIP-191 version 0x45 (`personal_sign`).

use alloy_primitives::{Address, B256, eip191_hash_message};

use super::{ecdsa_digest, message_signature};
use crate::error::check_size;
use crate::{ChainSignature, Error, SigningDigest, SigningPayload};

/// A `personal_sign` message for `signer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalMessage {
    message: Vec<u8>,
    signer: Address,
    hash: B256,
}

impl PersonalMessage {
    /// Largest message accepted. Sign-in messages and the like are a few hundred bytes.
    pub const MAX_LEN: usize = 64 * 1024;

    /// A message given as raw bytes.
    pub fn new(message: &[u8], signer: Address) -> Result<Self, Error> {
        check_size("personal_sign message", message.len(), Self::MAX_LEN)?;
        Ok(Self { message: message.to_vec(), signer, hash: eip191_hash_message(message) })
    }

    /// A message as the `personal_sign` RPC parameter carries it: `0x`-hex for bytes, any
    /// other string as its UTF-8 bytes (what wallets do with plain-text dapp messages).
    pub fn from_rpc_param(param: &str, signer: Address) -> Result<Self, Error> {
        check_size("personal_sign message", param.len(), 2 * Self::MAX_LEN + 2)?;
        match param.strip_prefix("0x").map(hex::decode) {
            Some(Ok(bytes)) => Self::new(&bytes, signer),
            _ => Self::new(param.as_bytes(), signer),
        }
    }

    /// The message bytes (what a wallet shows the user).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The EIP-191 digest.
    pub fn hash(&self) -> B256 {
        self.hash
    }
}

impl SigningPayload for PersonalMessage {
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
    fn hash_matches_published_value() {
        // keccak256("\x19Ethereum Signed Message:\n11Hello World"), as in alloy and ethers.
        let m = PersonalMessage::from_rpc_param("Hello World", Address::ZERO).unwrap();
        assert_eq!(hex::encode(m.hash()), "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");
        let hexed = PersonalMessage::from_rpc_param("0x48656c6c6f20576f726c64", Address::ZERO).unwrap();
        assert_eq!(hexed.hash(), m.hash());
    }

    #[test]
    fn oversized_and_bad_signatures_are_errors() {
        let big = vec![0u8; PersonalMessage::MAX_LEN + 1];
        assert!(matches!(PersonalMessage::new(&big, Address::ZERO), Err(Error::TooLarge { .. })));
        let m = PersonalMessage::new(b"x", Address::ZERO).unwrap();
        assert!(m.assemble(&[]).is_err());
        let zero = ChainSignature::Ecdsa { r: [0; 32], s: [0; 32], recovery_id: 0 };
        assert!(m.assemble(&[zero]).is_err());
        let bad_v = ChainSignature::Ecdsa { r: [1; 32], s: [1; 32], recovery_id: 7 };
        assert!(m.assemble(&[bad_v]).is_err());
        assert!(m.assemble(&[ChainSignature::Ed25519([0; 64])]).is_err());
    }
}
