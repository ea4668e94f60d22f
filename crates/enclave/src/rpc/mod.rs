//! One module per request. [`handle`] dispatches; CPU-heavy work (unsealing, payload
//! parsing, protocol rounds) runs on blocking threads, never on the async workers.

mod begin;
mod run;

use std::sync::Arc;

use crate::enclave::Enclave;
use crate::error::EnclaveError;
use crate::wire::{Health, Request, Response};

/// Answers one request. Never panics on any input; failures become [`Response::Error`].
pub async fn handle(enclave: &Arc<Enclave>, request: Request) -> Response {
    let kind = kind(&request);
    let started = std::time::Instant::now();
    let result = dispatch(enclave, request).await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(response) => {
            tracing::info!(request = kind, ms, "ok");
            response
        }
        Err(e) => {
            tracing::warn!(request = kind, ms, error = %e, "refused");
            Response::Error(e.to_remote())
        }
    }
}

fn kind(request: &Request) -> &'static str {
    match request {
        Request::Health => "health",
        Request::Attest { .. } => "attest",
        Request::Begin(_) => "begin",
        Request::Run { .. } => "run",
        Request::Abandon { .. } => "abandon",
        Request::KmsRecipient => "kms-recipient",
        Request::KmsRelease { .. } => "kms-release",
    }
}

async fn dispatch(enclave: &Arc<Enclave>, request: Request) -> Result<Response, EnclaveError> {
    match request {
        Request::Health => Ok(Response::Health(health(enclave))),
        Request::Attest { nonce } => {
            let backend = enclave.backend();
            let document = backend.attest(&enclave.identity(), &nonce, enclave.now())?;
            Ok(Response::Attestation { document })
        }
        Request::Begin(begin) => {
            let e = enclave.clone();
            tokio::task::spawn_blocking(move || begin::begin(&e, begin))
                .await
                .map_err(|_| EnclaveError::Internal("begin task failed"))?
                .map(Response::Began)
        }
        Request::Run { ceremony, relay_url, token } => run::run(enclave, ceremony, relay_url, token).await,
        Request::Abandon { ceremony } => {
            enclave.take(&ceremony).ok_or(EnclaveError::UnknownCeremony)?;
            Ok(Response::Abandoned)
        }
        Request::KmsRecipient => {
            // RSA key generation takes tens of milliseconds: off the async workers.
            let e = enclave.clone();
            let document = tokio::task::spawn_blocking(move || e.backend().kms_recipient(&e.identity()))
                .await
                .map_err(|_| EnclaveError::Internal("kms task failed"))??;
            Ok(Response::KmsRecipient { document })
        }
        Request::KmsRelease { ciphertext_for_recipient } => {
            if enclave.unlocked() {
                return Err(EnclaveError::BadRequest("the sealing key is already installed".into()));
            }
            let e = enclave.clone();
            let root = tokio::task::spawn_blocking(move || e.backend().kms_release(&ciphertext_for_recipient))
                .await
                .map_err(|_| EnclaveError::Internal("kms task failed"))??;
            enclave.install(&root)?;
            tracing::info!("sealing key released by KMS installed");
            Ok(Response::Unlocked)
        }
    }
}

fn health(enclave: &Enclave) -> Health {
    let backend = enclave.backend();
    Health {
        tee_mode: backend.mode(),
        notice: backend.notice().into(),
        identity: enclave.identity(),
        measurement: backend.measurement(),
        version: env!("CARGO_PKG_VERSION").into(),
        pending: u32::try_from(enclave.pending_count()).unwrap_or(u32::MAX),
        unlocked: enclave.unlocked(),
    }
}
