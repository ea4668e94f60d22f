//! Attestation documents: they bind the enclave's identity key (generated inside, at start)
//! to a measurement of the enclave program, for a nonce the verifier chose.
//!
//! One document format for every backend, `version ‖ body ‖ signature` in postcard, the
//! signature (Ed25519) over `"tssw/enclave/v1/attestation\0" ‖ body`. The dev backend signs
//! with a dev attestation key kept in its data directory, so a dev document proves only
//! that whoever holds that file vouched for the key: it is **not a hardware TEE**, and the
//! document says so in its `tee_mode` and `notice`. A verifier accepts dev documents only
//! when told to and only under the dev key it was given. Nitro documents (COSE_Sign1 from
//! the NSM, certificate chain to the AWS root) are not implemented yet and are refused.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use tssw_channel::PartyId;

use crate::strict::{StrictError, decode_strict};

/// Says plainly what the dev backend is, wherever it shows.
pub const DEV_NOTICE: &str = "dev backend — not a hardware TEE";

/// The attestation format version this build writes and reads.
pub const ATTESTATION_VERSION: u8 = 1;

/// Largest encoded document.
pub const MAX_ATTESTATION_BYTES: usize = 16 * 1024;

const DOMAIN: &[u8] = b"tssw/enclave/v1/attestation\0";

/// Which kind of TEE made a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeeMode {
    /// The dev backend: a plain process. Not a hardware TEE.
    Dev,
    /// AWS Nitro Enclaves (not implemented yet).
    Nitro,
}

impl TeeMode {
    /// `dev` or `nitro`.
    pub fn name(self) -> &'static str {
        match self {
            TeeMode::Dev => "dev",
            TeeMode::Nitro => "nitro",
        }
    }
}

impl std::fmt::Display for TeeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TeeMode::Dev => write!(f, "dev ({DEV_NOTICE})"),
            TeeMode::Nitro => f.write_str("nitro"),
        }
    }
}

/// What a document states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationDoc {
    /// The TEE kind.
    pub tee_mode: TeeMode,
    /// [`DEV_NOTICE`] for the dev backend.
    pub notice: String,
    /// The enclave's identity key: it signs ceremony setups.
    pub identity: PartyId,
    /// SHA-256 of the enclave program (dev: the binary file; Nitro: PCR0).
    pub measurement: [u8; 32],
    /// Unix seconds when the enclave made the document.
    pub timestamp: u64,
    /// The requester's nonce.
    pub nonce: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Wire {
    version: u8,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: [u8; 64],
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The bytes do not parse.
    #[error("attestation document does not decode: {0}")]
    Malformed(StrictError),
    /// Longer than [`MAX_ATTESTATION_BYTES`].
    #[error("attestation document of {0} bytes is over the size bound")]
    TooLarge(usize),
    /// The document could not be encoded (a bug).
    #[error("cannot encode the attestation document")]
    Encode,
    /// A format version this build does not read.
    #[error("attestation format version {0} is not supported")]
    UnsupportedVersion(u8),
    /// A dev-backend document, and the verifier does not accept dev documents.
    #[error("attestation is from the dev backend (not a hardware TEE) and dev attestations are not accepted")]
    DevNotAccepted,
    /// A Nitro document: this build cannot verify those yet.
    #[error("Nitro attestation verification is not implemented yet")]
    NitroUnsupported,
    /// The signature does not verify under the trusted key.
    #[error("attestation signature does not verify")]
    BadSignature,
    /// The document answers another nonce (replayed or for someone else).
    #[error("attestation is for another nonce")]
    WrongNonce,
    /// The measured program is not one the verifier expects.
    #[error("measurement {0} is not in the allow-list")]
    UnknownMeasurement(String),
    /// A dev document without the dev notice.
    #[error("dev attestation without the dev notice")]
    MissingNotice,
}

/// How a verifier treats dev-backend documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptDev {
    /// Refuse them (production).
    No,
    /// Accept them when signed by this dev attestation key (local development only).
    WithKey([u8; 32]),
}

/// Signs a document with an Ed25519 attestation key (the dev backend's).
pub fn sign_dev_attestation(key: &SigningKey, doc: &AttestationDoc) -> Result<Vec<u8>, AttestationError> {
    let body = postcard::to_stdvec(doc).map_err(|_| AttestationError::Encode)?;
    let signature = key.sign(&signed(&body)).to_bytes();
    postcard::to_stdvec(&Wire { version: ATTESTATION_VERSION, body, signature }).map_err(|_| AttestationError::Encode)
}

fn signed(body: &[u8]) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    out.extend_from_slice(body);
    out
}

/// Decodes a document without checking anything but its encoding (for display).
pub fn decode_attestation(bytes: &[u8]) -> Result<AttestationDoc, AttestationError> {
    decode(bytes).map(|(doc, _)| doc)
}

fn decode(bytes: &[u8]) -> Result<(AttestationDoc, Wire), AttestationError> {
    if bytes.len() > MAX_ATTESTATION_BYTES {
        return Err(AttestationError::TooLarge(bytes.len()));
    }
    let version = *bytes.first().ok_or(AttestationError::Malformed(StrictError::Malformed("attestation")))?;
    if version != ATTESTATION_VERSION {
        return Err(AttestationError::UnsupportedVersion(version));
    }
    let wire: Wire = decode_strict(bytes, "attestation").map_err(AttestationError::Malformed)?;
    let doc: AttestationDoc = decode_strict(&wire.body, "attestation body").map_err(AttestationError::Malformed)?;
    Ok((doc, wire))
}

/// Verifies a document for the client side: the signature (dev: under the given dev key),
/// the nonce the caller sent, and the measurement against the allow-list. Returns the
/// attested statement, whose `identity` is the key that must have signed the ceremony
/// setups the caller will see.
pub fn verify_attestation(
    document: &[u8],
    expected_measurements: &[[u8; 32]],
    accept_dev: AcceptDev,
    nonce: &[u8; 32],
) -> Result<AttestationDoc, AttestationError> {
    let (doc, wire) = decode(document)?;
    let key = match (doc.tee_mode, accept_dev) {
        (TeeMode::Nitro, _) => return Err(AttestationError::NitroUnsupported),
        (TeeMode::Dev, AcceptDev::No) => return Err(AttestationError::DevNotAccepted),
        (TeeMode::Dev, AcceptDev::WithKey(key)) => key,
    };
    let key = VerifyingKey::from_bytes(&key).map_err(|_| AttestationError::BadSignature)?;
    key.verify_strict(&signed(&wire.body), &ed25519_dalek::Signature::from_bytes(&wire.signature))
        .map_err(|_| AttestationError::BadSignature)?;
    if doc.notice != DEV_NOTICE {
        return Err(AttestationError::MissingNotice);
    }
    if doc.nonce != *nonce {
        return Err(AttestationError::WrongNonce);
    }
    if !expected_measurements.contains(&doc.measurement) {
        return Err(AttestationError::UnknownMeasurement(hex::encode(doc.measurement)));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn doc() -> AttestationDoc {
        AttestationDoc {
            tee_mode: TeeMode::Dev,
            notice: DEV_NOTICE.into(),
            identity: PartyId([5; 32]),
            measurement: [6; 32],
            timestamp: 1_700_000_000,
            nonce: [7; 32],
        }
    }

    #[test]
    fn verify_and_reject() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let trusted = AcceptDev::WithKey(key.verifying_key().to_bytes());
        let bytes = sign_dev_attestation(&key, &doc()).unwrap();
        assert_eq!(verify_attestation(&bytes, &[[6; 32]], trusted, &[7; 32]).unwrap(), doc());
        assert_eq!(verify_attestation(&bytes, &[[6; 32]], trusted, &[8; 32]), Err(AttestationError::WrongNonce));
        assert!(matches!(
            verify_attestation(&bytes, &[[1; 32]], trusted, &[7; 32]),
            Err(AttestationError::UnknownMeasurement(_))
        ));
        assert_eq!(
            verify_attestation(&bytes, &[[6; 32]], AcceptDev::No, &[7; 32]),
            Err(AttestationError::DevNotAccepted)
        );
        let other = AcceptDev::WithKey(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes());
        assert_eq!(verify_attestation(&bytes, &[[6; 32]], other, &[7; 32]), Err(AttestationError::BadSignature));
        let mut quiet = doc();
        quiet.notice = String::new();
        let quiet = sign_dev_attestation(&key, &quiet).unwrap();
        assert_eq!(verify_attestation(&quiet, &[[6; 32]], trusted, &[7; 32]), Err(AttestationError::MissingNotice));
        let mut nitro = doc();
        nitro.tee_mode = TeeMode::Nitro;
        let nitro = sign_dev_attestation(&key, &nitro).unwrap();
        assert_eq!(verify_attestation(&nitro, &[[6; 32]], trusted, &[7; 32]), Err(AttestationError::NitroUnsupported));
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x04;
            assert!(verify_attestation(&t, &[[6; 32]], trusted, &[7; 32]).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode_attestation(&bytes[..cut]).is_err());
        }
    }
}
