//! `GET /v1/enclave/attestation?nonce=HEX`: the enclave's attestation document for the
//! caller's nonce. The client verifies it (measurement allow-list, dev key only if it
//! chose to trust one) and from then on accepts only setups signed by the attested key.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tssw_api::http::{AttestationView, b64, hex32};

use super::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
pub(super) struct NonceQuery {
    nonce: String,
}

pub(super) async fn attestation(
    State(state): State<Arc<AppState>>,
    Query(q): Query<NonceQuery>,
) -> Result<Response, ApiError> {
    let nonce = hex32(&q.nonce, "nonce").map_err(|e| ApiError::BadRequest(e.0))?;
    let enclave = state.ceremonies()?.enclave();
    let unavailable = |e: tssw_enclave::ClientError| {
        tracing::error!(error = %e, "enclave attestation failed");
        ApiError::Unavailable("the enclave is not answering; retry shortly".into())
    };
    let health = enclave.health().await.map_err(unavailable)?;
    let document = enclave.attest(nonce).await.map_err(unavailable)?;
    Ok(Json(AttestationView {
        tee_mode: health.tee_mode.name().into(),
        notice: health.notice,
        document: b64(&document),
    })
    .into_response())
}
