//! `tssw eps` and `tssw eps unlock` as processes: the EPS prints its URL, key and a dev
//! token, serves backups, locks a backup after --max-attempts wrong passcodes, and the
//! operator's unlock (a second process, on the same data dir) lets the right passcode in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tssw_backup::{BackupError, EpsClient, EpsPublicKey, Passcode, WalletId, WalletMeta, create_backup, restore};
use tssw_protocol::Scheme;

fn line_after(line: &str, prefix: &str) -> String {
    line.trim().strip_prefix(prefix).unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eps_serves_locks_and_the_operator_unlocks() {
    let dir = std::env::temp_dir().join(format!("tssw-cli-eps-{}", std::process::id()));
    let data = dir.to_str().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tssw"))
        .args(["eps", "--bind", "127.0.0.1:0", "--data-dir", data, "--dev-issuer", "--max-attempts", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = [String::new(), String::new(), String::new()];
    for line in &mut lines {
        out.read_line(line).unwrap();
    }
    let url = line_after(&lines[0], "eps listening on ");
    let mut key = [0u8; 32];
    hex::decode_to_slice(line_after(&lines[1], "eps public key: "), &mut key).unwrap();
    let token = lines[2].trim().rsplit(' ').next().unwrap().to_string();

    let eps = EpsClient::new(&url, &token).unwrap().pin_public_key(EpsPublicKey(key));
    let share = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
    let meta = WalletMeta::of_share(WalletId::new("w-cli").unwrap(), &share).unwrap();
    let right = Passcode::new("1234").unwrap();
    let wrong = Passcode::new("4321").unwrap();
    let prepared = create_backup(&share, &meta, &eps, Some(&right)).await.unwrap();
    prepared.activate(&eps).await.unwrap();
    for _ in 0..2 {
        assert!(matches!(
            restore(prepared.envelope(), &meta, &eps, Some(&wrong)).await,
            Err(BackupError::WrongSecret { .. })
        ));
    }
    assert!(matches!(restore(prepared.envelope(), &meta, &eps, Some(&right)).await, Err(BackupError::Locked(_))));

    let unlock = |note: &str| {
        assert_cmd::Command::cargo_bin("tssw")
            .unwrap()
            .args(["eps", "unlock", "--data-dir", data, "--wallet", "w-cli", "--note", note])
            .output()
            .unwrap()
    };
    let done = unlock("identity checked, ticket 7");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(String::from_utf8_lossy(&done.stdout).contains("unlocked wallet w-cli registration"));
    let restored = restore(prepared.envelope(), &meta, &eps, Some(&right)).await.unwrap();
    assert_eq!(*restored.to_bytes().unwrap(), *share.to_bytes().unwrap());
    // Nothing locked any more: a second unlock says so and fails.
    let again = unlock("again");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to unlock"));

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eps_without_an_issuer_says_what_to_pass() {
    let out = assert_cmd::Command::cargo_bin("tssw")
        .unwrap()
        .args(["eps", "--data-dir", "/nonexistent/eps"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev-issuer"));
}
