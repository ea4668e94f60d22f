//! [`ApiClient`]: the wallet server's HTTP API, typed. Every mutating call carries a fresh
//! `Idempotency-Key`, so a retried request cannot start a second ceremony.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tssw_api::http::{
    AttestationView, CeremonyStart, CeremonyStatus, ConfirmEpoch, CreateWallet, RefreshWallet, ReshareWallet,
    SignBatch, SignWallet, WalletPolicy, WalletView, b64, unb64,
};
use tssw_channel::PartyId;

/// Longest a plain request may take (ceremony waits have their own bound).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 2 << 20;
/// How long a call keeps asking while the server answers 429 (the account has too many
/// ceremonies running), and the pauses between, doubling. The server counts a ceremony as
/// running until it has stored the enclave's result, a moment after the device has its
/// signature, so a device that starts ceremonies back to back meets one now and then.
const BUSY_WAIT: Duration = Duration::from_secs(10);
const BUSY_PAUSE: Duration = Duration::from_millis(5);
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(200);

/// Why an API call failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server could not be reached or the connection failed.
    #[error("cannot reach the wallet server at {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server refused the request; `message` says why and what to do.
    #[error("the wallet server refused the request ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code (`not_found`, `conflict`, …).
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The answer did not parse.
    #[error("unexpected answer from the wallet server: {0}")]
    Decode(String),
}

impl ApiError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A registered device, as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct DeviceView {
    /// Random id.
    pub id: String,
    /// The Ed25519 identity key, hex.
    pub identity_key: String,
    /// Its label.
    pub name: String,
}

/// The wallet server's API for one signed-in user.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bearer token is a credential: never in logs.
        f.debug_struct("ApiClient").field("base", &self.base).finish_non_exhaustive()
    }
}

/// An HTTP client with rustls (ring) for `https://` servers.
pub fn http_client() -> Result<reqwest::Client, String> {
    // Installing twice is harmless: the first provider stays.
    #[cfg(not(target_arch = "wasm32"))]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().map_err(|e| format!("cannot build an HTTP client: {e}"))
}

impl ApiClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7800`) acting with the
    /// bearer JWT `token`.
    pub fn new(base: &str, token: &str) -> Result<ApiClient, ApiError> {
        let http = http_client().map_err(|reason| ApiError::Unreachable { url: base.to_string(), reason })?;
        Ok(ApiClient { http, base: base.trim_end_matches('/').to_string(), token: token.to_string() })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let body = body
            .map(|b| serde_json::to_vec(b).map_err(|e| ApiError::Decode(format!("request body: {e}"))))
            .transpose()?;
        // One key for both attempts: if the first reached the server, the second gets its
        // stored answer instead of starting anything twice.
        let key = idempotency_key();
        let unreachable = |e: reqwest::Error| ApiError::Unreachable { url: url.clone(), reason: e.to_string() };
        let (mut attempt, mut paused, mut pause) = (0, Duration::ZERO, BUSY_PAUSE);
        let response = loop {
            let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token).timeout(timeout);
            if method != Method::GET {
                req = req.header("idempotency-key", &key);
            }
            if let Some(bytes) = &body {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes.clone());
            }
            match req.send().await {
                // The account has too many ceremonies running: nothing started (and a
                // refusal is not stored under the key), so ask again after a pause.
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS && paused < BUSY_WAIT => {
                    crate::clock::sleep(pause).await;
                    paused += pause;
                    pause = (pause * 2).min(BUSY_PAUSE_MAX);
                }
                Ok(r) => break r,
                Err(e) if attempt == 0 && never_answered(&e) => attempt += 1,
                Err(e) => return Err(unreachable(e)),
            }
        };
        let status = response.status();
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(ApiError::Decode("response too large".into()));
        }
        let bytes = response.bytes().await.map_err(unreachable)?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(ApiError::Decode("response too large".into()));
        }
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(format!("{path}: {e}")))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call(Method::GET, path, None::<&()>, REQUEST_TIMEOUT).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, ApiError> {
        self.call(Method::POST, path, Some(body), REQUEST_TIMEOUT).await
    }

    /// Registers a device identity key (registering it again returns the same device).
    pub async fn register_device(&self, identity: &PartyId, name: &str) -> Result<DeviceView, ApiError> {
        let body = serde_json::json!({"identity_key": hex::encode(identity.0), "name": name});
        self.post("/v1/devices", &body).await
    }

    /// The enclave's attestation document for `nonce`.
    pub async fn attestation(&self, nonce: &[u8; 32]) -> Result<AttestationView, ApiError> {
        self.get(&format!("/v1/enclave/attestation?nonce={}", hex::encode(nonce))).await
    }

    /// Starts a new wallet's DKG.
    pub async fn create_wallet(&self, body: &CreateWallet) -> Result<CeremonyStart, ApiError> {
        self.post("/v1/wallets", body).await
    }

    /// One wallet.
    pub async fn wallet(&self, id: &str) -> Result<WalletView, ApiError> {
        self.get(&format!("/v1/wallets/{id}")).await
    }

    /// Every wallet of the account.
    pub async fn wallets(&self) -> Result<Vec<WalletView>, ApiError> {
        #[derive(serde::Deserialize)]
        struct List {
            wallets: Vec<WalletView>,
        }
        Ok(self.get::<List>("/v1/wallets").await?.wallets)
    }

    /// Starts a signing ceremony.
    pub async fn sign(&self, wallet: &str, body: &SignWallet) -> Result<CeremonyStart, ApiError> {
        self.post(&format!("/v1/wallets/{wallet}/sign"), body).await
    }

    /// Starts a batch signing ceremony.
    pub async fn sign_batch(&self, wallet: &str, body: &SignBatch) -> Result<CeremonyStart, ApiError> {
        self.post(&format!("/v1/wallets/{wallet}/sign-batch"), body).await
    }

    /// Starts a refresh.
    pub async fn refresh(&self, wallet: &str, body: &RefreshWallet) -> Result<CeremonyStart, ApiError> {
        self.post(&format!("/v1/wallets/{wallet}/refresh"), body).await
    }

    /// Starts a reshare.
    pub async fn reshare(&self, wallet: &str, body: &ReshareWallet) -> Result<CeremonyStart, ApiError> {
        self.post(&format!("/v1/wallets/{wallet}/reshare"), body).await
    }

    /// Starts the test signature that confirms a pending epoch.
    pub async fn confirm(&self, wallet: &str, epoch: u64, body: &ConfirmEpoch) -> Result<CeremonyStart, ApiError> {
        self.post(&format!("/v1/wallets/{wallet}/epochs/{epoch}/confirm"), body).await
    }

    /// Drops a pending epoch; whether there was one.
    pub async fn abort(&self, wallet: &str, epoch: u64) -> Result<bool, ApiError> {
        let v: serde_json::Value = self.post(&format!("/v1/wallets/{wallet}/epochs/{epoch}/abort"), &()).await?;
        Ok(v["aborted"].as_bool().unwrap_or(false))
    }

    /// A ceremony's outcome on the service side, waiting up to `wait` while it runs.
    pub async fn ceremony(&self, id: &str, wait: Duration) -> Result<CeremonyStatus, ApiError> {
        let path = format!("/v1/ceremonies/{id}?wait={}", wait.as_secs());
        self.call(Method::GET, &path, None::<&()>, REQUEST_TIMEOUT + wait).await
    }

    /// Sets whether the enclave may sign bare digests for the wallet.
    pub async fn set_policy(&self, wallet: &str, policy: WalletPolicy) -> Result<(), ApiError> {
        let _: serde_json::Value =
            self.call(Method::PUT, &format!("/v1/wallets/{wallet}/policy"), Some(&policy), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// Stores the wallet's encrypted backup envelope.
    pub async fn put_backup(&self, wallet: &str, epoch: u64, envelope: &[u8]) -> Result<(), ApiError> {
        let body = serde_json::json!({"epoch": epoch, "envelope": b64(envelope)});
        let _: serde_json::Value =
            self.call(Method::PUT, &format!("/v1/wallets/{wallet}/backup"), Some(&body), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// The wallet's stored backup envelope and its epoch, if there is one.
    pub async fn backup(&self, wallet: &str) -> Result<Option<(u64, Vec<u8>)>, ApiError> {
        #[derive(serde::Deserialize)]
        struct Backup {
            epoch: u64,
            envelope: String,
        }
        match self.get::<Backup>(&format!("/v1/wallets/{wallet}/backup")).await {
            Ok(b) => {
                let bytes = unb64(&b.envelope, "envelope", MAX_RESPONSE_BYTES).map_err(|e| ApiError::Decode(e.0))?;
                Ok(Some((b.epoch, bytes)))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> ApiError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => ApiError::Refused { status: status.as_u16(), code: b.error, message: b.message },
        Err(_) => ApiError::Refused {
            status: status.as_u16(),
            code: status.canonical_reason().unwrap_or("error").to_string(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

/// The request failed before any answer (so a retry with the same key is safe and useful).
fn never_answered(e: &reqwest::Error) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    let connect = e.is_connect();
    // The browser's fetch does not tell a refused connection apart.
    #[cfg(target_arch = "wasm32")]
    let connect = false;
    connect || e.is_request()
}

fn idempotency_key() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}
