//! `tssw dev`: the whole service side on loopback from one command — the enclave as a
//! child process (`tssw enclave`, dev backend: **not a hardware TEE**), the relay and the
//! wallet server in this process, SQLite in the data directory — plus a client
//! configuration file that points the other `tssw` commands at it.
//!
//! [`DevProcess`] runs it as a child process on free ports (`tssw demo`, `tssw bench`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tssw_enclave::EnclaveClient;
use tssw_enclave::backend::dev::{DevBackend, measure};
use tssw_server::{AppState, Authenticator, Ceremonies, CeremonyLimits, DevIssuer, RelayIssuer, Store};

use crate::config::{ClientConfig, TrustConfig};

/// Flags of `tssw dev`.
#[derive(Args, Debug)]
pub(crate) struct DevArgs {
    /// Where the stack keeps its state (database, enclave keys, relay-token key, dev
    /// issuer key, client configuration).
    #[arg(long, env = "TSSW_DEV_DATA_DIR", default_value = ".tssw-dev")]
    data_dir: PathBuf,
    /// The wallet server's address.
    #[arg(long, env = "TSSW_DEV_SERVER_BIND", default_value = "127.0.0.1:7800")]
    server_bind: SocketAddr,
    /// The relay's address.
    #[arg(long, env = "TSSW_DEV_RELAY_BIND", default_value = "127.0.0.1:7700")]
    relay_bind: SocketAddr,
    /// The encryption proxy's address (its own key and database, under `<data dir>/eps`).
    #[arg(long, env = "TSSW_DEV_EPS_BIND", default_value = "127.0.0.1:7900")]
    eps_bind: SocketAddr,
    /// The web wallet's files (`web`, after `scripts/build-web`): the wallet page is then
    /// served under `/wallet/` by the server, and the demo dApp on `--dapp-bind`.
    #[arg(long, env = "TSSW_DEV_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// The demo dApp's address (its own origin, which embeds the wallet page).
    #[arg(long, env = "TSSW_DEV_DAPP_BIND", default_value = "127.0.0.1:7801")]
    dapp_bind: SocketAddr,
    /// An EVM JSON-RPC URL (an anvil, say) the demo dApp's provider sends transactions to
    /// (`eth_sendTransaction`); without it the dApp only signs them.
    #[arg(long, env = "TSSW_DEV_DAPP_RPC_URL", requires = "web_dir")]
    dapp_rpc_url: Option<String>,
}

/// What `tssw dev` serves for the browser.
pub(crate) struct Web<'a> {
    /// The web wallet's files (`web`).
    pub(crate) dir: &'a Path,
    /// The demo dApp's EVM RPC URL.
    pub(crate) rpc_url: Option<&'a str>,
}

/// Where the stack listens.
pub(crate) struct Binds {
    pub(crate) server: SocketAddr,
    pub(crate) relay: SocketAddr,
    pub(crate) eps: SocketAddr,
    /// The demo dApp (only with a web directory).
    pub(crate) dapp: SocketAddr,
}

/// The running stack. Dropping it stops the server and relay and kills the enclave.
pub(crate) struct Stack {
    pub(crate) server_url: String,
    pub(crate) relay_url: String,
    pub(crate) eps_url: String,
    /// The web wallet page and the demo dApp, when served.
    pub(crate) web: Option<(String, String)>,
    pub(crate) config_path: PathBuf,
    enclave: Child,
    stops: Vec<oneshot::Sender<()>>,
}

impl Stack {
    /// Starts everything under `data_dir` and waits until the enclave answers.
    pub(crate) async fn start(data_dir: &Path, binds: &Binds, browser: Option<&Web<'_>>) -> Result<Stack, String> {
        tssw_keyfile::prepare_dir(data_dir).map_err(|e| format!("data dir: {e}"))?;
        let root = std::fs::canonicalize(data_dir).map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
        let file = |name: &str| root.join(name);
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;

        let socket = file("enclave.sock");
        let enclave_dir = file("enclave");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file("enclave.log"))
            .map_err(|e| format!("enclave log: {e}"))?;
        let mut enclave = Command::new(&exe)
            .arg("enclave")
            .arg("--exit-with-parent")
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(&enclave_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start the enclave: {e}"))?;
        let client = EnclaveClient::new(&socket);
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.health().await.is_err() {
            if let Ok(Some(status)) = enclave.try_wait() {
                return Err(format!("the enclave exited ({status}); see {}", file("enclave.log").display()));
            }
            if Instant::now() > deadline {
                let _ = enclave.kill();
                return Err(format!("the enclave did not answer in 30 s; see {}", file("enclave.log").display()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let trust = TrustConfig {
            measurements: vec![hex::encode(measure(&exe).map_err(|e| format!("measuring the enclave: {e}"))?)],
            dev_attestation_key: Some(hex::encode(
                DevBackend::read_attestation_public_key(&enclave_dir).map_err(|e| format!("enclave key: {e}"))?,
            )),
        };

        let mut stops = Vec::new();
        let seed = tssw_keyfile::load_or_create(&file("relay-token.key")).map_err(|e| e.to_string())?;
        let issuer = SigningKey::from_bytes(&seed);
        let relay =
            TcpListener::bind(binds.relay).await.map_err(|e| format!("cannot listen on {}: {e}", binds.relay))?;
        let relay_url = format!("ws://{}", relay.local_addr().map_err(|e| e.to_string())?);
        let mut relay_config = tssw_relay::Config::new(issuer.verifying_key());
        // Every party of every ceremony comes from 127.0.0.1 here, and one developer is one
        // account: the per-IP and per-account limits are for the internet edge.
        relay_config.ip_rate = tssw_relay::Rate { per_second: 10_000, burst: 10_000 };
        relay_config.account_rate = tssw_relay::Rate { per_second: 100_000, burst: 100_000 };
        relay_config.max_open_ceremonies_per_account = 100_000;
        stops.push(spawn_until(|stop| tssw_relay::run(relay, relay_config, stop)));

        let db = format!("sqlite://{}", file("server.db").display());
        let store = Store::connect(&db).await.map_err(|e| format!("database: {e}"))?;
        let dev_seed = tssw_keyfile::load_or_create(&file("dev-issuer.key")).map_err(|e| e.to_string())?;
        let dev = DevIssuer::from_seed(*dev_seed);
        let ceremonies = Ceremonies::new(
            client,
            RelayIssuer::new(issuer, vec![relay_url.clone()], relay_url.clone()),
            CeremonyLimits::default(),
        );
        let state = Arc::new(AppState {
            store,
            auth: Authenticator::new(vec![dev.config()]),
            ceremonies: Some(Arc::new(ceremonies)),
        });
        let server =
            TcpListener::bind(binds.server).await.map_err(|e| format!("cannot listen on {}: {e}", binds.server))?;
        let server_url = format!("http://{}", server.local_addr().map_err(|e| e.to_string())?);
        let eps_listener =
            TcpListener::bind(binds.eps).await.map_err(|e| format!("cannot listen on {}: {e}", binds.eps))?;
        let eps_url = format!("http://{}", eps_listener.local_addr().map_err(|e| e.to_string())?);
        let mut app = tssw_server::router(state);
        let mut web = None;
        if let Some(Web { dir: web_dir, rpc_url }) = browser {
            let dapp =
                TcpListener::bind(binds.dapp).await.map_err(|e| format!("cannot listen on {}: {e}", binds.dapp))?;
            let dapp_url = format!("http://{}", dapp.local_addr().map_err(|e| e.to_string())?);
            let page = tssw_server::web::WalletPage {
                dir: web_dir.join("wallet"),
                eps_url: Some(eps_url.clone()),
                relay_urls: vec![relay_url.clone()],
                allowed_origins: vec![dapp_url.clone()],
                trust: serde_json::to_value(&trust).map_err(|e| e.to_string())?,
            };
            app = app.merge(tssw_server::web::router(&page, &server_url)?);
            let wallet_url = format!("{server_url}/wallet/");
            let dapp_app =
                crate::dapp::router(web_dir, &wallet_url, *rpc_url, Arc::new(DevIssuer::from_seed(*dev_seed)));
            stops.push(spawn_until(|stop| async move {
                let _ = axum::serve(dapp, dapp_app).with_graceful_shutdown(stop).await;
            }));
            web = Some((wallet_url, dapp_url));
        }
        stops.push(spawn_until(|stop| async move {
            let _ = axum::serve(server, app).with_graceful_shutdown(stop).await;
        }));

        // The encryption proxy: its own data dir and database, verifying the same issuer's
        // tokens itself; the wallet page (the server's origin) may call it from a browser.
        let mut eps_config = tssw_backup::eps::Config::new(file("eps"), vec![dev.config()]);
        eps_config.account_rate = tssw_backup::eps::Rate { per_second: 1_000, burst: 1_000 };
        eps_config.ip_rate = tssw_backup::eps::Rate { per_second: 1_000, burst: 1_000 };
        eps_config.cors_origins = vec![server_url.clone()];
        tssw_keyfile::prepare_dir(&file("eps")).map_err(|e| format!("eps dir: {e}"))?;
        let eps =
            Arc::new(tssw_backup::eps::Eps::open(eps_config).await.map_err(|e| format!("encryption proxy: {e}"))?);
        stops.push(spawn_until(|stop| async move {
            if let Err(e) = tssw_backup::eps::serve(eps_listener, eps, stop).await {
                tracing::error!(error = %e, "the encryption proxy stopped");
            }
        }));

        let token = dev.mint("dev", now(), 30 * 24 * 3_600).map_err(|e| format!("dev token: {e}"))?;
        let config = ClientConfig {
            server_url: server_url.clone(),
            eps_url: Some(eps_url.clone()),
            token: Some(token),
            keystore: Some(file("device")),
            trust,
        };
        let config_path = file("client.toml");
        config.save(&config_path)?;
        Ok(Stack { server_url, relay_url, eps_url, web, config_path, enclave, stops })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        let _ = self.enclave.kill();
        let _ = self.enclave.wait();
    }
}

fn spawn_until<F, Fut>(f: F) -> oneshot::Sender<()>
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(f(Box::pin(async move {
        let _ = stopped.await;
    })));
    stop
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs the stack until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &DevArgs) -> Result<(), String> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_ansi(ansi).init();
    crate::runtime()?.block_on(async {
        let binds =
            Binds { server: args.server_bind, relay: args.relay_bind, eps: args.eps_bind, dapp: args.dapp_bind };
        let web = args.web_dir.as_deref().map(|dir| Web { dir, rpc_url: args.dapp_rpc_url.as_deref() });
        let stack = Stack::start(&args.data_dir, &binds, web.as_ref()).await?;
        println!("tssw dev: the whole stack on loopback (dev enclave — not a hardware TEE)");
        println!("  server         {}", stack.server_url);
        println!("  relay          {}", stack.relay_url);
        println!("  eps            {} (encryption proxy for backups)", stack.eps_url);
        println!(
            "  enclave        {} (dev backend — not a hardware TEE)",
            args.data_dir.join("enclave.sock").display()
        );
        match &stack.web {
            Some((wallet, dapp)) => {
                println!("  web wallet     {wallet} (the iframe page)");
                println!("  demo dApp      {dapp}");
            }
            None => println!("  web wallet     not served (scripts/build-web, then --web-dir web)"),
        }
        println!("  client config  {}", stack.config_path.display());
        println!("  dev login      export TSSW_CONFIG={}", stack.config_path.display());
        println!("Ctrl-C stops it; the data directory keeps wallets and keys for the next start.");
        crate::relay::shutdown_signal().await;
        drop(stack);
        Ok(())
    })
}

/// `tssw dev` as a child process on free ports in a temporary directory.
pub(crate) struct DevProcess {
    child: std::process::Child,
    /// Its client configuration file.
    pub(crate) config: PathBuf,
    /// The demo dApp's URL, when it serves the web wallet.
    pub(crate) dapp_url: Option<String>,
}

impl DevProcess {
    /// The `tssw dev` process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Starts it (serving the web wallet from `web_dir` when given) and waits until it
    /// printed its client configuration.
    pub(crate) fn start(dir: &std::path::Path, web_dir: Option<&Path>) -> Result<DevProcess, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(exe);
        command
            .args(["dev", "--server-bind", "127.0.0.1:0", "--relay-bind", "127.0.0.1:0", "--eps-bind", "127.0.0.1:0"])
            .args(["--dapp-bind", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir);
        if let Some(web_dir) = web_dir {
            command.arg("--web-dir").arg(web_dir);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start tssw dev: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout from tssw dev")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut config, mut dapp_url) = (None, None);
        for line in lines.by_ref() {
            let line = line.map_err(|e| e.to_string())?;
            if let Some(url) = line.trim().strip_prefix("demo dApp") {
                dapp_url = Some(url.trim().to_string());
            }
            if let Some(path) = line.trim().strip_prefix("client config") {
                config = Some(PathBuf::from(path.trim()));
                break;
            }
        }
        let config = config.ok_or("tssw dev exited before it was ready")?;
        // Keep reading: a closed pipe would make its next line of output fail.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(DevProcess { child, config, dapp_url })
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        // SIGTERM, so `tssw dev` stops its enclave too; SIGKILL if it does not exit.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        for _ in 0..250 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
