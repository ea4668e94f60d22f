//! `tssw`: the tss-wallet command. Arguments are parsed here; the work is in the library
//! crates.

mod bench;
mod commands;
mod config;
mod cpu;
mod dapp;
mod demo;
mod dev;
mod digest;
mod enclave;
mod eps;
mod jwks;
mod relay;
mod server;
mod session;

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
    /// The whole story on the real stack (tssw dev in a temporary directory): a wallet per
    /// scheme, EVM / EIP-712 / Solana / Taproot signatures checked by independent verifiers,
    /// backup, a lost device and its recovery, the 2-of-3 upgrade and every signing pair.
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
    /// Print exactly what a payload would sign, without signing: the EVM signing hash, the
    /// EIP-712 digest with its domain separator and struct hash, the Solana message bytes,
    /// each PSBT input's sighash. The same code computes it as in the enclave.
    Digest(digest::DigestArgs),
    /// Run the whole service side on loopback — enclave (dev backend, not a hardware TEE),
    /// relay and wallet server on SQLite — and write a client config for the other commands.
    Dev(dev::DevArgs),
    /// Measure DKG and signing end to end through the real stack on loopback (tssw dev in
    /// a child process), beside the in-process protocol floor.
    Bench(bench::BenchArgs),
    /// Run the enclave with the dev backend (not a hardware TEE) on a Unix socket.
    Enclave(enclave::EnclaveArgs),
    /// Run the encryption proxy service (EPS) that hardens backup passcodes and wraps
    /// backup keys; `tssw eps unlock` resets a locked backup.
    Eps(eps::EpsArgs),
    /// Sign in: write the client configuration (server, token, trusted enclaves, keystore).
    Login(commands::LoginArgs),
    /// Wallets on this device: create, list, reconcile.
    Wallet {
        #[command(subcommand)]
        command: commands::WalletCommand,
    },
    /// A wallet's address (EVM accounts by BIP-32 path, Bitcoin by network).
    Address(commands::AddressArgs),
    /// Sign an EVM transaction, EIP-712 typed data, a message, a Solana transaction or a
    /// PSBT with a wallet, and print the signed artifact in the chain's standard encoding.
    Sign(commands::SignArgs),
    /// Refresh a wallet's shares (same key, next epoch; the old shares stop working).
    Refresh(commands::RefreshArgs),
    /// The wallet's backup through the encryption proxy.
    Backup {
        #[command(subcommand)]
        command: commands::BackupCommand,
    },
    /// Recover a wallet on this (new) device from its backup, then refresh it.
    Recover(commands::RecoverArgs),
    /// Reshare a wallet to 2-of-3 with a cloud share, or back to 2-of-2.
    Upgrade(commands::UpgradeArgs),
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
    // Before any thread starts: the allocator's limits are process-wide. Every outcome is
    // fine to run with; the enclave's log says which it was.
    let allocator = tssw_malloc::tune();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { json } => match demo::run(json) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => failed("demo", &e),
        },
        Command::Server(args) => done("server", server::run(&args)),
        Command::Audit { command: AuditCommand::Verify(args) } => match server::verify_audit(&args) {
            Ok(n) => {
                println!("audit log intact: every entry in order and chained to the one before (entries: {n})");
                ExitCode::SUCCESS
            }
            Err(e) => failed("audit verify", &e),
        },
        Command::Relay(args) => done("relay", relay::run(&args)),
        Command::Digest(args) => done("digest", digest::run(&args)),
        Command::Eps(args) => done("eps", eps::run(&args)),
        Command::Dev(args) => done("dev", dev::run(&args)),
        Command::Bench(args) => done("bench", bench::run(&args)),
        Command::Enclave(args) => done("enclave", enclave::run(&args, allocator)),
        Command::Login(args) => done("login", commands::login(&args)),
        Command::Wallet { command } => done("wallet", block_on(commands::wallet(&command))),
        Command::Address(args) => done("address", block_on(commands::address(&args))),
        Command::Sign(args) => done("sign", block_on(commands::sign(&args))),
        Command::Refresh(args) => done("refresh", block_on(commands::refresh(&args))),
        Command::Backup { command } => done("backup", block_on(commands::backup(&command))),
        Command::Recover(args) => done("recover", block_on(commands::recover(&args))),
        Command::Upgrade(args) => done("upgrade", block_on(commands::upgrade(&args))),
    }
}

fn done(command: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(command, &e),
    }
}

fn failed(command: &str, error: &str) -> ExitCode {
    eprintln!("tssw {command}: {error}");
    ExitCode::FAILURE
}

fn block_on(f: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    runtime()?.block_on(f)
}

/// A multi-threaded runtime for the commands that serve or run ceremonies.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
