//! `tssw server` (the wallet host's HTTP API) and `tssw audit verify` (check the audit
//! log's hash chain). Flags and environment variables; the server crate does the work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tssw_enclave::EnclaveClient;
use tssw_server::{AppState, Authenticator, Ceremonies, CeremonyLimits, RelayIssuer, Store};

use crate::jwks::{IssuerFlags, Issuers};

/// Flags of `tssw server`.
#[derive(Args, Debug)]
pub(crate) struct ServerArgs {
    /// Address to listen on (plain HTTP: keep it on loopback or behind a TLS proxy).
    #[arg(long, env = "TSSW_SERVER_BIND", default_value = "127.0.0.1:7800")]
    bind: SocketAddr,
    /// Database: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "TSSW_DATABASE_URL")]
    database_url: String,
    /// The identity provider's `iss` (with --jwks-file or --jwks-url, and --audience).
    #[arg(long, env = "TSSW_JWT_ISSUER", requires = "jwks")]
    issuer: Option<String>,
    /// The provider's public keys, a JWKS file (download its /.well-known/jwks.json).
    #[arg(long, env = "TSSW_JWT_JWKS_FILE", requires = "issuer", group = "jwks")]
    jwks_file: Option<PathBuf>,
    /// The provider's JWKS URL (https): fetched at start and every --jwks-refresh-secs.
    #[arg(long, env = "TSSW_JWT_JWKS_URL", requires = "issuer", group = "jwks")]
    jwks_url: Option<String>,
    /// Seconds between re-fetches of --jwks-url (key rotation at the provider).
    #[arg(long, env = "TSSW_JWT_JWKS_REFRESH_SECS", default_value_t = 300)]
    jwks_refresh_secs: u64,
    /// The `aud` tokens for this server must carry.
    #[arg(long, env = "TSSW_JWT_AUDIENCE", default_value = tssw_auth::DEFAULT_AUDIENCE)]
    audience: String,
    /// Also trust a built-in dev issuer (a random key for this run) and print a token for
    /// the subject `dev`. For a developer machine only.
    #[arg(long, env = "TSSW_DEV_ISSUER")]
    dev_issuer: bool,
    /// The enclave's Unix socket. Without it the server runs no ceremonies (those
    /// endpoints answer 503) and serves the rest.
    #[arg(long, env = "TSSW_ENCLAVE_SOCKET", requires = "relay_url")]
    enclave_socket: Option<PathBuf>,
    /// Relay base URL (ws://…) handed to clients; repeat for several relay nodes sharing
    /// one backend, in order of preference.
    #[arg(long = "relay-url", env = "TSSW_RELAY_URLS", value_delimiter = ',')]
    relay_url: Vec<String>,
    /// Relay URL the enclave connects to (default: the first --relay-url).
    #[arg(long, env = "TSSW_ENCLAVE_RELAY_URL")]
    enclave_relay_url: Option<String>,
    /// The relay-token signing key (32-byte Ed25519 seed, mode 0600; created if missing).
    /// Relays are started with its public key, which this command prints.
    #[arg(long, env = "TSSW_RELAY_KEY_FILE")]
    relay_key_file: Option<PathBuf>,
    /// AWS Nitro: the enclave's vsock address, CID:PORT, instead of --enclave-socket.
    #[cfg(feature = "nitro")]
    #[arg(long, env = "TSSW_ENCLAVE_VSOCK", conflicts_with = "enclave_socket", requires = "relay_url")]
    enclave_vsock: Option<String>,
    /// AWS Nitro: the KMS key whose key policy releases the enclave's sealing root key to
    /// its attested PCRs. At start the server relays that release (before any ceremony).
    #[cfg(feature = "nitro")]
    #[arg(long, env = "TSSW_KMS_KEY_ID", requires_all = ["kms_region", "kms_blob"])]
    kms_key_id: Option<String>,
    /// AWS Nitro: the KMS key's region. Credentials come from the AWS_* environment.
    #[cfg(feature = "nitro")]
    #[arg(long, env = "TSSW_KMS_REGION")]
    kms_region: Option<String>,
    /// AWS Nitro: where the encrypted sealing root key is kept (created, 0600, on first start).
    #[cfg(feature = "nitro")]
    #[arg(long, env = "TSSW_KMS_BLOB")]
    kms_blob: Option<PathBuf>,
    /// Ceremonies one account may run at once.
    #[arg(long, env = "TSSW_MAX_CEREMONIES_PER_ACCOUNT", default_value_t = 8)]
    max_ceremonies_per_account: i64,
    /// Seconds a ceremony setup stays valid.
    #[arg(long, env = "TSSW_CEREMONY_TTL_SECS", default_value_t = 120)]
    ceremony_ttl_secs: u64,
    /// Serve the web wallet page from this directory (`web/wallet`, after
    /// scripts/build-web) under `/wallet/`.
    #[arg(long, env = "TSSW_WEB_DIR", requires_all = ["web_origin", "public_url"])]
    web_dir: Option<PathBuf>,
    /// This server's public base URL, which the wallet page calls the API at.
    #[arg(long, env = "TSSW_PUBLIC_URL")]
    public_url: Option<String>,
    /// Origins allowed to embed the wallet page (the dApps), repeat or comma-separate.
    #[arg(long = "web-origin", env = "TSSW_WEB_ORIGINS", value_delimiter = ',')]
    web_origin: Vec<String>,
    /// The encryption proxy the wallet page backs up through (its `--cors-origin` must
    /// name this server's origin).
    #[arg(long, env = "TSSW_WEB_EPS_URL")]
    web_eps_url: Option<String>,
    /// Enclave measurements the wallet page trusts (hex: 96 digits for a Nitro PCR0, 64
    /// for a dev enclave), repeat or comma-separate.
    #[arg(long = "web-trust-measurement", env = "TSSW_WEB_TRUST_MEASUREMENTS", value_delimiter = ',')]
    web_trust_measurement: Vec<String>,
    /// The dev backend's attestation key the wallet page accepts (dev enclaves are not a
    /// hardware TEE).
    #[arg(long, env = "TSSW_WEB_TRUST_DEV_KEY")]
    web_trust_dev_key: Option<String>,
}

impl ServerArgs {
    /// The wallet page's routes, when `--web-dir` is given.
    fn web(&self) -> Result<Option<axum::Router>, String> {
        let (Some(dir), Some(public_url)) = (&self.web_dir, &self.public_url) else { return Ok(None) };
        let trust = tssw_client::TrustConfig {
            measurements: self.web_trust_measurement.clone(),
            dev_attestation_key: self.web_trust_dev_key.clone(),
        };
        trust.policy().map_err(|e| format!("--web-trust-measurement/--web-trust-dev-key: {e}"))?;
        let page = tssw_server::web::WalletPage {
            dir: dir.clone(),
            eps_url: self.web_eps_url.clone(),
            relay_urls: self.relay_url.clone(),
            allowed_origins: self.web_origin.clone(),
            trust: serde_json::to_value(&trust).map_err(|e| e.to_string())?,
        };
        tssw_server::web::router(&page, public_url).map(Some).map_err(|e| format!("--web-dir: {e}"))
    }

    /// The enclave, when one is configured.
    fn enclave(&self) -> Result<Option<EnclaveClient>, String> {
        #[cfg(feature = "nitro")]
        if let Some(address) = &self.enclave_vsock {
            let parse = |p: Option<&str>| p.and_then(|v| v.parse::<u32>().ok());
            let mut parts = address.split(':');
            let (Some(cid), Some(port), None) = (parse(parts.next()), parse(parts.next()), parts.next()) else {
                return Err(format!("--enclave-vsock {address}: expected CID:PORT"));
            };
            return Ok(Some(EnclaveClient::vsock(cid, port)));
        }
        Ok(self.enclave_socket.as_ref().map(EnclaveClient::new))
    }

    /// AWS Nitro: has KMS release the sealing root key to the attested enclave.
    #[cfg(feature = "nitro")]
    async fn unlock(&self, enclave: &EnclaveClient) -> Result<(), String> {
        use tssw_enclave::kms::{Credentials, KmsClient};
        let (Some(key_id), Some(region), Some(blob)) = (&self.kms_key_id, &self.kms_region, &self.kms_blob) else {
            return Ok(());
        };
        let credentials = Credentials::from_env().map_err(|e| format!("AWS credentials: {e}"))?;
        let kms = KmsClient::new(region, credentials).map_err(|e| format!("KMS client: {e}"))?;
        tssw_enclave::kms::unlock(enclave, &kms, key_id, blob)
            .await
            .map_err(|e| format!("KMS did not release the sealing key to the enclave: {e}"))?;
        tracing::info!("the enclave's sealing key was released by KMS");
        Ok(())
    }

    /// Without the `nitro` feature there is nothing to unlock.
    #[cfg(not(feature = "nitro"))]
    async fn unlock(&self, _enclave: &EnclaveClient) -> Result<(), String> {
        Ok(())
    }

    /// The ceremony machinery on `enclave`.
    fn ceremonies(&self, enclave: EnclaveClient) -> Result<Ceremonies, String> {
        let key_file = self.relay_key_file.as_ref().ok_or(
            "an enclave (--enclave-socket or --enclave-vsock) needs --relay-key-file (the relay-token signing key)",
        )?;
        let seed = tssw_keyfile::load_or_create(key_file).map_err(|e| format!("relay token key: {e}"))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        println!("relay token key (start relays with --issuer-key): {}", hex::encode(key.verifying_key().as_bytes()));
        let first = self.relay_url.first().ok_or("an enclave needs at least one --relay-url")?;
        let enclave_url = self.enclave_relay_url.clone().unwrap_or_else(|| first.clone());
        let limits = CeremonyLimits {
            per_account: self.max_ceremonies_per_account,
            ttl: std::time::Duration::from_secs(self.ceremony_ttl_secs),
        };
        Ok(Ceremonies::new(enclave, RelayIssuer::new(key, self.relay_url.clone(), enclave_url), limits))
    }
}

/// Flags of `tssw audit verify`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// The server's database (as for `tssw server`).
    #[arg(long, env = "TSSW_DATABASE_URL")]
    database_url: String,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs the API until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &ServerArgs) -> Result<(), String> {
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
        let auth = Authenticator::new(issuers.load().await?);
        issuers.keep_fresh(&auth);
        let store = Store::connect(&args.database_url)
            .await
            .map_err(|e| format!("cannot open the database at --database-url: {e}"))?;
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e} (is another server running?)", args.bind))?;
        let local = listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
        // The first stdout line is the URL (scripts and tests bind port 0).
        println!("server listening on http://{local}");
        if let Some(dev) = &issuers.dev {
            let token = dev.mint("dev", now(), 24 * 3_600).map_err(|e| format!("cannot mint a dev token: {e}"))?;
            println!("dev token (subject `dev`, 24 h; dev issuer, not for production): {token}");
        }
        let ceremonies = match args.enclave()? {
            Some(enclave) => {
                args.unlock(&enclave).await?;
                Some(Arc::new(args.ceremonies(enclave)?))
            }
            None => None,
        };
        if ceremonies.is_none() {
            tracing::warn!(
                "no --enclave-socket: this server runs no ceremonies (create, sign, refresh and reshare answer 503)"
            );
        }
        let mut app = tssw_server::router(Arc::new(AppState { store, auth, ceremonies }));
        if let Some(web) = args.web()? {
            app = app.merge(web);
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(crate::relay::shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}

/// Checks the audit chain; `Ok(count)` when intact.
pub(crate) fn verify_audit(args: &AuditArgs) -> Result<usize, String> {
    crate::runtime()?.block_on(async {
        let store = Store::connect(&args.database_url)
            .await
            .map_err(|e| format!("cannot open the database at --database-url: {e}"))?;
        match store.verify_audit().await.map_err(|e| format!("cannot read the audit log: {e}"))? {
            Ok(n) => Ok(n),
            Err(e) => Err(format!("the audit log's hash chain is broken: {e}")),
        }
    })
}
