//! The README's main job, run as a user would run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use assert_cmd::Command;

#[test]
fn demo_passes_on_the_real_stack_and_its_artifacts_verify() {
    let output = Command::cargo_bin("tssw").unwrap().args(["demo", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true));
    let wallets = report["wallets"].as_array().unwrap();
    assert_eq!(wallets.len(), 3);
    for (wallet, prefix) in wallets.iter().zip(["0x", "", "bc1p"]) {
        let scheme = wallet["scheme"].as_str().unwrap();
        let address = wallet["address"].as_str().unwrap();
        assert!(address.starts_with(prefix), "{address}");
        let of = |op: &str| -> Vec<&serde_json::Value> {
            steps.iter().filter(|s| s["scheme"] == scheme && s["operation"].as_str().unwrap().starts_with(op)).collect()
        };
        for op in
            ["create wallet", "back up", "recover on a new device", "the lost device's share", "upgrade to 2-of-3"]
        {
            assert_eq!(of(op).len(), 1, "{scheme}: {op}");
        }
        // The stale share is refused by the server before any ceremony, naming the epochs.
        assert!(of("the lost device's share")[0]["detail"].as_str().unwrap().contains("active epoch is 2"));
        let signs = of("sign ");
        let holders: Vec<&str> = signs.iter().map(|s| s["holders"].as_str().unwrap()).collect();
        for pair in ["device + enclave", "new device + enclave", "cloud + enclave", "device + cloud, no service"] {
            assert!(holders.contains(&pair), "{scheme}: no signature by {pair}");
        }
        for sign in signs {
            let artifact = &sign["artifact"];
            assert_eq!(artifact["address"], address);
            match scheme {
                "ecdsa" => {
                    if let Some(raw) = artifact["raw_transaction"].as_str() {
                        // Re-checked here with alloy directly: an EIP-1559 transaction whose
                        // recovered sender is the wallet.
                        let raw = hex::decode(raw.trim_start_matches("0x")).unwrap();
                        assert_eq!(raw[0], 2);
                        let tx = TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
                        assert_eq!(tx.recover_signer().unwrap().to_checksum(None), address);
                    } else {
                        assert_eq!(artifact["signature"].as_str().unwrap().len(), 2 + 130);
                    }
                }
                "ed25519" => assert_eq!(artifact["complete"], true),
                _ => assert!(!artifact["transaction_hex"].as_str().unwrap().is_empty()),
            }
        }
    }
    let details: Vec<&str> = steps.iter().map(|s| s["detail"].as_str().unwrap()).collect();
    for verifier in ["alloy decodes", "ed25519-dalek verify_strict", "libbitcoinconsensus"] {
        assert!(details.iter().any(|d| d.contains(verifier)), "{verifier}");
    }
}

#[test]
fn unknown_commands_fail_with_usage() {
    let output = Command::cargo_bin("tssw").unwrap().arg("frobnicate").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}
