//! [`EnclaveClient`]: the host's side of the socket. Requests are bounded in time; idle
//! connections are kept for reuse so a signature does not pay for a connect.
//!
//! A pooled connection may have died with an enclave restart; a request that fails on one
//! before any reply byte arrives is sent once more on a fresh connection. That is safe for
//! every request: `Begin` only prepares (an unused preparation expires), and `Run` consumes
//! its ceremony, so a `Run` that did reach the enclave is answered `UnknownCeremony` the
//! second time rather than run twice.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tssw_protocol::CeremonyId;

use crate::frame::{WireError, read_frame, write_frame};
use crate::wire::{Began, Begin, Health, NewShare, RelayToken, RemoteError, Request, Response, Signed};

/// Connections kept for reuse.
const MAX_IDLE: usize = 16;

/// Why a call to the enclave failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to the enclave at {endpoint}: {kind}")]
    Connect {
        /// The socket path, or `vsock:CID:PORT`.
        endpoint: String,
        /// The error kind.
        kind: std::io::ErrorKind,
    },
    /// Bytes on the socket were refused, or the socket failed mid-call.
    #[error("enclave connection: {0}")]
    Wire(#[from] WireError),
    /// The enclave closed the connection without answering.
    #[error("the enclave closed the connection without answering")]
    Closed,
    /// No answer in time. The connection is dropped.
    #[error("no answer from the enclave within {0:?}")]
    Timeout(Duration),
    /// The enclave refused or failed the request.
    #[error("enclave: {0}")]
    Enclave(RemoteError),
    /// The enclave answered with a response of the wrong kind.
    #[error("unexpected response from the enclave (wanted {0})")]
    Unexpected(&'static str),
}

impl ClientError {
    /// The enclave's error code, if the enclave answered with an error.
    pub fn code(&self) -> Option<crate::ErrorCode> {
        match self {
            ClientError::Enclave(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A connection of any transport.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// Where the enclave listens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Endpoint {
    Unix(PathBuf),
    #[cfg(feature = "nitro")]
    Vsock {
        cid: u32,
        port: u32,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            #[cfg(feature = "nitro")]
            Endpoint::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// The host's client for one enclave socket.
pub struct EnclaveClient {
    endpoint: Endpoint,
    timeout: Duration,
    ceremony_timeout: Duration,
    idle: Mutex<Vec<Box<dyn Stream>>>,
}

impl std::fmt::Debug for EnclaveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveClient").field("endpoint", &self.endpoint.to_string()).finish_non_exhaustive()
    }
}

impl EnclaveClient {
    /// A client for the Unix socket at `path`: 10 s per request, 300 s per ceremony run.
    pub fn new(path: impl Into<PathBuf>) -> EnclaveClient {
        EnclaveClient::on(Endpoint::Unix(path.into()))
    }

    /// A client for an enclave's vsock port (the enclave's CID, as `nitro-cli
    /// run-enclave` prints it). Only works on a Nitro parent instance.
    #[cfg(feature = "nitro")]
    pub fn vsock(cid: u32, port: u32) -> EnclaveClient {
        EnclaveClient::on(Endpoint::Vsock { cid, port })
    }

    fn on(endpoint: Endpoint) -> EnclaveClient {
        EnclaveClient {
            endpoint,
            timeout: Duration::from_secs(10),
            ceremony_timeout: Duration::from_secs(300),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sets the bound for quick requests and the bound for `Run` (a whole ceremony).
    pub fn with_timeouts(mut self, request: Duration, ceremony: Duration) -> EnclaveClient {
        self.timeout = request;
        self.ceremony_timeout = ceremony;
        self
    }

    /// Sends one request; an enclave error comes back as [`ClientError::Enclave`].
    pub async fn call(&self, request: &Request) -> Result<Response, ClientError> {
        let limit = if matches!(request, Request::Run { .. }) { self.ceremony_timeout } else { self.timeout };
        let payload = request.encode()?;
        let response =
            tokio::time::timeout(limit, self.exchange(&payload)).await.map_err(|_| ClientError::Timeout(limit))??;
        match Response::decode(&response)? {
            Response::Error(e) => Err(ClientError::Enclave(e)),
            other => Ok(other),
        }
    }

    /// Sends raw payload bytes as one frame and returns the raw reply payload (tests of
    /// the enclave's decoder).
    #[doc(hidden)]
    pub async fn call_raw(&self, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange(payload))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    async fn exchange(&self, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        if let Some(mut stream) = self.pooled() {
            match once(&mut stream, payload).await {
                Ok(reply) => {
                    self.give_back(stream);
                    return Ok(reply);
                }
                // Dead before any reply byte: a stale pooled connection, retry below.
                Err(ClientError::Closed | ClientError::Wire(WireError::Io(_))) => {}
                Err(e) => return Err(e),
            }
        }
        let mut stream = self
            .connect()
            .await
            .map_err(|e| ClientError::Connect { endpoint: self.endpoint.to_string(), kind: e.kind() })?;
        let reply = once(&mut stream, payload).await?;
        self.give_back(stream);
        Ok(reply)
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match &self.endpoint {
            Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await?),
            #[cfg(feature = "nitro")]
            Endpoint::Vsock { cid, port } => {
                Box::new(tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await?)
            }
        })
    }

    fn pooled(&self) -> Option<Box<dyn Stream>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, stream: Box<dyn Stream>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(stream);
        }
    }

    /// The enclave's backend, identity and measurement.
    pub async fn health(&self) -> Result<Health, ClientError> {
        match self.call(&Request::Health).await? {
            Response::Health(h) => Ok(h),
            _ => Err(ClientError::Unexpected("health")),
        }
    }

    /// An attestation document for `nonce` (check it with [`crate::verify_attestation`]).
    pub async fn attest(&self, nonce: [u8; 32]) -> Result<Vec<u8>, ClientError> {
        match self.call(&Request::Attest { nonce }).await? {
            Response::Attestation { document } => Ok(document),
            _ => Err(ClientError::Unexpected("attestation")),
        }
    }

    /// Prepares a ceremony; returns the signed setup for the other parties.
    pub async fn begin(&self, begin: Begin) -> Result<Began, ClientError> {
        match self.call(&Request::Begin(begin)).await? {
            Response::Began(b) => Ok(b),
            _ => Err(ClientError::Unexpected("began")),
        }
    }

    /// Runs a prepared ceremony; the response is `KeyGenerated`, `Signed`, `Refreshed` or
    /// `Reshared` according to the operation.
    pub async fn run(&self, ceremony: CeremonyId, relay_url: &str, token: &str) -> Result<Response, ClientError> {
        let request = Request::Run { ceremony, relay_url: relay_url.into(), token: RelayToken(token.into()) };
        self.call(&request).await
    }

    /// [`EnclaveClient::run`] for a DKG.
    pub async fn run_dkg(&self, ceremony: CeremonyId, relay_url: &str, token: &str) -> Result<NewShare, ClientError> {
        match self.run(ceremony, relay_url, token).await? {
            Response::KeyGenerated(s) => Ok(s),
            _ => Err(ClientError::Unexpected("key generated")),
        }
    }

    /// [`EnclaveClient::run`] for a signature.
    pub async fn run_sign(&self, ceremony: CeremonyId, relay_url: &str, token: &str) -> Result<Signed, ClientError> {
        match self.run(ceremony, relay_url, token).await? {
            Response::Signed(s) => Ok(s),
            _ => Err(ClientError::Unexpected("signed")),
        }
    }

    /// [`EnclaveClient::run`] for a refresh.
    pub async fn run_refresh(
        &self,
        ceremony: CeremonyId,
        relay_url: &str,
        token: &str,
    ) -> Result<NewShare, ClientError> {
        match self.run(ceremony, relay_url, token).await? {
            Response::Refreshed(s) => Ok(s),
            _ => Err(ClientError::Unexpected("refreshed")),
        }
    }

    /// [`EnclaveClient::run`] for a reshare (`None`: the enclave dealt and holds no share).
    pub async fn run_reshare(
        &self,
        ceremony: CeremonyId,
        relay_url: &str,
        token: &str,
    ) -> Result<Option<NewShare>, ClientError> {
        match self.run(ceremony, relay_url, token).await? {
            Response::Reshared(s) => Ok(s),
            _ => Err(ClientError::Unexpected("reshared")),
        }
    }

    /// Nitro: an attestation document with a fresh recipient key, for KMS's `Recipient`.
    pub async fn kms_recipient(&self) -> Result<Vec<u8>, ClientError> {
        match self.call(&Request::KmsRecipient).await? {
            Response::KmsRecipient { document } => Ok(document),
            _ => Err(ClientError::Unexpected("kms recipient")),
        }
    }

    /// Nitro: hands KMS's `CiphertextForRecipient` to the enclave, which installs the key.
    pub async fn kms_release(&self, ciphertext_for_recipient: Vec<u8>) -> Result<(), ClientError> {
        match self.call(&Request::KmsRelease { ciphertext_for_recipient }).await? {
            Response::Unlocked => Ok(()),
            _ => Err(ClientError::Unexpected("unlocked")),
        }
    }

    /// Drops a prepared ceremony that will not run.
    pub async fn abandon(&self, ceremony: CeremonyId) -> Result<(), ClientError> {
        match self.call(&Request::Abandon { ceremony }).await? {
            Response::Abandoned => Ok(()),
            _ => Err(ClientError::Unexpected("abandoned")),
        }
    }
}

async fn once(stream: &mut Box<dyn Stream>, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
    write_frame(stream, payload).await?;
    read_frame(stream).await?.ok_or(ClientError::Closed)
}
