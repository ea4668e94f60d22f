//! Taking part in a ceremony the server started: check the enclave's attestation, check
//! the signed setup against exactly what this device asked for, then drive each local
//! party over the relay. Nothing is sent before both checks pass.

use std::time::Duration;

use tssw_api::http::{CeremonyStart, unb64};
use tssw_api::{TeeMode, verify_attestation};
use tssw_channel::{
    DriveError, EphemeralKey, Expectation, IdentityKey, MAX_SETUP_BYTES, Operation, PartyId, Session, Setup, drive,
};
use tssw_protocol::{Ceremony, CeremonyId, Message, PartyIndex, Scheme};

use crate::api::{ApiClient, ApiError};
use crate::clock::now_secs as now;

/// Which enclaves this device trusts: dev documents (not a hardware TEE) only under a given
/// dev key and binary measurements, Nitro documents under the AWS root and a PCR allow-list.
pub use tssw_api::TrustPolicy;

/// An enclave this device checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// The identity key that must sign every setup.
    pub identity: PartyId,
    /// What kind of TEE vouched for it.
    pub tee_mode: TeeMode,
    /// The backend's own statement (the dev backend says it is not a hardware TEE).
    pub notice: String,
}

/// Why taking part failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The server refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The enclave's attestation does not satisfy this device's trust policy.
    #[error("the enclave's attestation was refused: {0}")]
    Attestation(String),
    /// The setup was signed by another key than the attested enclave's (it restarted, or
    /// the server is not talking to the enclave it attested).
    #[error("the ceremony setup is signed by an enclave identity this device has not attested")]
    UnattestedEnclave,
    /// The setup is not what this device asked for, or does not verify.
    #[error("the ceremony setup was refused: {0}")]
    Setup(String),
    /// The relay refused or lost the connection.
    #[error("relay: {0}")]
    Relay(String),
    /// The protocol failed (a peer misbehaved, or the ceremony stalled).
    #[error("ceremony: {0}")]
    Protocol(String),
    /// The protocol could not start (bad local state).
    #[error("cannot start the ceremony: {0}")]
    Start(String),
}

/// Fetches the enclave's attestation for a fresh nonce and checks it against `policy`.
pub async fn attest(api: &ApiClient, policy: &TrustPolicy) -> Result<Attested, CeremonyError> {
    let mut nonce = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let view = api.attestation(&nonce).await?;
    let document = unb64(&view.document, "document", 64 * 1024).map_err(|e| CeremonyError::Attestation(e.0))?;
    // Nitro certificates are checked at this time.
    let doc =
        verify_attestation(&document, policy, &nonce, now()).map_err(|e| CeremonyError::Attestation(e.to_string()))?;
    if doc.tee_mode == TeeMode::Dev {
        tracing::warn!(
            "the enclave runs the dev backend ({}): accepted because this device is configured to",
            doc.notice
        );
    }
    Ok(Attested { identity: doc.identity, tee_mode: doc.tee_mode, notice: doc.notice })
}

/// What this device asked for; the setup must say exactly this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The operation.
    pub operation: Operation,
    /// The scheme.
    pub scheme: Scheme,
    /// The (new) threshold.
    pub threshold: u16,
    /// The digest the setup must bind (`tssw_api::binding`).
    pub digest: [u8; 32],
}

/// Starts one local party's protocol from the verified ceremony id.
pub type Starter<'a, O> =
    Box<dyn FnOnce(CeremonyId) -> Result<(Ceremony<O>, Vec<Message>), tssw_protocol::Error> + Send + 'a>;

/// One party this device runs: its index, identity, the ephemeral key of the contribution
/// it sent, and how its protocol starts.
pub struct LocalParty<'a, O> {
    /// Its index in the ceremony.
    pub index: PartyIndex,
    /// Its identity key (a registered device key).
    pub identity: &'a IdentityKey,
    /// The ephemeral key behind its contribution.
    pub ephemeral: EphemeralKey,
    /// Its protocol.
    pub start: Starter<'a, O>,
}

/// Checks the setup in `start` and runs every local party to the end over the relay.
/// Returns the outputs in the order of `parties`.
pub async fn run<O>(
    start: &CeremonyStart,
    enclave: &Attested,
    expected: &Expected,
    parties: Vec<LocalParty<'_, O>>,
    stall: Duration,
) -> Result<Vec<O>, CeremonyError> {
    if start.enclave_identity != hex::encode(enclave.identity.0) {
        return Err(CeremonyError::UnattestedEnclave);
    }
    let enclave_index = PartyIndex::new(start.enclave_index).map_err(|e| CeremonyError::Setup(e.to_string()))?;
    let mut everyone: Vec<(PartyIndex, PartyId)> = parties.iter().map(|p| (p.index, p.identity.party_id())).collect();
    everyone.push((enclave_index, enclave.identity));
    let expectation = Expectation {
        operation: expected.operation,
        scheme: expected.scheme,
        threshold: expected.threshold,
        parties: everyone,
        digest: Some(expected.digest),
    };
    let bytes = unb64(&start.setup, "setup", MAX_SETUP_BYTES).map_err(|e| CeremonyError::Setup(e.0))?;
    let setup = Setup::decode(&bytes)
        .and_then(|s| s.verify(&enclave.identity, now(), &expectation))
        .map_err(|e| CeremonyError::Setup(e.to_string()))?;
    let id = setup.ceremony_id();
    if hex::encode(id.0) != start.ceremony_id {
        return Err(CeremonyError::Setup("the ceremony id is not the setup's".into()));
    }
    let mut runs = Vec::with_capacity(parties.len());
    for party in parties {
        let token = start
            .tokens
            .iter()
            .find(|t| t.index == party.index.get())
            .ok_or_else(|| CeremonyError::Setup(format!("no relay token for party {}", party.index)))?
            .token
            .clone();
        // The relay connection (round trips) opens while the first round computes (CPU).
        let connecting = Connecting::open(start.relay_urls.clone(), id, token, stall, start.expires_at);
        let mut session =
            Session::new(&setup, party.identity, party.ephemeral).map_err(|e| CeremonyError::Setup(e.to_string()))?;
        let started = first_round(|| (party.start)(id)).map_err(|e| CeremonyError::Start(e.to_string()))?;
        runs.push(async move {
            let mut transport = connecting.finish().await?;
            drive(started, &mut session, &mut transport).await.map_err(|e| match e {
                DriveError::Transport(e) => CeremonyError::Relay(e.to_string()),
                other => CeremonyError::Protocol(other.to_string()),
            })
        });
    }
    futures_util::future::join_all(runs).await.into_iter().collect()
}

/// One party's relay connection, opening in a task of its own (natively) while the party's
/// first round computes on this one; bounded by the stall timeout and the setup's expiry.
#[cfg(not(target_arch = "wasm32"))]
struct Connecting {
    opening: tssw_relay::Connecting,
    stall: Duration,
    expires_at: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl Connecting {
    fn open(urls: Vec<String>, id: CeremonyId, token: String, stall: Duration, expires_at: u64) -> Connecting {
        let opening = tssw_relay::RelayTransport::connect_in_background(urls, id, tssw_relay::Token::from_text(token));
        Connecting { opening, stall, expires_at }
    }

    async fn finish(self) -> Result<tssw_relay::RelayTransport, CeremonyError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.expires_at.saturating_sub(now()));
        let transport = self.opening.finish().await.map_err(|e| CeremonyError::Relay(e.to_string()))?;
        Ok(transport.with_stall_timeout(self.stall).with_deadline(deadline))
    }
}

/// Runs a party's first round. On a multi-thread runtime the worker first hands its queue to
/// another thread (`block_in_place`): the relay connection's task, just spawned, waits in
/// this worker's next-task slot, which other workers do not take from, and would otherwise
/// only start once the round is done.
#[cfg(not(target_arch = "wasm32"))]
fn first_round<T>(round: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(round)
    } else {
        round()
    }
}

/// The browser has one thread: the round runs, then the connection opens.
#[cfg(target_arch = "wasm32")]
fn first_round<T>(round: impl FnOnce() -> T) -> T {
    round()
}

/// One party's relay connection in the browser: the page has one thread, so it opens when
/// the first round is done.
#[cfg(target_arch = "wasm32")]
struct Connecting {
    urls: Vec<String>,
    id: CeremonyId,
    token: String,
    stall: Duration,
    expires_at: u64,
}

#[cfg(target_arch = "wasm32")]
impl Connecting {
    fn open(urls: Vec<String>, id: CeremonyId, token: String, stall: Duration, expires_at: u64) -> Connecting {
        Connecting { urls, id, token, stall, expires_at }
    }

    /// Opens it, bounded like the native one.
    async fn finish(self) -> Result<crate::relay_web::WebRelay, CeremonyError> {
        let expires_at_ms = self.expires_at as f64 * 1000.0;
        crate::relay_web::WebRelay::connect_any(&self.urls, self.id, &self.token, self.stall, expires_at_ms)
            .await
            .map_err(|e| CeremonyError::Relay(e.to_string()))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::mpsc;
    use std::time::Duration;

    use super::first_round;

    /// The round blocks until a task spawned just before it has run: it would wait out the
    /// timeout if that task sat in the blocked worker's next-task slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_spawned_before_the_first_round_runs_during_it() {
        // On a worker, as a ceremony runs (a test's body runs outside the workers).
        let during = tokio::spawn(async {
            let (ran, ran_rx) = mpsc::channel();
            let _task = tokio::spawn(async move { ran.send(()).unwrap() });
            first_round(|| ran_rx.recv_timeout(Duration::from_secs(10)))
        });
        assert!(during.await.unwrap().is_ok(), "the spawned task did not run while the round computed");
    }

    /// On a one-thread runtime (no other worker) the round simply runs.
    #[tokio::test(flavor = "current_thread")]
    async fn the_first_round_runs_on_a_one_thread_runtime() {
        assert_eq!(first_round(|| 7), 7);
    }
}
