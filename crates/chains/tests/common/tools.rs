//! Local test nodes (anvil, litesvm via node) installed by scripts/install-test-tools.sh.
//! A missing tool fails the test: a skipped node test would hide a broken chain layer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const HINT: &str = "run scripts/install-test-tools.sh (or set TSSW_ANVIL / TSSW_NODE_MODULES)";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn node_modules() -> PathBuf {
    let dir = std::env::var_os("TSSW_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/test-tools/node_modules"));
    assert!(dir.join("litesvm").is_dir(), "litesvm not found in {}: {HINT}", dir.display());
    dir
}

pub fn anvil_path() -> PathBuf {
    let path = std::env::var_os("TSSW_ANVIL").map(PathBuf::from).unwrap_or_else(|| {
        workspace_root().join("target/test-tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    });
    assert!(path.is_file(), "anvil not found at {}: {HINT}", path.display());
    path
}

/// Kills the child on drop so a failing assertion does not leak a node.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Anvil {
    _child: ChildGuard,
    port: u16,
}

impl Anvil {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(anvil_path())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start anvil: {e}; {HINT}"));
        let anvil = Self { _child: ChildGuard(child), port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if anvil.try_rpc("eth_chainId", json!([])).is_ok() {
                return anvil;
            }
            assert!(Instant::now() < deadline, "anvil did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One JSON-RPC call over a plain HTTP/1.1 request; the result or the node's error.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
        let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return Err("chunked responses are not handled".into());
        }
        let reply: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
        match reply.get("error") {
            Some(err) => Err(err.to_string()),
            None => Ok(reply["result"].clone()),
        }
    }

    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }
}

/// The litesvm driver script: airdrops to the given payers, prints the blockhash, then runs
/// one base64 transaction per stdin line and prints the outcome and balances.
pub struct LiteSvm {
    child: ChildGuard,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub blockhash: [u8; 32],
}

impl LiteSvm {
    pub fn start(payers: &[String], airdrop_lamports: u64) -> Self {
        let modules = node_modules();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/litesvm_driver.cjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(airdrop_lamports.to_string())
            .args(payers)
            .env("TSSW_NODE_MODULES", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}; {HINT}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut svm = Self { child: ChildGuard(child), stdin, stdout, blockhash: [0; 32] };
        let hello = svm.read_line();
        let hash = hello["blockhash"].as_str().expect("blockhash");
        svm.blockhash = bs58::decode(hash).into_vec().unwrap().try_into().unwrap();
        svm
    }

    fn read_line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "litesvm driver exited early");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends one transaction; returns the driver's report (ok, err, balances of `watch`).
    pub fn send(&mut self, tx_base64: &str, watch: &[String]) -> Value {
        let request = json!({"tx": tx_base64, "watch": watch});
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let _ = &self.child;
        self.read_line()
    }
}
