//! TEE backends: where the sealing root key, the measurement and the attestation signature
//! come from. [`dev`] runs anywhere and is not a TEE; `nitro` (cargo feature) is a
//! placeholder that refuses to start until it is written.

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

    /// The root key that seals shares. The same across restarts of the same deployment,
    /// so blobs sealed before a restart still open.
    fn sealing_key(&self) -> &SealingKey;

    /// An attestation document binding `identity` to [`Backend::measurement`] for `nonce`.
    fn attest(&self, identity: &PartyId, nonce: &[u8; 32], now: u64) -> Result<Vec<u8>, BackendError>;
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
    /// A key file or the data directory is readable or writable by others.
    #[error("{} has mode {mode:o}; refusing to use it (the key files must be 0600 and the data dir not group/other-writable)", path.display())]
    Permissions {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file is not a regular file of the right length.
    #[error("{} is not a valid key file ({why})", path.display())]
    BadKeyFile {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
    /// The attestation document does not encode.
    #[error("cannot encode the attestation document")]
    Encode,
    /// The Nitro backend is a placeholder.
    #[error("Nitro backend not implemented yet: {0}")]
    NitroNotImplemented(&'static str),
    /// The binary was built without the backend asked for.
    #[error("this build has no `{0}` backend (build with `--features {0}`)")]
    NotBuilt(&'static str),
}
