//! Shared by the CLI's process-level tests: `tssw` subcommands as real child processes,
//! each with its log in a temp dir, killed (SIGKILL) when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let mut b = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        let dir = std::env::temp_dir().join(format!("tssw-cli-{label}-{}", hex::encode(b)));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tssw() -> PathBuf {
    assert_cmd::cargo::cargo_bin("tssw")
}

/// A `tssw` child process. Its stdout lines arrive on a channel; stderr goes to a log file.
pub struct Proc {
    pub name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Proc {
    /// Starts `tssw args…` with `env`, logging stderr to `dir/<name>.log`.
    pub fn start(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::start_bin(&tssw(), dir, name, args, env)
    }

    /// `tssw dev` on free ports with its data in `data`, plus `extra` flags.
    pub fn start_dev(dir: &Path, data: &Path, extra: &[&str]) -> Proc {
        let mut args = vec!["dev", "--data-dir", data.to_str().unwrap()];
        for service in ["--server-bind", "--relay-bind", "--eps-bind", "--dapp-bind"] {
            args.extend([service, "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        Proc::start(dir, "dev", &args, &[])
    }

    /// The rest of the first stdout line that starts with `prefix` (within 60 s).
    pub fn wait_line(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.starts_with(prefix) => return line[prefix.len()..].trim().to_string(),
                Ok(_) => {}
                Err(_) => panic!("{} printed no line starting with {prefix:?}; log:\n{}", self.name, self.log_text()),
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash would; waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own (e.g. at an armed fault point).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until the enclave's socket answers a health request.
pub async fn wait_enclave(socket: &Path) {
    let client = tssw_enclave::EnclaveClient::new(socket);
    for _ in 0..1_500 {
        if client.health().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the enclave at {} never answered", socket.display());
}

/// A JWT issuer for the servers under test, as a real identity provider would be
/// configured: a JWKS file, its issuer name, and tokens it mints.
pub struct Idp {
    pub issuer: tssw_auth::DevIssuer,
    pub jwks: PathBuf,
}

impl Idp {
    pub fn new(dir: &Path) -> Idp {
        let issuer = tssw_auth::DevIssuer::random();
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, serde_json::to_vec(&issuer.config().keys).unwrap()).unwrap();
        Idp { issuer, jwks }
    }

    pub fn token(&self, subject: &str) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        self.issuer.mint(subject, now, 3_600).unwrap()
    }
}

/// The dev enclave's trust policy, read as a client configured for dev would.
pub fn dev_trust(enclave_data: &Path) -> tssw_client::TrustPolicy {
    let key = tssw_enclave::backend::dev::DevBackend::read_attestation_public_key(enclave_data).unwrap();
    let measurement = tssw_enclave::backend::dev::measure(&tssw()).unwrap();
    tssw_client::TrustPolicy::dev(key, vec![measurement])
}

/// The variable that arms a `tssw-fault` point in a process (`name` or `name@n`).
pub const FAULT_VAR: &str = "TSSW_FAULT";

impl Proc {
    /// [`Proc::start`] with another `tssw` binary (a private copy, say).
    pub fn start_bin(bin: &Path, dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).env("RUST_LOG", "info");
        cmd.env_remove(FAULT_VAR);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = spawn(&mut cmd);
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { name: name.into(), child, lines, log }
    }

    /// Whether the process has exited (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Spawns `cmd`. A binary copied while another thread forks can be briefly held open for
/// writing by that thread's child (until it execs): `ETXTBSY`, retried a bounded number of times.
pub fn spawn(cmd: &mut Command) -> Child {
    const ETXTBSY: i32 = 26;
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

/// [`wait_enclave`] from synchronous code (and from inside a runtime): on a thread of its own.
pub fn wait_enclave_blocking(socket: &Path) {
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(wait_enclave(&socket))
    })
    .join()
    .unwrap();
}

/// A split deployment — `tssw enclave`, `tssw relay` and `tssw server` as three processes —
/// each of which can be killed alone and restarted on the same socket, port, data dir and
/// database. The processes run a private copy of the `tssw` binary, so a rebuild of the
/// shared target directory mid-test changes neither their code nor the dev measurement.
pub struct Deployment {
    pub dir: TempDir,
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub enclave_data: PathBuf,
    pub database: String,
    pub idp: Idp,
    key_file: PathBuf,
    issuer_key: String,
    relay_bind: Option<String>,
    server_bind: Option<String>,
    pub relay_url: String,
    pub server_url: String,
    pub enclave: Option<Proc>,
    pub relay: Option<Proc>,
    pub server: Option<Proc>,
}

/// The process names of a [`Deployment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Enclave,
    Relay,
    Server,
}

impl Deployment {
    /// Starts all three; `database` defaults to SQLite in the temp dir.
    pub fn start(label: &str, database: Option<String>) -> Deployment {
        let dir = TempDir::new(label);
        let bin = dir.path("tssw");
        std::fs::copy(tssw(), &bin).unwrap();
        let key_file = dir.path("relay-token.key");
        let seed = tssw_keyfile::load_or_create(&key_file).unwrap();
        let issuer_key = hex::encode(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().as_bytes());
        let mut d = Deployment {
            socket: dir.path("enclave.sock"),
            enclave_data: dir.path("enclave"),
            database: database.unwrap_or_else(|| format!("sqlite://{}", dir.path("tssw.db").display())),
            idp: Idp::new(&dir.0),
            key_file,
            issuer_key,
            relay_bind: None,
            server_bind: None,
            relay_url: String::new(),
            server_url: String::new(),
            enclave: None,
            relay: None,
            server: None,
            bin,
            dir,
        };
        d.start_service(Service::Enclave, None);
        d.start_service(Service::Relay, None);
        d.start_service(Service::Server, None);
        d
    }

    /// The running process of `service`.
    pub fn proc(&mut self, service: Service) -> &mut Option<Proc> {
        match service {
            Service::Enclave => &mut self.enclave,
            Service::Relay => &mut self.relay,
            Service::Server => &mut self.server,
        }
    }

    /// (Re)starts `service`, with `TSSW_FAULT=fault` if given, and waits until it serves.
    /// A running instance is killed first (SIGKILL). The relay and the server keep the
    /// port they were first given.
    pub fn start_service(&mut self, service: Service, fault: Option<&str>) {
        if let Some(mut old) = self.proc(service).take() {
            old.kill9();
        }
        let s = |p: &Path| p.display().to_string();
        let env: Vec<(&str, &str)> = fault.map(|f| (FAULT_VAR, f)).into_iter().collect();
        let started = match service {
            Service::Enclave => {
                let args = ["enclave", "--socket", &s(&self.socket), "--data-dir", &s(&self.enclave_data)];
                let p = Proc::start_bin(&self.bin, &self.dir.0, "enclave", &args, &env);
                wait_enclave_blocking(&self.socket);
                p
            }
            Service::Relay => {
                let bind = self.relay_bind.clone().unwrap_or_else(|| "127.0.0.1:0".into());
                let args = [
                    "relay",
                    "--bind",
                    &bind,
                    "--issuer-key",
                    &self.issuer_key,
                    "--max-open-ceremonies",
                    "10000",
                    "--ip-rate",
                    "10000",
                    "--ip-burst",
                    "10000",
                ];
                let mut p = Proc::start_bin(&self.bin, &self.dir.0, "relay", &args, &env);
                let url = p.wait_line("relay listening on ");
                self.relay_bind = Some(url.trim_start_matches("ws://").to_string());
                self.relay_url = url;
                p
            }
            Service::Server => {
                let bind = self.server_bind.clone().unwrap_or_else(|| "127.0.0.1:0".into());
                let args = [
                    "server",
                    "--bind",
                    &bind,
                    "--database-url",
                    &self.database,
                    "--issuer",
                    tssw_auth::DEV_ISSUER,
                    "--jwks-file",
                    &s(&self.idp.jwks),
                    "--enclave-socket",
                    &s(&self.socket),
                    "--relay-url",
                    &self.relay_url,
                    "--relay-key-file",
                    &s(&self.key_file),
                    "--max-ceremonies-per-account",
                    "10000",
                ];
                let mut p = Proc::start_bin(&self.bin, &self.dir.0, "server", &args, &env);
                let url = p.wait_line("server listening on ");
                self.server_bind = Some(url.trim_start_matches("http://").to_string());
                self.server_url = url;
                p
            }
        };
        *self.proc(service) = Some(started);
    }

    /// The dev enclave's trust policy for clients of this deployment.
    pub fn trust(&self) -> tssw_client::TrustPolicy {
        let key = tssw_enclave::backend::dev::DevBackend::read_attestation_public_key(&self.enclave_data).unwrap();
        let measurement = tssw_enclave::backend::dev::measure(&self.bin).unwrap();
        tssw_client::TrustPolicy::dev(key, vec![measurement])
    }

    /// A `client.toml` for the `tssw` client commands: this server, `token`, `keystore`,
    /// and trust in this deployment's dev enclave.
    pub fn client_config(&self, token: &str, keystore: &Path) -> String {
        let key = tssw_enclave::backend::dev::DevBackend::read_attestation_public_key(&self.enclave_data).unwrap();
        let measurement = tssw_enclave::backend::dev::measure(&self.bin).unwrap();
        format!(
            "server_url = {:?}\ntoken = {token:?}\nkeystore = {:?}\n\n[trust]\nmeasurements = [{:?}]\n\
             dev_attestation_key = {:?}\n",
            self.server_url,
            keystore.display().to_string(),
            hex::encode(measurement),
            hex::encode(key)
        )
    }
}
