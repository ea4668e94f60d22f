//! The enclave's state: its backend, its identity (generated here at start, never leaves),
//! the sealer, and the ceremonies prepared by `Begin` and waiting for `Run`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tssw_channel::{EphemeralKey, IdentityKey, PartyId, VerifiedSetup};
use tssw_protocol::{CeremonyId, KeyShare, PartyIndex, PublicPackage, ResharePlan, Scheme, SignRequest};

use crate::backend::Backend;
use crate::error::EnclaveError;
use crate::seal::{Sealer, SealingKey};
use tssw_api::WalletId;

/// Bounds on what one enclave takes on at once.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Host connections served at once.
    pub max_connections: usize,
    /// Ceremonies prepared and waiting for `Run`.
    pub max_pending: usize,
    /// Ceremonies running at once.
    pub max_running: usize,
    /// Furthest a setup may expire in the future, and so the longest a ceremony may run.
    pub max_ceremony: Duration,
    /// A connection with no request for this long is closed.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            max_pending: 256,
            max_running: 32,
            max_ceremony: Duration::from_secs(300),
            idle: Duration::from_secs(300),
        }
    }
}

/// What a prepared ceremony will do when it runs. Shares here are plaintext, in enclave
/// memory only (the upstream secret types zeroize on drop).
pub(crate) enum Job {
    Dkg { scheme: Scheme, threshold: u16, parties: u16 },
    Sign { share: Box<KeyShare>, request: SignRequest, signers: Vec<PartyIndex> },
    SignBatch { share: Box<KeyShare>, requests: Vec<SignRequest>, signers: Vec<PartyIndex> },
    Refresh { share: Box<KeyShare> },
    Reshare { plan: ResharePlan, share: Option<Box<KeyShare>>, old: Box<PublicPackage> },
}

pub(crate) struct Pending {
    pub(crate) wallet: WalletId,
    pub(crate) job: Job,
    pub(crate) setup: VerifiedSetup,
    pub(crate) ephemeral: EphemeralKey,
    pub(crate) expires_at: u64,
}

/// The enclave.
pub struct Enclave {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) identity: IdentityKey,
    sealer: OnceLock<Sealer>,
    pub(crate) limits: Limits,
    pub(crate) running: Arc<Semaphore>,
    pending: Mutex<HashMap<CeremonyId, Pending>>,
    clock: fn() -> u64,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("tee_mode", &self.backend.mode())
            .field("notice", &self.backend.notice())
            .field("identity", &self.identity.party_id())
            .finish_non_exhaustive()
    }
}

/// Unix seconds from the system clock.
pub fn system_clock() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Enclave {
    /// An enclave on `backend` with a fresh identity key.
    pub fn new(backend: Box<dyn Backend>, limits: Limits) -> Enclave {
        let sealer = OnceLock::new();
        if let Some(root) = backend.sealing_key() {
            let _ = sealer.set(Sealer::new(root));
        }
        Enclave {
            backend,
            identity: IdentityKey::random(),
            sealer,
            running: Arc::new(Semaphore::new(limits.max_running)),
            limits,
            pending: Mutex::new(HashMap::new()),
            clock: system_clock,
        }
    }

    /// The identity that signs setups.
    pub fn identity(&self) -> PartyId {
        self.identity.party_id()
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The sealer, once the backend has a root key (Nitro: after the KMS exchange).
    pub(crate) fn sealer(&self) -> Result<&Sealer, EnclaveError> {
        self.sealer.get().ok_or(EnclaveError::Locked)
    }

    /// True once shares can be sealed and opened.
    pub fn unlocked(&self) -> bool {
        self.sealer.get().is_some()
    }

    /// Installs the root key KMS released; refused once one is installed, so a host cannot
    /// swap the key of a running enclave.
    pub(crate) fn install(&self, root: &SealingKey) -> Result<(), EnclaveError> {
        self.sealer
            .set(Sealer::new(root))
            .map_err(|_| EnclaveError::BadRequest("the sealing key is already installed".into()))
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    // Short critical sections and no await inside: a std mutex. A poisoned lock only means
    // another request panicked mid-insert; the map itself is still a valid map.
    fn pending(&self) -> MutexGuard<'_, HashMap<CeremonyId, Pending>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.pending().len()
    }

    /// Stores a prepared ceremony; false when full (after dropping expired ones).
    pub(crate) fn park(&self, id: CeremonyId, p: Pending) -> bool {
        let now = self.now();
        let mut map = self.pending();
        map.retain(|_, p| p.expires_at > now);
        if map.len() >= self.limits.max_pending {
            return false;
        }
        map.insert(id, p);
        true
    }

    /// Removes a prepared ceremony: it runs at most once.
    pub(crate) fn take(&self, id: &CeremonyId) -> Option<Pending> {
        self.pending().remove(id)
    }
}
