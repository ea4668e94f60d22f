//! The device side of tss-wallet: what a wallet app or the `tssw` command embeds. It must
//! never depend on the service's crates (`tssw-server`, `tssw-enclave`): both sides meet in
//! `tssw-protocol`, `tssw-channel`, `tssw-api` and the HTTP API.
//!
//! - [`keystore`]: the user's shares encrypted at rest (Argon2id + XChaCha20-Poly1305),
//!   keyed by wallet and epoch, with two-phase epochs and crash-safe writes; the device
//!   identity key; per-wallet metadata.
//! - [`api`]: the wallet server's HTTP API, typed ([`ApiClient`]).
//! - [`ceremony`]: attestation and setup checks, then the device's parties over the relay.
//! - [`ops`]: wallet operations (create, sign, refresh, reshare, confirm), one ceremony each.
//! - [`queue`] (native): [`SignQueue`], concurrent signing requests on one wallet coalesced
//!   into batch ceremonies while the wallet is busy.
//! - [`wallet`]: [`Wallets`], those operations with the keystore and the two-phase epoch
//!   rules, and [`Wallets::reconcile`] after a crash.
//! - [`input`]: what wallets hand over (JSON transaction requests, typed data, messages,
//!   Solana transactions, PSBTs) parsed into the payloads the enclave signs.
//! - [`digest`]: exactly what each payload signs, by the enclave's own code path.
//! - [`artifact`]: the signed result in each chain's standard encoding.
//!
//! - [`trust`]: the configured trust policy (enclave measurements, dev attestation key).
//! - [`relay_web`] (wasm32 only): the relay client over the browser's WebSocket.
//!
//! Everything but the file-system store and [`Wallets`] builds for
//! `wasm32-unknown-unknown`, for the web wallet (`tssw-web`), which keeps its shares in the
//! browser instead.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod address;
pub mod api;
pub mod artifact;
pub mod ceremony;
mod clock;
pub mod digest;
pub mod input;
pub mod keystore;
pub mod ops;
#[cfg(not(target_arch = "wasm32"))]
pub mod queue;
#[cfg(target_arch = "wasm32")]
pub mod relay_web;
pub mod server_backup;
pub mod trust;
#[cfg(unix)]
pub mod wallet;

pub use address::address;
pub use api::{ApiClient, ApiError};
pub use artifact::{Artifact, ArtifactError, Signed, assemble};
pub use ceremony::{Attested, CeremonyError, Expected, LocalParty, TrustPolicy};
pub use digest::{Digest, describe, describe_input};
pub use input::{InputError, InputKind, InputOptions, SignInput, parse};
pub use keystore::KeystoreError;
#[cfg(unix)]
pub use keystore::{EpochState, Keystore};
pub use ops::{Device, Holding};
#[cfg(not(target_arch = "wasm32"))]
pub use queue::SignQueue;
pub use trust::TrustConfig;
#[cfg(unix)]
pub use wallet::{Reconciled, WalletError, Wallets};
