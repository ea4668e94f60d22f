//! The HTTP API under `/v1` (axum), one module per resource. Every handler authenticates
//! first; every lookup is scoped to the caller's account, so another account's ids answer
//! 404 exactly like ids that do not exist. Mutating endpoints need an `Idempotency-Key`.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use tssw_auth::Authenticator;

use crate::ceremony::Ceremonies;
use crate::error::ApiError;
use crate::store::{Idempotent, Store};

mod ceremonies;
mod devices;
mod enclave;
mod wallets;

pub use devices::parse_register_device;
pub use wallets::MAX_BACKUP_BYTES;

/// Largest request body, but for the routes below.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body of a sign request (a PSBT may be 512 KiB, base64) or a backup upload.
pub const MAX_LARGE_BODY_BYTES: usize = 1 << 20;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest device name.
pub const MAX_NAME: usize = 64;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Token verification.
    pub auth: Authenticator,
    /// The enclave and relays, when this server runs ceremonies (without them the
    /// ceremony endpoints answer 503 and the rest works).
    pub ceremonies: Option<Arc<Ceremonies>>,
}

impl AppState {
    fn ceremonies(&self) -> Result<&Arc<Ceremonies>, ApiError> {
        self.ceremonies.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "this server runs no ceremonies: start it with an enclave socket and relay settings".into(),
            )
        })
    }
}

/// The API router.
pub fn router(state: Arc<AppState>) -> Router {
    let large = || DefaultBodyLimit::max(MAX_LARGE_BODY_BYTES);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/me", get(me))
        .route("/v1/devices", get(devices::list_devices).post(devices::register_device))
        .route("/v1/devices/{id}", get(devices::get_device))
        .route("/v1/enclave/attestation", get(enclave::attestation))
        .route("/v1/wallets", get(wallets::list).post(wallets::create))
        .route("/v1/wallets/{id}", get(wallets::get))
        .route("/v1/wallets/{id}/policy", put(wallets::set_policy))
        .route("/v1/wallets/{id}/backup", get(wallets::get_backup).put(wallets::put_backup).layer(large()))
        .route("/v1/wallets/{id}/sign", post(ceremonies::sign).layer(large()))
        .route("/v1/wallets/{id}/sign-batch", post(ceremonies::sign_batch).layer(large()))
        .route("/v1/wallets/{id}/refresh", post(ceremonies::refresh))
        .route("/v1/wallets/{id}/reshare", post(ceremonies::reshare))
        .route("/v1/wallets/{id}/epochs/{epoch}/confirm", post(ceremonies::confirm))
        .route("/v1/wallets/{id}/epochs/{epoch}/abort", post(ceremonies::abort))
        .route("/v1/ceremonies/{id}", get(ceremonies::status))
        .route("/v1/audit", get(audit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn now() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

/// The authenticated caller's account id.
pub struct Account(pub String);

impl FromRequestParts<Arc<AppState>> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Account, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(tssw_auth::AuthError::Missing)?;
        let principal = state.auth.verify(token)?;
        let id = state.store.account(&principal.issuer, &principal.subject, now()).await?;
        Ok(Account(id))
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let enclave = match &state.ceremonies {
        None => serde_json::json!(null),
        Some(c) => match c.enclave().health().await {
            Ok(h) => serde_json::json!({"tee_mode": h.tee_mode.name(), "notice": h.notice, "version": h.version}),
            Err(_) => serde_json::json!({"error": "not answering"}),
        },
    };
    Json(serde_json::json!({"status": "ok", "enclave": enclave})).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

async fn me(Account(account): Account) -> Response {
    Json(serde_json::json!({"account_id": account})).into_response()
}

async fn audit(State(state): State<Arc<AppState>>, Account(account): Account) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({"entries": state.store.audit_entries(Some(&account)).await?})).into_response())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn to_json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<(StatusCode, Vec<u8>), ApiError> {
    serde_json::to_vec(value).map(|b| (status, b)).map_err(|e| ApiError::Bug(format!("response encoding: {e}")))
}

/// Runs `op` once per (account, Idempotency-Key): a repeat of the same request gets the
/// stored response; the same key with another body is 409; a request that failed is not
/// stored, so it can be retried with the same key.
async fn idempotent<F, Fut>(
    state: &AppState,
    account: &str,
    headers: &HeaderMap,
    body: &[u8],
    op: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Vec<u8>), ApiError>>,
{
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "send an Idempotency-Key header (1 to {MAX_IDEMPOTENCY_KEY} characters, e.g. a random UUID) with every \
                 mutating request"
            ))
        })?;
    let hash: [u8; 32] = Sha256::digest(body).into();
    match state.store.begin_idempotent(account, key, &hash, now()).await? {
        Idempotent::Done(status, body) => return Ok(json_response(status, body)),
        Idempotent::InProgress => {
            return Err(ApiError::Conflict("a request with this Idempotency-Key is still running".into()));
        }
        Idempotent::Mismatch => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was used for a different request; use a new key".into(),
            ));
        }
        Idempotent::Reserved => {}
    }
    match op().await {
        Ok((status, body)) => {
            state.store.finish_idempotent(account, key, status.as_u16(), &body).await?;
            Ok(json_response(status.as_u16(), body))
        }
        Err(e) => {
            state.store.abandon_idempotent(account, key).await?;
            Err(e)
        }
    }
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
