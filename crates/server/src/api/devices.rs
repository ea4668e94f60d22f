//! `/v1/devices`: the account's device identity keys. A device's key signs its
//! contributions to ceremonies; the server accepts contributions only from registered keys.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Account, AppState, MAX_NAME, idempotent, now, parse};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterDevice {
    /// Ed25519 public key, 64 hex digits.
    identity_key: String,
    name: String,
}

pub(super) async fn register_device(
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

pub(super) async fn list_devices(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({"devices": state.store.devices(&account).await?})).into_response())
}

pub(super) async fn get_device(
    State(state): State<Arc<AppState>>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let device = state.store.device(&account, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(device).into_response())
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
