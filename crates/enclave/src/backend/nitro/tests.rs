#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tssw_api::attest::nitro::testing::{Fields, TestPki};
use tssw_api::attest::nitro::verify_nitro_document;
use tssw_api::attest::{NitroTrust, PcrPolicy, TrustPolicy, verify_attestation};

use super::*;
use crate::enclave::{Enclave, Limits};
use crate::wire::{Request, Response};

pub(crate) const T0: u64 = 1_750_000_000;
pub(crate) const PCR0: [u8; PCR_BYTES] = [0x42; PCR_BYTES];

/// An NSM stand-in that signs documents under a test root (not AWS's): the PCRs and the
/// document format are what a real NSM gives, the trust anchor is not.
pub(crate) struct TestNsm {
    pub(crate) pki: TestPki,
    pcr0: [u8; PCR_BYTES],
}

impl TestNsm {
    pub(crate) fn new() -> TestNsm {
        TestNsm { pki: TestPki::new(T0 - 60), pcr0: PCR0 }
    }
}

impl Nsm for TestNsm {
    fn attestation(
        &self,
        user_data: Vec<u8>,
        nonce: Option<Vec<u8>>,
        public_key: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, BackendError> {
        let mut f = Fields::new(T0 * 1000, self.pcr0);
        f.user_data = Some(user_data);
        f.nonce = nonce;
        f.public_key = public_key;
        Ok(self.pki.document(&f))
    }
    fn pcr(&self, index: u16) -> Result<Vec<u8>, BackendError> {
        let f = Fields::new(T0 * 1000, self.pcr0);
        let index = u8::try_from(index).map_err(|_| BackendError::Nsm("index".into()))?;
        f.pcrs.get(&index).map(|p| p.to_vec()).ok_or(BackendError::Nsm("no such PCR".into()))
    }
}

pub(crate) fn policy(nsm: &TestNsm) -> TrustPolicy {
    TrustPolicy {
        dev: None,
        nitro: Some(NitroTrust { root: nsm.pki.root.clone(), images: vec![PcrPolicy::pcr0(PCR0)] }),
    }
}

#[test]
fn off_nitro_open_fails_loudly() {
    // No /dev/nsm on this machine (nor on CI): the error says where the backend runs.
    let e = NitroBackend::open().unwrap_err().to_string();
    assert!(e.contains("/dev/nsm") && e.contains("only inside an AWS Nitro Enclave"), "{e}");
}

#[test]
fn attestation_binds_identity_and_nonce() {
    let nsm = TestNsm::new();
    let trust = policy(&nsm);
    let backend = NitroBackend::with_nsm(Box::new(TestNsm::new())).unwrap();
    assert_eq!(backend.mode(), TeeMode::Nitro);
    assert!(matches!(backend.measurement(), Measurement::Nitro { pcr0, .. } if pcr0.0 == PCR0));
    assert!(backend.sealing_key().is_none());
    let id = PartyId([3; 32]);
    let doc = backend.attest(&id, &[8; 32], T0).unwrap();
    let ok = verify_attestation(&doc, &trust, &[8; 32], T0).unwrap();
    assert_eq!((ok.identity, ok.tee_mode, ok.measurement), (id, TeeMode::Nitro, backend.measurement()));

    // The KMS document binds the recipient key and is no identity document for a client.
    let kms = backend.kms_recipient(&id).unwrap();
    let stated = verify_nitro_document(&kms, &nsm.pki.root, T0).unwrap();
    let waiting = backend.waiting().as_ref().map(|k| k.public_key_der().to_vec()).unwrap();
    assert_eq!(stated.public_key.as_deref(), Some(waiting.as_slice()));
    assert_eq!(stated.user_data, Some(kms_user_data(&id)));
    assert!(verify_attestation(&kms, &trust, &[8; 32], T0).is_err());
}

#[test]
fn kms_release_opens_once_and_only_for_the_waiting_key() {
    let backend = NitroBackend::with_nsm(Box::new(TestNsm::new())).unwrap();
    let id = PartyId([3; 32]);
    assert!(matches!(backend.kms_release(b"x"), Err(BackendError::Recipient(RecipientError::NoKey))));
    let doc = backend.kms_recipient(&id).unwrap();
    let public = verify_nitro_document(&doc, &TestNsm::new().pki.root, T0).unwrap().public_key.unwrap();
    let envelope = recipient::tests::envelope(&public, &[0x77; 32]).ber();
    let root = backend.kms_release(&envelope).unwrap();
    assert_eq!(root.bytes_for_tests(), [0x77; 32]);
    // Used up: the same reply (or any other) does not open twice.
    assert!(matches!(backend.kms_release(&envelope), Err(BackendError::Recipient(RecipientError::NoKey))));
    // A reply for an older recipient key fails after a newer request replaced it.
    let doc = backend.kms_recipient(&id).unwrap();
    let old = verify_nitro_document(&doc, &TestNsm::new().pki.root, T0).unwrap().public_key.unwrap();
    let _ = backend.kms_recipient(&id).unwrap();
    let stale = recipient::tests::envelope(&old, &[0x77; 32]).ber();
    assert!(matches!(backend.kms_release(&stale), Err(BackendError::Recipient(RecipientError::WrongRecipient))));
    // A 16-byte data key is refused.
    let doc = backend.kms_recipient(&id).unwrap();
    let public = verify_nitro_document(&doc, &TestNsm::new().pki.root, T0).unwrap().public_key.unwrap();
    let short = recipient::tests::envelope(&public, &[0x77; 16]).ber();
    assert!(matches!(backend.kms_release(&short), Err(BackendError::Recipient(RecipientError::KeyLength(16)))));
}

#[tokio::test]
async fn enclave_is_locked_until_kms_releases_the_key() {
    let backend = NitroBackend::with_nsm(Box::new(TestNsm::new())).unwrap();
    let enclave = Arc::new(Enclave::new(Box::new(backend), Limits::default()));
    let Response::Health(h) = crate::rpc::handle(&enclave, Request::Health).await else { panic!() };
    assert!(!h.unlocked);
    assert_eq!(h.tee_mode, TeeMode::Nitro);
    assert!(enclave.sealer().is_err());
    let Response::KmsRecipient { document } = crate::rpc::handle(&enclave, Request::KmsRecipient).await else {
        panic!()
    };
    let public = verify_nitro_document(&document, &TestNsm::new().pki.root, T0).unwrap().public_key.unwrap();
    let envelope = recipient::tests::envelope(&public, &[0x77; 32]).der();
    let released = Request::KmsRelease { ciphertext_for_recipient: envelope.clone() };
    assert_eq!(crate::rpc::handle(&enclave, released.clone()).await, Response::Unlocked);
    assert!(enclave.unlocked());
    // Sealing works and derives as dev does from the same root.
    let dev_sealer = crate::seal::Sealer::new(&SealingKey::new(Zeroizing::new([0x77; 32])));
    let share = tssw_protocol::testing::dkg(tssw_protocol::Scheme::Ed25519, 2, 2).unwrap().remove(0);
    let wallet = tssw_api::WalletId::new("wallet-nitro").unwrap();
    let sealed = enclave.sealer().unwrap().seal(&wallet, &share).unwrap();
    assert!(dev_sealer.open(&sealed, &wallet, 1).is_ok());
    // A second key is refused: a running enclave's key cannot be swapped.
    let Response::Error(e) = crate::rpc::handle(&enclave, released).await else { panic!() };
    assert_eq!(e.code, crate::ErrorCode::BadRequest);
}
