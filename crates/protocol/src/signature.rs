//! What a signing ceremony signs and what it produces.

use serde::{Deserialize, Serialize};

use crate::{Error, Scheme};

/// Bound on an Ed25519 message (a Solana transaction message is at most 1232 bytes; off-chain
/// messages are small too).
pub const MAX_ED25519_MESSAGE: usize = 64 * 1024;

/// What to sign, per scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignRequest {
    /// ECDSA over a 32-byte prehash (e.g. an EVM signing hash), optionally under a
    /// non-hardened BIP-32 child key such as `m/44/60/0/0/0`.
    Ecdsa {
        /// The 32-byte message hash.
        prehash: [u8; 32],
        /// A non-hardened derivation path from the DKG chain code, or `None` for the root key.
        derivation_path: Option<String>,
    },
    /// Ed25519 over the message bytes (RFC 8032 hashes them itself).
    Ed25519 {
        /// The message, at most [`MAX_ED25519_MESSAGE`] bytes.
        message: Vec<u8>,
    },
    /// BIP-340 over a BIP-341 sighash, key-path spend of the wallet's taproot output key;
    /// with a merkle root, for the output key that commits to that script tree instead.
    Bip340 {
        /// The 32-byte BIP-341 sighash.
        sighash: [u8; 32],
        /// The taproot script tree's merkle root, if the output has one.
        merkle_root: Option<[u8; 32]>,
    },
}

impl SignRequest {
    /// The scheme that signs this request.
    pub fn scheme(&self) -> Scheme {
        match self {
            SignRequest::Ecdsa { .. } => Scheme::Ecdsa,
            SignRequest::Ed25519 { .. } => Scheme::Ed25519,
            SignRequest::Bip340 { .. } => Scheme::Bip340,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        match self {
            SignRequest::Ed25519 { message } if message.len() > MAX_ED25519_MESSAGE => Err(Error::InvalidParameters(
                format!("message of {} bytes exceeds {MAX_ED25519_MESSAGE}", message.len()),
            )),
            _ => Ok(()),
        }
    }
}

/// A finished signature in the scheme's standard form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signature {
    /// ECDSA `(r, s)` with low `s` and the recovery id (parity of R's y, plus 2 if R's x
    /// overflowed the group order).
    Ecdsa {
        /// Big-endian r.
        r: [u8; 32],
        /// Big-endian s, normalized to the lower half.
        s: [u8; 32],
        /// 0..=3.
        recovery_id: u8,
    },
    /// RFC 8032 Ed25519 signature `R ‖ S`.
    Ed25519(#[serde(with = "serde_bytes")] [u8; 64]),
    /// BIP-340 signature `x(R) ‖ s`.
    Bip340(#[serde(with = "serde_bytes")] [u8; 64]),
}

impl Signature {
    /// The signature bytes: `r ‖ s ‖ recovery_id` (65) for ECDSA, 64 bytes otherwise.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Signature::Ecdsa { r, s, recovery_id } => {
                let mut out = Vec::with_capacity(65);
                out.extend_from_slice(r);
                out.extend_from_slice(s);
                out.push(*recovery_id);
                out
            }
            Signature::Ed25519(sig) | Signature::Bip340(sig) => sig.to_vec(),
        }
    }
}
