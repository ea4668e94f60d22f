//! The wallet id: the host's name for a wallet, bound into every sealed share and ceremony.

use serde::{Deserialize, Serialize};

/// Longest wallet id, in bytes.
pub const MAX_WALLET_ID_BYTES: usize = 64;

/// A wallet's id as the host stores it (a UUID, a database key…): 1..=64 bytes of
/// `[A-Za-z0-9._:-]`. The character set keeps ids printable in logs and errors and gives
/// each id one spelling, so two ids that look the same are the same.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WalletId(String);

/// Why a wallet id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("wallet id must be 1..={MAX_WALLET_ID_BYTES} bytes of [A-Za-z0-9._:-]")]
pub struct BadWalletId;

impl WalletId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<WalletId, BadWalletId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_WALLET_ID_BYTES
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok { Ok(WalletId(id)) } else { Err(BadWalletId) }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length-prefixed bytes, so the id can sit next to other fields in hashed or
    /// authenticated data without ambiguity.
    pub fn framed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len());
        // At most 64 bytes, so one length byte.
        out.push(self.0.len() as u8);
        out.extend_from_slice(self.0.as_bytes());
        out
    }
}

impl TryFrom<String> for WalletId {
    type Error = BadWalletId;
    fn try_from(id: String) -> Result<WalletId, BadWalletId> {
        WalletId::new(id)
    }
}

impl From<WalletId> for String {
    fn from(id: WalletId) -> String {
        id.0
    }
}

impl std::fmt::Debug for WalletId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WalletId({})", self.0)
    }
}

impl std::fmt::Display for WalletId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn charset_and_length() {
        assert!(WalletId::new("w-1f0e:2.x_y").is_ok());
        assert!(WalletId::new("a".repeat(64)).is_ok());
        for bad in ["", "a b", "é", "a/b", "a\0"] {
            assert_eq!(WalletId::new(bad), Err(BadWalletId), "{bad:?}");
        }
        assert!(WalletId::new("a".repeat(65)).is_err());
        // Deserialization checks too.
        let bytes = postcard::to_stdvec("a b").unwrap();
        assert!(postcard::from_bytes::<WalletId>(&bytes).is_err());
    }
}
