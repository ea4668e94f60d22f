//! The device's client for the EPS: one call per route of [`crate::api`], typed errors,
//! bounded response bodies. The high-level flows ([`crate::create_backup`] and friends)
//! drive it; this layer moves bytes and never derives keys.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tssw_api::WalletId;
use zeroize::Zeroizing;

use crate::api::{
    self, BlindedRequest, ConfirmResponse, ErrorBody, EvaluateResponse, Hex, KeyResponse, RegisterResponse,
    StatusResponse, VerifierRequest,
};
use crate::oprf::EpsPublicKey;

/// Bound on every EPS call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an EPS call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpsClientError {
    /// No answer (connection refused, timeout, TLS).
    #[error("cannot reach the encryption proxy: {0}")]
    Unreachable(String),
    /// 401: the login token was refused.
    #[error("the encryption proxy refused the login token: {0}")]
    Unauthorized(String),
    /// 404: no such registration for this account.
    #[error("not found: {0}")]
    NotFound(String),
    /// 403: the verifier is not the registration's.
    #[error("the encryption proxy did not accept the verifier")]
    WrongVerifier {
        /// Evaluations left before the registration locks.
        attempts_left: Option<u32>,
    },
    /// 423: locked after too many unconfirmed evaluations.
    #[error("{0}")]
    Locked(String),
    /// 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429.
    #[error("rate limited by the encryption proxy; retry later")]
    RateLimited,
    /// 400: the request was malformed (a bug on this side).
    #[error("the encryption proxy refused the request: {0}")]
    BadRequest(String),
    /// 5xx or an unexpected status.
    #[error("encryption proxy error (HTTP {status}): {message}")]
    Server {
        /// The status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The answer does not parse or is too large.
    #[error("malformed answer from the encryption proxy: {0}")]
    Malformed(String),
    /// The EPS's public key is not the one this client pinned.
    #[error("the encryption proxy's public key {found} is not the pinned {pinned}")]
    KeyNotPinned {
        /// The pinned key, hex.
        pinned: String,
        /// The key it presented, hex.
        found: String,
    },
}

/// An EPS at `base_url`, called with one account's login token.
#[derive(Clone)]
pub struct EpsClient {
    http: reqwest::Client,
    base: String,
    token: Zeroizing<String>,
    pinned: Option<EpsPublicKey>,
}

impl std::fmt::Debug for EpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpsClient").field("base", &self.base).field("pinned", &self.pinned).finish_non_exhaustive()
    }
}

/// An HTTP client with rustls on the ring provider (installed as the process default if
/// none is yet) and a timeout.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    // Fails only when a provider is already installed, which is what we want either way.
    #[cfg(not(target_arch = "wasm32"))]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    // In the browser, fetch has its own limits and reqwest no client-wide timeout.
    #[cfg(not(target_arch = "wasm32"))]
    let builder = builder.timeout(REQUEST_TIMEOUT);
    builder.build().map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Reads a response body, refusing more than `max` bytes.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn read_body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("response larger than {max} bytes"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the response: {e}"))? {
        if out.len() + chunk.len() > max {
            return Err(format!("response larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The browser's fetch hands over the body whole (it has buffered it already); the bound
/// still holds before anything is decoded.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn read_body(response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("response larger than {max} bytes"));
    }
    let body = response.bytes().await.map_err(|e| format!("reading the response: {e}"))?;
    if body.len() > max {
        return Err(format!("response larger than {max} bytes"));
    }
    Ok(body.to_vec())
}

impl EpsClient {
    /// A client for the EPS at `base_url` (e.g. `https://eps.example`), authenticating with
    /// `token` (the user's JWT).
    pub fn new(base_url: &str, token: &str) -> Result<EpsClient, EpsClientError> {
        let http = http_client().map_err(EpsClientError::Unreachable)?;
        Ok(EpsClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token: Zeroizing::new(token.to_string()),
            pinned: None,
        })
    }

    /// Refuses any EPS whose key is not `key` (for backups made from now on; restores
    /// verify against the key recorded in the backup).
    pub fn pin_public_key(mut self, key: EpsPublicKey) -> EpsClient {
        self.pinned = Some(key);
        self
    }

    /// Replaces the login token (tokens expire).
    pub fn set_token(&mut self, token: &str) {
        self.token = Zeroizing::new(token.to_string());
    }

    pub(crate) fn check_pinned(&self, key: &EpsPublicKey) -> Result<(), EpsClientError> {
        match &self.pinned {
            Some(pinned) if pinned != key => {
                Err(EpsClientError::KeyNotPinned { pinned: hex::encode(pinned.0), found: hex::encode(key.0) })
            }
            _ => Ok(()),
        }
    }

    fn wallet_url(&self, wallet: &WalletId, rest: &str) -> String {
        // Wallet ids are [A-Za-z0-9._:-]: safe in a path segment as they are.
        format!("{}/v1/wallets/{}{rest}", self.base, wallet.as_str())
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&B>,
    ) -> Result<Option<T>, EpsClientError> {
        let mut request = self.http.request(method, url).bearer_auth(self.token.as_str());
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| EpsClientError::Malformed(e.to_string()))?;
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes);
        }
        let response = request.send().await.map_err(|e| EpsClientError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = read_body(response, api::MAX_RESPONSE_BYTES).await.map_err(EpsClientError::Malformed)?;
        if (200..300).contains(&status) {
            if status == 204 {
                return Ok(None);
            }
            return serde_json::from_slice(&bytes).map(Some).map_err(|e| EpsClientError::Malformed(e.to_string()));
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            error: String::new(),
            message: String::from_utf8_lossy(bytes.get(..bytes.len().min(200)).unwrap_or_default()).into_owned(),
            attempts_left: None,
        });
        Err(match status {
            400 => EpsClientError::BadRequest(error.message),
            401 => EpsClientError::Unauthorized(error.message),
            403 => EpsClientError::WrongVerifier { attempts_left: error.attempts_left },
            404 => EpsClientError::NotFound(error.message),
            409 => EpsClientError::Conflict(error.message),
            423 => EpsClientError::Locked(error.message),
            429 => EpsClientError::RateLimited,
            _ => EpsClientError::Server { status, message: error.message },
        })
    }

    async fn call_some<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&B>,
    ) -> Result<T, EpsClientError> {
        self.call(method, url, body).await?.ok_or_else(|| EpsClientError::Malformed("empty answer".into()))
    }

    /// `GET /v1/key`: the EPS's public key (checked against the pin, if any).
    pub async fn public_key(&self) -> Result<EpsPublicKey, EpsClientError> {
        let answer: KeyResponse =
            self.call_some::<(), _>(reqwest::Method::GET, format!("{}/v1/key", self.base), None).await?;
        if answer.suite != api::SUITE {
            return Err(EpsClientError::Malformed(format!("unknown OPRF suite {}", answer.suite)));
        }
        let key = EpsPublicKey(answer.public_key.0);
        self.check_pinned(&key)?;
        Ok(key)
    }

    /// Opens a new registration for `wallet` and evaluates `blinded` under it.
    pub async fn register(&self, wallet: &WalletId, blinded: &[u8; 32]) -> Result<RegisterResponse, EpsClientError> {
        let body = BlindedRequest { blinded: Hex(*blinded) };
        let answer: RegisterResponse =
            self.call_some(reqwest::Method::POST, self.wallet_url(wallet, "/registrations"), Some(&body)).await?;
        self.check_pinned(&EpsPublicKey(answer.public_key.0))?;
        Ok(answer)
    }

    /// Sets a registration's verifier.
    pub async fn set_verifier(
        &self,
        wallet: &WalletId,
        registration: &[u8; 16],
        verifier: &[u8; 32],
    ) -> Result<(), EpsClientError> {
        let url = self.wallet_url(wallet, &format!("/registrations/{}/verifier", hex::encode(registration)));
        self.call::<_, serde_json::Value>(
            reqwest::Method::PUT,
            url,
            Some(&VerifierRequest { verifier: Hex(*verifier) }),
        )
        .await?;
        Ok(())
    }

    /// Evaluates `blinded` under a registration (counted against its lockout).
    pub async fn evaluate(
        &self,
        wallet: &WalletId,
        registration: &[u8; 16],
        blinded: &[u8; 32],
    ) -> Result<EvaluateResponse, EpsClientError> {
        let url = self.wallet_url(wallet, &format!("/registrations/{}/evaluate", hex::encode(registration)));
        self.call_some(reqwest::Method::POST, url, Some(&BlindedRequest { blinded: Hex(*blinded) })).await
    }

    /// Confirms a successful unwrap: resets the registration's count.
    pub async fn confirm(
        &self,
        wallet: &WalletId,
        registration: &[u8; 16],
        verifier: &[u8; 32],
    ) -> Result<ConfirmResponse, EpsClientError> {
        let url = self.wallet_url(wallet, &format!("/registrations/{}/confirm", hex::encode(registration)));
        self.call_some(reqwest::Method::POST, url, Some(&VerifierRequest { verifier: Hex(*verifier) })).await
    }

    /// Keeps this registration and deletes the wallet's others (their backups stop opening).
    pub async fn activate(
        &self,
        wallet: &WalletId,
        registration: &[u8; 16],
        verifier: &[u8; 32],
    ) -> Result<ConfirmResponse, EpsClientError> {
        let url = self.wallet_url(wallet, &format!("/registrations/{}/activate", hex::encode(registration)));
        self.call_some(reqwest::Method::POST, url, Some(&VerifierRequest { verifier: Hex(*verifier) })).await
    }

    /// The wallet's registrations and their lockout state.
    pub async fn status(&self, wallet: &WalletId) -> Result<StatusResponse, EpsClientError> {
        self.call_some::<(), _>(reqwest::Method::GET, self.wallet_url(wallet, ""), None).await
    }
}
