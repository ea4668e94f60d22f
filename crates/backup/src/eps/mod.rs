//! The encryption proxy service (EPS): its own process, key domain and database.
//!
//! - Key: one POPRF key ([`key`], `<data dir>/oprf.key`, 0600). It evaluates blinded inputs
//!   and never sees a backup, a key K, a passcode or a share.
//! - Database ([`store`], `sqlite://<data dir>/eps.db` by default, or PostgreSQL): per
//!   account (the token's issuer and subject) and wallet, its registrations — a random id,
//!   the SHA-256 of the verifier tag, the lockout counter — and an audit table. It refuses
//!   a database that holds the wallet server's tables.
//! - Authentication: JWTs verified here with [`tssw_auth::Authenticator`]; the EPS trusts
//!   the identity provider, not the wallet server.
//! - Lockout: every evaluation for restoring counts; a confirmation (the verifier) resets
//!   the count; after `max_attempts` unconfirmed evaluations the registration is locked
//!   (423) until `tssw eps unlock` ([`unlock`]) resets it and writes an audit entry.
//!
//! [`run`] opens everything from a [`Config`] and serves on a bound listener until the
//! shutdown future completes (library-first, like the relay and the server).

mod http;
pub mod key;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tssw_auth::{Authenticator, IssuerConfig};

pub use http::router;

use crate::oprf::{EpsPublicKey, OprfKey};
use store::{Account, Store};

/// Unconfirmed evaluations a registration allows by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// Registrations a wallet may have at once (an active one and backups in progress).
pub const DEFAULT_MAX_REGISTRATIONS: usize = 4;
/// How long [`serve`] waits for requests in flight after the shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Database file name in the data dir when no URL is configured.
pub const DATABASE_FILE: &str = "eps.db";

/// A token bucket: sustained rate and burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second.
    pub per_second: u32,
    /// Burst size.
    pub burst: u32,
}

/// What the EPS runs with.
#[derive(Clone)]
pub struct Config {
    /// Holds `oprf.key` (and `eps.db` by default). Its own directory, never the wallet
    /// server's.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; `None`: `sqlite://<data dir>/eps.db`.
    pub database_url: Option<String>,
    /// Trusted identity providers; clones share their keys, so the caller can rotate them
    /// while the EPS runs.
    pub auth: Authenticator,
    /// Unconfirmed evaluations before a registration locks.
    pub max_attempts: u32,
    /// Registrations per wallet.
    pub max_registrations: usize,
    /// Requests per account.
    pub account_rate: Rate,
    /// Requests per IP address.
    pub ip_rate: Rate,
    /// Web origins whose pages may call the EPS (the web wallet's origin): CORS allows
    /// exactly these, with the `Authorization` header. Empty: no cross-origin calls.
    pub cors_origins: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database_url.as_ref().map(|_| "<configured>"))
            .field("issuers", &self.auth.issuer_names())
            .field("max_attempts", &self.max_attempts)
            .field("max_registrations", &self.max_registrations)
            .field("account_rate", &self.account_rate)
            .field("ip_rate", &self.ip_rate)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

impl Config {
    /// Defaults: 10 attempts, 4 registrations per wallet, 5 requests/s (burst 20) per
    /// account, 20/s (burst 100) per IP address.
    pub fn new(data_dir: PathBuf, issuers: Vec<IssuerConfig>) -> Config {
        Config {
            data_dir,
            database_url: None,
            auth: Authenticator::new(issuers),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_registrations: DEFAULT_MAX_REGISTRATIONS,
            account_rate: Rate { per_second: 5, burst: 20 },
            ip_rate: Rate { per_second: 20, burst: 100 },
            cors_origins: Vec::new(),
        }
    }

    fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join(DATABASE_FILE).display()))
    }
}

/// Why the EPS did not start or an operator command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EpsError {
    /// The key file.
    #[error("OPRF key: {0}")]
    Key(#[from] key::KeyError),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// No identity provider configured.
    #[error("no token issuer configured: the EPS verifies every request's JWT itself")]
    NoIssuer,
    /// `max_attempts` is 0.
    #[error("max attempts must be at least 1")]
    BadConfig,
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// An opened EPS: key, database, verifier, limits.
pub struct Eps {
    pub(crate) store: Store,
    pub(crate) key: OprfKey,
    pub(crate) auth: Authenticator,
    pub(crate) config: Config,
    pub(crate) limits: http::Limits,
}

impl std::fmt::Debug for Eps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eps")
            .field("public_key", &self.key.public_key())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Eps {
    /// Loads (or creates) the key and opens (or creates) the database.
    pub async fn open(config: Config) -> Result<Eps, EpsError> {
        if config.auth.issuer_names().is_empty() {
            return Err(EpsError::NoIssuer);
        }
        if config.max_attempts == 0 || config.max_registrations == 0 {
            return Err(EpsError::BadConfig);
        }
        let key = key::load_or_create(&config.data_dir)?;
        let store = Store::connect(&config.database_url()).await?;
        let auth = config.auth.clone();
        let limits = http::Limits::new(config.account_rate, config.ip_rate);
        Ok(Eps { store, key, auth, config, limits })
    }

    /// The POPRF public key clients verify evaluations against.
    pub fn public_key(&self) -> EpsPublicKey {
        self.key.public_key()
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Opens the EPS from `config` and serves it on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EpsError> {
    let eps = Arc::new(Eps::open(config).await?);
    tracing::info!(public_key = ?eps.public_key(), "encryption proxy started");
    serve(listener, eps, shutdown).await
}

/// Serves an opened EPS (graceful shutdown, bounded by [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    eps: Arc<Eps>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EpsError> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("encryption proxy shutting down");
        stop_tx.send_replace(true);
    };
    let drain = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let service = router(eps).into_make_service_with_connect_info::<SocketAddr>();
    // Small answers must not wait for Nagle's algorithm to meet the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let serve = std::future::IntoFuture::into_future(axum::serve(listener, service).with_graceful_shutdown(signal));
    tokio::select! {
        result = serve => result.map_err(EpsError::Serve),
        () = drain => {
            tracing::warn!("requests still running after the drain timeout; stopping anyway");
            Ok(())
        }
    }
}

/// Operator unlock (`tssw eps unlock`): resets the lockout count of `wallet`'s
/// registrations (only `account`'s, when given), writes one audit entry per registration,
/// and returns them. Works on the database directly; the service may be running.
pub async fn unlock(
    config: &Config,
    wallet: &str,
    account: Option<&Account>,
    operator_note: &str,
) -> Result<Vec<(Account, [u8; 16], u32)>, EpsError> {
    let store = Store::connect(&config.database_url()).await?;
    let reset = store.unlock(wallet, account).await?;
    for (who, id, failures) in &reset {
        let detail = format!(
            "wallet {wallet} registration {} of {} / {}: {failures} unconfirmed attempts reset by the operator ({operator_note})",
            hex::encode(id),
            who.issuer,
            who.subject
        );
        store.audit("registration.unlocked", &detail, http::now_secs()).await?;
    }
    Ok(reset)
}
