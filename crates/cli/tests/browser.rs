//! The web wallet in a real browser: `tssw dev --web-dir web` (wallet page on the server's
//! origin, demo dApp on another), Debian's Chromium driven by `web/tests/browser.mjs`
//! (playwright-core). The script creates a wallet per scheme in the iframe, signs through
//! the EIP-1193 provider and the Solana/PSBT wrappers, reloads, clears the wallet origin's
//! storage and recovers from the backup, and runs the hostile pages. This test then checks
//! every artifact with verifiers that are not the wallet's code (alloy, ed25519-dalek,
//! libbitcoinconsensus), against the addresses the *server* records for the user, and
//! checks on anvil that the transaction the page sent with `eth_sendTransaction` (the
//! dApp's provider pointed at anvil with `--dapp-rpc-url`) ran, from the wallet.
//!
//! Needs `scripts/build-web` (the wasm module), `npm ci --prefix web` (playwright-core),
//! `/usr/bin/chromium` and anvil; `scripts/test` installs and builds all of them. Any of
//! them missing fails the test, saying which.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[allow(dead_code)]
#[path = "../../chains/tests/common/tools.rs"]
mod tools;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;

use common::{Proc, TempDir};
use serde_json::{Value, json};
use tssw_verify::artifacts;

const MESSAGE: &str = "Hello from the tss-wallet browser test";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn require(path: PathBuf, fix: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {fix}", path.display());
    path
}

fn typed_data() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
        }
    })
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim_start_matches("0x")).unwrap()
}

/// The server's record of the user's wallets, by scheme: the addresses every artifact must
/// be signed by (the browser's own report is not trusted for this), and each one's epoch.
fn server_wallets(server: &str, dapp: &str, user: &str) -> (Value, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let http = tssw_client::api::http_client().unwrap();
        let token: Value = http
            .post(format!("{dapp}/dev-token"))
            .json(&json!({"user": user}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let api = tssw_client::ApiClient::new(server, token["token"].as_str().unwrap()).unwrap();
        let (mut addresses, mut epochs) = (json!({}), json!({}));
        for view in api.wallets().await.unwrap() {
            addresses[view.scheme.as_str()] = serde_json::to_value(view.addresses.unwrap()).unwrap();
            epochs[view.scheme.as_str()] = json!(view.epoch);
        }
        (addresses, epochs)
    })
}

/// Checks one round of artifacts (`signAll` in browser.mjs) against the server's addresses.
fn check_round(name: &str, round: &Value, addresses: &Value) {
    let evm = addresses["ecdsa"]["evm"].as_str().unwrap();
    let raw = unhex(round["evm_tx"].as_str().unwrap_or_else(|| panic!("{name}: no evm_tx")));
    let signer = artifacts::evm_transaction_signer(&raw).unwrap();
    assert!(signer.eq_ignore_ascii_case(evm), "{name}: EIP-1559 tx signed by {signer}, the wallet is {evm}");
    let typed = serde_json::to_vec(&typed_data()).unwrap();
    let signer = artifacts::eip712_signer(&typed, &unhex(round["eip712"].as_str().unwrap())).unwrap();
    assert!(signer.eq_ignore_ascii_case(evm), "{name}: EIP-712 signed by {signer}");
    let signer =
        artifacts::personal_sign_signer(MESSAGE.as_bytes(), &unhex(round["personal_sign"].as_str().unwrap())).unwrap();
    assert!(signer.eq_ignore_ascii_case(evm), "{name}: personal_sign signed by {signer}");

    let solana = &round["solana"];
    let wire = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        solana["transaction_base64"].as_str().unwrap_or_else(|| panic!("{name}: no Solana tx: {solana}")),
    )
    .unwrap();
    let signers = artifacts::solana_transaction(&wire).unwrap();
    let payer = addresses["ed25519"]["solana"].as_str().unwrap();
    assert_eq!(signers.first().map(String::as_str), Some(payer), "{name}: the Solana fee payer is the wallet");

    let psbt = &round["psbt"];
    let tx = unhex(psbt["transaction_hex"].as_str().unwrap_or_else(|| panic!("{name}: no Bitcoin tx: {psbt}")));
    let spent: Vec<(Vec<u8>, u64)> = psbt["spent_outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (unhex(o["script_pubkey"].as_str().unwrap()), o["value_sat"].as_u64().unwrap()))
        .collect();
    // tests/inputs.mjs spends two outputs: both inputs signed, in one batch ceremony.
    assert_eq!(spent.len(), 2, "{name}: the PSBT's inputs");
    artifacts::bitcoin_transaction(&tx, &spent).unwrap();
    // The spent output pays the wallet's own key (regtest address from the server's record,
    // whose output key is the same on every network).
    let mainnet = bitcoin::Address::from_str(addresses["bip340"]["bitcoin"].as_str().unwrap()).unwrap();
    let script = mainnet.assume_checked().script_pubkey().to_bytes();
    assert!(spent.iter().all(|(s, _)| *s == script), "{name}: the PSBT spends an output of another key");
}

#[test]
fn web_wallet_in_chromium() {
    let root = root();
    require(root.join("web/wallet/pkg/tssw_web_bg.wasm"), "run scripts/build-web");
    require(root.join("web/node_modules/playwright-core"), "run npm ci --prefix web");
    require(PathBuf::from("/usr/bin/chromium"), "install Debian's chromium package");
    let anvil = tools::Anvil::start();

    let dir = TempDir::new("browser");
    let web = root.join("web");
    let rpc_url = anvil.url();
    let mut dev =
        Proc::start_dev(&dir.0, &dir.path("dev"), &["--web-dir", web.to_str().unwrap(), "--dapp-rpc-url", &rpc_url]);
    let server = dev.wait_line("  server");
    let wallet = dev.wait_line("  web wallet");
    let wallet = wallet.split_whitespace().next().unwrap().to_string();
    let dapp = dev.wait_line("  demo dApp");

    let out_dir = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&out_dir);
    let evm_tx = json!({
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "value": "0x2386f26fc10000", "nonce": "0x0",
        "gas": "0x5208", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00", "chainId": "0x7a69"
    });
    let output = Command::new("node")
        .arg(web.join("tests/browser.mjs"))
        .env("DAPP_URL", format!("{dapp}/"))
        .env("WALLET_URL", &wallet)
        .env("OUT_DIR", &out_dir)
        .env("EVM_TX_JSON", evm_tx.to_string())
        .env("TYPED_DATA_JSON", typed_data().to_string())
        .env("PERSONAL_MESSAGE", MESSAGE)
        .env("LATENCY_N", "5")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(dir.path("browser.log")).unwrap())
        .output()
        .expect("node runs");
    let log = std::fs::read_to_string(dir.path("browser.log")).unwrap_or_default();
    assert!(output.status.success(), "browser.mjs failed ({}):\n{log}\n{}", output.status, dev.log_text());
    let result: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {log}"));

    let user = result["user"].as_str().expect("the result names its user");
    let (addresses, epochs) = server_wallets(&server, &dapp, user);
    // Recovery in the browser refreshed every wallet (so a lost copy of epoch 1 is refused).
    assert_eq!(epochs, json!({"ecdsa": 2, "ed25519": 2, "bip340": 2}), "server epochs after recovery");
    for (scheme, key) in [("ecdsa", "evm"), ("ed25519", "solana"), ("bip340", "bitcoin")] {
        assert_eq!(
            result["addresses"][scheme][key], addresses[scheme][key],
            "the iframe's {scheme} address is the server's"
        );
    }
    let artifacts = &result["artifacts"];
    check_round("first", artifacts, &addresses);
    check_round("after reload", &artifacts["after_reload"], &addresses);
    check_round("after recovery", &artifacts["after_recover"], &addresses);

    // eth_sendTransaction went through the provider to anvil (nonce 0, chain 31337): anvil's
    // own receipt says it ran, from the wallet's address.
    let evm = addresses["ecdsa"]["evm"].as_str().unwrap();
    let hash = &artifacts["sent_transaction"]["hash"];
    assert!(hash.is_string(), "the browser sent no transaction: {}", artifacts["sent_transaction"]);
    let receipt = anvil.rpc("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["status"], "0x1", "anvil executed the browser-sent transaction: {receipt}");
    assert!(receipt["from"].as_str().unwrap().eq_ignore_ascii_case(evm), "sent from {}", receipt["from"]);
    let tx = anvil.rpc("eth_getTransactionByHash", json!([hash]));
    assert_eq!(tx["type"], "0x2", "an EIP-1559 transaction");

    // Every hostile attempt was refused (browser.mjs checks each; here: they ran).
    assert!(result["attacks"]["allowed_origin_page"].as_object().is_some_and(|o| o.len() >= 20), "{result}");
    assert!(result["attacks"]["foreign_origin_page"].as_object().is_some_and(|o| !o.is_empty()), "{result}");
    for shot in ["dapp-after-login.png", "confirm-evm-tx.png", "confirm-psbt.png", "confirm-recover.png"] {
        require(out_dir.join(shot), "browser.mjs saves its screenshots");
    }
}
