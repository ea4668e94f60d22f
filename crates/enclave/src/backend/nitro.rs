//! AWS Nitro Enclaves backend (cargo feature `nitro`). **Runs only inside a Nitro enclave**:
//! [`NitroBackend::open`] opens `/dev/nsm` and fails, saying so, anywhere else.
//!
//! - Measurement: PCR0/1/2 as the Nitro Security Module (NSM) reports them.
//! - Attestation: NSM documents (COSE_Sign1 under the AWS Nitro PKI) with `user_data` =
//!   [`tssw_api::attest::NITRO_IDENTITY_TAG`] ‖ the enclave's identity key, and the client's
//!   nonce; `tssw_api::verify_attestation` checks them.
//! - Sealing root key: released by KMS to the attested image. The enclave has no network, so
//!   the host makes the KMS call ([`crate::kms`]): the enclave makes an RSA key pair
//!   ([`RecipientKey`]), the NSM attests its public key (`public_key`; `user_data` =
//!   [`KMS_RECIPIENT_TAG`] ‖ identity, so a client never mistakes it for an identity
//!   document), the host passes that document to KMS `Decrypt` / `GenerateDataKey` as
//!   `Recipient`, and KMS — if its key policy admits the document's PCRs — encrypts the key to
//!   that public key. Only this enclave can open the reply. The sealing key is then derived
//!   exactly as in dev (`HKDF(root, "seal-key")`, [`crate::seal`]).
//!
//! What the host can still do: withhold the key (availability), or, at first provisioning,
//! hand the enclave a root key of its own encrypted to the attested public key (anyone can
//! encrypt to it). SECURITY.md says what that means and how a deployment pins the key.

pub(crate) mod recipient;

use std::sync::Mutex;

use tssw_api::attest::{Measurement, PCR_BYTES, Pcr, TeeMode, nitro_identity_user_data};
use tssw_channel::PartyId;
use zeroize::Zeroizing;

pub use recipient::{MAX_ENVELOPE_BYTES, RecipientError, RecipientKey};

use super::{Backend, BackendError};
use crate::seal::SealingKey;

/// How the Nitro backend describes itself on health and in logs.
pub const NITRO_BACKEND_NOTICE: &str =
    "AWS Nitro Enclave: NSM attestation, sealing key released by KMS to the attested image";

/// How `user_data` of the KMS recipient document starts (the identity key follows).
pub const KMS_RECIPIENT_TAG: &[u8] = b"tssw/enclave/v1/nitro-kms-recipient\0";

/// What the error says when `/dev/nsm` is not there.
pub const OFF_NITRO: &str = "cannot open /dev/nsm: the nitro backend runs only inside an AWS Nitro Enclave \
     (build the enclave image with `nitro-cli build-enclave` and start it with `nitro-cli run-enclave`); \
     use `--backend dev` elsewhere";

/// The Nitro Security Module, as the backend uses it.
pub trait Nsm: Send + Sync + 'static {
    /// An attestation document for these fields.
    fn attestation(
        &self,
        user_data: Vec<u8>,
        nonce: Option<Vec<u8>>,
        public_key: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, BackendError>;

    /// The value of PCR `index`.
    fn pcr(&self, index: u16) -> Result<Vec<u8>, BackendError>;
}

/// `/dev/nsm`.
#[derive(Debug)]
pub struct DeviceNsm {
    fd: i32,
}

impl DeviceNsm {
    /// Opens the device; fails with [`OFF_NITRO`] outside a Nitro enclave.
    pub fn open() -> Result<DeviceNsm, BackendError> {
        let fd = aws_nitro_enclaves_nsm_api::driver::nsm_init();
        if fd < 0 {
            return Err(BackendError::Nsm(OFF_NITRO.into()));
        }
        Ok(DeviceNsm { fd })
    }

    fn call(&self, request: aws_nitro_enclaves_nsm_api::api::Request) -> aws_nitro_enclaves_nsm_api::api::Response {
        aws_nitro_enclaves_nsm_api::driver::nsm_process_request(self.fd, request)
    }
}

impl Drop for DeviceNsm {
    fn drop(&mut self) {
        aws_nitro_enclaves_nsm_api::driver::nsm_exit(self.fd);
    }
}

impl Nsm for DeviceNsm {
    fn attestation(
        &self,
        user_data: Vec<u8>,
        nonce: Option<Vec<u8>>,
        public_key: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, BackendError> {
        use aws_nitro_enclaves_nsm_api::api::{Request, Response};
        use serde_bytes::ByteBuf;
        let request = Request::Attestation {
            user_data: Some(ByteBuf::from(user_data)),
            nonce: nonce.map(ByteBuf::from),
            public_key: public_key.map(ByteBuf::from),
        };
        match self.call(request) {
            Response::Attestation { document } => Ok(document),
            Response::Error(e) => Err(BackendError::Nsm(format!("attestation refused: {e:?}"))),
            _ => Err(BackendError::Nsm("unexpected answer to an attestation request".into())),
        }
    }

    fn pcr(&self, index: u16) -> Result<Vec<u8>, BackendError> {
        use aws_nitro_enclaves_nsm_api::api::{Request, Response};
        match self.call(Request::DescribePCR { index }) {
            Response::DescribePCR { data, .. } => Ok(data),
            Response::Error(e) => Err(BackendError::Nsm(format!("PCR{index} refused: {e:?}"))),
            _ => Err(BackendError::Nsm(format!("unexpected answer to a PCR{index} request"))),
        }
    }
}

/// The Nitro backend.
pub struct NitroBackend {
    nsm: Box<dyn Nsm>,
    measurement: Measurement,
    /// The recipient key of the last `KmsRecipient`, until one `KmsRelease` consumes it.
    waiting: Mutex<Option<RecipientKey>>,
}

impl std::fmt::Debug for NitroBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NitroBackend").field("measurement", &self.measurement.to_string()).finish_non_exhaustive()
    }
}

impl NitroBackend {
    /// The backend on `/dev/nsm`. Fails outside a Nitro enclave.
    pub fn open() -> Result<NitroBackend, BackendError> {
        NitroBackend::with_nsm(Box::new(DeviceNsm::open()?))
    }

    /// The backend on any NSM (tests use one that signs under a test root).
    pub fn with_nsm(nsm: Box<dyn Nsm>) -> Result<NitroBackend, BackendError> {
        let pcr = |i: u16| -> Result<Pcr, BackendError> {
            let value = nsm.pcr(i)?;
            let value: [u8; PCR_BYTES] =
                value.try_into().map_err(|_| BackendError::Nsm(format!("PCR{i} is not {PCR_BYTES} bytes")))?;
            Ok(Pcr(value))
        };
        let measurement = Measurement::Nitro { pcr0: pcr(0)?, pcr1: pcr(1)?, pcr2: pcr(2)? };
        if matches!(measurement, Measurement::Nitro { pcr0, .. } if pcr0.0 == [0; PCR_BYTES]) {
            // Debug mode: PCRs read zero and the host can read enclave memory; KMS key policies
            // pinning PCR0 refuse it too. Say so at start instead of failing later.
            tracing::warn!("the enclave runs in debug mode (PCR0 is zero): its memory is open to the host");
        }
        Ok(NitroBackend { nsm, measurement, waiting: Mutex::new(None) })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Option<RecipientKey>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn kms_user_data(identity: &PartyId) -> Vec<u8> {
    let mut out = KMS_RECIPIENT_TAG.to_vec();
    out.extend_from_slice(&identity.0);
    out
}

impl Backend for NitroBackend {
    fn mode(&self) -> TeeMode {
        TeeMode::Nitro
    }
    fn notice(&self) -> &'static str {
        NITRO_BACKEND_NOTICE
    }
    fn measurement(&self) -> Measurement {
        self.measurement
    }
    fn sealing_key(&self) -> Option<&SealingKey> {
        None
    }
    fn attest(&self, identity: &PartyId, nonce: &[u8; 32], _now: u64) -> Result<Vec<u8>, BackendError> {
        self.nsm.attestation(nitro_identity_user_data(identity), Some(nonce.to_vec()), None)
    }
    fn kms_recipient(&self, identity: &PartyId) -> Result<Vec<u8>, BackendError> {
        let key = RecipientKey::generate()?;
        let document = self.nsm.attestation(kms_user_data(identity), None, Some(key.public_key_der().to_vec()))?;
        // A new request replaces (and so drops and zeroizes) an older waiting key.
        *self.waiting() = Some(key);
        Ok(document)
    }
    fn kms_release(&self, ciphertext_for_recipient: &[u8]) -> Result<SealingKey, BackendError> {
        let key = self.waiting().take().ok_or(RecipientError::NoKey)?;
        let plain = key.open(ciphertext_for_recipient)?;
        let mut root = Zeroizing::new([0u8; 32]);
        if plain.len() != root.len() {
            return Err(RecipientError::KeyLength(plain.len()).into());
        }
        root.copy_from_slice(&plain);
        Ok(SealingKey::new(root))
    }
}

#[cfg(test)]
pub(crate) mod tests;
