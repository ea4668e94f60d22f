//! The enclave's error type, and how each error reaches the host ([`RemoteError`]).
//! Messages name what failed, never secret material.

use tssw_channel::ChannelError;

use crate::backend::BackendError;
use crate::frame::WireError;
use crate::seal::SealError;
use crate::wire::{ErrorCode, RemoteError};
use tssw_api::PayloadError;

/// Why the enclave refused or failed a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnclaveError {
    /// The request did not decode.
    #[error("request: {0}")]
    Wire(#[from] WireError),
    /// A sealed share was refused.
    #[error("{0}")]
    Seal(#[from] SealError),
    /// The chain payload was refused.
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    /// The request is well-formed but invalid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The client asked for another digest than the enclave computed.
    #[error("the payload's digest is not the one the client asked to sign")]
    DigestMismatch,
    /// The setup could not be signed.
    #[error("setup: {0}")]
    Setup(ChannelError),
    /// No prepared ceremony with that id.
    #[error("no prepared ceremony with that id (never begun, already run, or expired)")]
    UnknownCeremony,
    /// The setup expired.
    #[error("the ceremony's setup expired")]
    Expired,
    /// Over a concurrency bound.
    #[error("busy: {0}")]
    Busy(&'static str),
    /// The ceremony failed.
    #[error("ceremony failed: {0}")]
    Ceremony(String),
    /// The relay refused or dropped us.
    #[error("relay: {0}")]
    Relay(String),
    /// The backend failed.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// No sealing key yet.
    #[error("no sealing key yet: the host must run the KMS exchange (KmsRecipient, then KmsRelease) first")]
    Locked,
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl EnclaveError {
    /// The code the host sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            EnclaveError::Wire(WireError::TooLarge { .. }) => ErrorCode::TooLarge,
            EnclaveError::Wire(WireError::UnsupportedVersion(_)) => ErrorCode::UnsupportedVersion,
            EnclaveError::Wire(_) | EnclaveError::BadRequest(_) => ErrorCode::BadRequest,
            EnclaveError::Seal(e) => match e {
                SealError::WrongWallet { .. } => ErrorCode::WrongWallet,
                SealError::WrongEpoch { .. } => ErrorCode::StaleEpoch,
                SealError::WrongScheme { .. } => ErrorCode::WrongScheme,
                SealError::Tampered => ErrorCode::SealTampered,
                SealError::UnsupportedVersion(_) => ErrorCode::SealVersion,
                SealError::Malformed(_) | SealError::Inconsistent(_) => ErrorCode::SealCorrupt,
                SealError::Encode(_) => ErrorCode::Internal,
            },
            EnclaveError::Payload(PayloadError::RawDigestDisabled) => ErrorCode::RawDigestDisabled,
            EnclaveError::Payload(PayloadError::WrongScheme { .. }) => ErrorCode::WrongScheme,
            EnclaveError::Payload(_) => ErrorCode::Payload,
            EnclaveError::DigestMismatch => ErrorCode::DigestMismatch,
            EnclaveError::Setup(_) => ErrorCode::Setup,
            EnclaveError::UnknownCeremony => ErrorCode::UnknownCeremony,
            EnclaveError::Expired => ErrorCode::Expired,
            EnclaveError::Busy(_) => ErrorCode::Busy,
            EnclaveError::Ceremony(_) => ErrorCode::Ceremony,
            EnclaveError::Relay(_) => ErrorCode::Relay,
            EnclaveError::Backend(_) => ErrorCode::Backend,
            EnclaveError::Locked => ErrorCode::Locked,
            EnclaveError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The error as the host sees it.
    pub fn to_remote(&self) -> RemoteError {
        RemoteError { code: self.code(), message: self.to_string() }
    }
}
