//! Issue 4's crash matrix: `kill -9` of the enclave, the server, the relay or the client at
//! every named fault point of a refresh and of a reshare (2-of-2 → 2-of-3): the service's
//! points in each ceremony of both (the refresh or reshare itself, then each confirmation),
//! the relay's at its first frame and mid-stream, the client's between its steps.
//!
//! Every case runs against a split deployment — `tssw enclave`, `tssw relay`, `tssw server`
//! on SQLite, each its own process — with the real `tssw` client command as the device:
//! a fresh wallet; `TSSW_FAULT=<point>@<n>` on exactly the process under test; `tssw
//! refresh` or `tssw upgrade --to 2of3`; that process must die by SIGKILL at the point; it is
//! restarted without the fault on the same socket, port, data dir and database; `tssw wallet
//! reconcile`; then, checked on each side by reading its own storage:
//!
//! - the server (API view and its database rows) has exactly one active epoch, the one the
//!   case must end in, and no pending one;
//! - the device keystore's directory holds exactly that epoch, active, and nothing pending;
//! - the wallet's key is unchanged and it signs: `tssw sign message`, the signature checked by
//!   ed25519-dalek `verify_strict` over the Solana off-chain message encoded here by hand, or
//!   for ECDSA by libsecp256k1 recovery of the EIP-191 signer (`tssw_verify::artifacts`).
//!
//! Whether a case ends in the old epoch or the new one, and what reconcile reports, follows
//! from where the point is: the table says so for each and the test asserts it. The cases run
//! on four deployments at once (a shared queue), so one case waiting out a relay stall does
//! not hold the others up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Deployment, FAULT_VAR, Service};
use serde_json::Value;

/// Every fault point of refresh and reshare, by process (`grep tssw_fault::point crates/`).
const POINTS: &[&str] = &[
    "client.refresh.ran",
    "client.refresh.persisted",
    "client.refresh.confirmed",
    "client.refresh.promoted",
    "client.reshare.ran",
    "client.reshare.persisted",
    "client.reshare.device_confirmed",
    "client.reshare.committed",
    "server.ceremony.begun",
    "server.ceremony.started",
    "server.ceremony.enclave_answered",
    "server.ceremony.result_stored",
    "enclave.run.started",
    "enclave.run.finished",
    "relay.frame.stored",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `tssw refresh`: the refresh ceremony (server and enclave points @1), then the
    /// device's confirmation (@2).
    Refresh,
    /// `tssw upgrade --to 2of3`: the reshare ceremony (@1), the device's confirmation (@2),
    /// the cloud share's (@3).
    Reshare,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Ed25519,
    Ecdsa,
}

/// One crash.
#[derive(Debug)]
struct Case {
    /// The fault point.
    point: &'static str,
    /// Die the n-th time the process reaches it.
    at: u32,
    op: Op,
    scheme: Scheme,
    /// Whether the new epoch is the active one afterwards (else the old one stays).
    advances: bool,
    /// What `tssw wallet reconcile` must report (the `Reconciled` variant).
    reconciled: &'static str,
}

const fn case(point: &'static str, at: u32, op: Op, advances: bool, reconciled: &'static str) -> Case {
    Case { point, at, op, scheme: Scheme::Ed25519, advances, reconciled }
}

use Op::{Refresh, Reshare};

/// The matrix. "Old": the ceremony or its outcome was lost before the device stored the new
/// share, so the server's pending epoch (if any) is aborted; "new": the new share was stored
/// and either the server had committed (promote) or reconcile confirms it now. A reshare
/// whose cloud share had not confirmed cannot be finished by anyone (the cloud identity
/// lived only in the interrupted process), so reconcile abandons it on both sides.
const CASES: &[Case] = &[
    // The client (`tssw refresh` / `tssw upgrade` itself).
    case("client.refresh.ran", 1, Refresh, false, "AbortedServer"),
    case("client.refresh.persisted", 1, Refresh, true, "Confirmed"),
    case("client.refresh.confirmed", 1, Refresh, true, "Promoted"),
    case("client.refresh.promoted", 1, Refresh, true, "InStep"),
    case("client.reshare.ran", 1, Reshare, false, "AbortedServer"),
    case("client.reshare.persisted", 1, Reshare, false, "Abandoned"),
    case("client.reshare.device_confirmed", 1, Reshare, false, "Abandoned"),
    case("client.reshare.committed", 1, Reshare, true, "Promoted"),
    // The server, in the refresh ceremony and in the confirmation.
    case("server.ceremony.begun", 1, Refresh, false, "InStep"),
    case("server.ceremony.started", 1, Refresh, false, "InStep"),
    case("server.ceremony.enclave_answered", 1, Refresh, false, "InStep"),
    case("server.ceremony.result_stored", 1, Refresh, false, "AbortedServer"),
    case("server.ceremony.begun", 2, Refresh, true, "Confirmed"),
    case("server.ceremony.started", 2, Refresh, true, "Confirmed"),
    case("server.ceremony.enclave_answered", 2, Refresh, true, "Confirmed"),
    case("server.ceremony.result_stored", 2, Refresh, true, "Promoted"),
    // The server, in the reshare ceremony, the device's confirmation and the cloud's.
    case("server.ceremony.begun", 1, Reshare, false, "InStep"),
    case("server.ceremony.started", 1, Reshare, false, "InStep"),
    case("server.ceremony.enclave_answered", 1, Reshare, false, "InStep"),
    case("server.ceremony.result_stored", 1, Reshare, false, "AbortedServer"),
    case("server.ceremony.begun", 2, Reshare, false, "Abandoned"),
    case("server.ceremony.started", 2, Reshare, false, "Abandoned"),
    case("server.ceremony.enclave_answered", 2, Reshare, false, "Abandoned"),
    case("server.ceremony.result_stored", 2, Reshare, false, "Abandoned"),
    case("server.ceremony.begun", 3, Reshare, false, "Abandoned"),
    case("server.ceremony.started", 3, Reshare, false, "Abandoned"),
    case("server.ceremony.enclave_answered", 3, Reshare, false, "Abandoned"),
    case("server.ceremony.result_stored", 3, Reshare, true, "Promoted"),
    // The enclave, likewise.
    case("enclave.run.started", 1, Refresh, false, "InStep"),
    case("enclave.run.finished", 1, Refresh, false, "InStep"),
    case("enclave.run.started", 2, Refresh, true, "Confirmed"),
    case("enclave.run.finished", 2, Refresh, true, "Confirmed"),
    case("enclave.run.started", 1, Reshare, false, "InStep"),
    case("enclave.run.finished", 1, Reshare, false, "InStep"),
    case("enclave.run.started", 2, Reshare, false, "Abandoned"),
    case("enclave.run.finished", 2, Reshare, false, "Abandoned"),
    case("enclave.run.started", 3, Reshare, false, "Abandoned"),
    case("enclave.run.finished", 3, Reshare, false, "Abandoned"),
    // The relay, at its first stored frame and mid-stream. An Ed25519 refresh is 6 frames
    // and its confirmation 4; a reshare to 2-of-3 is 14, then 4 for each confirmation.
    case("relay.frame.stored", 1, Refresh, false, "InStep"),
    case("relay.frame.stored", 4, Refresh, false, "InStep"),
    case("relay.frame.stored", 8, Refresh, true, "Confirmed"),
    case("relay.frame.stored", 1, Reshare, false, "InStep"),
    case("relay.frame.stored", 9, Reshare, false, "InStep"),
    case("relay.frame.stored", 17, Reshare, false, "Abandoned"),
    case("relay.frame.stored", 21, Reshare, false, "Abandoned"),
    // The same two-phase rules on the other protocol family (DKLs23), refresh and reshare.
    Case {
        point: "client.refresh.persisted",
        at: 1,
        op: Refresh,
        scheme: Scheme::Ecdsa,
        advances: true,
        reconciled: "Confirmed",
    },
    Case {
        point: "server.ceremony.result_stored",
        at: 3,
        op: Reshare,
        scheme: Scheme::Ecdsa,
        advances: true,
        reconciled: "Promoted",
    },
];

/// Deployments running cases at once.
const WORKERS: usize = 4;

const PASSPHRASE: &str = "crash matrix keystore passphrase";

/// One deployment with one device (a keystore and its `client.toml`).
struct Worker {
    d: Deployment,
    config: PathBuf,
    keystore: PathBuf,
    cloud: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Worker {
    fn new(n: usize) -> Worker {
        let d = Deployment::start(&format!("crash-{n}"), None);
        let keystore = d.dir.path("keystore");
        let config = d.dir.path("client.toml");
        std::fs::write(&config, d.client_config(&d.idp.token("crash-matrix"), &keystore)).unwrap();
        let cloud = d.dir.path("cloud");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Worker { d, config, keystore, cloud, rt }
    }

    /// Runs `tssw args…` as the device, with `TSSW_FAULT=fault` if given.
    fn tssw(&self, args: &[&str], fault: Option<&str>, stdin: &str) -> Output {
        let mut cmd = Command::new(&self.d.bin);
        cmd.args(args)
            .env("TSSW_CONFIG", &self.config)
            .env("TSSW_PASSPHRASE", PASSPHRASE)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in ["TSSW_SERVER_URL", "TSSW_EPS_URL", "TSSW_TOKEN", "TSSW_KEYSTORE", "TSSW_RECOVERY_CODE", FAULT_VAR] {
            cmd.env_remove(var);
        }
        if let Some(f) = fault {
            cmd.env(FAULT_VAR, f);
        }
        let mut child = common::spawn(&mut cmd);
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// `tssw args… --json`, which must succeed; its JSON.
    fn json(&self, args: &[&str], stdin: &str) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.tssw(&all, None, stdin);
        assert!(out.status.success(), "tssw {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("tssw {args:?}: not JSON ({e})"))
    }

    /// Runs one case; returns how long it took.
    fn run(&mut self, case: &Case) -> Duration {
        let started = Instant::now();
        let what = format!("{}@{} during {:?} ({:?})", case.point, case.at, case.op, case.scheme);
        let scheme = match case.scheme {
            Scheme::Ed25519 => "ed25519",
            Scheme::Ecdsa => "ecdsa",
        };
        let created = self.json(&["wallet", "create", "--scheme", scheme, "--no-backup"], "");
        let id = created["wallet"]["id"].as_str().unwrap().to_string();
        let public_key = created["wallet"]["public_key"].as_str().unwrap().to_string();
        assert_eq!(created["wallet"]["epoch"], 1, "{what}");

        let fault = format!("{}@{}", case.point, case.at);
        let target = match case.point.split('.').next().unwrap() {
            "client" => None,
            "server" => Some(Service::Server),
            "enclave" => Some(Service::Enclave),
            "relay" => Some(Service::Relay),
            other => panic!("no process {other}"),
        };
        if let Some(service) = target {
            self.d.start_service(service, Some(&fault));
        }
        let cloud = self.cloud.display().to_string();
        let args: Vec<&str> = match case.op {
            Refresh => vec!["refresh", "--wallet", &id, "--json"],
            Reshare => vec!["upgrade", "--wallet", &id, "--to", "2of3", "--cloud-dir", &cloud, "--json"],
        };
        let out = self.tssw(&args, target.is_none().then_some(fault.as_str()), "");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match target {
            None => assert_eq!(out.status.signal(), Some(9), "{what}: the client was not killed: {stderr}"),
            Some(service) => {
                let proc = self.d.proc(service).as_mut().unwrap();
                let status = proc.wait_exit(Duration::from_secs(120));
                assert_eq!(
                    status.and_then(|s| s.signal()),
                    Some(9),
                    "{what}: {} did not die at the point ({status:?}); client said: {stderr}\nlog:\n{}",
                    proc.name,
                    proc.log_text()
                );
                assert!(!out.status.success(), "{what}: the command succeeded although the {service:?} died");
                self.d.start_service(service, None);
            }
        }

        // Reconcile, a bounded number of times while the services settle.
        let mut reconciled = None;
        let mut failures = Vec::new();
        for _ in 0..5 {
            let out = self.tssw(&["wallet", "reconcile", "--wallet", &id, "--json"], None, "");
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                reconciled = Some(v["outcome"].as_str().unwrap().to_string());
                break;
            }
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            std::thread::sleep(Duration::from_millis(500));
        }
        let reconciled = reconciled.unwrap_or_else(|| panic!("{what}: reconcile kept failing: {failures:#?}"));
        let old = 1u64;
        let new = 2u64;
        let expected = if case.advances { new } else { old };
        let variant = reconciled.split('(').next().unwrap();
        assert_eq!(variant, case.reconciled, "{what}: reconcile said {reconciled}");
        if variant != "InStep" {
            assert_eq!(reconciled, format!("{variant}({new})"), "{what}");
        }

        // The server's view through the API, and the device's epochs, as `tssw wallet list` shows them.
        let listed = self.json(&["wallet", "list"], "");
        let row = listed["wallets"].as_array().unwrap().iter().find(|r| r["wallet"] == id.as_str()).unwrap().clone();
        let parties = if case.op == Reshare && case.advances { 3 } else { 2 };
        assert_eq!(row["server"]["status"], "active", "{what}: {row}");
        assert_eq!(row["server"]["epoch"], expected, "{what}: {row}");
        assert_eq!(row["server"].get("pending_epoch"), None, "{what}: a pending epoch is left: {row}");
        assert_eq!(row["server"]["parties"], parties, "{what}: {row}");
        assert_eq!(row["server"]["public_key"], public_key.as_str(), "{what}: the key changed");
        assert_eq!(row["device_epoch"], expected, "{what}: {row}");
        assert_eq!(row["device_pending"], Value::Null, "{what}: {row}");

        // The server's own storage.
        let rows = self.rt.block_on(server_epochs(&self.d.database, &id));
        assert_eq!(rows.shares, vec![(expected as i64, "active".to_string())], "{what}: server shares");
        assert_eq!(rows.wallet_epoch, expected as i64, "{what}");
        assert_eq!(rows.members, parties, "{what}: members of the active epoch");
        // The device's own storage: exactly one share file, the active epoch's.
        assert_eq!(keystore_shares(&self.keystore, &id), vec![format!("{expected}.active")], "{what}: keystore");
        if case.op == Reshare && case.advances {
            assert!(self.cloud.join(format!("tssw-{id}-cloud-share")).exists(), "{what}: no cloud share was kept");
        }

        // It signs, with the same key, checked by an independent verifier.
        let message = format!("crash matrix: {what}");
        let signed = self.json(&["sign", "message", "--wallet", &id], &message);
        let artifact = &signed["artifact"];
        match case.scheme {
            Scheme::Ed25519 => {
                assert_eq!(artifact["kind"], "solana_signature", "{what}");
                let signature = base58_decode(artifact["signature"].as_str().unwrap());
                let key: [u8; 32] = hex::decode(&public_key).unwrap().try_into().unwrap();
                ed25519_dalek::VerifyingKey::from_bytes(&key)
                    .unwrap()
                    .verify_strict(
                        &offchain_message(message.as_bytes()),
                        &ed25519_dalek::Signature::from_bytes(&signature.try_into().unwrap()),
                    )
                    .unwrap_or_else(|e| panic!("{what}: the signature does not verify: {e}"));
            }
            Scheme::Ecdsa => {
                assert_eq!(artifact["kind"], "evm_signature", "{what}");
                let signature = hex::decode(artifact["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
                let signer = tssw_verify::artifacts::personal_sign_signer(message.as_bytes(), &signature).unwrap();
                let address = created["wallet"]["addresses"]["evm"].as_str().unwrap();
                assert_eq!(signer.to_lowercase(), address.to_lowercase(), "{what}: signed by another key");
            }
        }
        started.elapsed()
    }
}

/// The server's records of one wallet, read from its database.
struct ServerRows {
    /// (epoch, state) of every stored enclave share.
    shares: Vec<(i64, String)>,
    wallet_epoch: i64,
    /// Holders of the wallet's active epoch.
    members: i64,
}

async fn server_epochs(database: &str, wallet: &str) -> ServerRows {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(database).await.unwrap();
    let shares = sqlx::query("SELECT epoch, state FROM server_shares WHERE wallet_id = $1 ORDER BY epoch")
        .bind(wallet)
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<i64, _>("epoch"), r.get::<String, _>("state")))
        .collect();
    let wallet_epoch: i64 =
        sqlx::query("SELECT epoch FROM wallets WHERE id = $1").bind(wallet).fetch_one(&mut db).await.unwrap().get(0);
    let members: i64 = sqlx::query("SELECT COUNT(*) AS n FROM members WHERE wallet_id = $1 AND epoch = $2")
        .bind(wallet)
        .bind(wallet_epoch)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    db.close().await.unwrap();
    ServerRows { shares, wallet_epoch, members }
}

/// The share files of a wallet in the keystore directory (`<epoch>.active`, `<epoch>.pending`).
fn keystore_shares(keystore: &Path, wallet: &str) -> Vec<String> {
    let dir = keystore.join("wallets").join(hex::encode(wallet));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".active") || n.ends_with(".pending"))
        .collect();
    names.sort();
    names
}

/// A Solana off-chain message as signed, by hand from the format: signing domain, version 0,
/// format 0 (restricted ASCII), length (u16 LE), text.
fn offchain_message(text: &[u8]) -> Vec<u8> {
    assert!(text.iter().all(|b| (0x20..0x7f).contains(b)) && text.len() <= 1212);
    let mut out = b"\xffsolana offchain".to_vec();
    out.extend([0, 0]);
    out.extend(u16::try_from(text.len()).unwrap().to_le_bytes());
    out.extend(text);
    out
}

/// Base58 (Bitcoin alphabet) to bytes.
fn base58_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut bytes: Vec<u8> = Vec::new(); // little-endian big number
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == c).unwrap_or_else(|| panic!("not base58: {text}")) as u32;
        for b in &mut bytes {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&c| c == b'1').count();
    bytes.extend(std::iter::repeat_n(0, zeros));
    bytes.reverse();
    bytes
}

#[test]
fn base58_decodes_known_vectors() {
    assert_eq!(base58_decode("StV1DL6CwTryKyV"), b"hello world");
    assert_eq!(base58_decode("1112"), vec![0, 0, 0, 1]);
}

#[test]
fn every_fault_point_of_refresh_and_reshare_leaves_one_active_epoch_and_a_wallet_that_signs() {
    let started = Instant::now();
    // The `enclave.run.started` cases wait out the device's 30 s relay stall (the enclave
    // died before sending anything): they go first, so that they spread over the workers.
    let mut queue: Vec<&Case> = CASES.iter().collect();
    queue.sort_by_key(|c| c.point != "enclave.run.started");
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(&'static Case, Duration)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|n| {
                let (next, done, queue) = (&next, &done, &queue);
                s.spawn(move || {
                    let mut worker = Worker::new(n);
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&case) = queue.get(i) else { break };
                        let took = worker.run(case);
                        eprintln!("case {case:?}: ok in {took:.1?}");
                        done.lock().unwrap().push((case, took));
                    }
                })
            })
            .collect();
        for w in workers {
            if let Err(e) = w.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    let done = done.into_inner().unwrap();
    assert_eq!(done.len(), CASES.len());
    let exercised: BTreeSet<&str> = done.iter().map(|(c, _)| c.point).collect();
    let listed: BTreeSet<&str> = POINTS.iter().copied().collect();
    assert_eq!(exercised, listed, "the cases must exercise every listed fault point");
    // Server, enclave and relay points are each exercised during a refresh and a reshare.
    for point in POINTS.iter().filter(|p| !p.starts_with("client.")) {
        for op in [Refresh, Reshare] {
            assert!(done.iter().any(|(c, _)| c.point == *point && c.op == op), "{point} not exercised in {op:?}");
        }
    }
    eprintln!("fault points exercised: {} (cases: {}) in {:.1?}", exercised.len(), done.len(), started.elapsed());
    assert_eq!(exercised.len(), POINTS.len());
}
