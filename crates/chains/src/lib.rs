//! Chain layer of tss-wallet: addresses, unsigned transactions and messages, the digest the
//! threshold ceremony signs, and the signed result in the encoding each chain expects.
//!
//! The crate works on plain bytes (public keys, digests, signatures), so it needs neither the
//! protocol crate nor any network access: it builds, hashes and assembles; the caller signs
//! and broadcasts. Every payload implements [`SigningPayload`]:
//!
//! 1. parse or build the payload (size-bounded, typed errors, never a panic);
//! 2. [`SigningPayload::digests`] gives what to sign, one entry per signature, in order;
//! 3. [`SigningPayload::assemble`] checks each signature against the key and returns the
//!    signed transaction or message signature.
//!
//! | chain | payloads | scheme |
//! |---|---|---|
//! | EVM | [`evm::EvmTransaction`] (EIP-1559, legacy EIP-155), [`evm::PersonalMessage`] (EIP-191), [`evm::TypedData`] (EIP-712) | ECDSA secp256k1 |
//! | Solana | [`solana::SolanaTransaction`] (legacy, v0), [`solana::OffchainMessage`] | Ed25519 |
//! | Bitcoin | [`bitcoin::TaprootPsbt`] (BIP-341 key path) | BIP-340 |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod bitcoin;
mod error;
pub mod evm;
mod payload;
pub mod solana;

pub use error::Error;
pub use payload::{ChainSignature, Payload, Signed, SigningDigest, SigningPayload};
