//! Backups of a user's key share that the operator cannot open (ARCHITECTURE invariant 7).
//!
//! Two keys, two layers. The share's bytes are encrypted under a random 32-byte data key D
//! (XChaCha20-Poly1305); D is wrapped under a key-encryption key K that only the user's
//! device can derive. The result is one versioned, bounded [`Envelope`] that the wallet
//! server stores and cannot open.
//!
//! - **Server backup** ([`create_backup`], [`restore`], [`change_passcode`]): K comes from
//!   the encryption proxy service (EPS, [`eps`] with the `server` feature; [`EpsClient`] on
//!   the device) by an RFC 9497 POPRF evaluation, so the EPS never sees K and the wallet
//!   server cannot compute it. With a passcode, the passcode is part of the OPRF input and
//!   K also needs Argon2id of it: every guess is one online, counted EPS evaluation, and the
//!   EPS locks the backup after a configurable number of unconfirmed attempts.
//! - **Cloud copy** ([`recovery`], [`cloud`]): the third share of a 2-of-3 wallet, wrapped
//!   under a recovery secret the user holds (a generated recovery code or a passphrase,
//!   Argon2id), stored through a [`cloud::CloudProvider`] (file, Google Drive, CloudKit).
//!   It does not involve the EPS, so device + cloud can sign without the service.
//!
//! The key schedule is in [`kdf`], the OPRF glue in [`oprf`], the EPS's HTTP schema in
//! [`api`]. Everything that decodes bytes from outside is bounded, typed and fuzzed
//! (`fuzz/fuzz_targets/backup_*.rs`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
mod backup;
pub mod client;
pub mod cloud;
pub mod envelope;
#[cfg(feature = "server")]
pub mod eps;
mod error;
pub mod kdf;
pub mod oprf;
pub mod recovery;
mod secret;

pub use backup::{PreparedBackup, change_passcode, create_backup, open_with_oprf_output, restore};
pub use client::{EpsClient, EpsClientError};
pub use envelope::{Envelope, EnvelopeInfo, FORMAT_VERSION, MAX_ENVELOPE_BYTES, WalletMeta, Wrapping};
pub use error::BackupError;
pub use oprf::EpsPublicKey;
pub use secret::{MAX_SECRET_BYTES, MIN_PASSPHRASE_BYTES, Passcode, RECOVERY_CODE_CHARS, RecoveryCode, RecoverySecret};
pub use tssw_api::WalletId;

/// Runs CPU-heavy work (Argon2id) off the async runtime's worker threads (STYLE S5).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| BackupError::Internal("a key-derivation task failed"))
}

/// In the browser there is one thread and no runtime to keep free: the work runs inline.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, BackupError> {
    Ok(f())
}
