//! The TEE boundary of tss-wallet: a small program that holds the service's key shares and
//! uses them only inside itself, and the host's client for it.
//!
//! - [`frame`] / [`wire`]: the host ↔ enclave protocol, length-prefixed (u32 BE),
//!   versioned, size-bounded (4 MiB), strict postcard; a Unix socket here, vsock on Nitro.
//! - [`seal`]: shares at rest are XChaCha20-Poly1305 blobs bound to wallet id, scheme, epoch
//!   and format version (ARCHITECTURE invariant 2). The host never holds a plaintext share.
//! - [`attest`]: attestation documents binding the enclave's identity key (generated
//!   inside at start) to a measurement of the program, and [`verify_attestation`].
//! - [`backend`]: where the sealing key, measurement and attestation signature come from.
//!   [`backend::dev::DevBackend`] (default) is **not a hardware TEE**: its keys are files in
//!   the data directory. `nitro` (cargo feature) is a placeholder that refuses to start.
//! - [`Enclave`] + [`serve`]: the program. Ceremonies take two requests: `Begin` (the
//!   enclave unseals, computes the payload digest itself from the structured payload,
//!   contributes and signs the setup as coordinator) and `Run` (over the relay, once).
//! - [`EnclaveClient`]: the host side, with request timeouts and pooled connections.
//! - [`binding`]: the digests a setup binds, which the client recomputes to verify it.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod attest;
pub mod backend;
pub mod binding;
mod client;
mod enclave;
mod error;
pub mod frame;
mod ids;
pub mod payload;
mod rpc;
pub mod seal;
mod server;
pub mod wire;

pub use attest::{AcceptDev, AttestationDoc, AttestationError, DEV_NOTICE, TeeMode, verify_attestation};
pub use binding::{dkg_digest, refresh_digest, reshare_digest, sign_digest};
pub use client::{ClientError, EnclaveClient};
pub use enclave::{Enclave, Limits, system_clock};
pub use error::EnclaveError;
pub use ids::{BadWalletId, MAX_WALLET_ID_BYTES, WalletId};
pub use payload::{ChainPayload, PayloadError};
pub use rpc::handle;
pub use seal::{SealError, SealedShare};
pub use server::{bind, serve};
pub use wire::{Began, Begin, CeremonyOp, ErrorCode, Health, NewShare, RemoteError, Request, Response, Signed};
