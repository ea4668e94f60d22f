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
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = Command::new(tssw());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
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
