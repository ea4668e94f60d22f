//! `tssw enclave`: the enclave program with the dev backend (**not a hardware TEE**), for
//! split deployments on one machine and for `tssw dev`. On AWS Nitro run the `tssw-enclave`
//! binary built with `--features nitro` instead.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tssw_enclave::backend::Backend;
use tssw_enclave::backend::dev::DevBackend;
use tssw_enclave::{DEV_NOTICE, Enclave, Limits};

/// Flags of `tssw enclave`.
#[derive(Args, Debug)]
pub(crate) struct EnclaveArgs {
    /// Unix socket to listen on (created with mode 0600).
    #[arg(long, env = "TSSW_ENCLAVE_SOCKET")]
    pub(crate) socket: PathBuf,
    /// Data directory of the dev backend: its sealing and attestation keys (0600). Anyone
    /// who can read it can unseal every share: dev backend — not a hardware TEE.
    #[arg(long, env = "TSSW_ENCLAVE_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
    /// Stop when the parent process dies (`tssw dev` starts its enclave so).
    #[arg(long, hide = true)]
    pub(crate) exit_with_parent: bool,
}

/// Serves the enclave socket until SIGTERM or Ctrl-C.
pub(crate) fn run(args: &EnclaveArgs, allocator: tssw_malloc::Tuning) -> Result<(), String> {
    if args.exit_with_parent {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
            .map_err(|e| format!("cannot tie the enclave to its parent: {e}"))?;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_ansi(ansi).init();
    let backend = DevBackend::open(&args.data_dir).map_err(|e| format!("cannot open the dev backend: {e}"))?;
    tracing::warn!("{DEV_NOTICE}: shares are only as safe as {}", args.data_dir.display());
    let measurement = match backend.measurement() {
        tssw_api::Measurement::Sha256(m) => hex::encode(m),
        other => other.to_string(),
    };
    let enclave = Arc::new(Enclave::new(Box::new(backend), Limits::default()));
    crate::runtime()?.block_on(async {
        let listener = tssw_enclave::bind(&args.socket)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.socket.display()))?;
        tracing::info!(
            tee_mode = "dev",
            notice = DEV_NOTICE,
            identity = %enclave.identity(),
            measurement = %measurement,
            socket = %args.socket.display(),
            allocator = ?allocator,
            "tssw enclave listening"
        );
        tssw_enclave::serve(listener, enclave, crate::relay::shutdown_signal()).await;
        Ok(())
    })
}
