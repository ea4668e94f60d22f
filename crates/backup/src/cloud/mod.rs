//! Where encrypted copies go: a [`CloudProvider`] stores named opaque blobs (envelopes
//! from [`crate::recovery::seal`] or [`crate::create_backup`]). Providers never see
//! anything but ciphertext, and every blob they return is decoded strictly by
//! [`crate::Envelope::decode`] before use.
//!
//! - [`FileProvider`]: a directory (export/import); atomic writes, files 0600.
//! - [`GoogleDrive`]: Drive v3 REST in the app's hidden `appDataFolder`, with an OAuth
//!   access token the embedding app obtains (scope `drive.appdata`).
//! - [`CloudKit`]: CloudKit Web Services records in the user's private database, with the
//!   app's API token and the user's web auth token.

mod cloudkit;
#[cfg(not(target_arch = "wasm32"))]
mod file;
mod gdrive;

pub use cloudkit::{CLOUDKIT_API, CloudKit, CloudKitConfig, RECORD_TYPE};
#[cfg(not(target_arch = "wasm32"))]
pub use file::FileProvider;
pub use gdrive::{GOOGLE_API, GoogleDrive, GoogleDriveConfig};

use crate::MAX_ENVELOPE_BYTES;

/// Longest blob name.
pub const MAX_NAME: usize = 128;
/// Largest blob a provider stores or returns.
pub const MAX_BLOB_BYTES: usize = MAX_ENVELOPE_BYTES;

/// Why a provider call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    /// Blob names are 1..=128 bytes of `[A-Za-z0-9._-]`, not starting with a dot.
    #[error("blob name must be 1..=128 bytes of [A-Za-z0-9._-], not starting with '.'")]
    BadName,
    /// Larger than [`MAX_BLOB_BYTES`].
    #[error("blob is {len} bytes, more than {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// No blob of that name.
    #[error("no blob named {0}")]
    NotFound(String),
    /// The provider refused the credentials (expired or revoked token).
    #[error("the provider refused the credentials: {0}")]
    Unauthorized(String),
    /// Local file system.
    #[error("{0}")]
    Io(String),
    /// Network, or an unexpected answer.
    #[error("provider: {0}")]
    Provider(String),
}

/// A store of named opaque blobs.
#[allow(async_fn_in_trait)]
pub trait CloudProvider {
    /// Stores `blob` under `name`, replacing any blob of that name only once the new one
    /// is stored in full.
    async fn put(&self, name: &str, blob: &[u8]) -> Result<(), CloudError>;
    /// The blob named `name`.
    async fn get(&self, name: &str) -> Result<Vec<u8>, CloudError>;
    /// Removes the blob (`NotFound` if there is none).
    async fn delete(&self, name: &str) -> Result<(), CloudError>;
    /// The names stored, sorted.
    async fn list(&self) -> Result<Vec<String>, CloudError>;
}

/// Checks a blob name: safe as a file name, a Drive query literal and a record name.
pub fn check_name(name: &str) -> Result<(), CloudError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(CloudError::BadName) }
}

fn check_size(len: usize) -> Result<(), CloudError> {
    if len > MAX_BLOB_BYTES {
        return Err(CloudError::TooLarge { len, max: MAX_BLOB_BYTES });
    }
    Ok(())
}

fn http_error(status: u16, body: &[u8]) -> CloudError {
    let text = String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default()).into_owned();
    match status {
        401 | 403 => CloudError::Unauthorized(text),
        _ => CloudError::Provider(format!("HTTP {status}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("wallet-1.tssw-backup").is_ok());
        for bad in ["", ".hidden", "a/b", "a'b", "a b", "..", &"a".repeat(MAX_NAME + 1)] {
            assert_eq!(check_name(bad), Err(CloudError::BadName), "{bad:?}");
        }
    }
}
