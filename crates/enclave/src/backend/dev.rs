//! The dev backend: runs anywhere, **not a hardware TEE**.
//!
//! - Sealing root key: `<data dir>/sealing.key`, 32 random bytes, mode 0600. Created
//!   atomically when missing (written to a private temporary file, then hard-linked into
//!   place, which fails rather than overwrites if another process won the race), refused
//!   when its permissions are wider than 0600 or the directory is group/other-writable.
//! - Attestation key: `<data dir>/attestation.key`, an Ed25519 seed kept the same way. Its
//!   public half is what a dev verifier must be told to trust ([`tssw_api::TrustPolicy::dev`]).
//! - Measurement: SHA-256 of the running binary (`std::env::current_exe`).
//!
//! Anyone who can read the data directory can unseal every share and forge attestations:
//! this backend exists so the whole system runs on a laptop and in CI.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tssw_channel::PartyId;

use super::{Backend, BackendError};
use crate::seal::SealingKey;
use tssw_api::attest::{DEV_NOTICE, Measurement, TeeMode, sign_dev_attestation};

/// File name of the sealing root key in the data directory.
pub const SEALING_KEY_FILE: &str = "sealing.key";
/// File name of the dev attestation key in the data directory.
pub const ATTESTATION_KEY_FILE: &str = "attestation.key";

/// The dev backend. Not a hardware TEE.
pub struct DevBackend {
    sealing: SealingKey,
    attestation: SigningKey,
    measurement: [u8; 32],
}

impl std::fmt::Debug for DevBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevBackend")
            .field("notice", &DEV_NOTICE)
            .field("measurement", &hex::encode(self.measurement))
            .finish_non_exhaustive()
    }
}

impl DevBackend {
    /// Loads (or creates) the keys in `data_dir` and measures the running binary.
    pub fn open(data_dir: &Path) -> Result<DevBackend, BackendError> {
        tssw_keyfile::prepare_dir(data_dir)?;
        let sealing = tssw_keyfile::load_or_create(&data_dir.join(SEALING_KEY_FILE))?;
        let attestation = tssw_keyfile::load_or_create(&data_dir.join(ATTESTATION_KEY_FILE))?;
        let exe = std::env::current_exe().map_err(|e| BackendError::Io {
            what: "locating",
            path: "current_exe".into(),
            kind: e.kind(),
        })?;
        Ok(DevBackend {
            sealing: SealingKey::new(sealing),
            attestation: SigningKey::from_bytes(&attestation),
            measurement: measure(&exe)?,
        })
    }

    /// The public key a dev verifier must trust for this data directory.
    pub fn attestation_public_key(&self) -> [u8; 32] {
        self.attestation.verifying_key().to_bytes()
    }

    /// Reads the dev attestation public key from a data directory, for the host and tests
    /// that hand it to a verifier. Same permission checks as the enclave's own.
    pub fn read_attestation_public_key(data_dir: &Path) -> Result<[u8; 32], BackendError> {
        let seed = tssw_keyfile::read(&data_dir.join(ATTESTATION_KEY_FILE))?;
        Ok(SigningKey::from_bytes(&seed).verifying_key().to_bytes())
    }
}

impl Backend for DevBackend {
    fn mode(&self) -> TeeMode {
        TeeMode::Dev
    }
    fn notice(&self) -> &'static str {
        DEV_NOTICE
    }
    fn measurement(&self) -> Measurement {
        Measurement::Sha256(self.measurement)
    }
    fn sealing_key(&self) -> Option<&SealingKey> {
        Some(&self.sealing)
    }
    fn attest(&self, identity: &PartyId, nonce: &[u8; 32], now: u64) -> Result<Vec<u8>, BackendError> {
        sign_dev_attestation(&self.attestation, identity, self.measurement, now, nonce)
            .map_err(|_| BackendError::Encode)
    }
}

/// SHA-256 of a file, streamed.
pub fn measure(path: &Path) -> Result<[u8; 32], BackendError> {
    let io = |kind| BackendError::Io { what: "measuring", path: path.to_owned(), kind };
    let mut file = File::open(path).map_err(|e| io(e.kind()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(e.kind()))?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}

/// A fresh private temporary directory (tests of this crate and of its users).
#[doc(hidden)]
pub fn temp_dir(label: &str) -> Result<PathBuf, BackendError> {
    Ok(tssw_keyfile::temp_dir(label)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;
    use tssw_keyfile::KeyFileError;

    #[test]
    fn keys_persist_with_0600_and_wider_is_refused() {
        let dir = temp_dir("dev-backend").unwrap();
        let data = dir.join("data");
        let a = DevBackend::open(&data).unwrap();
        for file in [SEALING_KEY_FILE, ATTESTATION_KEY_FILE] {
            let mode = std::fs::metadata(data.join(file)).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
        // Same keys on the next start.
        let b = DevBackend::open(&data).unwrap();
        assert_eq!(a.attestation_public_key(), b.attestation_public_key());
        assert_eq!(a.sealing.bytes_for_tests(), b.sealing.bytes_for_tests());
        assert_eq!(DevBackend::read_attestation_public_key(&data).unwrap(), a.attestation_public_key());
        assert!(format!("{a:?}").contains(DEV_NOTICE));

        let sealing = data.join(SEALING_KEY_FILE);
        std::fs::set_permissions(&sealing, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            DevBackend::open(&data),
            Err(BackendError::KeyFile(KeyFileError::Permissions { mode: 0o640, .. }))
        ));
        std::fs::set_permissions(&sealing, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&sealing, [1u8; 31]).unwrap();
        assert!(matches!(
            DevBackend::open(&data),
            Err(BackendError::KeyFile(KeyFileError::BadKeyFile { why: "not 32 bytes", .. }))
        ));
        std::fs::remove_file(&sealing).unwrap();
        std::os::unix::fs::symlink(data.join(ATTESTATION_KEY_FILE), &sealing).unwrap();
        assert!(matches!(
            DevBackend::open(&data),
            Err(BackendError::KeyFile(KeyFileError::BadKeyFile { why: "not a regular file", .. }))
        ));
        std::fs::remove_file(&sealing).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(DevBackend::open(&data), Err(BackendError::KeyFile(KeyFileError::Permissions { .. }))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
