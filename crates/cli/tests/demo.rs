//! The README's main job, run as a user would run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;

#[test]
fn demo_passes_and_reports_independent_verifiers() {
    let output = Command::cargo_bin("tssw").unwrap().args(["demo", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let steps = report["steps"].as_array().unwrap();
    for scheme in ["ecdsa", "ed25519", "bip340"] {
        let signs: Vec<_> = steps
            .iter()
            .filter(|s| s["scheme"] == scheme && s["operation"].as_str().unwrap().starts_with("sign"))
            .collect();
        assert_eq!(signs.len(), 5, "{scheme}");
        assert!(
            signs
                .iter()
                .all(|s| s["ok"] == true && s["rounds"].as_u64().unwrap() >= 2 && s["bytes"].as_u64().unwrap() > 0)
        );
    }
    let details: Vec<&str> = steps.iter().map(|s| s["detail"].as_str().unwrap()).collect();
    assert!(details.iter().any(|d| d.contains("ed25519-dalek verify_strict")));
    assert!(details.iter().any(|d| d.contains("libsecp256k1 BIP-340 verify")));
    assert!(details.iter().any(|d| d.contains("ecrecover")));
    let wallets = report["wallets"].as_array().unwrap();
    assert!(wallets[0]["address"].as_str().unwrap().starts_with("0x"));
    assert!(wallets[2]["address"].as_str().unwrap().starts_with("bc1p"));
}

#[test]
fn unknown_commands_fail_with_usage() {
    let output = Command::cargo_bin("tssw").unwrap().arg("frobnicate").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}
