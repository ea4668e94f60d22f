//! The device side of tss-wallet: what a wallet app embeds.
//!
//! - [`api`]: the wallet server's HTTP API, typed ([`ApiClient`]).
//! - [`ceremony`]: attestation and setup checks, then the device's parties over the relay.
//! - [`ops`]: wallet operations (create, sign, refresh, reshare, confirm), one ceremony each.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod ceremony;
pub mod ops;

pub use api::{ApiClient, ApiError};
pub use ceremony::{Attested, CeremonyError, Expected, LocalParty, TrustPolicy};
pub use ops::{Device, Holding};
