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
    /// AWS Nitro Enclaves (needs `--features nitro`; not implemented yet).
    Nitro,
}

/// The tss-wallet enclave: holds the service's key shares sealed and uses them only inside
/// this process. With the default `dev` backend this is NOT a hardware TEE (dev backend —
/// not a hardware TEE): anyone who can read the data directory can unseal every share.
#[derive(Debug, Parser)]
#[command(name = "tssw-enclave", version)]
struct Args {
    /// Unix socket to listen on (created with mode 0600).
    #[arg(long, env = "TSSW_ENCLAVE_SOCKET")]
    socket: PathBuf,
    /// Data directory of the dev backend (sealing and attestation keys, mode 0600).
    #[arg(long, env = "TSSW_ENCLAVE_DATA_DIR")]
    data_dir: PathBuf,
    /// TEE backend.
    #[arg(long, env = "TSSW_ENCLAVE_BACKEND", value_enum, default_value = "dev")]
    backend: BackendKind,
}

fn open(args: &Args) -> Result<Box<dyn Backend>, BackendError> {
    match args.backend {
        BackendKind::Dev => Ok(Box::new(tssw_enclave::backend::dev::DevBackend::open(&args.data_dir)?)),
        #[cfg(feature = "nitro")]
        BackendKind::Nitro => Ok(Box::new(tssw_enclave::backend::nitro::NitroBackend::open()?)),
        #[cfg(not(feature = "nitro"))]
        BackendKind::Nitro => Err(BackendError::NotBuilt("nitro")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
    let listener = match tssw_enclave::bind(&args.socket).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", args.socket.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let backend = enclave.backend();
    if backend.notice() == DEV_NOTICE {
        tracing::warn!("{DEV_NOTICE}: shares are only as safe as {}", args.data_dir.display());
    }
    tracing::info!(
        tee_mode = backend.mode().name(),
        notice = backend.notice(),
        identity = %enclave.identity(),
        measurement = %backend.measurement(),
        socket = %args.socket.display(),
        "tssw-enclave listening"
    );
    tssw_enclave::serve(listener, enclave, shutdown()).await;
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
