//! The dev backend: runs anywhere, **not a hardware TEE**.
//!
//! - Sealing root key: `<data dir>/sealing.key`, 32 random bytes, mode 0600. Created
//!   atomically when missing (written to a private temporary file, then hard-linked into
//!   place, which fails rather than overwrites if another process won the race), refused
//!   when its permissions are wider than 0600 or the directory is group/other-writable.
//! - Attestation key: `<data dir>/attestation.key`, an Ed25519 seed kept the same way. Its
//!   public half is what a dev verifier must be told to trust ([`crate::AcceptDev`]).
//! - Measurement: SHA-256 of the running binary (`std::env::current_exe`).
//!
//! Anyone who can read the data directory can unseal every share and forge attestations:
//! this backend exists so the whole system runs on a laptop and in CI.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use tssw_channel::PartyId;
use zeroize::Zeroizing;

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
        prepare_dir(data_dir)?;
        let sealing = load_or_create(&data_dir.join(SEALING_KEY_FILE))?;
        let attestation = load_or_create(&data_dir.join(ATTESTATION_KEY_FILE))?;
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
        let seed = read_key(&data_dir.join(ATTESTATION_KEY_FILE))?;
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

fn prepare_dir(dir: &Path) -> Result<(), BackendError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| BackendError::Io {
        what: "creating",
        path: dir.to_owned(),
        kind: e.kind(),
    })?;
    let meta = std::fs::metadata(dir).map_err(|e| BackendError::Io {
        what: "inspecting",
        path: dir.to_owned(),
        kind: e.kind(),
    })?;
    // Others who can write the directory can swap the key files.
    if meta.mode() & 0o022 != 0 {
        return Err(BackendError::Permissions { path: dir.to_owned(), mode: meta.mode() & 0o7777 });
    }
    Ok(())
}

fn load_or_create(path: &Path) -> Result<Zeroizing<[u8; 32]>, BackendError> {
    match read_key(path) {
        Err(BackendError::Io { kind: std::io::ErrorKind::NotFound, .. }) => {}
        other => return other,
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(key.as_mut_slice());
    let mut suffix = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut suffix);
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(suffix)));
    let io = |what, p: &Path, e: std::io::Error| BackendError::Io { what, path: p.to_owned(), kind: e.kind() };
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(key.as_slice())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", &tmp, e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing", dir, e))?;
            }
            tracing::info!(path = %path.display(), "created a new dev key file");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(io("creating", path, e)),
    }
}

fn read_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, BackendError> {
    let p = || path.to_owned();
    let meta = std::fs::symlink_metadata(path).map_err(|e| BackendError::Io {
        what: "inspecting",
        path: p(),
        kind: e.kind(),
    })?;
    if !meta.file_type().is_file() {
        return Err(BackendError::BadKeyFile { path: p(), why: "not a regular file" });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(BackendError::Permissions { path: p(), mode: meta.mode() & 0o7777 });
    }
    let mut file = File::open(path).map_err(|e| BackendError::Io { what: "opening", path: p(), kind: e.kind() })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    // One byte more than a key, to notice a longer file without reading all of it.
    (&mut file).take(33).read_to_end(&mut bytes).map_err(|e| BackendError::Io {
        what: "reading",
        path: p(),
        kind: e.kind(),
    })?;
    let key: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| BackendError::BadKeyFile { path: p(), why: "not 32 bytes" })?;
    Ok(Zeroizing::new(key))
}

/// A fresh private temporary directory (tests of this crate and of its users).
#[doc(hidden)]
pub fn temp_dir(label: &str) -> Result<PathBuf, BackendError> {
    let mut suffix = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut suffix);
    let dir = std::env::temp_dir().join(format!("tssw-{label}-{}", hex::encode(suffix)));
    DirBuilder::new().mode(0o700).create(&dir).map_err(|e| BackendError::Io {
        what: "creating",
        path: dir.clone(),
        kind: e.kind(),
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

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
        assert!(matches!(DevBackend::open(&data), Err(BackendError::Permissions { mode: 0o640, .. })));
        std::fs::set_permissions(&sealing, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&sealing, [1u8; 31]).unwrap();
        assert!(matches!(DevBackend::open(&data), Err(BackendError::BadKeyFile { why: "not 32 bytes", .. })));
        std::fs::remove_file(&sealing).unwrap();
        std::os::unix::fs::symlink(data.join(ATTESTATION_KEY_FILE), &sealing).unwrap();
        assert!(matches!(DevBackend::open(&data), Err(BackendError::BadKeyFile { why: "not a regular file", .. })));
        std::fs::remove_file(&sealing).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(DevBackend::open(&data), Err(BackendError::Permissions { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn racing_creators_agree() {
        let dir = temp_dir("dev-race").unwrap();
        let path = dir.join("k.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| *load_or_create(&path).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
