//! The HTTP API under `/v1` (axum). Every handler authenticates first; every lookup is
//! scoped to the caller's account, so another account's ids answer 404 exactly like ids
//! that do not exist. Mutating endpoints need an `Idempotency-Key` header.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{Idempotent, Store};
use tssw_auth::Authenticator;

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
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
}

/// The API router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/me", get(me))
        .route("/v1/devices", get(list_devices).post(register_device))
        .route("/v1/devices/{id}", get(get_device))
        .route("/v1/wallets", get(list_wallets))
        .route("/v1/wallets/{id}", get(get_wallet))
        .route("/v1/audit", get(audit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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

async fn health() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

async fn me(Account(account): Account) -> Response {
    Json(serde_json::json!({"account_id": account})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterDevice {
    /// Ed25519 public key, 64 hex digits.
    identity_key: String,
    name: String,
}

async fn register_device(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    idempotent(&state, &account, &headers, &body, || async {
        let (key, name) = parse_register_device(&body)?;
        let device = state.store.add_device(&account, &key, &name, now()).await?;
        state.store.audit(Some(&account), "device.registered", &format!("device {}", device.id), now()).await?;
        Ok((StatusCode::CREATED, serde_json::to_vec(&device).unwrap_or_default()))
    })
    .await
}

async fn list_devices(State(state): State<Arc<AppState>>, Account(account): Account) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({"devices": state.store.devices(&account).await?})).into_response())
}

async fn get_device(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let device = state.store.device(&account, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(device).into_response())
}

async fn list_wallets(State(state): State<Arc<AppState>>, Account(account): Account) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({"wallets": state.store.wallets(&account).await?})).into_response())
}

async fn get_wallet(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallet = state.store.wallet(&account, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(wallet).into_response())
}

async fn audit(State(state): State<Arc<AppState>>, Account(account): Account) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({"entries": state.store.audit_entries(Some(&account)).await?})).into_response())
}

/// Parses and checks a `POST /v1/devices` body: the identity key and the name.
pub fn parse_register_device(body: &[u8]) -> Result<([u8; 32], String), ApiError> {
    let req: RegisterDevice = parse(body)?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&req.identity_key, &mut key)
        .map_err(|_| ApiError::BadRequest("identity_key must be 64 hex digits (an Ed25519 public key)".into()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| ApiError::BadRequest("identity_key is not a valid Ed25519 public key".into()))?;
    if req.name.is_empty() || req.name.len() > MAX_NAME || req.name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!("name must be 1 to {MAX_NAME} printable characters")));
    }
    Ok((key, req.name))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
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
            return Err(ApiError::Conflict("a request with this Idempotency-Key is still running"));
        }
        Idempotent::Mismatch => {
            return Err(ApiError::Conflict("this Idempotency-Key was used for a different request; use a new key"));
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
