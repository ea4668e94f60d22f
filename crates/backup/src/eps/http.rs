//! The EPS's HTTP API (schema in [`crate::api`]). Every handler authenticates first and
//! scopes every record to the caller's account; another account's wallets and
//! registrations are 404 like ids that do not exist. Rate limits per account and per IP
//! address come before any work.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand_core::RngCore;
use tssw_api::WalletId;
use tssw_auth::AuthError;

use super::store::{Account, Attempt, Check, SetVerifier, StoreError};
use super::{Eps, Rate};
use crate::api::{
    self, BlindedRequest, ConfirmResponse, ErrorBody, EvaluateResponse, Hex, KeyResponse, RegisterResponse,
    RegistrationStatus, StatusResponse, VerifierRequest,
};
use crate::kdf::verifier_hash;
use crate::oprf;

pub(crate) fn now_secs() -> i64 {
    now_us() / 1_000_000
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// How many checks between sweeps of idle keys, so the maps stay bounded by the keys
/// active in the last burst period.
const SWEEP_EVERY: u32 = 4_096;

struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
    checks: AtomicU32,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(rate: Rate) -> Limiter<K> {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
        Limiter {
            inner: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU32::new(0),
        }
    }

    fn allow(&self, key: &K) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
        }
        self.inner.check_key(key).is_ok()
    }
}

/// The service's limiters (per process: several EPS instances each have their own; the
/// lockout count is in the database and holds across them).
pub(crate) struct Limits {
    account: Limiter<Account>,
    ip: Limiter<IpAddr>,
}

impl Limits {
    pub(crate) fn new(account: Rate, ip: Rate) -> Limits {
        Limits { account: Limiter::new(account), ip: Limiter::new(ip) }
    }
}

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the verifier does not match this registration")]
    WrongVerifier { attempts_left: u32 },
    #[error(
        "this backup is locked after {max} unconfirmed attempts; the EPS operator can unlock it \
         (`tssw eps unlock --wallet {wallet}`) once the user's identity is checked"
    )]
    Locked { max: u32, wallet: String },
    #[error("too many requests; retry later")]
    RateLimited,
    #[error("internal error")]
    Internal(#[from] StoreError),
    #[error("internal error")]
    Oprf,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, attempts_left) = match &self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::WrongVerifier { attempts_left } => {
                (StatusCode::FORBIDDEN, "wrong_verifier", Some(*attempts_left))
            }
            ApiError::Locked { .. } => (StatusCode::LOCKED, "locked", Some(0)),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", None),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "storage failure");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
            }
            ApiError::Oprf => {
                tracing::error!("OPRF evaluation failed on a decoded element");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
            }
        };
        let message = match status {
            StatusCode::INTERNAL_SERVER_ERROR => "internal error; the EPS log has the details".to_string(),
            _ => self.to_string(),
        };
        let body = ErrorBody { error: code.into(), message, attempts_left };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The caller, from a verified token, within its rate limit.
struct Caller(Account);

impl FromRequestParts<Arc<Eps>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, eps: &Arc<Eps>) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AuthError::Missing)?;
        let principal = eps.auth.verify(token)?;
        let account = Account { issuer: principal.issuer, subject: principal.subject };
        if !eps.limits.account.allow(&account) {
            return Err(ApiError::RateLimited);
        }
        Ok(Caller(account))
    }
}

async fn ip_limit(State(eps): State<Arc<Eps>>, request: Request, next: Next) -> Response {
    // Served without connect info (in-process tests), there is no address to key on.
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
        && !eps.limits.ip.allow(&addr.ip())
    {
        return ApiError::RateLimited.into_response();
    }
    next.run(request).await
}

/// The router.
pub fn router(eps: Arc<Eps>) -> Router {
    let cors = cors(&eps.config.cors_origins);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/key", get(key))
        .route("/v1/wallets/{wallet}", get(status))
        .route("/v1/wallets/{wallet}/registrations", post(register))
        .route("/v1/wallets/{wallet}/registrations/{id}/verifier", put(set_verifier))
        .route("/v1/wallets/{wallet}/registrations/{id}/evaluate", post(evaluate))
        .route("/v1/wallets/{wallet}/registrations/{id}/confirm", post(confirm))
        .route("/v1/wallets/{wallet}/registrations/{id}/activate", post(activate))
        .layer(DefaultBodyLimit::max(api::MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(eps.clone(), ip_limit))
        .layer(cors)
        .with_state(eps)
}

/// CORS for the configured origins only (a preflight from any other origin gets no
/// `Access-Control-Allow-Origin`, so the browser refuses the call). No cookies: the
/// bearer token is the credential.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

fn wallet(segment: &str) -> Result<WalletId, ApiError> {
    WalletId::new(segment).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn ids(wallet_segment: &str, id_segment: &str) -> Result<(WalletId, [u8; 16]), ApiError> {
    let id = api::parse_registration(id_segment).map_err(|e| ApiError::BadRequest(e.0))?;
    Ok((wallet(wallet_segment)?, id))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    api::parse(bytes).map_err(|e| ApiError::BadRequest(e.0))
}

fn evaluate_for(
    eps: &Eps,
    account: &Account,
    wallet: &WalletId,
    id: &[u8; 16],
    blinded: &[u8; 32],
) -> Result<([u8; 32], [u8; 64]), ApiError> {
    let info = oprf::info(&account.issuer, &account.subject, wallet, id);
    // One scalar multiplication and a proof, ≈ 0.2 ms: cheap enough for the async thread.
    eps.key.evaluate_blinded(blinded, &info).map_err(|e| match e {
        oprf::OprfError::Malformed(what) => ApiError::BadRequest(format!("{what} is not a valid ristretto255 point")),
        _ => ApiError::Oprf,
    })
}

async fn health() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn key(State(eps): State<Arc<Eps>>) -> Response {
    Json(KeyResponse { public_key: Hex(eps.key.public_key().0), suite: api::SUITE.into() }).into_response()
}

async fn register(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path(wallet_segment): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let wallet = wallet(&wallet_segment)?;
    let request: BlindedRequest = body(&bytes)?;
    let mut id = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut id);
    // Evaluate first: a malformed element must not leave a registration behind.
    let (evaluation, proof) = evaluate_for(&eps, &account, &wallet, &id, &request.blinded.0)?;
    let evicted = eps.store.create(&account, wallet.as_str(), &id, now_us(), eps.config.max_registrations).await?;
    let detail = format!(
        "wallet {wallet} registration {} of {} / {}{}",
        hex::encode(id),
        account.issuer,
        account.subject,
        if evicted > 0 { format!(" ({evicted} unfinished ones evicted)") } else { String::new() }
    );
    eps.store.audit("registration.created", &detail, now_secs()).await?;
    let answer = RegisterResponse {
        registration: Hex(id),
        issuer: account.issuer,
        subject: account.subject,
        evaluation: Hex(evaluation),
        proof: Hex(proof),
        public_key: Hex(eps.key.public_key().0),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn set_verifier(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path((wallet_segment, id_segment)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (wallet, id) = ids(&wallet_segment, &id_segment)?;
    let request: VerifierRequest = body(&bytes)?;
    match eps.store.set_verifier(&account, wallet.as_str(), &id, &verifier_hash(&request.verifier.0)).await? {
        SetVerifier::Set => Ok(StatusCode::NO_CONTENT.into_response()),
        SetVerifier::Conflict => Err(ApiError::Conflict("this registration already has another verifier")),
        SetVerifier::NotFound => Err(ApiError::NotFound("no such registration for this account")),
    }
}

async fn evaluate(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path((wallet_segment, id_segment)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (wallet, id) = ids(&wallet_segment, &id_segment)?;
    let request: BlindedRequest = body(&bytes)?;
    // Evaluate before counting, so a malformed element costs no attempt; nothing leaves
    // before the attempt is counted (a crash in between costs it).
    let (evaluation, proof) = evaluate_for(&eps, &account, &wallet, &id, &request.blinded.0)?;
    let max = eps.config.max_attempts;
    let failures = match eps.store.count_attempt(&account, wallet.as_str(), &id, max).await? {
        Attempt::Counted { failures } => failures,
        Attempt::Locked => return Err(ApiError::Locked { max, wallet: wallet.to_string() }),
        Attempt::NotFound => {
            return Err(ApiError::NotFound("no such registration for this account (replaced by a newer backup?)"));
        }
        Attempt::Incomplete => {
            return Err(ApiError::Conflict("this registration has no verifier yet: its backup was never finished"));
        }
    };
    if failures == max {
        let detail = format!(
            "wallet {wallet} registration {} of {} / {}: {max} unconfirmed attempts",
            hex::encode(id),
            account.issuer,
            account.subject
        );
        eps.store.audit("registration.locked", &detail, now_secs()).await?;
    }
    let answer = EvaluateResponse {
        evaluation: Hex(evaluation),
        proof: Hex(proof),
        attempts_left: max.saturating_sub(failures),
    };
    Ok(Json(answer).into_response())
}

async fn check(
    eps: &Eps,
    account: &Account,
    wallet_segment: &str,
    id_segment: &str,
    bytes: &[u8],
    activate: bool,
) -> Result<Response, ApiError> {
    let (wallet, id) = ids(wallet_segment, id_segment)?;
    let request: VerifierRequest = body(bytes)?;
    let max = eps.config.max_attempts;
    let (result, deleted) =
        eps.store.check(account, wallet.as_str(), &id, &verifier_hash(&request.verifier.0), activate).await?;
    match result {
        Check::Matched => {
            if activate {
                let detail = format!(
                    "wallet {wallet} registration {} of {} / {}: active, {deleted} other registrations deleted",
                    hex::encode(id),
                    account.issuer,
                    account.subject
                );
                eps.store.audit("registration.activated", &detail, now_secs()).await?;
            }
            Ok(Json(ConfirmResponse { attempts_left: max }).into_response())
        }
        Check::Wrong { failures } => Err(ApiError::WrongVerifier { attempts_left: max.saturating_sub(failures) }),
        Check::NotFound => Err(ApiError::NotFound("no such registration for this account")),
        Check::Incomplete => Err(ApiError::Conflict("this registration has no verifier yet")),
    }
}

async fn confirm(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path((wallet_segment, id_segment)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    check(&eps, &account, &wallet_segment, &id_segment, &bytes, false).await
}

async fn activate(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path((wallet_segment, id_segment)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    check(&eps, &account, &wallet_segment, &id_segment, &bytes, true).await
}

async fn status(
    State(eps): State<Arc<Eps>>,
    Caller(account): Caller,
    Path(wallet_segment): Path<String>,
) -> Result<Response, ApiError> {
    let wallet = wallet(&wallet_segment)?;
    let max = eps.config.max_attempts;
    let registrations = eps
        .store
        .registrations(&account, wallet.as_str())
        .await?
        .into_iter()
        .map(|r| RegistrationStatus {
            registration: Hex(r.id),
            created_at: r.created_us / 1_000_000,
            active: r.active,
            verifier_set: r.verifier_set,
            failures: r.failures,
            attempts_left: max.saturating_sub(r.failures),
            locked: r.failures >= max,
        })
        .collect();
    Ok(Json(StatusResponse { wallet_id: wallet.to_string(), max_attempts: max, registrations }).into_response())
}
