//! The CLI as a user drives it: `tssw dev` in the background, then `tssw wallet create`,
//! `address`, `sign`, `refresh`, `wallet list`, `recover` on a second device, `upgrade --to
//! 2of3` and a signature from a third device with only the cloud share — each artifact
//! checked by an independent verifier — and bad input (malformed JSON, the wrong scheme for
//! a chain, an unknown wallet, a wrong passphrase) failing with a clear error, a non-zero
//! exit and nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Proc, TempDir};
use serde_json::Value;

const PASSPHRASE: &str = "cli test keystore passphrase";

struct Dev {
    dir: TempDir,
    config: PathBuf,
    _stack: Proc,
}

fn start_dev() -> Dev {
    let dir = TempDir::new("cli");
    let data = dir.path("service");
    let mut stack = Proc::start_dev(&dir.0, &data, &[]);
    let config = PathBuf::from(stack.wait_line("  client config"));
    Dev { dir, config, _stack: stack }
}

impl Dev {
    /// `tssw args…` as the device whose keystore is `device`, with `stdin`.
    fn run(&self, device: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, Value, String) {
        let mut cmd = Command::cargo_bin("tssw").unwrap();
        cmd.args(args)
            .env("TSSW_CONFIG", &self.config)
            .env("TSSW_KEYSTORE", self.dir.path(device))
            .env("TSSW_PASSPHRASE", PASSPHRASE)
            .env_remove("TSSW_PASSCODE")
            .env_remove("TSSW_RECOVERY_CODE")
            .write_stdin(stdin);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), json, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A command that must succeed; its JSON output.
    fn ok(&self, device: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Value {
        let (ok, json, stderr) = self.run(device, args, stdin, env);
        assert!(ok, "tssw {args:?} failed: {stderr}");
        json
    }

    /// A command that must fail: its stderr, after checking that the device's keystore is
    /// byte-for-byte what it was.
    fn refused(&self, device: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> String {
        let before = snapshot(&self.dir.path(device));
        let (ok, _, stderr) = self.run(device, args, stdin, env);
        assert!(!ok, "tssw {args:?} succeeded but should not have");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("tssw "), "no command-named error: {stderr}");
        assert_eq!(snapshot(&self.dir.path(device)), before, "tssw {args:?} changed the keystore");
        stderr
    }
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn tx_json(from: &str) -> String {
    format!(
        r#"{{"from":"{from}","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0x1","nonce":"0x0","chainId":"0x1"}}"#
    )
}

fn raw_signer(artifact: &Value) -> String {
    let raw = hex::decode(artifact["raw_transaction"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    tssw_verify::artifacts::evm_transaction_signer(&raw).unwrap()
}

fn message_signer(message: &str, artifact: &Value) -> String {
    let sig = hex::decode(artifact["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    tssw_verify::artifacts::personal_sign_signer(message.as_bytes(), &sig).unwrap()
}

#[test]
fn a_user_drives_the_cli_against_tssw_dev() {
    let dev = start_dev();
    let created = dev.ok("phone", &["wallet", "create", "--scheme", "ecdsa", "--json"], "", &[]);
    assert_eq!(created["backed_up"], true);
    let id = created["wallet"]["id"].as_str().unwrap().to_string();
    let address = created["wallet"]["addresses"]["evm"].as_str().unwrap().to_string();
    let sol = dev.ok("phone", &["wallet", "create", "--scheme", "ed25519", "--json", "--no-backup"], "", &[]);
    let sol_id = sol["wallet"]["id"].as_str().unwrap().to_string();

    let shown = dev.ok("phone", &["address", "--wallet", &id, "--json"], "", &[]);
    assert_eq!(shown["address"], address.as_str());
    let derived = dev.ok("phone", &["address", "--wallet", &id, "--path", "m/44/60/0/0/1", "--json"], "", &[]);
    assert_ne!(derived["address"], address.as_str());

    let signed = dev.ok("phone", &["sign", "evm-tx", "--wallet", &id, "--json"], &tx_json(&address), &[]);
    assert_eq!(raw_signer(&signed["artifact"]), address);

    // Bad input: each refused with an error that says what, nothing written.
    let e = dev.refused("phone", &["sign", "evm-tx", "--wallet", &id], r#"{"to": "0x35", "gas": "#, &[]);
    assert!(e.contains("the evm-tx input was refused") && e.contains("not JSON"), "{e}");
    let e = dev.refused("phone", &["sign", "solana-tx", "--wallet", &id], "AQID", &[]);
    assert!(e.contains("Ed25519"), "{e}");
    let e = dev.refused("phone", &["sign", "psbt", "--wallet", &sol_id], "cHNidP8=", &[]);
    assert!(e.contains("BIP-340"), "{e}");
    let unknown = "0123456789abcdef0123456789abcdef";
    let e = dev.refused("phone", &["sign", "message", "--wallet", unknown], "hi", &[]);
    assert!(e.contains(unknown) && e.contains("not in this device's keystore"), "{e}");
    let e = dev.refused("phone", &["sign", "message", "--wallet", "../../etc"], "hi", &[]);
    assert!(e.contains("wallet id"), "{e}");
    let e = dev.refused("phone", &["sign", "message", "--wallet", &id], "hi", &[("TSSW_PASSPHRASE", "wrong")]);
    assert!(e.contains("passphrase does not open the keystore") && e.contains("nothing was changed"), "{e}");
    let (ok, _, e) = dev.run("phone", &["wallet", "create", "--scheme", "rsa"], "", &[]);
    assert!(!ok && e.contains("invalid value 'rsa'"), "{e}");

    let refreshed = dev.ok("phone", &["refresh", "--wallet", &id, "--json"], "", &[]);
    assert_eq!((refreshed["epoch"].as_u64(), refreshed["backed_up"].as_bool()), (Some(2), Some(true)));
    let signed = dev.ok("phone", &["sign", "message", "--wallet", &id, "--json"], "after refresh", &[]);
    assert_eq!(message_signer("after refresh", &signed["artifact"]), address);
    let listed = dev.ok("phone", &["wallet", "list", "--json"], "", &[]);
    let rows = listed["wallets"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["device_epoch"], row["server"]["epoch"], "{row}");
        assert!(row["device_pending"].is_null());
    }

    // The phone is lost: a new laptop recovers the wallet from the backup.
    let recovered = dev.ok("laptop", &["recover", "--wallet", &id, "--json"], "", &[]);
    assert_eq!(recovered["epoch"], 3);
    let signed = dev.ok("laptop", &["sign", "evm-tx", "--wallet", &id, "--json"], &tx_json(&address), &[]);
    assert_eq!(raw_signer(&signed["artifact"]), address);
    let e = dev.refused("phone", &["sign", "message", "--wallet", &id], "lost", &[]);
    assert!(e.contains("epoch 2") && e.contains("active epoch is 3"), "{e}");

    // 2-of-3: a third device signs with only the cloud share and the service.
    let cloud = dev.dir.path("cloud");
    let cloud = cloud.to_str().unwrap();
    let (ok, upgraded, stderr) =
        dev.run("laptop", &["upgrade", "--wallet", &id, "--to", "2of3", "--cloud-dir", cloud, "--json"], "", &[]);
    assert!(ok, "{stderr}");
    let code = upgraded["recovery_code"].as_str().unwrap().to_string();
    // Shown before the reshare started, so a crash during it cannot lose the code.
    assert!(stderr.contains(&format!("write it down now; the cloud share opens only with it): {code}")), "{stderr}");
    // The tablet signs in (its keystore and device key are created), then tries a wrong code.
    assert_eq!(dev.ok("tablet", &["wallet", "list", "--json"], "", &[])["wallets"], serde_json::json!([]));
    let e = dev.refused(
        "tablet",
        &["sign", "message", "--wallet", &id, "--cloud-dir", cloud],
        "cloud",
        &[("TSSW_RECOVERY_CODE", &code.replace(|c: char| c.is_ascii_alphanumeric(), "A"))],
    );
    assert!(e.contains("recovery code does not open the cloud share"), "{e}");
    let signed = dev.ok(
        "tablet",
        &["sign", "message", "--wallet", &id, "--cloud-dir", cloud, "--json"],
        "cloud",
        &[("TSSW_RECOVERY_CODE", &code)],
    );
    assert_eq!(message_signer("cloud", &signed["artifact"]), address);
    let back = dev.ok("laptop", &["upgrade", "--wallet", &id, "--to", "2of2", "--json"], "", &[]);
    assert_eq!(back["epoch"], 5);
    let signed = dev.ok("laptop", &["sign", "message", "--wallet", &id, "--json"], "2-of-2 again", &[]);
    assert_eq!(message_signer("2-of-2 again", &signed["artifact"]), address);
    let e = dev.refused(
        "tablet",
        &["sign", "message", "--wallet", &id, "--cloud-dir", cloud],
        "old cloud copy",
        &[("TSSW_RECOVERY_CODE", &code)],
    );
    assert!(e.contains("has no cloud share in its active epoch (2-of-2)"), "{e}");

    // A code the user already holds, from the environment: not echoed back, and it opens
    // the new cloud share.
    let env = [("TSSW_RECOVERY_CODE", code.as_str())];
    let again =
        dev.ok("laptop", &["upgrade", "--wallet", &id, "--to", "2of3", "--cloud-dir", cloud, "--json"], "", &env);
    assert!(again["recovery_code"].is_null());
    let signed = dev.ok("tablet", &["sign", "message", "--wallet", &id, "--cloud-dir", cloud, "--json"], "again", &env);
    assert_eq!(message_signer("again", &signed["artifact"]), address);
}
