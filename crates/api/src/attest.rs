//! Attestation documents: they bind the enclave's identity key (generated inside, at start)
//! to a measurement of the enclave program, for a nonce the verifier chose.
//!
//! Two formats, told apart by their first byte, and one verifier, [`verify_attestation`],
//! driven by a [`TrustPolicy`] and an injected clock:
//!
//! - **dev** (`version ‖ body ‖ signature` in postcard, first byte [`ATTESTATION_VERSION`]): the
//!   body {notice, identity, SHA-256 of the enclave binary, timestamp, nonce} signed with
//!   Ed25519 over `"tssw/enclave/v1/attestation\0" ‖ body` by a dev attestation key kept in the
//!   dev backend's data directory. It proves only that whoever holds that file vouched for the
//!   key: it is **not a hardware TEE**, and the document says so. Accepted only under
//!   [`TrustPolicy::dev`], with the dev key and binary measurements it names.
//! - **Nitro** (a COSE_Sign1 from the AWS Nitro Security Module, first byte `0x84` or tag 18):
//!   verified by [`nitro::verify_nitro_document`] (certificate chain to the pinned AWS Nitro
//!   root, validity at `now`, ES384 signature), then against [`TrustPolicy::nitro`]: PCR0 (and
//!   PCR1/2/8 where the policy names them) on the allow-list, a non-debug enclave, the nonce,
//!   and the enclave identity in `user_data` as [`NITRO_IDENTITY_TAG`] ‖ 32-byte key.
//!
//! Either way the verifier returns an [`AttestationDoc`] whose `identity` is the key that must
//! have signed the ceremony setups the caller will see.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use tssw_channel::PartyId;

use crate::strict::{StrictError, decode_strict};

pub mod nitro;

pub use nitro::{AWS_NITRO_ROOT_G1, AWS_NITRO_ROOT_G1_SHA256, NitroDocument, NitroError, PCR_BYTES};

/// Says plainly what the dev backend is, wherever it shows.
pub const DEV_NOTICE: &str = "dev backend — not a hardware TEE";

/// What a verified Nitro document is.
pub const NITRO_NOTICE: &str = "AWS Nitro Enclaves: NSM attestation verified to the AWS Nitro root";

/// The dev attestation format version this build writes and reads (its first byte).
pub const ATTESTATION_VERSION: u8 = 2;

/// Largest encoded document of either kind (the NSM's own bound is 16 KiB).
pub const MAX_ATTESTATION_BYTES: usize = 16 * 1024;

/// How a Nitro enclave's `user_data` starts: the identity key follows (32 bytes), nothing else.
pub const NITRO_IDENTITY_TAG: &[u8] = b"tssw/enclave/v1/nitro-identity\0";

const DOMAIN: &[u8] = b"tssw/enclave/v1/attestation\0";

/// Which kind of TEE made a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeeMode {
    /// The dev backend: a plain process. Not a hardware TEE.
    Dev,
    /// AWS Nitro Enclaves.
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

/// A Nitro platform configuration register (SHA-384).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pcr(#[serde(with = "serde_bytes")] pub [u8; PCR_BYTES]);

impl std::fmt::Debug for Pcr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pcr({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for Pcr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// What was measured, per backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Measurement {
    /// SHA-256 of the enclave binary (dev backend).
    Sha256([u8; 32]),
    /// The Nitro enclave image: PCR0 (whole image), PCR1 (kernel and boot ramfs), PCR2
    /// (application).
    Nitro {
        /// PCR0: SHA-384 of the enclave image file.
        pcr0: Pcr,
        /// PCR1: the Linux kernel and bootstrap.
        pcr1: Pcr,
        /// PCR2: the application.
        pcr2: Pcr,
    },
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measurement::Sha256(m) => write!(f, "sha256:{}", hex::encode(m)),
            Measurement::Nitro { pcr0, pcr1, pcr2 } => write!(f, "pcr0:{pcr0} pcr1:{pcr1} pcr2:{pcr2}"),
        }
    }
}

/// What a document states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationDoc {
    /// The TEE kind.
    pub tee_mode: TeeMode,
    /// [`DEV_NOTICE`] or [`NITRO_NOTICE`].
    pub notice: String,
    /// The enclave's identity key: it signs ceremony setups.
    pub identity: PartyId,
    /// What was measured.
    pub measurement: Measurement,
    /// Unix seconds when the enclave (dev) or the NSM (Nitro) made the document.
    pub timestamp: u64,
    /// The requester's nonce.
    pub nonce: [u8; 32],
}

/// The signed body of a dev document.
#[derive(Serialize, Deserialize)]
struct DevBody {
    notice: String,
    identity: PartyId,
    measurement: [u8; 32],
    timestamp: u64,
    nonce: [u8; 32],
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
    /// Neither a dev document of this version nor a Nitro document.
    #[error("attestation format version {0} is not supported")]
    UnsupportedVersion(u8),
    /// A dev-backend document, and the verifier does not accept dev documents.
    #[error("attestation is from the dev backend (not a hardware TEE) and dev attestations are not accepted")]
    DevNotAccepted,
    /// A Nitro document, and the policy has no Nitro allow-list.
    #[error("attestation is from AWS Nitro Enclaves and the policy accepts no Nitro image")]
    NitroNotAccepted,
    /// The Nitro document failed verification.
    #[error("Nitro attestation: {0}")]
    Nitro(NitroError),
    /// The document comes from a Nitro enclave in debug mode (zero PCRs: its memory is open
    /// to the host).
    #[error("attestation is from a Nitro enclave in debug mode")]
    DebugEnclave,
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
    /// A Nitro document whose `user_data` is not a tssw enclave identity.
    #[error("Nitro attestation does not bind a tssw enclave identity in user_data")]
    NoIdentity,
}

/// What a verifier trusts. The default trusts nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Dev-backend documents: refused unless set. Local development only.
    pub dev: Option<DevTrust>,
    /// Nitro documents: refused unless set.
    pub nitro: Option<NitroTrust>,
}

/// Dev documents a verifier accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevTrust {
    /// The dev attestation public key of the data directory the enclave runs on.
    pub key: [u8; 32],
    /// SHA-256 of enclave binaries accepted.
    pub measurements: Vec<[u8; 32]>,
}

/// Nitro documents a verifier accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NitroTrust {
    /// The root certificate (DER) the chain must start at: [`AWS_NITRO_ROOT_G1`].
    pub root: Vec<u8>,
    /// Images accepted: a document matches when it matches one entry.
    pub images: Vec<PcrPolicy>,
}

/// One accepted Nitro image: PCR0, and PCR1/PCR2/PCR8 where set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcrPolicy {
    /// PCR0, the image hash (`nitro-cli build-enclave` prints it).
    pub pcr0: Pcr,
    /// PCR1 (kernel and bootstrap), if pinned.
    pub pcr1: Option<Pcr>,
    /// PCR2 (application), if pinned.
    pub pcr2: Option<Pcr>,
    /// PCR8 (the certificate that signed the image file), if pinned.
    pub pcr8: Option<Pcr>,
}

impl PcrPolicy {
    /// An entry pinning PCR0 only.
    pub fn pcr0(pcr0: [u8; PCR_BYTES]) -> PcrPolicy {
        PcrPolicy { pcr0: Pcr(pcr0), pcr1: None, pcr2: None, pcr8: None }
    }

    fn admits(&self, doc: &NitroDocument) -> bool {
        let pinned = [(0u8, Some(self.pcr0)), (1, self.pcr1), (2, self.pcr2), (8, self.pcr8)];
        pinned.iter().all(|(i, want)| want.is_none_or(|want| doc.pcr(*i) == Some(&want.0)))
    }
}

impl TrustPolicy {
    /// Dev documents signed by `key` for these binaries; nothing else (local development).
    pub fn dev(key: [u8; 32], measurements: Vec<[u8; 32]>) -> TrustPolicy {
        TrustPolicy { dev: Some(DevTrust { key, measurements }), nitro: None }
    }

    /// Nitro documents chained to the AWS Nitro root for these images; nothing else.
    pub fn nitro(images: Vec<PcrPolicy>) -> TrustPolicy {
        TrustPolicy { dev: None, nitro: Some(NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images }) }
    }
}

impl NitroTrust {
    /// The measurement of a verified document, if one of the accepted images: PCR0 non-zero
    /// (all-zero PCRs mean a debug-mode enclave) and on the allow-list.
    pub fn check_measurement(&self, doc: &NitroDocument) -> Result<Measurement, AttestationError> {
        let get = |i| doc.pcr(i).copied().map(Pcr).ok_or(AttestationError::Nitro(NitroError::Payload("missing pcr")));
        let (pcr0, pcr1, pcr2) = (get(0)?, get(1)?, get(2)?);
        if pcr0.0 == [0; PCR_BYTES] {
            return Err(AttestationError::DebugEnclave);
        }
        if !self.images.iter().any(|image| image.admits(doc)) {
            return Err(AttestationError::UnknownMeasurement(format!("pcr0:{pcr0}")));
        }
        Ok(Measurement::Nitro { pcr0, pcr1, pcr2 })
    }
}

/// `user_data` a Nitro enclave puts in its documents to bind its identity key.
pub fn nitro_identity_user_data(identity: &PartyId) -> Vec<u8> {
    let mut out = NITRO_IDENTITY_TAG.to_vec();
    out.extend_from_slice(&identity.0);
    out
}

fn nitro_identity(user_data: Option<&[u8]>) -> Result<PartyId, AttestationError> {
    let key = user_data.and_then(|u| u.strip_prefix(NITRO_IDENTITY_TAG)).ok_or(AttestationError::NoIdentity)?;
    key.try_into().map(PartyId).map_err(|_| AttestationError::NoIdentity)
}

/// Signs a dev document with an Ed25519 attestation key (the dev backend's).
pub fn sign_dev_attestation(
    key: &SigningKey,
    identity: &PartyId,
    measurement: [u8; 32],
    timestamp: u64,
    nonce: &[u8; 32],
) -> Result<Vec<u8>, AttestationError> {
    let body = DevBody { notice: DEV_NOTICE.into(), identity: *identity, measurement, timestamp, nonce: *nonce };
    sign_dev_body(key, &body)
}

fn sign_dev_body(key: &SigningKey, body: &DevBody) -> Result<Vec<u8>, AttestationError> {
    let body = postcard::to_stdvec(body).map_err(|_| AttestationError::Encode)?;
    let signature = key.sign(&signed(&body)).to_bytes();
    postcard::to_stdvec(&Wire { version: ATTESTATION_VERSION, body, signature }).map_err(|_| AttestationError::Encode)
}

fn signed(body: &[u8]) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    out.extend_from_slice(body);
    out
}

/// Decodes a document of either kind without checking anything but its encoding (for
/// display; never trust what it returns).
pub fn decode_attestation(bytes: &[u8]) -> Result<AttestationDoc, AttestationError> {
    if bytes.len() > MAX_ATTESTATION_BYTES {
        return Err(AttestationError::TooLarge(bytes.len()));
    }
    if nitro::is_cose_sign1(bytes) {
        let doc = nitro::decode_nitro_document(bytes).map_err(AttestationError::Nitro)?;
        let pcr = |i| Pcr(doc.pcr(i).copied().unwrap_or([0; PCR_BYTES]));
        return nitro_statement(&doc, Measurement::Nitro { pcr0: pcr(0), pcr1: pcr(1), pcr2: pcr(2) });
    }
    decode_dev(bytes).map(|(doc, _)| doc)
}

fn decode_dev(bytes: &[u8]) -> Result<(AttestationDoc, Wire), AttestationError> {
    let version = *bytes.first().ok_or(AttestationError::Malformed(StrictError::Malformed("attestation")))?;
    if version != ATTESTATION_VERSION {
        return Err(AttestationError::UnsupportedVersion(version));
    }
    let wire: Wire = decode_strict(bytes, "attestation").map_err(AttestationError::Malformed)?;
    let body: DevBody = decode_strict(&wire.body, "attestation body").map_err(AttestationError::Malformed)?;
    let doc = AttestationDoc {
        tee_mode: TeeMode::Dev,
        notice: body.notice,
        identity: body.identity,
        measurement: Measurement::Sha256(body.measurement),
        timestamp: body.timestamp,
        nonce: body.nonce,
    };
    Ok((doc, wire))
}

/// The statement of a Nitro document with its (checked or, for display, unchecked) measurement.
fn nitro_statement(doc: &NitroDocument, measurement: Measurement) -> Result<AttestationDoc, AttestationError> {
    let nonce: [u8; 32] = doc.nonce.as_deref().and_then(|n| n.try_into().ok()).ok_or(AttestationError::WrongNonce)?;
    let identity = nitro_identity(doc.user_data.as_deref())?;
    Ok(AttestationDoc {
        tee_mode: TeeMode::Nitro,
        notice: NITRO_NOTICE.into(),
        identity,
        measurement,
        timestamp: doc.timestamp_ms / 1000,
        nonce,
    })
}

/// Verifies a document for the client side under `policy` at `now` (Unix seconds; Nitro
/// certificates must be valid then): the signature (dev: under the trusted dev key; Nitro:
/// the certificate chain to the trusted root), the measurement against the allow-list, the
/// nonce the caller sent, and (Nitro) the identity bound in `user_data`. Returns the attested
/// statement, whose `identity` is the key that must have signed the ceremony setups.
pub fn verify_attestation(
    document: &[u8],
    policy: &TrustPolicy,
    nonce: &[u8; 32],
    now: u64,
) -> Result<AttestationDoc, AttestationError> {
    if document.len() > MAX_ATTESTATION_BYTES {
        return Err(AttestationError::TooLarge(document.len()));
    }
    if nitro::is_cose_sign1(document) {
        let trust = policy.nitro.as_ref().ok_or(AttestationError::NitroNotAccepted)?;
        let doc = nitro::verify_nitro_document(document, &trust.root, now).map_err(AttestationError::Nitro)?;
        let measurement = trust.check_measurement(&doc)?;
        if doc.nonce.as_deref() != Some(nonce.as_slice()) {
            return Err(AttestationError::WrongNonce);
        }
        return nitro_statement(&doc, measurement);
    }
    let (doc, wire) = decode_dev(document)?;
    let trust = policy.dev.as_ref().ok_or(AttestationError::DevNotAccepted)?;
    let key = VerifyingKey::from_bytes(&trust.key).map_err(|_| AttestationError::BadSignature)?;
    key.verify_strict(&signed(&wire.body), &ed25519_dalek::Signature::from_bytes(&wire.signature))
        .map_err(|_| AttestationError::BadSignature)?;
    if doc.notice != DEV_NOTICE {
        return Err(AttestationError::MissingNotice);
    }
    if doc.nonce != *nonce {
        return Err(AttestationError::WrongNonce);
    }
    let Measurement::Sha256(measured) = doc.measurement else {
        return Err(AttestationError::UnknownMeasurement(doc.measurement.to_string()));
    };
    if !trust.measurements.contains(&measured) {
        return Err(AttestationError::UnknownMeasurement(hex::encode(measured)));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn doc() -> AttestationDoc {
        AttestationDoc {
            tee_mode: TeeMode::Dev,
            notice: DEV_NOTICE.into(),
            identity: PartyId([5; 32]),
            measurement: Measurement::Sha256([6; 32]),
            timestamp: NOW,
            nonce: [7; 32],
        }
    }

    #[test]
    fn dev_verify_and_reject() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let trusted = TrustPolicy::dev(key.verifying_key().to_bytes(), vec![[6; 32]]);
        let bytes = sign_dev_attestation(&key, &PartyId([5; 32]), [6; 32], NOW, &[7; 32]).unwrap();
        assert_eq!(bytes[0], ATTESTATION_VERSION);
        assert_eq!(verify_attestation(&bytes, &trusted, &[7; 32], NOW).unwrap(), doc());
        assert_eq!(decode_attestation(&bytes).unwrap(), doc());
        assert_eq!(verify_attestation(&bytes, &trusted, &[8; 32], NOW), Err(AttestationError::WrongNonce));
        let elsewhere = TrustPolicy::dev(key.verifying_key().to_bytes(), vec![[1; 32]]);
        assert!(matches!(
            verify_attestation(&bytes, &elsewhere, &[7; 32], NOW),
            Err(AttestationError::UnknownMeasurement(_))
        ));
        assert_eq!(
            verify_attestation(&bytes, &TrustPolicy::default(), &[7; 32], NOW),
            Err(AttestationError::DevNotAccepted)
        );
        // A Nitro-only policy refuses dev documents, whatever they claim.
        let nitro_only = TrustPolicy::nitro(vec![PcrPolicy::pcr0([6; PCR_BYTES])]);
        assert_eq!(verify_attestation(&bytes, &nitro_only, &[7; 32], NOW), Err(AttestationError::DevNotAccepted));
        let other = TrustPolicy::dev(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes(), vec![[6; 32]]);
        assert_eq!(verify_attestation(&bytes, &other, &[7; 32], NOW), Err(AttestationError::BadSignature));
        let quiet = DevBody {
            notice: String::new(),
            identity: PartyId([5; 32]),
            measurement: [6; 32],
            timestamp: NOW,
            nonce: [7; 32],
        };
        let quiet = sign_dev_body(&key, &quiet).unwrap();
        assert_eq!(verify_attestation(&quiet, &trusted, &[7; 32], NOW), Err(AttestationError::MissingNotice));
        let mut v1 = bytes.clone();
        v1[0] = 1;
        assert_eq!(verify_attestation(&v1, &trusted, &[7; 32], NOW), Err(AttestationError::UnsupportedVersion(1)));
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x04;
            assert!(verify_attestation(&t, &trusted, &[7; 32], NOW).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode_attestation(&bytes[..cut]).is_err());
        }
        let big = vec![ATTESTATION_VERSION; MAX_ATTESTATION_BYTES + 1];
        assert_eq!(verify_attestation(&big, &trusted, &[7; 32], NOW), Err(AttestationError::TooLarge(big.len())));
    }

    #[test]
    fn nitro_identity_binding() {
        let id = PartyId([0xab; 32]);
        let ud = nitro_identity_user_data(&id);
        assert_eq!(nitro_identity(Some(&ud)), Ok(id));
        assert_eq!(nitro_identity(None), Err(AttestationError::NoIdentity));
        assert_eq!(nitro_identity(Some(&ud[..ud.len() - 1])), Err(AttestationError::NoIdentity));
        let mut long = ud.clone();
        long.push(0);
        assert_eq!(nitro_identity(Some(&long)), Err(AttestationError::NoIdentity));
        let mut other_tag = ud.clone();
        other_tag[0] ^= 1;
        assert_eq!(nitro_identity(Some(&other_tag)), Err(AttestationError::NoIdentity));
        assert_eq!(nitro_identity(Some(&id.0)), Err(AttestationError::NoIdentity));
    }
}
