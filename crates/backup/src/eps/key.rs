//! The EPS's OPRF key: `<data dir>/oprf.key`, a 32-byte seed (RFC 9497 `DeriveKeyPair`),
//! kept by `tssw-keyfile`: created 0600 atomically when missing, refused when wider than
//! 0600, not a regular 32-byte file, or in a directory others can write.
//!
//! This file is the EPS's whole key domain: keep it (and its backups) away from the
//! wallet server's machines and database. Losing it makes every EPS backup unopenable.

use std::path::Path;

use zeroize::Zeroizing;

pub use tssw_keyfile::KeyFileError as KeyError;

use crate::oprf::OprfKey;

/// File name of the OPRF key seed in the data directory.
pub const KEY_FILE: &str = "oprf.key";

/// Loads the key from `dir`, creating the directory (0700) and the key on first start.
pub fn load_or_create(dir: &Path) -> Result<OprfKey, KeyError> {
    tssw_keyfile::prepare_dir(dir)?;
    let path = dir.join(KEY_FILE);
    let seed = tssw_keyfile::load_or_create(&path)?;
    OprfKey::from_seed(&seed).map_err(|_| KeyError::BadKeyFile { path, why: "not an OPRF key seed" })
}

/// Reads the seed at `path` (same checks).
pub fn read_seed(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    tssw_keyfile::read(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn created_private_reused_and_refused_when_open() {
        let dir = tssw_keyfile::temp_dir("eps-key").unwrap();
        let first = load_or_create(&dir).unwrap().public_key();
        assert_eq!(std::fs::metadata(dir.join(KEY_FILE)).unwrap().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&dir).unwrap().public_key(), first, "a restart uses the same key");
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_or_create(&dir), Err(KeyError::Permissions { .. })));
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(dir.join(KEY_FILE), [1u8; 31]).unwrap();
        assert!(matches!(load_or_create(&dir), Err(KeyError::BadKeyFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
