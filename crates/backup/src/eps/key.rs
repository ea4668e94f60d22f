//! The EPS's OPRF key: `<data dir>/oprf.key`, a 32-byte seed, mode 0600. Created
//! atomically when missing (written to a private temporary file, then hard-linked into
//! place, which fails rather than overwrites if another process won the race); refused
//! when its permissions are wider than 0600 or the directory is group/other-writable.
//!
//! This file is the EPS's whole key domain: keep it (and its backups) away from the
//! wallet server's machines and database. Losing it makes every EPS backup unopenable.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand_core::RngCore;
use zeroize::Zeroizing;

use crate::oprf::OprfKey;

/// File name of the OPRF key seed in the data directory.
pub const KEY_FILE: &str = "oprf.key";

/// Why the key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The key file or its directory is open to other users.
    #[error("{0}")]
    Permissions(String),
    /// The key file is not 32 bytes.
    #[error("{path} is not a 32-byte key file (corrupt?)")]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> KeyError + 'a {
    move |source| KeyError::Io { what, path: path.to_owned(), source }
}

/// Creates the data dir (0700) if missing and refuses one that others can write to.
pub fn prepare_dir(dir: &Path) -> Result<(), KeyError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("creating", dir))?;
    let mode = std::fs::metadata(dir).map_err(io("reading", dir))?.mode();
    if mode & 0o022 != 0 {
        return Err(KeyError::Permissions(format!(
            "data directory {} is writable by group or others (mode {:o}): chmod go-w it",
            dir.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

/// Loads the key, creating it on first start.
pub fn load_or_create(dir: &Path) -> Result<OprfKey, KeyError> {
    prepare_dir(dir)?;
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        create(&path)?;
    }
    let seed = read_seed(&path)?;
    OprfKey::from_seed(&seed).map_err(|_| KeyError::Corrupt { path })
}

/// Reads the seed, refusing a file readable by others.
pub fn read_seed(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut file = std::fs::File::open(path).map_err(io("opening", path))?;
    let mode = file.metadata().map_err(io("reading", path))?.mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions(format!(
            "key file {} is readable by group or others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    Read::by_ref(&mut file).take(33).read_to_end(&mut bytes).map_err(io("reading", path))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Corrupt { path: path.to_owned() })?;
    Ok(Zeroizing::new(seed))
}

fn create(path: &Path) -> Result<(), KeyError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(seed.as_mut());
    let mut suffix = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut suffix);
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(suffix)));
    let result = (|| {
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(seed.as_ref()).map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        match std::fs::hard_link(&tmp, path) {
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other.map_err(io("linking", path)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_private_reused_and_refused_when_open() {
        let dir = std::env::temp_dir()
            .join(format!("tssw-eps-key-{}", hex::encode(rand_core::OsRng.next_u64().to_be_bytes())));
        let first = load_or_create(&dir).unwrap().public_key();
        let mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&dir).unwrap().public_key(), first, "a restart uses the same key");
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_or_create(&dir), Err(KeyError::Permissions(_))));
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(dir.join(KEY_FILE), [1u8; 31]).unwrap();
        assert!(matches!(load_or_create(&dir), Err(KeyError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
