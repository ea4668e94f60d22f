//! What tss-wallet's device side and service side share, so that neither depends on the
//! other: both meet here, in `tssw-protocol` / `tssw-channel` types and in the HTTP API.
//!
//! - [`WalletId`]: the service's name for a wallet, bound into sealed shares and setups.
//! - [`binding`]: the digests a ceremony setup binds. The enclave puts them in the setups
//!   it signs; the client recomputes them from what it asked for before it takes part.
//! - [`payload`]: the structured chain payloads a wallet signs. The enclave and the client
//!   derive the same `SignRequest` from one, each by itself.
//! - [`attest`]: the enclave's attestation document and the client's verifier for it.
//! - [`http`]: the wallet server's JSON request and response bodies.
//! - [`decode_strict`]: canonical postcard decoding for bytes from outside.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod attest;
pub mod binding;
pub mod http;
mod ids;
pub mod payload;
mod strict;

pub use attest::{
    AttestationDoc, AttestationError, DEV_NOTICE, DevTrust, Measurement, NITRO_NOTICE, NitroTrust, Pcr, PcrPolicy,
    TeeMode, TrustPolicy, verify_attestation,
};
pub use binding::{dkg_digest, refresh_digest, reshare_digest, sign_batch_digest, sign_digest};
pub use ids::{BadWalletId, MAX_WALLET_ID_BYTES, WalletId};
pub use payload::{ChainPayload, ParsedPayload, PayloadError, epoch_check_digest};
pub use strict::{StrictError, decode_strict};
