//! AWS Nitro Enclaves backend: a placeholder so the feature and its call sites compile (CI
//! runs `cargo check --features nitro`). [`NitroBackend::open`] always fails with what is
//! missing; [`NitroBackend`] has no values, so nothing can run on it by mistake.

use tssw_channel::PartyId;

use super::{Backend, BackendError};
use crate::seal::SealingKey;
use tssw_api::TeeMode;

/// What a real Nitro backend still needs.
pub const MISSING: &str = "NSM attestation documents from /dev/nsm (aws-nitro-enclaves-nsm-api), \
     a sealing key released by KMS to the attested image (Decrypt with a Recipient, PCR0 in the key policy), \
     the vsock listener (tokio-vsock) and a COSE_Sign1 / certificate-chain verifier for the client";

/// The Nitro backend. Uninhabited until it is implemented.
#[derive(Debug)]
pub enum NitroBackend {}

impl NitroBackend {
    /// Always fails, saying what is missing.
    pub fn open() -> Result<NitroBackend, BackendError> {
        Err(BackendError::NitroNotImplemented(MISSING))
    }
}

impl Backend for NitroBackend {
    fn mode(&self) -> TeeMode {
        match *self {}
    }
    fn notice(&self) -> &'static str {
        match *self {}
    }
    fn measurement(&self) -> [u8; 32] {
        match *self {}
    }
    fn sealing_key(&self) -> &SealingKey {
        match *self {}
    }
    fn attest(&self, _: &PartyId, _: &[u8; 32], _: u64) -> Result<Vec<u8>, BackendError> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn refuses_loudly() {
        let Err(e) = NitroBackend::open();
        let text = e.to_string();
        assert!(text.starts_with("Nitro backend not implemented yet: "), "{text}");
        assert!(text.contains("/dev/nsm") && text.contains("KMS") && text.contains("vsock"), "{text}");
    }
}
