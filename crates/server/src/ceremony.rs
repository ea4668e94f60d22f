//! Ceremony orchestration on the host: ask the enclave to prepare (it signs the setup),
//! record the ceremony, hand every party a relay token, let the enclave run its side in
//! the background, and store what comes back. The host only ever moves sealed shares.
//!
//! One HTTP round trip starts a ceremony: the answer carries the setup, the relay URLs and
//! the tokens, and the enclave is already connecting to the relay while the client reads
//! it, so the first protocol message waits for nothing else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::watch;
use tssw_api::WalletId;
use tssw_api::http::{CeremonyStart, Holder, PartyToken};
use tssw_channel::SetupParty;
use tssw_enclave::{CeremonyOp, ClientError, EnclaveClient, ErrorCode, Response};
use tssw_protocol::{PartyIndex, PublicPackage};
use tssw_relay::{Claims, Token};

use crate::error::ApiError;
use crate::store::{AuditNote, Outcome, Store};

/// Relay tokens: the key the relays trust, and where parties connect.
pub struct RelayIssuer {
    key: SigningKey,
    client_urls: Vec<String>,
    enclave_url: String,
}

impl std::fmt::Debug for RelayIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayIssuer").field("client_urls", &self.client_urls).finish_non_exhaustive()
    }
}

impl RelayIssuer {
    /// Tokens signed by `key` (the relays are started with its public half); clients are
    /// sent `client_urls`, the enclave connects to `enclave_url`.
    pub fn new(key: SigningKey, client_urls: Vec<String>, enclave_url: String) -> RelayIssuer {
        RelayIssuer { key, client_urls, enclave_url }
    }

    fn token(&self, ceremony: [u8; 32], party: PartyIndex, account: &str, expires_at: u64) -> Result<Token, ApiError> {
        let claims = Claims { ceremony, party: party.get(), account: account.into(), expires_at };
        Token::issue(&self.key, &claims).map_err(|e| ApiError::Bug(format!("relay token: {e}")))
    }
}

/// Bounds on ceremonies.
#[derive(Clone, Copy, Debug)]
pub struct CeremonyLimits {
    /// Ceremonies one account may have running at once.
    pub per_account: i64,
    /// How long a setup stays valid (and the enclave waits for the other parties).
    pub ttl: Duration,
}

impl Default for CeremonyLimits {
    fn default() -> CeremonyLimits {
        CeremonyLimits { per_account: 8, ttl: Duration::from_secs(120) }
    }
}

/// What to store when the enclave's side ends.
#[derive(Clone, Debug)]
pub enum Completion {
    /// The wallet's first epoch.
    Dkg,
    /// A signature; nothing changes.
    Sign,
    /// A batch's signatures; nothing changes.
    SignBatch,
    /// A pending epoch held by `members` (a refresh keeps the holders; a reshare names new ones).
    NewEpoch {
        /// `refresh` or `reshare`.
        operation: &'static str,
        /// Share index and holder of every member of the new epoch.
        members: Vec<(i64, Holder)>,
    },
    /// A test signature by `holders` with the pending epoch; commits it once every holder has.
    Confirm {
        /// The holders that signed (the enclave included).
        holders: Vec<Holder>,
        /// The pending epoch's threshold, which becomes the wallet's on commit.
        threshold: i64,
    },
}

/// The host's ceremony machinery: the enclave, the relay token issuer, limits, and a wake-up
/// per ceremony for requests waiting on its outcome.
pub struct Ceremonies {
    enclave: EnclaveClient,
    relay: RelayIssuer,
    limits: CeremonyLimits,
    waiters: Mutex<HashMap<String, watch::Receiver<bool>>>,
}

impl std::fmt::Debug for Ceremonies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremonies").field("relay", &self.relay).field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// One ceremony to start.
#[derive(Debug)]
pub struct Request<'a> {
    /// The caller's account.
    pub account: &'a str,
    /// The wallet.
    pub wallet: &'a WalletId,
    /// `dkg`, `sign`, `refresh`, `reshare` or `confirm`.
    pub operation: &'static str,
    /// What the enclave does.
    pub op: CeremonyOp,
    /// The epoch the ceremony signs with, produces or confirms.
    pub epoch: i64,
    /// The enclave's index in the ceremony.
    pub enclave_index: PartyIndex,
    /// Every other party's verified contribution.
    pub others: Vec<SetupParty>,
    /// What to store at the end.
    pub completion: Completion,
}

impl Ceremonies {
    /// Ceremonies through this enclave and these relays.
    pub fn new(enclave: EnclaveClient, relay: RelayIssuer, limits: CeremonyLimits) -> Ceremonies {
        Ceremonies { enclave, relay, limits, waiters: Mutex::new(HashMap::new()) }
    }

    /// The enclave client (health, attestation).
    pub fn enclave(&self) -> &EnclaveClient {
        &self.enclave
    }

    /// Prepares the ceremony in the enclave, records it, starts the enclave's side and
    /// returns what the other parties need.
    pub async fn start(self: &Arc<Self>, store: &Store, req: Request<'_>, now: u64) -> Result<CeremonyStart, ApiError> {
        let expires_at = now + self.limits.ttl.as_secs();
        let locals: Vec<PartyIndex> = req.others.iter().map(|p| p.index).collect();
        let began = self
            .enclave
            .begin(tssw_enclave::Begin {
                wallet_id: req.wallet.clone(),
                operation: req.op,
                enclave_index: req.enclave_index,
                others: req.others,
                expires_at,
            })
            .await
            .map_err(begin_error)?;
        tssw_fault::point("server.ceremony.begun");
        let id = hex::encode(began.ceremony.0);
        let detail = format!(
            "{} ceremony {id} wallet {} epoch {} digest {}",
            req.operation,
            req.wallet,
            req.epoch,
            began.digest.map(hex::encode).unwrap_or_default()
        );
        let note =
            AuditNote { account: Some(req.account), kind: "ceremony.started", detail: &detail, now: to_i64(now) };
        let recorded = store
            .start_ceremony(
                &id,
                req.account,
                req.wallet.as_str(),
                req.operation,
                req.epoch,
                to_i64(expires_at),
                self.limits.per_account,
                &note,
            )
            .await?;
        if !recorded {
            // Not run: let the enclave forget it now rather than at expiry.
            let _ = self.enclave.abandon(began.ceremony).await;
            return Err(ApiError::TooManyRequests(format!(
                "this account already has {} ceremonies running; wait for one to finish",
                self.limits.per_account
            )));
        }
        let mut tokens = Vec::with_capacity(locals.len());
        for index in locals {
            let token = self.relay.token(began.ceremony.0, index, req.account, expires_at)?;
            tokens.push(PartyToken { index: index.get(), token: token.as_str().to_string() });
        }
        let enclave_token = self.relay.token(began.ceremony.0, req.enclave_index, req.account, expires_at)?;
        let (done, watched) = watch::channel(false);
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), watched);

        let this = self.clone();
        let task = Task {
            store: store.clone(),
            account: req.account.to_string(),
            wallet: req.wallet.clone(),
            id: id.clone(),
            operation: req.operation,
            epoch: req.epoch,
            completion: req.completion,
        };
        let ceremony = began.ceremony;
        tokio::spawn(async move {
            let response = this.enclave.run(ceremony, &this.relay.enclave_url, enclave_token.as_str()).await;
            task.finish(response).await;
            this.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&task.id);
            let _ = done.send(true);
        });

        // Crash tests: the enclave runs its side, the client never hears of the ceremony.
        tssw_fault::point("server.ceremony.started");
        Ok(CeremonyStart {
            ceremony_id: id,
            wallet_id: req.wallet.to_string(),
            operation: req.operation.to_string(),
            setup: tssw_api::http::b64(&began.setup),
            enclave_identity: hex::encode(began.enclave.0),
            enclave_index: req.enclave_index.get(),
            digest: began.digest.map(hex::encode).unwrap_or_default(),
            relay_urls: self.relay.client_urls.clone(),
            tokens,
            expires_at,
        })
    }

    /// Waits until this instance's runner of ceremony `id` has stored its outcome, or
    /// `timeout`; `false` when this instance does not run it (another server instance
    /// does, or it already ended): the caller re-reads storage.
    pub async fn wait_local(&self, id: &str, timeout: Duration) -> bool {
        let waiter = self.waiters.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        match waiter {
            // A dropped sender also means the runner is gone: re-read storage either way.
            Some(mut w) => tokio::time::timeout(timeout, w.wait_for(|done| *done)).await.is_ok(),
            None => false,
        }
    }
}

/// The background half of a ceremony: store what the enclave's `Run` produced.
struct Task {
    store: Store,
    account: String,
    wallet: WalletId,
    id: String,
    operation: &'static str,
    epoch: i64,
    completion: Completion,
}

impl Task {
    async fn finish(&self, response: Result<Response, ClientError>) {
        tssw_fault::point("server.ceremony.enclave_answered");
        let outcome = match self.store_result(response).await {
            Ok(outcome) => outcome,
            Err(why) => {
                if matches!(self.completion, Completion::Dkg) {
                    let _ = self.store.fail_wallet(self.wallet.as_str()).await;
                }
                Outcome::Failed(why)
            }
        };
        tssw_fault::point("server.ceremony.result_stored");
        let (kind, detail) = match &outcome {
            Outcome::Done { committed: Some(true), .. } => {
                ("wallet.epoch_committed", format!("epoch {} is active; older epochs destroyed", self.epoch))
            }
            Outcome::Done { .. } => ("ceremony.done", format!("{} epoch {}", self.operation, self.epoch)),
            Outcome::Failed(why) => ("ceremony.failed", format!("{}: {why}", self.operation)),
        };
        let detail = format!("ceremony {} wallet {}: {detail}", self.id, self.wallet);
        let note =
            AuditNote { account: Some(&self.account), kind, detail: &detail, now: to_i64(crate::api::now_secs()) };
        if let Err(e) = self.store.finish_ceremony(&self.id, &outcome, &note).await {
            tracing::error!(ceremony = %self.id, error = %e, "cannot record the ceremony's outcome and its audit entry");
        }
        tracing::info!(ceremony = %self.id, operation = self.operation, outcome = kind, "ceremony ended");
    }

    /// Stores what the enclave produced; the error text is for the owner.
    async fn store_result(&self, response: Result<Response, ClientError>) -> Result<Outcome, String> {
        let response = response.map_err(run_error)?;
        let now = to_i64(crate::api::now_secs());
        let wallet = self.wallet.as_str();
        let storage = |e: crate::store::StoreError| {
            tracing::error!(ceremony = %self.id, error = %e, "cannot store a ceremony's result");
            "the server could not store the result; start a new ceremony".to_string()
        };
        match (&self.completion, response) {
            (Completion::Dkg, Response::KeyGenerated(new)) => {
                let sealed = new.sealed.to_bytes().map_err(|e| e.to_string())?;
                self.store
                    .finish_dkg(wallet, &new.public_key.to_bytes(), &sealed, &new.public_package, now)
                    .await
                    .map_err(storage)?;
                Ok(Outcome::Done { signature: None, committed: None })
            }
            (Completion::Sign, Response::Signed(signed)) => {
                Ok(Outcome::Done { signature: Some(signed.signature.to_bytes()), committed: None })
            }
            (Completion::SignBatch, Response::SignedBatch(signed)) => {
                let signatures: Vec<Vec<u8>> = signed.iter().map(|s| s.signature.to_bytes()).collect();
                Ok(Outcome::Done { signature: Some(batch_outcome(&signatures)?), committed: None })
            }
            (Completion::NewEpoch { members, .. }, Response::Refreshed(new) | Response::Reshared(Some(new))) => {
                let sealed = new.sealed.to_bytes().map_err(|e| e.to_string())?;
                let epoch = i64::try_from(new.epoch).map_err(|_| "epoch out of range".to_string())?;
                self.store
                    .store_pending(wallet, epoch, &sealed, &new.public_package, members, now)
                    .await
                    .map_err(storage)?;
                Ok(Outcome::Done { signature: None, committed: None })
            }
            (Completion::Confirm { holders, threshold }, Response::Signed(signed)) => {
                let committed = self
                    .store
                    .confirm_epoch(wallet, self.epoch, holders, &self.id, *threshold)
                    .await
                    .map_err(storage)?
                    .ok_or("the epoch is no longer pending (aborted or superseded); nothing was committed")?;
                Ok(Outcome::Done { signature: Some(signed.signature.to_bytes()), committed: Some(committed) })
            }
            (_, other) => {
                tracing::error!(ceremony = %self.id, response = ?std::mem::discriminant(&other), "unexpected enclave answer");
                Err("the enclave answered with something else than the ceremony's result".into())
            }
        }
    }
}

/// A batch's signatures as one stored value: each after its length byte.
fn batch_outcome(signatures: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut list = Vec::with_capacity(signatures.len() * 66);
    for s in signatures {
        list.push(u8::try_from(s.len()).map_err(|_| "a signature longer than 255 bytes".to_string())?);
        list.extend_from_slice(s);
    }
    Ok(list)
}

/// A stored batch outcome ([`batch_outcome`]) → hex signatures.
pub fn batch_signatures(mut list: &[u8]) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    while let Some((len, rest)) = list.split_first() {
        let Some((signature, rest)) = rest.split_at_checked(usize::from(*len)) else {
            return Err(ApiError::Bug("a stored batch outcome is truncated".into()));
        };
        out.push(hex::encode(signature));
        list = rest;
    }
    Ok(out)
}

/// The threshold of a stored public package.
pub fn package_threshold(bytes: &[u8]) -> Result<i64, ApiError> {
    PublicPackage::from_bytes(bytes)
        .map(|p| i64::from(p.threshold()))
        .map_err(|e| ApiError::Bug(format!("stored public package: {e}")))
}

fn to_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The enclave refused to prepare: say why in the owner's terms.
fn begin_error(e: ClientError) -> ApiError {
    match &e {
        ClientError::Enclave(remote) => match remote.code {
            ErrorCode::BadRequest
            | ErrorCode::Payload
            | ErrorCode::WrongScheme
            | ErrorCode::DigestMismatch
            | ErrorCode::Setup => ApiError::BadRequest(format!("the enclave refused the request: {}", remote.message)),
            ErrorCode::RawDigestDisabled => ApiError::Forbidden(
                "raw digest signing is disabled for this wallet; sign a structured payload, or enable it with PUT \
                 /v1/wallets/{id}/policy"
                    .into(),
            ),
            ErrorCode::Busy => ApiError::Unavailable("the enclave is busy; retry shortly".into()),
            _ => ApiError::Bug(format!("enclave begin: {e}")),
        },
        ClientError::Connect { .. } | ClientError::Timeout(_) | ClientError::Closed => {
            tracing::error!(error = %e, "enclave unreachable");
            ApiError::Unavailable("the enclave is not answering; retry shortly".into())
        }
        _ => ApiError::Bug(format!("enclave begin: {e}")),
    }
}

/// The enclave's side of a running ceremony failed.
fn run_error(e: ClientError) -> String {
    match e {
        ClientError::Enclave(remote) => format!("{:?}: {}", remote.code, remote.message),
        ClientError::Connect { .. } | ClientError::Closed | ClientError::Wire(_) => {
            "the enclave stopped during the ceremony; start a new one".into()
        }
        ClientError::Timeout(limit) => format!("the enclave did not finish within {limit:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_batch_outcome_round_trips_and_a_truncated_one_is_an_error() {
        let signatures = vec![vec![1u8; 65], vec![2u8; 64], Vec::new()];
        let stored = batch_outcome(&signatures).unwrap();
        let hex: Vec<String> = signatures.iter().map(hex::encode).collect();
        assert_eq!(batch_signatures(&stored).unwrap(), hex);
        assert!(batch_signatures(&stored[..stored.len() - 70]).is_err());
        assert!(batch_outcome(&[vec![0; 256]]).is_err());
    }
}
