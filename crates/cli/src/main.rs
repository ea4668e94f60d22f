//! `tssw`: the tss-wallet command. Arguments are parsed here; the work is in the library
//! crates.

mod bench;
mod config;
mod demo;
mod dev;
mod enclave;
mod relay;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tssw", version, about = "Threshold-signature wallet: keys that exist only as shares")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every ceremony for every scheme in this process and check each signature with an
    /// independent verifier: DKG, sign, refresh, sign, reshare 2-of-2 → 2-of-3, sign with
    /// every pair.
    Demo {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the MPC relay: an untrusted store-and-forward router for ceremony frames,
    /// authenticated by tokens from the wallet server.
    Relay(relay::RelayArgs),
    /// Run the wallet server's HTTP API (accounts, devices, wallets, audit log) on SQLite
    /// or PostgreSQL.
    Server(server::ServerArgs),
    /// Run the whole service side on loopback — enclave (dev backend, not a hardware TEE),
    /// relay and wallet server on SQLite — and write a client config for the other commands.
    Dev(dev::DevArgs),
    /// Measure DKG and signing end to end through the real stack on loopback (tssw dev in
    /// a child process), beside the in-process protocol floor.
    Bench(bench::BenchArgs),
    /// Run the enclave with the dev backend (not a hardware TEE) on a Unix socket.
    Enclave(enclave::EnclaveArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain: every entry in order, each committing to the last.
    Verify(server::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { json } => match demo::run(json) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("tssw demo failed: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Server(args) => match server::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tssw server: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Audit { command: AuditCommand::Verify(args) } => match server::verify_audit(&args) {
            Ok(n) => {
                println!("audit log intact: every entry in order and chained to the one before (entries: {n})");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tssw audit verify: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Dev(args) => match dev::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tssw dev: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => match bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tssw bench: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Enclave(args) => match enclave::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tssw enclave: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Relay(args) => match relay::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tssw relay: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A multi-threaded runtime for the commands that serve or run ceremonies.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
