//! Ceremonies on an existing wallet — sign, refresh, reshare, and the epoch confirmation
//! that commits a refresh or reshare (invariant 6) — and `GET /v1/ceremonies/{id}`.
//!
//! Each start request carries the local parties' signed contributions; each must come from
//! one of the account's registered device keys. The enclave prepares and signs the setup,
//! and the answer ([`tssw_api::http::CeremonyStart`]) tells the parties where to meet.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tssw_api::ChainPayload;
use tssw_api::WalletId;
use tssw_api::http::{
    CeremonyStatus, ConfirmEpoch, Holder, PartyContribution, RefreshWallet, ReshareWallet, SignBatch, SignWallet, hex32,
};
use tssw_channel::SetupParty;
use tssw_enclave::{CeremonyOp, SealedShare};
use tssw_protocol::{MAX_BATCH, Member, ResharePlan};

use super::wallets::index;
use super::{Account, AppState, idempotent, now, now_secs, parse, to_json};
use crate::ceremony::{Completion, Request, package_threshold};
use crate::error::ApiError;
use crate::store::{CeremonyState, StoredShare, Wallet};

/// Longest a status request waits for a running ceremony.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting request re-reads a ceremony another server instance runs.
const POLL: Duration = Duration::from_millis(25);

/// Decodes and checks contributions: signatures, indices among `allowed` (each once), and
/// each party a registered device of the account.
pub(super) async fn contributions(
    state: &AppState,
    account: &str,
    given: &[PartyContribution],
    allowed: &[u16],
) -> Result<Vec<SetupParty>, ApiError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(given.len());
    for c in given {
        let (index, contribution) = c.decode().map_err(|e| ApiError::BadRequest(e.0))?;
        if !allowed.contains(&index.get()) || !seen.insert(index.get()) {
            return Err(ApiError::BadRequest(format!(
                "contribution for party {index}: expected one for each of {allowed:?}"
            )));
        }
        if !state.store.has_device(account, contribution.party.as_bytes()).await? {
            return Err(ApiError::Forbidden(format!(
                "party {index}'s identity key is not a registered device of this account; register it with POST \
                 /v1/devices first"
            )));
        }
        out.push(SetupParty { index, contribution });
    }
    Ok(out)
}

/// The wallet, which must be active.
async fn active_wallet(state: &AppState, account: &str, id: &str) -> Result<(Wallet, WalletId), ApiError> {
    let wallet = state.store.wallet(account, id).await?.ok_or(ApiError::NotFound)?;
    if wallet.status != "active" {
        return Err(ApiError::Conflict(format!("the wallet is {}, not active", wallet.status)));
    }
    let wid = WalletId::new(wallet.id.clone()).map_err(|e| ApiError::Bug(e.to_string()))?;
    Ok((wallet, wid))
}

/// The enclave's sealed share of the wallet's active epoch (an active wallet always has one).
async fn active_share(state: &AppState, wallet: &Wallet) -> Result<StoredShare, ApiError> {
    state.store.share(&wallet.id, wallet.epoch).await?.ok_or_else(|| ApiError::Bug("no active share".into()))
}

fn sealed(share: &StoredShare) -> Result<SealedShare, ApiError> {
    SealedShare::from_bytes(&share.sealed).map_err(|e| ApiError::Bug(format!("stored sealed share: {e}")))
}

fn epoch_u64(epoch: i64) -> Result<u64, ApiError> {
    u64::try_from(epoch).map_err(|_| ApiError::Bug("negative epoch".into()))
}

/// The enclave's share index and every other holder's at `epoch`.
async fn holders(state: &AppState, wallet: &str, epoch: i64) -> Result<(u16, Vec<(u16, Holder)>), ApiError> {
    let mut enclave = None;
    let mut others = Vec::new();
    for (i, holder) in state.store.members(wallet, epoch).await? {
        let i = u16::try_from(i).map_err(|_| ApiError::Bug("member index".into()))?;
        if holder == Holder::Enclave {
            enclave = Some(i);
        } else {
            others.push((i, holder));
        }
    }
    let enclave = enclave.ok_or_else(|| ApiError::Bug(format!("epoch {epoch} has no enclave member")))?;
    Ok((enclave, others))
}

pub(super) async fn sign(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let wallet = active_wallet(&state, &account, &id).await?;
        let req: SignWallet = parse(&body)?;
        let payload = req.payload.to_payload().map_err(|e| ApiError::BadRequest(e.0))?;
        let (s, i) =
            Signing::open(&state, &account, wallet, req.epoch, &req.contributions, req.expected_digest).await?;
        let op = CeremonyOp::Sign {
            share: i.share,
            epoch: i.epoch,
            payload,
            allow_raw_digest: i.allow_raw_digest,
            expected_digest: i.expected_digest,
        };
        s.start(&state, &account, "sign", op, Completion::Sign).await
    })
    .await
}

pub(super) async fn sign_batch(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let wallet = active_wallet(&state, &account, &id).await?;
        let req: SignBatch = parse(&body)?;
        if req.payloads.is_empty() || req.payloads.len() > MAX_BATCH {
            return Err(ApiError::BadRequest(format!(
                "a batch signs 1 to {MAX_BATCH} payloads, not {}; split it into several batches",
                req.payloads.len()
            )));
        }
        let payloads = req
            .payloads
            .iter()
            .enumerate()
            .map(|(i, p)| p.to_payload().map_err(|e| ApiError::BadRequest(format!("payloads[{i}]: {}", e.0))))
            .collect::<Result<Vec<_>, _>>()?;
        let (s, i) =
            Signing::open(&state, &account, wallet, req.epoch, &req.contributions, req.expected_digest).await?;
        let op = CeremonyOp::SignBatch {
            share: i.share,
            epoch: i.epoch,
            payloads,
            allow_raw_digest: i.allow_raw_digest,
            expected_digest: i.expected_digest,
        };
        s.start(&state, &account, "sign-batch", op, Completion::SignBatch).await
    })
    .await
}

/// Where a signing ceremony on an active wallet runs: the wallet and its parties.
struct Signing {
    wid: WalletId,
    wallet_epoch: i64,
    enclave: u16,
    others: Vec<SetupParty>,
}

/// What the enclave's sign operation takes besides the payloads.
struct SignInputs {
    share: SealedShare,
    epoch: u64,
    allow_raw_digest: bool,
    expected_digest: Option<[u8; 32]>,
}

impl Signing {
    async fn open(
        state: &AppState,
        account: &str,
        (wallet, wid): (Wallet, WalletId),
        share_epoch: Option<u64>,
        given: &[PartyContribution],
        expected_digest: Option<String>,
    ) -> Result<(Signing, SignInputs), ApiError> {
        if let Some(stale) = share_epoch.filter(|e| i64::try_from(*e).ok() != Some(wallet.epoch)) {
            return Err(ApiError::Conflict(format!(
                "the signing share is of epoch {stale} but the wallet's active epoch is {}: that share was \
                 replaced by a refresh, recovery or reshare and signs nothing; reconcile the device \
                 (tssw wallet reconcile), or recover it from the backup if it was replaced",
                wallet.epoch
            )));
        }
        let expected_digest = expected_digest
            .as_deref()
            .map(|d| hex32(d, "expected_digest"))
            .transpose()
            .map_err(|e| ApiError::BadRequest(e.0))?;
        // Independent reads, on separate read connections: at once, not one after another.
        let parties = async {
            let (enclave, others) = holders(state, &wallet.id, wallet.epoch).await?;
            let allowed: Vec<u16> = others.iter().map(|(i, _)| *i).collect();
            Ok((enclave, contributions(state, account, given, &allowed).await?))
        };
        let (share, (enclave, others)) = tokio::try_join!(active_share(state, &wallet), parties)?;
        let inputs = SignInputs {
            share: sealed(&share)?,
            epoch: epoch_u64(wallet.epoch)?,
            allow_raw_digest: wallet.allow_raw_digest,
            expected_digest,
        };
        Ok((Signing { wid, wallet_epoch: wallet.epoch, enclave, others }, inputs))
    }

    async fn start(
        self,
        state: &AppState,
        account: &str,
        operation: &'static str,
        op: CeremonyOp,
        completion: Completion,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let ceremonies = state.ceremonies()?;
        let req = Request {
            account,
            wallet: &self.wid,
            operation,
            op,
            epoch: self.wallet_epoch,
            enclave_index: index(self.enclave)?,
            others: self.others,
            completion,
        };
        to_json(StatusCode::CREATED, &ceremonies.start(&state.store, req, now_secs()).await?)
    }
}

pub(super) async fn refresh(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let (wallet, wid) = active_wallet(&state, &account, &id).await?;
        let req: RefreshWallet = parse(&body)?;
        let ceremonies = state.ceremonies()?;
        let share = active_share(&state, &wallet).await?;
        let (enclave, holders) = holders(&state, &wallet.id, wallet.epoch).await?;
        let allowed: Vec<u16> = holders.iter().map(|(i, _)| *i).collect();
        if req.contributions.len() != allowed.len() {
            return Err(ApiError::BadRequest(format!(
                "a refresh needs every share holder: send contributions for parties {allowed:?}"
            )));
        }
        let others = contributions(&state, &account, &req.contributions, &allowed).await?;
        let mut members: Vec<(i64, Holder)> = holders.iter().map(|(i, h)| (i64::from(*i), *h)).collect();
        members.push((i64::from(enclave), Holder::Enclave));
        let req = Request {
            account: &account,
            wallet: &wid,
            operation: "refresh",
            op: CeremonyOp::Refresh { share: sealed(&share)?, epoch: epoch_u64(wallet.epoch)? },
            epoch: wallet.epoch + 1,
            enclave_index: index(enclave)?,
            others,
            completion: Completion::NewEpoch { operation: "refresh", members },
        };
        to_json(StatusCode::CREATED, &ceremonies.start(&state.store, req, now_secs()).await?)
    })
    .await
}

pub(super) async fn reshare(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let (wallet, wid) = active_wallet(&state, &account, &id).await?;
        let req: ReshareWallet = parse(&body)?;
        let ceremonies = state.ceremonies()?;
        let share = active_share(&state, &wallet).await?;
        let current = state.store.members(&wallet.id, wallet.epoch).await?;
        let bad = |why: String| Err(ApiError::BadRequest(format!("reshare members: {why}")));

        // Each holder at most once; the enclave deals its current share and stays; every
        // dealer deals the share it holds now.
        let mut seen = BTreeSet::new();
        let mut enclave_position = None;
        let mut plan_members = Vec::with_capacity(req.members.len());
        let mut new_members = Vec::new();
        let mut locals = Vec::new();
        for (position, m) in (1u16..).zip(&req.members) {
            if !seen.insert(m.holder) {
                return bad(format!("{} is listed twice", m.holder.name()));
            }
            if let Some(old) = m.old_index
                && !current.contains(&(i64::from(old), m.holder))
            {
                return bad(format!("the {} does not hold share {old} of the current epoch", m.holder.name()));
            }
            if m.holder == Holder::Enclave {
                if m.old_index.is_none() || m.new_index.is_none() {
                    return bad("the enclave must deal its current share and receive a new one".into());
                }
                enclave_position = Some(position);
            } else {
                locals.push(position);
            }
            if let Some(new) = m.new_index {
                new_members.push((i64::from(new), m.holder));
            }
            let old = m.old_index.map(index).transpose()?;
            let new = m.new_index.map(index).transpose()?;
            plan_members.push(Member { old, new });
        }
        let Some(enclave_position) = enclave_position else {
            return bad("the enclave must be a member".into());
        };
        let old_threshold = u16::try_from(wallet.threshold).map_err(|_| ApiError::Bug("threshold".into()))?;
        let plan = ResharePlan::new(old_threshold, req.new_threshold, plan_members)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let others = contributions(&state, &account, &req.contributions, &locals).await?;
        if others.len() != locals.len() {
            return bad(format!("every member but the enclave must contribute: parties {locals:?}"));
        }
        let op = CeremonyOp::Reshare {
            share: Some(sealed(&share)?),
            epoch: epoch_u64(wallet.epoch)?,
            old_public: share.public_package.clone(),
            plan,
        };
        let req = Request {
            account: &account,
            wallet: &wid,
            operation: "reshare",
            op,
            epoch: wallet.epoch + 1,
            enclave_index: index(enclave_position)?,
            others,
            completion: Completion::NewEpoch { operation: "reshare", members: new_members },
        };
        to_json(StatusCode::CREATED, &ceremonies.start(&state.store, req, now_secs()).await?)
    })
    .await
}

pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path((id, epoch)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let (wallet, wid) = active_wallet(&state, &account, &id).await?;
        let req: ConfirmEpoch = parse(&body)?;
        let ceremonies = state.ceremonies()?;
        let epoch = i64::try_from(epoch).map_err(|_| ApiError::BadRequest("epoch out of range".into()))?;
        let pending = match state.store.share(&wallet.id, epoch).await? {
            Some(s) if s.state == "pending" => s,
            Some(_) => return Err(ApiError::Conflict(format!("epoch {epoch} is already active"))),
            None => return Err(ApiError::Conflict(format!("epoch {epoch} is not pending for this wallet"))),
        };
        let (enclave, holders) = holders(&state, &wallet.id, epoch).await?;
        let allowed: Vec<u16> = holders.iter().map(|(i, _)| *i).collect();
        let others = contributions(&state, &account, &req.contributions, &allowed).await?;
        let mut signed_by: Vec<Holder> =
            others.iter().filter_map(|p| holders.iter().find(|(i, _)| *i == p.index.get()).map(|(_, h)| *h)).collect();
        signed_by.push(Holder::Enclave);
        let op = CeremonyOp::Sign {
            share: sealed(&pending)?,
            epoch: epoch_u64(epoch)?,
            payload: ChainPayload::EpochCheck { epoch: epoch_u64(epoch)? },
            allow_raw_digest: false,
            expected_digest: None,
        };
        let threshold = package_threshold(&pending.public_package)?;
        let req = Request {
            account: &account,
            wallet: &wid,
            operation: "confirm",
            op,
            epoch,
            enclave_index: index(enclave)?,
            others,
            completion: Completion::Confirm { holders: signed_by, threshold },
        };
        to_json(StatusCode::CREATED, &ceremonies.start(&state.store, req, now_secs()).await?)
    })
    .await
}

pub(super) async fn abort(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path((id, epoch)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
        let epoch = i64::try_from(epoch).map_err(|_| ApiError::BadRequest("epoch out of range".into()))?;
        let aborted = state.store.abort_pending(&wallet.id, epoch).await?;
        if aborted {
            let detail =
                format!("wallet {} pending epoch {epoch} dropped; epoch {} stays active", wallet.id, wallet.epoch);
            state.store.audit(Some(&account), "wallet.epoch_aborted", &detail, now()).await?;
        }
        to_json(StatusCode::OK, &serde_json::json!({"epoch": epoch, "aborted": aborted}))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct StatusQuery {
    /// Seconds to wait for a running ceremony to end.
    #[serde(default)]
    wait: u64,
}

pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + Duration::from_secs(q.wait).min(MAX_WAIT);
    loop {
        let record = state.store.ceremony(&account, &id, now()).await?.ok_or(ApiError::NotFound)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if record.state != CeremonyState::Running || left.is_zero() {
            let batch = record.operation == "sign-batch";
            let signatures = match (&record.signature, batch) {
                (Some(list), true) => crate::ceremony::batch_signatures(list)?,
                _ => Vec::new(),
            };
            let status = CeremonyStatus {
                ceremony_id: record.id,
                wallet_id: record.wallet_id,
                operation: record.operation,
                status: record.state.name().into(),
                error: record.error,
                signature: record.signature.filter(|_| !batch).map(hex::encode),
                signatures,
                epoch: u64::try_from(record.epoch).ok(),
                committed: record.committed,
            };
            return Ok(Json(status).into_response());
        }
        // Woken at once when this instance runs it; otherwise re-read storage shortly.
        let woke = match &state.ceremonies {
            Some(c) => c.wait_local(&id, left).await,
            None => false,
        };
        if !woke {
            tokio::time::sleep(POLL.min(left)).await;
        }
    }
}
