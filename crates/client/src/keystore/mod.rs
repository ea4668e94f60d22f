//! The device's keystore: the user's key shares, encrypted at rest and keyed by wallet id
//! and epoch, the device identity key, and small per-wallet metadata.
//!
//! **Epochs, two-phase** (invariant 6). A refresh or reshare gives a new share at the
//! next epoch. It is stored *pending* ([`Keystore::put_pending`]) and stays unused until
//! every holder has confirmed it with a test signature; then [`Keystore::promote`] makes it
//! the active one and destroys older epochs, or [`Keystore::discard_pending`] drops it.
//! A wallet has at most one active and one pending epoch. Every step is one atomic rename
//! or removal, so after a crash at any point the store opens with exactly one active epoch
//! per wallet (the old, or the new if the promotion's rename happened) and the pending
//! share, if the crash came before its promotion, is still there for the caller to
//! promote or discard once it knows what the other holders did.
//!
//! [`format`] is the stored format (header, sealed records, metadata), shared with any
//! other storage; [`Keystore`] keeps it in files (Unix only: it relies on 0600/0700
//! permissions and `fsync` of directories).
//!
//! **Not built: the OS keyring.** The store key comes from a passphrase (Argon2id). A
//! keyring backend (Secret Service on Linux, Keychain on macOS) could supply the key
//! instead through [`format::StoreKey::from_bytes`]; none is wired up, because the Linux
//! one needs a D-Bus Secret Service daemon that these machines (and most servers and CI)
//! lack, so it could not be tested here.

pub mod format;
#[cfg(unix)]
mod fs;

#[cfg(unix)]
pub use fs::{EpochState, Keystore};

/// Why a keystore operation failed. Nothing is written when an operation fails before
/// its first step (a wrong passphrase, a refused share).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The passphrase does not open this keystore.
    #[error("wrong passphrase for this keystore")]
    WrongPassphrase,
    /// A new keystore needs a passphrase.
    #[error("the keystore passphrase must not be empty")]
    EmptyPassphrase,
    /// No keystore at the path.
    #[error("no keystore at {path} (create one first)")]
    NotFound {
        /// Where one was looked for.
        path: String,
    },
    /// A keystore exists at the path already.
    #[error("a keystore already exists at {path}")]
    AlreadyExists {
        /// The path.
        path: String,
    },
    /// Another process has the keystore open.
    #[error("the keystore at {path} is in use by another process")]
    Locked {
        /// The path.
        path: String,
    },
    /// A keystore directory or file others can read or write.
    #[error("{path} has mode {mode:o}; the keystore needs 0700 directories and 0600 files (chmod go= {path})")]
    InsecurePermissions {
        /// The path.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Argon2id parameters out of range (or the KDF refused them).
    #[error("key derivation parameters: {0}")]
    BadParameters(String),
    /// A stored value does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A stored value exceeds its bound.
    #[error("{what} of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A format version this build does not read.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion {
        /// What.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// A record fails authentication under the right passphrase: it was altered, or moved
    /// from another wallet, epoch or kind.
    #[error("{what} failed authentication: altered, or moved from another wallet or epoch")]
    Tampered {
        /// What.
        what: &'static str,
    },
    /// A decrypted share does not decode or does not match where it is stored.
    #[error("stored key share: {0}")]
    Share(String),
    /// A pending epoch exists already; promote or discard it first.
    #[error("wallet {wallet} already has a pending epoch {epoch}; promote or discard it first")]
    PendingExists {
        /// The wallet.
        wallet: String,
        /// The pending epoch.
        epoch: u64,
    },
    /// No pending share at that epoch.
    #[error("wallet {wallet} has no pending epoch {epoch}")]
    NoPending {
        /// The wallet.
        wallet: String,
        /// The epoch asked for.
        epoch: u64,
    },
    /// A new share must have a later epoch than the active one.
    #[error("wallet {wallet}: epoch {epoch} is not after the active epoch {active}")]
    StaleEpoch {
        /// The wallet.
        wallet: String,
        /// The epoch offered.
        epoch: u64,
        /// The active epoch.
        active: u64,
    },
    /// A share or metadata for another key than the wallet's.
    #[error("wallet {wallet}: {reason}")]
    KeyMismatch {
        /// The wallet.
        wallet: String,
        /// What differs.
        reason: String,
    },
    /// The device identity key is stored already.
    #[error("the keystore already holds a device identity key")]
    IdentityExists,
    /// The stored state of a wallet is not one this store's operations produce.
    #[error("wallet {wallet}: inconsistent store: {reason}")]
    Inconsistent {
        /// The wallet.
        wallet: String,
        /// What was found.
        reason: String,
    },
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
