//! The secure channel between the parties of a tss-wallet ceremony: sans-IO, no sockets.
//!
//! 1. Each party makes a [`Contribution`] (fresh nonce + ephemeral X25519 key, signed by its
//!    [`IdentityKey`]) and sends it to the coordinator.
//! 2. The coordinator signs a [`Setup`]: ceremony id (the hash of every contribution, so no
//!    party picks it alone), operation, scheme, threshold, parties, payload digest, expiry.
//! 3. Each party checks it with [`Setup::verify`] against what it asked for, with the
//!    caller's clock, and opens its [`Session`] with the ephemeral key it contributed.
//! 4. [`drive`] runs a `tssw_protocol` ceremony over the session and any [`Transport`]
//!    (the in-memory [`MemoryNetwork`] here; the relay client later): the session seals
//!    every message end to end per pair, binds it to a message id the receiver recomputes,
//!    drops duplicates and rejects anything forged, replayed or misrouted.
//!
//! Nothing here reads a clock, opens a socket or spawns: time and randomness come from the
//! caller, bytes move through the transport.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod aead;
mod error;
mod frame;
mod identity;
mod memory;
mod session;
mod setup;
#[cfg(feature = "test-helpers")]
pub mod testing;
mod transport;

pub use aead::Suites;
pub use error::ChannelError;
pub use frame::{FRAME_VERSION, Frame, FrameHeader, MAX_FRAME_BYTES, MessageId};
pub use identity::{Contribution, EphemeralKey, IdentityKey, PartyId};
pub use memory::{FnRelay, MemoryError, MemoryNetwork, MemoryTransport, Relay};
pub use session::{Opened, Outbound, Session};
pub use setup::{
    Expectation, MAX_SETUP_BYTES, Operation, SETUP_VERSION, Setup, SetupParams, SetupParty, VerifiedSetup, ceremony_id,
};
pub use transport::{DriveError, Rejected, Transport, drive};
