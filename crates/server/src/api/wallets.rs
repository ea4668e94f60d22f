//! `/v1/wallets`: create (a DKG between the device and the enclave), list, read, policy,
//! and the user-share backup (stored, never opened: the backup crate's envelope).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tssw_api::WalletId;
use tssw_api::http::{Addresses, CreateWallet, Holder, MemberView, WalletPolicy, WalletView, b64, unb64};
use tssw_enclave::CeremonyOp;
use tssw_protocol::{PartyIndex, PublicPackage};

use super::{Account, AppState, idempotent, now, now_secs, parse, to_json};
use crate::ceremony::{Completion, Request};
use crate::error::ApiError;
use crate::store::{Store, Wallet, random_id};

/// Largest stored backup envelope.
pub const MAX_BACKUP_BYTES: usize = 768 * 1024;

/// The device is party 1 of a new wallet, the enclave party 2.
const DEVICE_INDEX: u16 = 1;
const ENCLAVE_INDEX: u16 = 2;

pub(super) async fn list(State(state): State<Arc<AppState>>, Account(account): Account) -> Result<Response, ApiError> {
    let mut views = Vec::new();
    for w in state.store.wallets(&account).await? {
        views.push(view(&state.store, w).await?);
    }
    Ok(Json(serde_json::json!({"wallets": views})).into_response())
}

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(view(&state.store, wallet).await?).into_response())
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let req: CreateWallet = parse(&body)?;
        let ceremonies = state.ceremonies()?;
        let others = super::ceremonies::contributions(&state, &account, &[req.contribution], &[DEVICE_INDEX]).await?;
        let id = WalletId::new(random_id()).map_err(|e| ApiError::Bug(e.to_string()))?;
        let members = [(i64::from(DEVICE_INDEX), Holder::Device), (i64::from(ENCLAVE_INDEX), Holder::Enclave)];
        state.store.create_wallet(&account, id.as_str(), req.scheme.name(), 2, &members, now()).await?;
        let started = ceremonies
            .start(
                &state.store,
                Request {
                    account: &account,
                    wallet: &id,
                    operation: "dkg",
                    op: CeremonyOp::Dkg { scheme: req.scheme, threshold: 2 },
                    epoch: 1,
                    enclave_index: index(ENCLAVE_INDEX)?,
                    others,
                    completion: Completion::Dkg,
                },
                now_secs(),
            )
            .await;
        match started {
            Ok(start) => to_json(StatusCode::CREATED, &start),
            Err(e) => {
                state.store.fail_wallet(id.as_str()).await?;
                Err(e)
            }
        }
    })
    .await
}

pub(super) async fn set_policy(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
        let policy: WalletPolicy = parse(&body)?;
        state.store.set_allow_raw_digest(&wallet.id, policy.allow_raw_digest).await?;
        let detail = format!("wallet {} allow_raw_digest={}", wallet.id, policy.allow_raw_digest);
        state.store.audit(Some(&account), "wallet.policy_changed", &detail, now()).await?;
        to_json(StatusCode::OK, &policy)
    })
    .await
}

/// A stored backup, as the API carries it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    /// The epoch of the backed-up share.
    epoch: u64,
    /// base64 of the envelope.
    envelope: String,
    /// When it was stored (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
}

pub(super) async fn put_backup(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
        let req: BackupBody = parse(&body)?;
        let envelope = unb64(&req.envelope, "envelope", MAX_BACKUP_BYTES).map_err(|e| ApiError::BadRequest(e.0))?;
        let epoch = i64::try_from(req.epoch).map_err(|_| ApiError::BadRequest("epoch out of range".into()))?;
        state.store.put_backup(&wallet.id, epoch, &envelope, now()).await?;
        let detail = format!("wallet {} backup of epoch {epoch} ({} bytes)", wallet.id, envelope.len());
        state.store.audit(Some(&account), "wallet.backup_stored", &detail, now()).await?;
        to_json(StatusCode::OK, &serde_json::json!({"epoch": req.epoch, "stored": true}))
    })
    .await
}

pub(super) async fn get_backup(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
    let (epoch, envelope, updated_at) = state.store.backup(&wallet.id).await?.ok_or(ApiError::NotFound)?;
    let epoch = u64::try_from(epoch).map_err(|_| ApiError::Bug("stored backup epoch".into()))?;
    Ok(Json(BackupBody { epoch, envelope: b64(&envelope), updated_at: Some(updated_at) }).into_response())
}

pub(super) fn index(i: u16) -> Result<PartyIndex, ApiError> {
    PartyIndex::new(i).map_err(|e| ApiError::Bug(format!("party index {i}: {e}")))
}

/// The wallet as the API shows it: the active epoch's holders and key package, addresses,
/// and the pending epoch if one waits for confirmation.
pub(super) async fn view(store: &Store, w: Wallet) -> Result<WalletView, ApiError> {
    let members = store
        .members(&w.id, w.epoch)
        .await?
        .into_iter()
        .map(|(index, holder)| Ok(MemberView { index: u16::try_from(index).map_err(|_| bug("member index"))?, holder }))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let pending_epoch =
        store.pending_share(&w.id).await?.map(|s| u64::try_from(s.epoch)).transpose().map_err(|_| bug("epoch"))?;
    let (public_package, addresses) = match store.share(&w.id, w.epoch).await? {
        Some(share) => {
            let package = PublicPackage::from_bytes(&share.public_package).map_err(|_| bug("public package"))?;
            let addresses = Addresses::of(&package).map_err(|e| ApiError::Bug(format!("addresses: {e}")))?;
            (Some(b64(&share.public_package)), Some(addresses))
        }
        None => (None, None),
    };
    Ok(WalletView {
        id: w.id,
        scheme: w.scheme,
        status: w.status,
        threshold: u16::try_from(w.threshold).map_err(|_| bug("threshold"))?,
        parties: u16::try_from(w.parties).map_err(|_| bug("parties"))?,
        public_key: (!w.public_key.is_empty()).then_some(w.public_key),
        epoch: u64::try_from(w.epoch).map_err(|_| bug("epoch"))?,
        pending_epoch,
        members,
        public_package,
        addresses,
        allow_raw_digest: w.allow_raw_digest,
        created_at: w.created_at,
    })
}

fn bug(what: &str) -> ApiError {
    ApiError::Bug(format!("stored wallet field out of range: {what}"))
}
