//! The requests the host sends and the responses the enclave returns, one frame each
//! ([`crate::frame`]). No type here carries a plaintext share: shares go in and come out
//! as [`SealedShare`]s, and the host learns public keys, setups and signatures only.
//!
//! A ceremony takes two requests, because the ceremony id (and so the relay token the host
//! issues) depends on the enclave's own contribution, and the client needs the signed setup
//! before it can start:
//!
//! 1. [`Request::Begin`]: the other parties' signed contributions and the operation. The
//!    enclave unseals what it needs, computes the payload digest itself, contributes its own
//!    randomness and ephemeral key, signs the setup as coordinator, and keeps the prepared
//!    ceremony in memory until `expires_at`. Returns [`Began`].
//! 2. [`Request::Run`]: the relay URL and the enclave's relay token for that ceremony. The
//!    enclave runs it to the end over the relay and answers with the new sealed share or
//!    the signature. A prepared ceremony runs at most once; a retry is a new `Begin`.

use serde::{Deserialize, Serialize};
use tssw_channel::{PartyId, SetupParty};
use tssw_protocol::{CeremonyId, PartyIndex, PublicKey, ResharePlan, Scheme, SignRequest, Signature};

use crate::seal::SealedShare;
use tssw_api::ChainPayload;
use tssw_api::WalletId;
use tssw_api::{Measurement, TeeMode};

use crate::frame;

/// Longest relay URL accepted.
pub const MAX_RELAY_URL: usize = 2048;

/// A relay bearer token, as text. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RelayToken(pub String);

impl std::fmt::Debug for RelayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayToken(…)")
    }
}

/// A host → enclave request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// What backend this is, its identity and measurement.
    Health,
    /// An attestation document for the requester's nonce.
    Attest {
        /// Fresh randomness from whoever will verify the document.
        nonce: [u8; 32],
    },
    /// Prepares a ceremony and signs its setup.
    Begin(Begin),
    /// Runs a prepared ceremony over the relay.
    Run {
        /// The ceremony id from [`Began`].
        ceremony: CeremonyId,
        /// The relay base URL (`ws://…`).
        relay_url: String,
        /// The enclave's token for that ceremony.
        token: RelayToken,
    },
    /// Forgets a prepared ceremony that will not run.
    Abandon {
        /// The ceremony id from [`Began`].
        ceremony: CeremonyId,
    },
    /// Nitro: an attestation document with a fresh recipient public key, for KMS's
    /// `Recipient` parameter (the first half of releasing the sealing key).
    KmsRecipient,
    /// Nitro: KMS's `CiphertextForRecipient` for that document; the enclave opens it and
    /// installs the sealing root key inside.
    KmsRelease {
        /// CMS EnvelopedData from KMS `Decrypt` or `GenerateDataKey`.
        #[serde(with = "serde_bytes")]
        ciphertext_for_recipient: Vec<u8>,
    },
}

/// Everything the enclave needs to prepare one ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    /// The wallet (bound into the setup digest and every sealed share).
    pub wallet_id: WalletId,
    /// What to do.
    pub operation: CeremonyOp,
    /// The enclave's index in the ceremony (its share index; for a reshare, its position in
    /// the plan).
    pub enclave_index: PartyIndex,
    /// Every other party: index and signed contribution.
    pub others: Vec<SetupParty>,
    /// Unix seconds after which no party accepts the setup; the enclave also stops waiting
    /// for the ceremony then.
    pub expires_at: u64,
}

/// The operation of a ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyOp {
    /// A new key; the enclave's share comes back sealed at epoch 1.
    Dkg {
        /// The scheme.
        scheme: Scheme,
        /// The threshold (the party count is the setup's).
        threshold: u16,
    },
    /// A signature over a chain payload the enclave parses itself.
    Sign {
        /// The wallet's sealed share.
        share: SealedShare,
        /// The wallet's current epoch in the host's records.
        epoch: u64,
        /// What to sign.
        payload: ChainPayload,
        /// The wallet's policy allows [`ChainPayload::RawDigest`].
        allow_raw_digest: bool,
        /// If set, the digest the client asked for ([`crate::sign_digest`]): the enclave
        /// refuses when its own differs.
        expected_digest: Option<[u8; 32]>,
    },
    /// New shares of the same key; comes back sealed at `epoch + 1`.
    Refresh {
        /// The wallet's sealed share.
        share: SealedShare,
        /// The wallet's current epoch.
        epoch: u64,
    },
    /// The same key under a new party set or threshold.
    Reshare {
        /// The enclave's current sealed share, if it deals.
        share: Option<SealedShare>,
        /// The wallet's current epoch.
        epoch: u64,
        /// The current public package (`PublicPackage::to_bytes`).
        #[serde(with = "serde_bytes")]
        old_public: Vec<u8>,
        /// The plan.
        plan: ResharePlan,
    },
    // Appended, so the earlier variants keep their postcard tags.
    /// Signatures over 1..=[`tssw_protocol::max_batch`] chain payloads in one ceremony.
    SignBatch {
        /// The wallet's sealed share.
        share: SealedShare,
        /// The wallet's current epoch in the host's records.
        epoch: u64,
        /// What to sign, in order.
        payloads: Vec<ChainPayload>,
        /// The wallet's policy allows [`ChainPayload::RawDigest`].
        allow_raw_digest: bool,
        /// If set, the digest the client asked for (`tssw_api::sign_batch_digest`).
        expected_digest: Option<[u8; 32]>,
    },
}

/// An enclave → host response.
// One per request, moved once; boxing would only burden callers.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::Health`].
    Health(Health),
    /// Answer to [`Request::Attest`].
    Attestation {
        /// The document ([`crate::verify_attestation`]).
        #[serde(with = "serde_bytes")]
        document: Vec<u8>,
    },
    /// Answer to [`Request::Begin`].
    Began(Began),
    /// A DKG finished.
    KeyGenerated(NewShare),
    /// A signing ceremony finished.
    Signed(Signed),
    /// A refresh finished (the host marks the share pending until every holder confirms).
    Refreshed(NewShare),
    /// A reshare finished: the enclave's new share, or `None` when it dealt and left.
    Reshared(Option<NewShare>),
    /// Answer to [`Request::Abandon`].
    Abandoned,
    /// Answer to [`Request::KmsRecipient`].
    KmsRecipient {
        /// The attestation document (its `public_key` is the recipient key).
        #[serde(with = "serde_bytes")]
        document: Vec<u8>,
    },
    /// Answer to [`Request::KmsRelease`]: the sealing key is installed.
    Unlocked,
    /// The request failed.
    Error(RemoteError),
    // Appended, so the earlier variants keep their postcard tags.
    /// A batch signing ceremony finished: one per payload, in order.
    SignedBatch(Vec<Signed>),
}

/// What the enclave is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The backend kind.
    pub tee_mode: TeeMode,
    /// The backend's plain statement ("dev backend — not a hardware TEE").
    pub notice: String,
    /// The identity key that signs setups (new at every start).
    pub identity: PartyId,
    /// The measurement attestation documents carry.
    pub measurement: Measurement,
    /// The enclave's crate version.
    pub version: String,
    /// Ceremonies prepared and not yet run.
    pub pending: u32,
    /// The sealing key is there (dev: always; Nitro: after the KMS exchange).
    pub unlocked: bool,
}

/// A prepared ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Began {
    /// The ceremony id (hash of every contribution, the enclave's included).
    pub ceremony: CeremonyId,
    /// The signed setup, for every other party.
    #[serde(with = "serde_bytes")]
    pub setup: Vec<u8>,
    /// The coordinator identity that signed it (the attested one).
    pub enclave: PartyId,
    /// The digest the setup binds.
    pub digest: Option<[u8; 32]>,
}

/// A new sealed share and its public facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewShare {
    /// The sealed share: store it; it is the only copy.
    pub sealed: SealedShare,
    /// `PublicPackage::to_bytes` of the key.
    #[serde(with = "serde_bytes")]
    pub public_package: Vec<u8>,
    /// The group public key.
    pub public_key: PublicKey,
    /// The share's epoch.
    pub epoch: u64,
}

/// A finished signature and what exactly was signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// The signature.
    pub signature: Signature,
    /// What the enclave computed from the payload and signed.
    pub request: SignRequest,
}

/// A failed request, as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct RemoteError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A human-readable explanation; never holds secret material.
    pub message: String,
}

/// Failure kinds the host may branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request did not decode or is invalid.
    BadRequest,
    /// The wire version is not this build's.
    UnsupportedVersion,
    /// The frame is over the size bound.
    TooLarge,
    /// The sealed share belongs to another wallet.
    WrongWallet,
    /// The sealed share is of another epoch than the wallet's (stale or replayed).
    StaleEpoch,
    /// The sealed share is of another scheme than the request needs.
    WrongScheme,
    /// The sealed share does not authenticate.
    SealTampered,
    /// The sealed share's format version is not supported.
    SealVersion,
    /// The sealed share does not decode or its content is inconsistent.
    SealCorrupt,
    /// Raw digest signing is not enabled for the wallet.
    RawDigestDisabled,
    /// The enclave's digest differs from the one the client asked for.
    DigestMismatch,
    /// The chain payload was refused.
    Payload,
    /// The setup could not be built (bad contribution, structure…).
    Setup,
    /// No prepared ceremony with that id (never begun, already run, or expired).
    UnknownCeremony,
    /// The setup expired before the ceremony finished.
    Expired,
    /// Too many ceremonies at once; retry later.
    Busy,
    /// The ceremony failed (a peer misbehaved, a protocol error).
    Ceremony,
    /// The relay refused or dropped the enclave.
    Relay,
    /// The backend failed.
    Backend,
    /// Anything else.
    Internal,
    /// No sealing key yet (Nitro, before the KMS exchange).
    Locked,
}

impl Request {
    /// Encodes the request as a frame payload.
    pub fn encode(&self) -> Result<Vec<u8>, frame::WireError> {
        frame::encode(self, "request")
    }
    /// Decodes a frame payload strictly.
    pub fn decode(payload: &[u8]) -> Result<Request, frame::WireError> {
        frame::decode(payload, "request")
    }
}

impl Response {
    /// Encodes the response as a frame payload.
    pub fn encode(&self) -> Result<Vec<u8>, frame::WireError> {
        frame::encode(self, "response")
    }
    /// Decodes a frame payload strictly.
    pub fn decode(payload: &[u8]) -> Result<Response, frame::WireError> {
        frame::decode(payload, "response")
    }
}
