//! The TEE boundary of tss-wallet: a small program that holds the service's key shares and
//! uses them only inside itself, and the host's client for it.
//!
//! - [`frame`] / [`wire`]: the host ↔ enclave protocol, length-prefixed (u32 BE),
//!   versioned, size-bounded (4 MiB), strict postcard; a Unix socket here, vsock on Nitro.
//! - [`seal`]: shares at rest are XChaCha20-Poly1305 blobs bound to wallet id, scheme, epoch
//!   and format version (ARCHITECTURE invariant 2). The host never holds a plaintext share.
//! - attestation: documents binding the enclave's identity key (generated inside at
//!   start) to a measurement of the program; the format and [`verify_attestation`] live
//!   in `tssw-api`, which the client shares.
//! - [`backend`]: where the sealing key, measurement and attestation signature come from.
//!   [`backend::dev::DevBackend`] (default) is **not a hardware TEE**: its keys are files in
//!   the data directory. `backend::nitro::NitroBackend` (cargo feature `nitro`) runs only
//!   inside an AWS Nitro Enclave: NSM attestation, vsock, and a sealing root key that KMS
//!   releases to the attested image through the host (`kms`, host side).
//! - [`Enclave`] + [`serve`]: the program. Ceremonies take two requests: `Begin` (the
//!   enclave unseals, computes the payload digest itself from the structured payload,
//!   contributes and signs the setup as coordinator) and `Run` (over the relay, once).
//! - [`EnclaveClient`]: the host side, with request timeouts and pooled connections.
//! - The digests a setup binds (`tssw_api::binding`) and the chain payloads
//!   (`tssw_api::payload`) are shared with the client, which recomputes both.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod backend;
mod client;
mod enclave;
mod error;
pub mod frame;
#[cfg(feature = "nitro")]
pub mod kms;
mod rpc;
pub mod seal;
mod server;
pub mod wire;

pub use client::{ClientError, EnclaveClient};
pub use enclave::{Enclave, Limits, system_clock};
pub use error::EnclaveError;
pub use rpc::handle;
pub use seal::{SealError, SealedShare};
pub use server::{bind, serve};
#[cfg(feature = "nitro")]
pub use server::{bind_vsock, serve_vsock};
// The wire types name these; re-exported so a host needs only this crate.
pub use tssw_api::{
    AttestationDoc, AttestationError, ChainPayload, DEV_NOTICE, Measurement, TeeMode, TrustPolicy, WalletId,
    verify_attestation,
};
pub use wire::{Began, Begin, CeremonyOp, ErrorCode, Health, NewShare, RemoteError, Request, Response, Signed};
