//! 32-byte secret key files: the enclave dev backend's sealing and attestation keys, the
//! wallet server's relay-token key, the encryption proxy's OPRF key.
//!
//! A missing key is created atomically: written to a private temporary file (mode 0600,
//! fsynced), then hard-linked into place, which fails rather than overwrites if another
//! process won the race (both then use the winner's key), and the directory is fsynced.
//! A key file wider than 0600, not a regular file (a symlink could point anywhere) or not
//! exactly 32 bytes is refused, and so is a directory others can write (they could swap
//! the file).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand_core::RngCore;
use zeroize::Zeroizing;

/// Why a key file or its directory was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// A file operation failed.
    #[error("{what} {}: {kind}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error kind.
        kind: std::io::ErrorKind,
    },
    /// A key file or its directory is open to others.
    #[error("{} has mode {mode:o}; refusing to use it (key files must be 0600 and their directory not group/other-writable)", path.display())]
    Permissions {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a regular file of 32 bytes.
    #[error("{} is not a valid key file ({why})", path.display())]
    BadKeyFile {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
}

fn io(what: &'static str, path: &Path, e: &std::io::Error) -> KeyFileError {
    KeyFileError::Io { what, path: path.to_owned(), kind: e.kind() }
}

/// Creates `dir` (mode 0700) if missing, and refuses it if group or others can write it.
pub fn prepare_dir(dir: &Path) -> Result<(), KeyFileError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io("creating", dir, &e))?;
    let meta = std::fs::metadata(dir).map_err(|e| io("inspecting", dir, &e))?;
    if meta.mode() & 0o022 != 0 {
        return Err(KeyFileError::Permissions { path: dir.to_owned(), mode: meta.mode() & 0o7777 });
    }
    Ok(())
}

/// Reads the key at `path`, creating it with fresh random bytes if it does not exist.
pub fn load_or_create(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    match read(path) {
        Err(KeyFileError::Io { kind: std::io::ErrorKind::NotFound, .. }) => {}
        other => return other,
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(key.as_mut_slice());
    let mut suffix = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut suffix);
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(suffix)));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(key.as_slice())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", &tmp, &e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing", dir, &e))?;
            }
            tracing::info!(path = %path.display(), "created a new key file");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(io("creating", path, &e)),
    }
}

/// Reads an existing key file, checking its type, mode and length.
pub fn read(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io("inspecting", path, &e))?;
    if !meta.file_type().is_file() {
        return Err(KeyFileError::BadKeyFile { path: path.to_owned(), why: "not a regular file" });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(KeyFileError::Permissions { path: path.to_owned(), mode: meta.mode() & 0o7777 });
    }
    let mut file = File::open(path).map_err(|e| io("opening", path, &e))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    // One byte more than a key, to notice a longer file without reading all of it.
    (&mut file).take(33).read_to_end(&mut bytes).map_err(|e| io("reading", path, &e))?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::BadKeyFile { path: path.to_owned(), why: "not 32 bytes" })?;
    Ok(Zeroizing::new(key))
}

/// A fresh private (0700) temporary directory, for tests of this crate and its users.
#[doc(hidden)]
pub fn temp_dir(label: &str) -> Result<PathBuf, KeyFileError> {
    let mut suffix = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut suffix);
    let dir = std::env::temp_dir().join(format!("tssw-{label}-{}", hex::encode(suffix)));
    DirBuilder::new().mode(0o700).create(&dir).map_err(|e| io("creating", &dir, &e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_0600_persist_and_wider_or_odd_files_are_refused() {
        let dir = temp_dir("keyfile").unwrap();
        let data = dir.join("data");
        prepare_dir(&data).unwrap();
        assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
        let path = data.join("a.key");
        let a = load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(*load_or_create(&path).unwrap(), *a);
        assert_eq!(*read(&path).unwrap(), *a);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(read(&path), Err(KeyFileError::Permissions { mode: 0o640, .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, [1u8; 31]).unwrap();
        assert!(matches!(read(&path), Err(KeyFileError::BadKeyFile { why: "not 32 bytes", .. })));
        std::fs::write(&path, [1u8; 33]).unwrap();
        assert!(matches!(read(&path), Err(KeyFileError::BadKeyFile { why: "not 32 bytes", .. })));
        std::fs::remove_file(&path).unwrap();
        let other = data.join("b.key");
        load_or_create(&other).unwrap();
        std::os::unix::fs::symlink(&other, &path).unwrap();
        assert!(matches!(load_or_create(&path), Err(KeyFileError::BadKeyFile { why: "not a regular file", .. })));
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(prepare_dir(&data), Err(KeyFileError::Permissions { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn racing_creators_agree() {
        let dir = temp_dir("keyfile-race").unwrap();
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
