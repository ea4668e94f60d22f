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
//! - [`input`]: what wallets hand over (JSON transaction requests, typed data, messages,
//!   Solana transactions, PSBTs) parsed into the payloads the enclave signs.
//! - [`digest`]: exactly what each payload signs, by the enclave's own code path.
//! - [`artifact`]: the signed result in each chain's standard encoding.
//!
//! Everything but the file-system store and the relay client builds for
//! `wasm32-unknown-unknown`, for the web wallet.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod artifact;
#[cfg(not(target_arch = "wasm32"))]
pub mod ceremony;
pub mod digest;
pub mod input;
pub mod keystore;
#[cfg(not(target_arch = "wasm32"))]
pub mod ops;

pub use api::{ApiClient, ApiError};
pub use artifact::{Artifact, ArtifactError, Signed, assemble};
#[cfg(not(target_arch = "wasm32"))]
pub use ceremony::{Attested, CeremonyError, Expected, LocalParty, TrustPolicy};
pub use digest::{Digest, describe, describe_input};
pub use input::{InputError, InputKind, InputOptions, SignInput, parse};
pub use keystore::KeystoreError;
#[cfg(unix)]
pub use keystore::{EpochState, Keystore};
#[cfg(not(target_arch = "wasm32"))]
pub use ops::{Device, Holding};
