//! One error type for every chain: callers (the enclave's policy layer, the client) branch on
//! the variant, never on the message text.

use thiserror::Error;

/// Everything that can go wrong while parsing a payload, computing its digest or attaching
/// signatures. Input errors never panic; they end up here.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than this payload type accepts; checked before any parsing.
    #[error("{what} is {got} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its limit.
        max: usize,
        /// Its size.
        got: usize,
    },
    /// The input could not be decoded (JSON, hex, base64, base58, RLP, wire format, PSBT).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which input.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// A field the digest depends on is absent and there is no safe default.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The input decodes but asks for something this crate refuses to sign.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A public key has the wrong length or is not a valid curve point.
    #[error("invalid {scheme} public key: {reason}")]
    InvalidPublicKey {
        /// Which key format.
        scheme: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A signature is malformed or does not verify for the payload and key.
    #[error("invalid signature{}: {reason}", index.map(|i| format!(" #{i}")).unwrap_or_default())]
    InvalidSignature {
        /// Position in the signature list, when there are several.
        index: Option<usize>,
        /// Why it was rejected.
        reason: String,
    },
    /// The number or kind of signatures handed to `assemble` does not match the digests.
    #[error("expected {expected} signature(s) of scheme {scheme}, got {got}")]
    SignatureCount {
        /// Scheme of this payload.
        scheme: &'static str,
        /// How many digests there were.
        expected: usize,
        /// How many signatures of the right scheme came back.
        got: usize,
    },
    /// The payload names a signer that is not this wallet's key.
    #[error("signer mismatch: {0}")]
    SignerMismatch(String),
    /// A Bitcoin input claims to be ours but its prevout does not pay to our key.
    #[error("input {index} is not spendable by this key: {reason}")]
    ForeignInput {
        /// Input index in the PSBT.
        index: usize,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: impl ToString) -> Self {
        Self::Malformed { what, reason: reason.to_string() }
    }

    pub(crate) fn bad_sig(index: Option<usize>, reason: impl ToString) -> Self {
        Self::InvalidSignature { index, reason: reason.to_string() }
    }
}

/// Size bounds are checked before a decoder sees a byte, so a hostile payload cannot make
/// the enclave allocate or spin in proportion to its length.
pub(crate) fn check_size(what: &'static str, got: usize, max: usize) -> Result<(), Error> {
    if got > max {
        return Err(Error::TooLarge { what, max, got });
    }
    Ok(())
}
