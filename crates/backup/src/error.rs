//! What creating, opening or restoring a backup can fail with. Every variant says what
//! happened and what to do; none reveals anything about the share or the keys.

use tssw_api::WalletId;
use tssw_protocol::Scheme;

use crate::client::EpsClientError;

/// Why a backup was not made, opened or restored. Nothing is overwritten on any of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Larger than [`crate::MAX_ENVELOPE_BYTES`].
    #[error("backup is {len} bytes, more than the {max} a backup can be")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The bytes end before the backup does (a cut-off download or file).
    #[error("backup is truncated (the bytes end before the backup does)")]
    Truncated,
    /// The bytes do not parse as a backup, or carry bytes after it.
    #[error("backup is corrupt: {0}")]
    Corrupt(&'static str),
    /// Written by an older build in a format this build no longer opens.
    #[error("backup format version {version} is older than this build reads (version {current})")]
    OldFormat {
        /// The backup's version.
        version: u8,
        /// What this build writes and reads.
        current: u8,
    },
    /// Written by a newer build.
    #[error("backup format version {version} is newer than this build reads (version {current}): update")]
    UnknownFormat {
        /// The backup's version.
        version: u8,
        /// What this build writes and reads.
        current: u8,
    },
    /// The backup is of another wallet than the one being restored.
    #[error("backup belongs to wallet {found}, not {expected}")]
    WrongWallet {
        /// The wallet asked for.
        expected: WalletId,
        /// The wallet the backup names.
        found: WalletId,
    },
    /// The backup is of another epoch: made before a refresh or reshare (stale), or after.
    #[error("backup is of epoch {found}, the wallet is at epoch {expected} (a stale backup from before a refresh?)")]
    WrongEpoch {
        /// The wallet's epoch.
        expected: u64,
        /// The backup's epoch.
        found: u64,
    },
    /// The backup is of another scheme.
    #[error("backup holds a {found} share, the wallet is {expected}")]
    WrongScheme {
        /// The wallet's scheme.
        expected: Scheme,
        /// The backup's scheme.
        found: Scheme,
    },
    /// The backup is of another share or key of the same wallet id and epoch (another
    /// share index, group key or public package).
    #[error("backup is of another share: {0} differs from the wallet's")]
    WrongShare(&'static str),
    /// Wrapped the other way (an EPS backup given to the recovery-secret path or back).
    #[error("backup is wrapped {found}, this operation needs one wrapped {expected}")]
    WrongWrapping {
        /// What the operation needs.
        expected: &'static str,
        /// What the backup is.
        found: &'static str,
    },
    /// The backup has a passcode and none was given (no attempt was used).
    #[error("this backup is protected by a passcode: ask the user for it")]
    PasscodeRequired,
    /// A passcode was given for a backup that has none (no attempt was used).
    #[error("this backup has no passcode; retry without one")]
    PasscodeNotSet,
    /// The passcode (or the recovery secret) is wrong. For EPS backups this used one
    /// attempt; `attempts_left` more are allowed before the EPS locks the backup.
    #[error("wrong passcode{}", attempts_left.map(|n| format!(" ({n} attempts left before the backup is locked)")).unwrap_or_default())]
    WrongSecret {
        /// Attempts left at the EPS (`None` for recovery secrets, which are not counted).
        attempts_left: Option<u32>,
    },
    /// The EPS has locked this backup after too many unconfirmed attempts.
    #[error("the encryption proxy has locked this backup after too many wrong passcodes: {0}")]
    Locked(String),
    /// The EPS knows no such backup registration for this account: the backup was
    /// replaced by a newer one, or the user is logged in as another account.
    #[error(
        "the encryption proxy has no key for this backup under this login: it was replaced by a newer backup, or this is another account"
    )]
    Superseded,
    /// The EPS answered with another key than the one this backup was made with (its
    /// evaluation proof does not verify).
    #[error("the encryption proxy's key is not the one this backup was made with (its proof does not verify)")]
    EpsKeyMismatch,
    /// The key was right but the envelope's contents were altered: it authenticated the
    /// passcode and then failed to decrypt.
    #[error("backup was altered: the key is right but the contents do not authenticate")]
    Tampered,
    /// It decrypted, but the bytes inside are not a consistent key share.
    #[error("backup decrypted but its share is invalid: {0}")]
    InvalidShare(String),
    /// The share given to back up does not match the wallet's public facts.
    #[error("the share does not match the wallet: {0}")]
    ShareMismatch(&'static str),
    /// The secret given is not acceptable (empty, too long, too short).
    #[error("{0}")]
    BadSecret(&'static str),
    /// The EPS call failed.
    #[error("encryption proxy: {0}")]
    Eps(#[from] EpsClientError),
    /// A bug or resource failure on this side (never caused by the backup's bytes).
    #[error("internal error: {0}")]
    Internal(&'static str),
}
