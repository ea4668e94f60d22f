//! `tssw eps` (the encryption proxy service) and `tssw eps unlock` (the operator's unlock
//! of a backup locked after too many wrong passcodes). Flags and `TSSW_EPS_*` environment
//! variables fill a [`tssw_backup::eps::Config`]; the backup crate does the work.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tssw_backup::eps::{self, Config, Rate, store::Account};

use crate::jwks::{IssuerFlags, Issuers};

/// `tssw eps [unlock]`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct EpsArgs {
    #[command(subcommand)]
    command: Option<EpsCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum EpsCommand {
    /// Reset the lockout of a wallet's backup after checking the user's identity; writes an
    /// audit entry per registration. Safe while the service runs.
    Unlock(UnlockArgs),
}

/// Flags of `tssw eps`.
#[derive(Args, Debug)]
struct RunArgs {
    /// Address to listen on (plain HTTP: keep it on loopback or behind a TLS proxy).
    #[arg(long, env = "TSSW_EPS_BIND", default_value = "127.0.0.1:7900")]
    bind: SocketAddr,
    /// The EPS's own data directory (its OPRF key, and its SQLite database by default).
    /// Never the wallet server's.
    #[arg(long, env = "TSSW_EPS_DATA_DIR", required = true)]
    data_dir: Option<PathBuf>,
    /// Database: sqlite://PATH or postgres://USER@HOST/DB (default: sqlite in the data dir).
    /// Never the wallet server's database.
    #[arg(long, env = "TSSW_EPS_DATABASE_URL")]
    database_url: Option<String>,
    /// The identity provider's `iss` (with --jwks-file or --jwks-url, and --audience).
    #[arg(long, env = "TSSW_EPS_JWT_ISSUER", requires = "jwks")]
    issuer: Option<String>,
    /// The provider's public keys, a JWKS file.
    #[arg(long, env = "TSSW_EPS_JWT_JWKS_FILE", requires = "issuer", group = "jwks")]
    jwks_file: Option<PathBuf>,
    /// The provider's JWKS URL (https): fetched at start and every --jwks-refresh-secs.
    #[arg(long, env = "TSSW_EPS_JWT_JWKS_URL", requires = "issuer", group = "jwks")]
    jwks_url: Option<String>,
    /// Seconds between re-fetches of --jwks-url (key rotation at the provider).
    #[arg(long, env = "TSSW_EPS_JWT_JWKS_REFRESH_SECS", default_value_t = 300)]
    jwks_refresh_secs: u64,
    /// The `aud` tokens must carry.
    #[arg(long, env = "TSSW_EPS_JWT_AUDIENCE", default_value = tssw_auth::DEFAULT_AUDIENCE)]
    audience: String,
    /// Also trust a built-in dev issuer (a random key for this run) and print a token for
    /// the subject `dev`. For a developer machine only.
    #[arg(long, env = "TSSW_EPS_DEV_ISSUER")]
    dev_issuer: bool,
    /// Web origins whose pages may call the EPS from a browser: the web wallet page's
    /// origin (the wallet server's). Repeat or comma-separate.
    #[arg(long = "cors-origin", env = "TSSW_EPS_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// Unconfirmed passcode attempts before a backup locks.
    #[arg(long, env = "TSSW_EPS_MAX_ATTEMPTS", default_value_t = eps::DEFAULT_MAX_ATTEMPTS)]
    max_attempts: u32,
    /// Backup registrations a wallet may have at once.
    #[arg(long, env = "TSSW_EPS_MAX_REGISTRATIONS", default_value_t = eps::DEFAULT_MAX_REGISTRATIONS)]
    max_registrations: usize,
    /// Requests per second per account, and the burst.
    #[arg(long, env = "TSSW_EPS_ACCOUNT_RATE", default_value_t = 5)]
    account_rate: u32,
    #[arg(long, env = "TSSW_EPS_ACCOUNT_BURST", default_value_t = 20)]
    account_burst: u32,
    /// Requests per second per IP address, and the burst.
    #[arg(long, env = "TSSW_EPS_IP_RATE", default_value_t = 20)]
    ip_rate: u32,
    #[arg(long, env = "TSSW_EPS_IP_BURST", default_value_t = 100)]
    ip_burst: u32,
}

/// Flags of `tssw eps unlock`.
#[derive(Args, Debug)]
struct UnlockArgs {
    /// The EPS's data directory.
    #[arg(long, env = "TSSW_EPS_DATA_DIR")]
    data_dir: PathBuf,
    /// Its database, when not the default SQLite file in the data dir.
    #[arg(long, env = "TSSW_EPS_DATABASE_URL")]
    database_url: Option<String>,
    /// The wallet whose backup is locked.
    #[arg(long)]
    wallet: String,
    /// Only this account's registrations: its token issuer (with --subject).
    #[arg(long, requires = "subject")]
    issuer: Option<String>,
    /// Only this account's registrations: its token subject (with --issuer).
    #[arg(long, requires = "issuer")]
    subject: Option<String>,
    /// Why (a ticket number, who checked the user's identity): recorded in the audit entry.
    #[arg(long)]
    note: String,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs `tssw eps` or `tssw eps unlock`.
pub(crate) fn run(args: &EpsArgs) -> Result<(), String> {
    match &args.command {
        Some(EpsCommand::Unlock(unlock)) => run_unlock(unlock),
        None => serve(&args.run),
    }
}

fn serve(args: &RunArgs) -> Result<(), String> {
    let data_dir = args.data_dir.clone().ok_or("pass --data-dir (or TSSW_EPS_DATA_DIR)")?;
    let issuers = Issuers::new(IssuerFlags {
        issuer: args.issuer.as_ref(),
        audience: &args.audience,
        jwks_file: args.jwks_file.as_ref(),
        jwks_url: args.jwks_url.as_ref(),
        refresh_secs: args.jwks_refresh_secs,
        dev_issuer: args.dev_issuer,
    })?;
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    crate::runtime()?.block_on(async {
        let mut config = Config::new(data_dir, issuers.load().await?);
        issuers.keep_fresh(&config.auth);
        config.database_url = args.database_url.clone();
        config.max_attempts = args.max_attempts;
        config.max_registrations = args.max_registrations;
        config.account_rate = Rate { per_second: args.account_rate, burst: args.account_burst };
        config.ip_rate = Rate { per_second: args.ip_rate, burst: args.ip_burst };
        config.cors_origins = args.cors_origin.clone();
        let eps = eps::Eps::open(config).await.map_err(|e| format!("cannot start the encryption proxy: {e}"))?;
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e} (is another EPS running?)", args.bind))?;
        let local = listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
        // The first stdout line is the URL (scripts and tests bind port 0), then the key.
        println!("eps listening on http://{local}");
        println!("eps public key: {}", hex::encode(eps.public_key().0));
        if let Some(dev) = &issuers.dev {
            let token = dev.mint("dev", now(), 24 * 3_600).map_err(|e| format!("cannot mint a dev token: {e}"))?;
            println!("dev token (subject `dev`, 24 h; dev issuer, not for production): {token}");
        }
        eps::serve(listener, std::sync::Arc::new(eps), crate::relay::shutdown_signal())
            .await
            .map_err(|e| format!("encryption proxy failed: {e}"))
    })
}

fn run_unlock(args: &UnlockArgs) -> Result<(), String> {
    let mut config = Config::new(args.data_dir.clone(), Vec::new());
    config.database_url = args.database_url.clone();
    let account = match (&args.issuer, &args.subject) {
        (Some(issuer), Some(subject)) => Some(Account { issuer: issuer.clone(), subject: subject.clone() }),
        _ => None,
    };
    let reset = crate::runtime()?
        .block_on(eps::unlock(&config, &args.wallet, account.as_ref(), &args.note))
        .map_err(|e| format!("cannot unlock: {e}"))?;
    if reset.is_empty() {
        return Err(format!(
            "wallet {} has no backup registration with failed attempts: nothing to unlock",
            args.wallet
        ));
    }
    for (who, id, failures) in reset {
        println!(
            "unlocked wallet {} registration {} of {} / {} ({failures} attempts reset; audit entry written)",
            args.wallet,
            hex::encode(id),
            who.issuer,
            who.subject
        );
    }
    Ok(())
}
