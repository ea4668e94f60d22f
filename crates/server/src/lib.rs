//! The tss-wallet host: the HTTP API (axum), authentication (JWT), storage (SQLite or
//! PostgreSQL through `sqlx`) and the hash-chained audit log.
//!
//! The server never holds a plaintext key share: the enclave (its own crate and process)
//! does. Ceremony endpoints (create wallet, sign, refresh, reshare) arrive with the enclave
//! integration; this crate is their host side. [`web`] serves the web wallet's iframe page.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod audit;
pub mod ceremony;
pub mod error;
pub mod openapi;
pub mod store;
pub mod web;

pub use api::{AppState, router};
pub use ceremony::{Ceremonies, CeremonyLimits, RelayIssuer};
pub use store::Store;
pub use tssw_auth::{Authenticator, DevIssuer, IssuerConfig};
