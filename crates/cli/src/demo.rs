//! `tssw demo`: the README's main job. It starts `tssw dev` (enclave, relay, wallet server
//! on SQLite, encryption proxy) as a child process in a temporary directory and drives it
//! over loopback with the client SDK, as a wallet app would: one wallet per scheme; an
//! EIP-1559 transaction, EIP-712 typed data, a Solana transfer and a Taproot key-path spend of two inputs (one batch ceremony),
//! each signed artifact checked by a verifier that is not our code; a backup, a lost device,
//! recovery on a new one (which refreshes, so the lost share stops signing); the upgrade to
//! 2-of-3 and a signature by each pair of {device, server, cloud}.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::key::UntweakedPublicKey;
use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde::Serialize;
use tssw_api::http::WalletView;
use tssw_backup::cloud::FileProvider;
use tssw_backup::{EpsClient, Passcode, RecoveryCode, RecoverySecret};
use tssw_client::keystore::format::KdfParams;
use tssw_client::{ApiClient, Artifact, InputKind, InputOptions, Keystore, Signed, Wallets, assemble, parse};
use tssw_protocol::{KeyShare, Scheme, Signature};
use tssw_verify::artifacts;

use crate::config::ClientConfig;
use crate::dev::DevProcess;

/// The demo devices' keystore passphrase and the backups' passcode (throwaway wallets in a
/// temporary directory).
const PASSPHRASE: &str = "tssw demo keystore passphrase";
const PASSCODE: &str = "demo passcode 2468";

/// EIP-712's own example (the "Ether Mail" of Example.js).
const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;

#[derive(Serialize)]
struct Step {
    scheme: Scheme,
    operation: String,
    /// Which share holders took part.
    holders: String,
    ok: bool,
    /// The independent verifier and what it found, or the error.
    detail: String,
    millis: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact: Option<Artifact>,
}

#[derive(Serialize)]
struct WalletRow {
    scheme: Scheme,
    id: String,
    public_key: String,
    address: String,
}

#[derive(Default)]
struct Report {
    steps: Vec<Step>,
    wallets: Vec<WalletRow>,
}

/// What a step produced when it passed.
struct Done {
    detail: String,
    artifact: Option<Artifact>,
}

impl From<String> for Done {
    fn from(detail: String) -> Done {
        Done { detail, artifact: None }
    }
}

impl Report {
    fn record(
        &mut self,
        scheme: Scheme,
        operation: &str,
        holders: &str,
        started: Instant,
        result: Result<Done, String>,
    ) {
        let millis = started.elapsed().as_secs_f64() * 1e3;
        let (ok, detail, artifact) = match result {
            Ok(done) => (true, done.detail, done.artifact),
            Err(e) => (false, e, None),
        };
        self.steps.push(Step {
            scheme,
            operation: operation.into(),
            holders: holders.into(),
            ok,
            detail,
            millis,
            artifact,
        });
    }
}

/// A device: its own keystore, signed in to the stack as the same user.
async fn device(config: &ClientConfig, dir: &Path) -> Result<Wallets, String> {
    let token = config.token.as_deref().ok_or("the dev config has no token")?;
    let keystore = Keystore::create(dir, PASSPHRASE.as_bytes(), KdfParams::DEFAULT).map_err(|e| e.to_string())?;
    let api = ApiClient::new(&config.server_url, token).map_err(|e| e.to_string())?;
    let mut wallets = Wallets::open(api, keystore, &config.trust.policy()?).await.map_err(|e| e.to_string())?;
    let eps = config.eps_url.as_deref().ok_or("the dev config has no encryption proxy")?;
    wallets.set_eps(EpsClient::new(eps, token).map_err(|e| e.to_string())?);
    Ok(wallets)
}

/// An input to sign: what it is, its kind, its bytes.
type Input = (&'static str, InputKind, Vec<u8>);

/// One wallet's inputs to sign, in the formats wallets hand over.
fn inputs(scheme: Scheme, address: &str, share: &KeyShare) -> Result<Vec<Input>, String> {
    Ok(match scheme {
        Scheme::Ecdsa => vec![
            ("EIP-1559 transaction", InputKind::EvmTx, eip1559(address).into_bytes()),
            ("EIP-712 typed data", InputKind::Eip712, MAIL.as_bytes().to_vec()),
        ],
        Scheme::Ed25519 => vec![("Solana transfer", InputKind::SolanaTx, solana_transfer(share)?.into_bytes())],
        Scheme::Bip340 => vec![("Taproot spend of 2 inputs", InputKind::Psbt, taproot_psbt(share)?.into_bytes())],
    })
}

fn eip1559(from: &str) -> String {
    format!(
        r#"{{"from":"{from}","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0xde0b6b3a7640000","nonce":"0x0","chainId":"0x1"}}"#
    )
}

/// A transfer from the wallet as a wallet adapter hands it over: the unsigned transaction, base64.
fn solana_transfer(share: &KeyShare) -> Result<String, String> {
    let to = [7u8; 32];
    let blockhash = [9u8; 32];
    let tx = tssw_chains::solana::SolanaTransaction::transfer(
        share.public_key().as_bytes(),
        &to,
        1_000_000,
        blockhash,
        tssw_chains::solana::MessageVersion::V0,
    )
    .map_err(|e| e.to_string())?;
    // The wire form of an unsigned transaction (what `signTransaction` gets): a one-entry
    // signature list (compact-u16 length 1) holding zeros, then the message.
    let mut wire = vec![1u8];
    wire.extend_from_slice(&[0u8; 64]);
    wire.extend_from_slice(tx.message_bytes());
    Ok(BASE64.encode(wire))
}

/// A PSBT spending two of the wallet's key-path outputs back to itself: its two inputs are
/// signed in one batch ceremony.
fn taproot_psbt(share: &KeyShare) -> Result<String, String> {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let internal = share.taproot_internal_key().ok_or("a BIP-340 share without a taproot internal key")?;
    let internal = UntweakedPublicKey::from_slice(&internal).map_err(|e| e.to_string())?;
    let script = ScriptBuf::new_p2tr(&secp, internal, None);
    let txid = Txid::from_str(&"ab".repeat(32)).map_err(|e| e.to_string())?;
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: (0..2)
            .map(|vout| TxIn {
                previous_output: OutPoint { txid, vout },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(199_000), script_pubkey: script.clone() }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|e| e.to_string())?;
    for input in &mut psbt.inputs {
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(100_000), script_pubkey: script.clone() });
        input.tap_internal_key = Some(internal);
    }
    Ok(BASE64.encode(psbt.serialize()))
}

fn verify(kind: InputKind, input: &[u8], artifact: &Artifact, address: &str) -> Result<String, String> {
    let same = |found: &str| {
        if found == address { Ok(()) } else { Err(format!("signed by {found}, not the wallet's {address}")) }
    };
    let unhex = |s: &str| hex::decode(s.trim_start_matches("0x")).map_err(|e| e.to_string());
    match &artifact.signed {
        Signed::EvmTransaction { raw_transaction, .. } => {
            let signer = artifacts::evm_transaction_signer(&unhex(raw_transaction)?)?;
            same(&signer)?;
            Ok(format!("alloy decodes the EIP-2718 tx and recovers {signer}"))
        }
        Signed::EvmSignature { signature } if kind == InputKind::Eip712 => {
            let signer = artifacts::eip712_signer(input, &unhex(signature)?)?;
            same(&signer)?;
            Ok(format!("alloy EIP-712 hash + libsecp256k1 recovery → {signer}"))
        }
        Signed::SolanaTransaction { transaction_base64, complete: true, .. } => {
            let wire = BASE64.decode(transaction_base64).map_err(|e| e.to_string())?;
            let signers = artifacts::solana_transaction(&wire)?;
            if !signers.iter().any(|s| s == address) {
                return Err(format!("the transaction's signers {signers:?} do not include {address}"));
            }
            Ok(format!("ed25519-dalek verify_strict of every signature, fee payer {address}"))
        }
        Signed::BitcoinTransaction { transaction_hex, spent_outputs, .. } => {
            let wallet_script = bitcoin::Address::from_str(address)
                .map_err(|e| e.to_string())?
                .assume_checked()
                .script_pubkey()
                .to_bytes();
            let mut spent = Vec::new();
            for out in spent_outputs {
                let script = unhex(&out.script_pubkey)?;
                if script != wallet_script {
                    return Err("an input spends an output that is not the wallet's address".into());
                }
                spent.push((script, out.value_sat));
            }
            artifacts::bitcoin_transaction(&unhex(transaction_hex)?, &spent)?;
            Ok(format!("libbitcoinconsensus runs the taproot witness against {address}"))
        }
        other => Err(format!("an unexpected artifact for {kind}: {other:?}")),
    }
}

/// What a demo wallet is while the flow runs.
struct Subject {
    scheme: Scheme,
    id: String,
    address: String,
}

fn view_address(view: &WalletView) -> Option<String> {
    let a = view.addresses.as_ref()?;
    a.evm.clone().or_else(|| a.solana.clone()).or_else(|| a.bitcoin.clone())
}

/// Signs every input of the wallet through the service (`share` + the enclave), or — with
/// `cloud` — with two local shares and no service, and verifies each artifact.
async fn sign_all(
    report: &mut Report,
    wallet: &Subject,
    signer: &Wallets,
    share: &KeyShare,
    cloud: Option<&KeyShare>,
    holders: &str,
) {
    let list = match inputs(wallet.scheme, &wallet.address, share) {
        Ok(list) => list,
        Err(e) => return report.record(wallet.scheme, "sign", holders, Instant::now(), Err(e)),
    };
    for (what, kind, bytes) in list {
        let started = Instant::now();
        let result = async {
            let key = share.public_package().wallet_key();
            let input = parse(kind, &bytes, &key, &InputOptions::default()).map_err(|e| e.to_string())?;
            let signatures: Vec<Signature> = match cloud {
                Some(cloud) => input
                    .requests()
                    .iter()
                    .map(|r| tssw_client::wallet::sign_without_service(share, cloud, r).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?,
                None => {
                    let signed =
                        signer.sign_all(&wallet.id, share, input.payloads()).await.map_err(|e| e.to_string())?;
                    let (requests, signatures): (Vec<_>, Vec<Signature>) = signed.into_iter().unzip();
                    if requests != input.requests() {
                        return Err("the enclave signed another request than this device computed".into());
                    }
                    signatures
                }
            };
            let artifact = assemble(&input, &signatures).map_err(|e| e.to_string())?;
            let detail = verify(kind, &bytes, &artifact, &wallet.address)?;
            Ok(Done { detail, artifact: Some(artifact) })
        }
        .await;
        report.record(wallet.scheme, &format!("sign {what}"), holders, started, result);
    }
}

/// The devices of the story: the first phone, the phone that replaces it, and a laptop
/// that only has the cloud copy.
struct Devices {
    first: Wallets,
    second: Wallets,
    third: Wallets,
    cloud: FileProvider,
    secret: RecoverySecret,
    passcode: Passcode,
}

async fn scheme_flow(report: &mut Report, d: &mut Devices, scheme: Scheme) -> Result<(), String> {
    let fail = |e: tssw_client::WalletError| e.to_string();
    let t = Instant::now();
    let view = match d.first.create(scheme).await {
        Ok(view) => view,
        Err(e) => {
            report.record(scheme, "create wallet (DKG)", "device + enclave", t, Err(e.to_string()));
            return Err("no wallet".into());
        }
    };
    let address = view_address(&view).ok_or("the server's record has no address")?;
    let public_key = view.public_key.clone().unwrap_or_default();
    report.record(
        scheme,
        "create wallet (DKG)",
        "device + enclave",
        t,
        Ok(format!("{address}, epoch {}", view.epoch).into()),
    );
    report.wallets.push(WalletRow { scheme, id: view.id.clone(), public_key: public_key.clone(), address });
    let Some(row) = report.wallets.last() else { return Err("no wallet".into()) };
    let wallet = Subject { scheme, id: row.id.clone(), address: row.address.clone() };

    let share = d.first.share(&wallet.id).await.map_err(fail)?;
    sign_all(report, &wallet, &d.first, &share, None, "device + enclave").await;

    let t = Instant::now();
    let backed = d.first.backup(&wallet.id, Some(&d.passcode)).await;
    let detail = backed.map(|epoch| {
        format!("epoch {epoch} sealed through the encryption proxy behind a passcode, read back and checked").into()
    });
    report.record(scheme, "back up the device share", "device + EPS", t, detail.map_err(fail));

    // The first device is lost; the second one recovers from the backup.
    let lost = share;
    let t = Instant::now();
    let recovered = d.second.recover(&wallet.id, Some(&d.passcode)).await.map_err(fail);
    let detail = recovered.map(|epoch| format!("restored, refreshed to epoch {epoch}, backed up again").into());
    let ok = detail.is_ok();
    report.record(scheme, "recover on a new device", "new device + enclave + EPS", t, detail);
    if !ok {
        return Err("recovery failed".into());
    }
    let share = d.second.share(&wallet.id).await.map_err(fail)?;
    sign_all(report, &wallet, &d.second, &share, None, "new device + enclave").await;

    let t = Instant::now();
    let refused = refuse_lost_share(&d.first, &wallet, &lost).await;
    report.record(scheme, "the lost device's share is refused", "lost device + enclave", t, refused);

    let t = Instant::now();
    let upgraded = d.second.upgrade_to_2of3(&wallet.id, &d.cloud, &d.secret, Some(&d.passcode)).await;
    let upgraded = match upgraded {
        Ok(epoch) => match d.second.api().wallet(&wallet.id).await {
            Ok(v) if v.public_key.as_deref() == Some(&public_key) && (v.threshold, v.parties) == (2, 3) => {
                Ok(format!("2-of-3 at epoch {epoch}, same public key; the cloud share is sealed in a file").into())
            }
            Ok(v) => Err(format!("the server records {}-of-{} with key {:?}", v.threshold, v.parties, v.public_key)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let ok = upgraded.is_ok();
    report.record(scheme, "upgrade to 2-of-3", "device + enclave → + cloud", t, upgraded);
    if !ok {
        return Err("upgrade failed".into());
    }
    let share = d.second.share(&wallet.id).await.map_err(fail)?;
    sign_all(report, &wallet, &d.second, &share, None, "device + enclave").await;
    let t = Instant::now();
    match d.third.cloud_share(&wallet.id, &d.cloud, &d.secret).await {
        Ok(cloud) => {
            sign_all(report, &wallet, &d.third, &cloud, None, "cloud + enclave").await;
            sign_all(report, &wallet, &d.second, &share, Some(&cloud), "device + cloud, no service").await;
        }
        Err(e) => report.record(scheme, "open the cloud share", "cloud", t, Err(e.to_string())),
    }
    Ok(())
}

/// After recovery the lost device's share must sign nothing: the refresh destroyed its epoch.
async fn refuse_lost_share(lost_device: &Wallets, wallet: &Subject, lost: &KeyShare) -> Result<Done, String> {
    let key = lost.public_package().wallet_key();
    let (_, kind, bytes) = inputs(wallet.scheme, &wallet.address, lost)?.into_iter().next().ok_or("no input")?;
    let input = parse(kind, &bytes, &key, &InputOptions::default()).map_err(|e| e.to_string())?;
    let payload = input.payloads().first().ok_or("no payload")?;
    match lost_device.sign_with(&wallet.id, lost, payload).await {
        Ok(_) => Err(format!("epoch {}'s share still signs after the refresh", lost.epoch())),
        Err(e) => Ok(format!("refused: {e}").into()),
    }
}

/// Runs the demo; returns whether every step passed.
pub(crate) fn run(json: bool) -> Result<bool, String> {
    let dir = std::env::temp_dir().join(format!("tssw-demo-{}", std::process::id()));
    let result = run_in(&dir, json);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, json: bool) -> Result<bool, String> {
    if !json {
        println!("tss-wallet demo: starting `tssw dev` (enclave, relay, server on SQLite, encryption proxy)");
        println!("in {} on loopback …", dir.display());
    }
    let started = Instant::now();
    let stack = DevProcess::start(&dir.join("service"), None)?;
    let config = ClientConfig::load(Some(&stack.config))?;
    let mut report = Report::default();
    crate::runtime()?.block_on(async {
        let at = |name: &str| -> PathBuf { dir.join(name) };
        let mut devices = Devices {
            first: device(&config, &at("first-device")).await?,
            second: device(&config, &at("new-device")).await?,
            third: device(&config, &at("cloud-only-device")).await?,
            cloud: FileProvider::new(at("cloud")).map_err(|e| e.to_string())?,
            secret: RecoverySecret::Code(RecoveryCode::generate()),
            passcode: Passcode::new(PASSCODE).map_err(|e| e.to_string())?,
        };
        for scheme in Scheme::ALL {
            // A failed step is in the report; the next scheme still runs.
            let _ = scheme_flow(&mut report, &mut devices, scheme).await;
        }
        Ok::<(), String>(())
    })?;
    drop(stack);
    let passed = !report.steps.is_empty() && report.steps.iter().all(|s| s.ok);
    if json {
        let out = serde_json::json!({
            "passed": passed,
            "tee": "dev backend: not a hardware TEE",
            "seconds": started.elapsed().as_secs_f64(),
            "wallets": report.wallets,
            "steps": report.steps,
        });
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        print_table(&report);
        println!(
            "\n{} in {:.1} s (the enclave is the dev backend — not a hardware TEE)",
            if passed { "all steps passed" } else { "SOME STEPS FAILED" },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(passed)
}

fn print_table(report: &Report) {
    println!();
    for w in &report.wallets {
        println!("{:<8} wallet {}  {}", w.scheme.name(), w.id, w.address);
    }
    println!("\n{:<8} {:<34} {:<28} {:>8}  result", "scheme", "operation", "holders", "ms");
    for s in &report.steps {
        println!(
            "{:<8} {:<34} {:<28} {:>8.1}  {} {}",
            s.scheme.name(),
            s.operation,
            s.holders,
            s.millis,
            if s.ok { "ok" } else { "FAILED" },
            s.detail
        );
    }
}
