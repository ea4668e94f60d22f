//! TEE backends: where the sealing root key, the measurement and the attestation signature
//! come from. [`dev`] runs anywhere and is not a TEE; `nitro` (cargo feature) runs only
//! inside an AWS Nitro Enclave: NSM attestation, and a root key that KMS releases to the
//! attested image through the host (`KmsRecipient` / `KmsRelease` requests).

pub mod dev;
#[cfg(feature = "nitro")]
pub mod nitro;

use std::path::PathBuf;

use tssw_channel::PartyId;

use crate::seal::SealingKey;
use tssw_api::{Measurement, TeeMode};

/// What the enclave needs from the TEE it runs in.
pub trait Backend: Send + Sync + 'static {
    /// The TEE kind, reported on health and in attestation documents.
    fn mode(&self) -> TeeMode;

    /// A plain statement of what this backend is ([`crate::DEV_NOTICE`] for dev).
    fn notice(&self) -> &'static str;

    /// The measurement of the running enclave program (dev: SHA-256 of the binary; Nitro:
    /// PCR0/1/2 as the NSM reports them).
    fn measurement(&self) -> Measurement;

    /// The root key that seals shares, if the backend has it from the start (dev: its key
    /// file). The same across restarts of the same deployment, so blobs sealed before a
    /// restart still open. `None` (Nitro): the host runs the KMS exchange first.
    fn sealing_key(&self) -> Option<&SealingKey>;

    /// An attestation document binding `identity` to [`Backend::measurement`] for `nonce`.
    fn attest(&self, identity: &PartyId, nonce: &[u8; 32], now: u64) -> Result<Vec<u8>, BackendError>;

    /// Starts the KMS exchange: a fresh recipient key pair made here and an attestation
    /// document carrying its public key, for the host to pass to KMS as `Recipient`.
    fn kms_recipient(&self, _identity: &PartyId) -> Result<Vec<u8>, BackendError> {
        Err(BackendError::NoKms(self.mode()))
    }

    /// Finishes it: opens KMS's `CiphertextForRecipient` with the waiting recipient key (used
    /// once) and returns the root key inside.
    fn kms_release(&self, _ciphertext_for_recipient: &[u8]) -> Result<SealingKey, BackendError> {
        Err(BackendError::NoKms(self.mode()))
    }
}

/// Why a backend could not start or attest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A file operation failed.
    #[error("{what} {}: {kind}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error kind (the message may hold nothing secret, but keep it short).
        kind: std::io::ErrorKind,
    },
    /// A key file or the data directory was refused.
    #[error(transparent)]
    KeyFile(#[from] tssw_keyfile::KeyFileError),
    /// The attestation document does not encode.
    #[error("cannot encode the attestation document")]
    Encode,
    /// The backend takes no key from KMS (dev: the key is a file).
    #[error("the {0} backend does not take its sealing key from KMS")]
    NoKms(TeeMode),
    /// The Nitro Security Module failed or is absent.
    #[error("Nitro Security Module: {0}")]
    Nsm(String),
    /// KMS's reply did not open.
    #[cfg(feature = "nitro")]
    #[error("KMS key release: {0}")]
    Recipient(#[from] nitro::RecipientError),
    /// The dev backend was started without a data directory.
    #[error("the dev backend needs --data-dir (where its key files live)")]
    NeedsDataDir,
    /// The binary was built without the backend asked for.
    #[error("this build has no `{0}` backend (build with `--features {0}`)")]
    NotBuilt(&'static str),
}
