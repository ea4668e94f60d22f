//! The tss-wallet relay: an untrusted store-and-forward router for ceremony frames.
//!
//! - [`run`] serves the relay on a bound listener until a shutdown future completes
//!   (mini-redis style; the `tssw relay` binary will only parse flags and call it).
//! - [`token`]: per-ceremony, per-party bearer tokens signed by the wallet server.
//! - [`mailbox`]: one append-only sequence per (ceremony, recipient), with acks, resume
//!   and a TTL; [`MemoryMailbox`] (embedded) and [`RedisMailbox`].
//! - [`RedisMailbox`]: the same mailboxes in Redis, shared by several relay nodes.
//! - [`wire`]: the relay's own small binary messages (frame, ack, delivery).
//! - [`RelayTransport`]: the client, a [`tssw_channel::Transport`].
//!
//! Everything but [`token`] and [`wire`] is behind the default `node` feature; the browser
//! client (`tssw-client` on wasm32) takes just those two.
//!   Bounded in time: a stall timeout and a ceremony deadline end a run ([`Stop`]).
//!
//! The relay reads only the public frame header ([`tssw_channel::FrameHeader`]): it checks
//! that the frame is for the connection's ceremony and from the connection's party, and
//! routes it to the recipient. Bodies are end-to-end AEAD ciphertext it cannot open; the
//! parties' sessions detect anything a hostile relay does. Plain `ws://` only for now (no
//! TLS features): bind it to loopback.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[cfg(feature = "node")]
mod client;
#[cfg(feature = "node")]
mod config;
#[cfg(feature = "node")]
mod limits;
#[cfg(feature = "node")]
pub mod mailbox;
#[cfg(feature = "node")]
mod metrics;
#[cfg(feature = "node")]
mod redis_mailbox;
#[cfg(feature = "node")]
mod server;
pub mod token;
pub mod wire;

#[cfg(feature = "node")]
pub use client::{ClientError, Connecting, RECONNECT_DELAYS_MS, RelayTransport};
#[cfg(feature = "node")]
pub use client::{DEFAULT_CEREMONY_LIMIT, DEFAULT_STALL_TIMEOUT, RESEND_MAX_BYTES, RESEND_MAX_FRAMES, Stop};
#[cfg(feature = "node")]
pub use config::{Clock, Config, Rate, system_clock};
#[cfg(feature = "node")]
pub use mailbox::{Mailbox, MailboxError, MemoryLimits, MemoryMailbox};
#[cfg(feature = "node")]
pub use redis_mailbox::{RedisMailbox, RedisOptions};
#[cfg(feature = "node")]
pub use server::{DRAIN_TIMEOUT, MAX_RESULT_BYTES, close, router, run, run_with};
pub use token::{Claims, Token, TokenError};
