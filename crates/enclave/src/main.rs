//! `tssw-enclave`: parses flags, opens the backend, serves the socket. Everything else is
//! in the library.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use tssw_enclave::backend::{Backend, BackendError};
use tssw_enclave::{DEV_NOTICE, Enclave, Limits};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendKind {
    /// Keys in files in the data dir: dev backend — not a hardware TEE.
    Dev,
    /// AWS Nitro Enclaves: NSM attestation, KMS-released sealing key, vsock. Needs a build
    /// with `--features nitro` and runs only inside a Nitro enclave.
    Nitro,
}

/// The tss-wallet enclave: holds the service's key shares sealed and uses them only inside
/// this process. With the default `dev` backend this is NOT a hardware TEE (dev backend —
/// not a hardware TEE): anyone who can read the data directory can unseal every share.
///
/// `--backend nitro` (a build with `--features nitro`, inside an AWS Nitro Enclave only):
/// attestation by the Nitro Security Module, listening on `--vsock-port`, and no sealing key
/// until the host runs the KMS exchange (`tssw_enclave::kms::unlock`).
#[derive(Debug, Parser)]
#[command(name = "tssw-enclave", version)]
struct Args {
    /// Unix socket to listen on (created with mode 0600).
    #[arg(long, env = "TSSW_ENCLAVE_SOCKET", required_unless_present = "vsock_port", conflicts_with = "vsock_port")]
    socket: Option<PathBuf>,
    /// vsock port to listen on, any CID (Nitro; the host connects to the enclave's CID).
    #[arg(long, env = "TSSW_ENCLAVE_VSOCK_PORT")]
    vsock_port: Option<u32>,
    /// Data directory of the dev backend (sealing and attestation keys, mode 0600).
    #[arg(long, env = "TSSW_ENCLAVE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TEE backend.
    #[arg(long, env = "TSSW_ENCLAVE_BACKEND", value_enum, default_value = "dev")]
    backend: BackendKind,
}

fn open(args: &Args) -> Result<Box<dyn Backend>, BackendError> {
    match args.backend {
        BackendKind::Dev => match &args.data_dir {
            Some(dir) => Ok(Box::new(tssw_enclave::backend::dev::DevBackend::open(dir)?)),
            None => Err(BackendError::NeedsDataDir),
        },
        #[cfg(feature = "nitro")]
        BackendKind::Nitro => Ok(Box::new(tssw_enclave::backend::nitro::NitroBackend::open()?)),
        #[cfg(not(feature = "nitro"))]
        BackendKind::Nitro => Err(BackendError::NotBuilt("nitro")),
    }
}

fn main() -> std::process::ExitCode {
    // Before the runtime's threads start: the allocator's limits are process-wide.
    let allocator = tssw_malloc::tune();
    serve(allocator)
}

#[tokio::main]
async fn serve(allocator: tssw_malloc::Tuning) -> std::process::ExitCode {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_ansi(ansi).init();
    let args = Args::parse();
    let backend = match open(&args) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("cannot start the enclave: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let enclave = Arc::new(Enclave::new(backend, Limits::default()));
    let backend = enclave.backend();
    if backend.notice() == DEV_NOTICE {
        let dir = args.data_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default();
        tracing::warn!("{DEV_NOTICE}: shares are only as safe as {dir}");
    }
    let listen = match (&args.socket, args.vsock_port) {
        (Some(path), _) => path.display().to_string(),
        (None, Some(port)) => format!("vsock:any:{port}"),
        (None, None) => String::new(),
    };
    tracing::info!(
        tee_mode = backend.mode().name(),
        notice = backend.notice(),
        identity = %enclave.identity(),
        measurement = %backend.measurement(),
        unlocked = enclave.unlocked(),
        listen = %listen,
        allocator = ?allocator,
        "tssw-enclave listening"
    );
    match (&args.socket, args.vsock_port) {
        (Some(path), _) => match tssw_enclave::bind(path).await {
            Ok(listener) => tssw_enclave::serve(listener, enclave, shutdown()).await,
            Err(e) => {
                tracing::error!("cannot listen on {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        },
        #[cfg(feature = "nitro")]
        (None, Some(port)) => match tssw_enclave::bind_vsock(port) {
            Ok(listener) => tssw_enclave::serve_vsock(listener, enclave, shutdown()).await,
            Err(e) => {
                tracing::error!(
                    "cannot listen on vsock port {port}: {e} (vsock exists only in a Nitro enclave or a VM)"
                );
                return std::process::ExitCode::FAILURE;
            }
        },
        #[cfg(not(feature = "nitro"))]
        (None, Some(_)) => {
            tracing::error!("this build has no vsock transport (build with `--features nitro`)");
            return std::process::ExitCode::FAILURE;
        }
        (None, None) => {
            tracing::error!("give --socket or --vsock-port");
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
