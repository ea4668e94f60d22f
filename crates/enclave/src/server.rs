//! The enclave's socket loop: one task per host connection, requests answered in order on
//! each connection, connections capped, idle ones closed, shutdown on a future
//! (mini-redis `server::run` style, so tests and the binary share it). The same loop serves a
//! Unix socket ([`serve`]) and, on Nitro, vsock ([`serve_vsock`], feature `nitro`).

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::enclave::Enclave;
use crate::error::EnclaveError;
use crate::frame::{WireError, read_frame, write_frame};
use crate::rpc;
use crate::wire::{Request, Response};

/// Binds the enclave's Unix socket with mode 0600 (only the host's user may connect). A
/// stale socket file from a dead enclave is replaced; a live one is left alone.
pub async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(e);
            }
            std::fs::remove_file(path)?;
            UnixListener::bind(path)?
        }
        Err(e) => return Err(e),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A listening socket of some transport.
trait Listener {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    async fn accept(&self) -> std::io::Result<UnixStream> {
        UnixListener::accept(self).await.map(|(stream, _)| stream)
    }
}

#[cfg(feature = "nitro")]
impl Listener for tokio_vsock::VsockListener {
    type Stream = tokio_vsock::VsockStream;
    async fn accept(&self) -> std::io::Result<tokio_vsock::VsockStream> {
        tokio_vsock::VsockListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Binds the enclave's vsock port (any CID: the parent instance connects to the enclave's
/// CID). Only works inside a Nitro enclave or a VM with the vsock transport.
#[cfg(feature = "nitro")]
pub fn bind_vsock(port: u32) -> std::io::Result<tokio_vsock::VsockListener> {
    tokio_vsock::VsockListener::bind(tokio_vsock::VsockAddr::new(tokio_vsock::VMADDR_CID_ANY, port))
}

/// Serves host connections on a Unix socket until `shutdown` completes.
pub async fn serve(listener: UnixListener, enclave: Arc<Enclave>, shutdown: impl Future<Output = ()>) {
    serve_on(listener, enclave, shutdown).await
}

/// Serves host connections on vsock until `shutdown` completes.
#[cfg(feature = "nitro")]
pub async fn serve_vsock(
    listener: tokio_vsock::VsockListener,
    enclave: Arc<Enclave>,
    shutdown: impl Future<Output = ()>,
) {
    serve_on(listener, enclave, shutdown).await
}

async fn serve_on<L: Listener>(listener: L, enclave: Arc<Enclave>, shutdown: impl Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(enclave.limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Over the cap: tell the host why, then hang up.
            tokio::spawn(refuse(stream));
            continue;
        };
        let enclave = enclave.clone();
        tokio::spawn(async move {
            connection(stream, &enclave).await;
            drop(permit);
        });
    }
    tracing::info!("enclave shutting down");
}

async fn refuse<S: AsyncWrite + Unpin>(mut stream: S) {
    let busy = Response::Error(EnclaveError::Busy("too many host connections").to_remote());
    if let Ok(bytes) = busy.encode() {
        let _ = write_frame(&mut stream, &bytes).await;
    }
}

/// One host connection, over any byte stream (a Unix socket here; vsock on Nitro).
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, enclave: &Arc<Enclave>) {
    loop {
        let payload = match tokio::time::timeout(enclave.limits.idle, read_frame(&mut stream)).await {
            Err(_) | Ok(Ok(None)) => return,
            Ok(Ok(Some(payload))) => payload,
            Ok(Err(e)) => {
                // A bad length or a cut frame: the stream cannot be resynchronised.
                if !matches!(e, WireError::Io(_) | WireError::Truncated) {
                    let _ = reply(&mut stream, &Response::Error(EnclaveError::Wire(e).to_remote())).await;
                }
                return;
            }
        };
        let response = match Request::decode(&payload) {
            Ok(request) => rpc::handle(enclave, request).await,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable request");
                Response::Error(EnclaveError::Wire(e).to_remote())
            }
        };
        if reply(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> Result<(), WireError> {
    let bytes = match response.encode() {
        Ok(bytes) => bytes,
        Err(e) => Response::Error(EnclaveError::Wire(e).to_remote()).encode()?,
    };
    write_frame(stream, &bytes).await
}
