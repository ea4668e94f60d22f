//! Issue 4's end-to-end run on real processes: `tssw enclave`, `tssw relay` and `tssw
//! server` (SQLite; PostgreSQL too when `TSSW_TEST_POSTGRES_URL` is set), with the client
//! library (`tssw_client::Wallets`) driving the API as a wallet app would. For each scheme:
//! create → sign → refresh → sign → reshare to 2-of-3 → sign with every pair of shares:
//!
//! - {device, enclave} through the service;
//! - {cloud, enclave} through the service, the cloud share opened from the cloud directory
//!   with the recovery code by a second device;
//! - {device, cloud} with no service at all (`sign_without_service`);
//!
//! and for BIP-340 a three-input PSBT signed in one batch ceremony (`sign-batch`).
//!
//! Every signature is of a real chain artifact (an EIP-1559 transaction, a Solana transfer,
//! a taproot key-path spend), and each artifact is checked by a verifier that is not our
//! code: alloy's decoding and sender recovery, ed25519-dalek `verify_strict` over the Solana
//! message, libbitcoinconsensus running the spend's scripts (`tssw_verify::artifacts`). Then
//! `tssw audit verify`, as a process, checks the audit log's hash chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::Deployment;
use tssw_api::http::{Holder, WalletView};
use tssw_backup::cloud::FileProvider;
use tssw_backup::{RecoveryCode, RecoverySecret};
use tssw_client::input::{InputKind, InputOptions, SignInput};
use tssw_client::keystore::format::KdfParams;
use tssw_client::wallet::sign_without_service;
use tssw_client::{ApiClient, Keystore, Signed, Wallets, assemble, parse};
use tssw_protocol::{KeyShare, Scheme, Signature, WalletKey};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_signs_refreshes_reshares_and_signs_with_every_pair_on_sqlite() {
    let d = tokio::task::block_in_place(|| Deployment::start("e2e-sqlite", None));
    flow(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_on_postgres_when_configured() {
    let Ok(pg) = std::env::var("TSSW_TEST_POSTGRES_URL") else {
        eprintln!("TSSW_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped (SQLite ran)");
        return;
    };
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&pg)
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}"));
    let schema = format!("t_{}", tssw_server::store::random_id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    let sep = if pg.contains('?') { '&' } else { '?' };
    let database = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
    let d = tokio::task::block_in_place(|| Deployment::start("e2e-pg", Some(database)));
    flow(&d).await;
    drop(d);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await.unwrap();
}

/// A device: its own keystore, signed in to the deployment's server.
async fn device(d: &Deployment, name: &str, token: &str) -> Wallets {
    let keystore = Keystore::create(d.dir.path(name), b"e2e keystore passphrase", KdfParams::DEFAULT).unwrap();
    let api = ApiClient::new(&d.server_url, token).unwrap();
    Wallets::open(api, keystore, &d.trust()).await.unwrap()
}

async fn flow(d: &Deployment) {
    let token = d.idp.token("e2e-user");
    let mut phone = device(d, "phone", &token).await;
    // The user's second device, which only ever opens the cloud share.
    let laptop = device(d, "laptop", &token).await;
    let cloud = FileProvider::new(d.dir.path("cloud")).unwrap();
    let mut ceremonies = 0;
    for scheme in [Scheme::Ecdsa, Scheme::Ed25519, Scheme::Bip340] {
        let created = phone.create(scheme).await.unwrap();
        ceremonies += 1;
        let id = created.id.clone();
        assert_eq!((created.status.as_str(), created.epoch, created.threshold, created.parties), ("active", 1, 2, 2));
        let mut nonce = 0;
        let share = phone.share(&id).await.unwrap();
        assert_eq!(share.epoch(), 1);
        nonce += 1;
        sign(&phone, &id, &share, &created, nonce).await;
        ceremonies += 1;
        if scheme == Scheme::Bip340 {
            nonce += 1;
            sign_psbt_in_one_batch(&phone, &id, &share, nonce).await;
            ceremonies += 1;
        }

        assert_eq!(phone.refresh(&id).await.unwrap(), 2, "{scheme}");
        ceremonies += 2;
        let refreshed = phone.share(&id).await.unwrap();
        assert_eq!((refreshed.epoch(), refreshed.index()), (2, share.index()));
        assert!(*refreshed.to_bytes().unwrap() != *share.to_bytes().unwrap(), "{scheme}: the share did not change");
        let view = phone.api().wallet(&id).await.unwrap();
        assert_eq!((view.epoch, view.pending_epoch, view.public_key.as_ref()), (2, None, created.public_key.as_ref()));
        nonce += 1;
        sign(&phone, &id, &refreshed, &view, nonce).await;
        ceremonies += 1;

        let code = RecoverySecret::Code(RecoveryCode::generate());
        assert_eq!(phone.upgrade_to_2of3(&id, &cloud, &code, None).await.unwrap(), 3, "{scheme}");
        ceremonies += 3;
        let view = phone.api().wallet(&id).await.unwrap();
        assert_eq!((view.epoch, view.pending_epoch, view.threshold, view.parties), (3, None, 2, 3), "{scheme}");
        assert_eq!(view.public_key, created.public_key, "{scheme}: the reshare changed the key");
        assert_eq!(view.addresses, created.addresses, "{scheme}: the reshare changed the addresses");
        let mut holders: Vec<Holder> = view.members.iter().map(|m| m.holder).collect();
        holders.sort_by_key(|h| h.name());
        assert_eq!(holders, [Holder::Cloud, Holder::Device, Holder::Enclave]);

        let mine = phone.share(&id).await.unwrap();
        assert_eq!((mine.epoch(), mine.threshold(), mine.parties()), (3, 2, 3));
        let theirs = laptop.cloud_share(&id, &cloud, &code).await.unwrap();
        let cloud_index = view.members.iter().find(|m| m.holder == Holder::Cloud).unwrap().index;
        assert_eq!((theirs.epoch(), theirs.index().get()), (3, cloud_index));
        // The wrong recovery code opens nothing.
        let wrong = RecoverySecret::Code(RecoveryCode::generate());
        assert!(laptop.cloud_share(&id, &cloud, &wrong).await.is_err(), "{scheme}: a wrong code opened the share");

        // {device, enclave} and {cloud, enclave}, through the service.
        sign(&phone, &id, &mine, &view, nonce + 1).await;
        sign(&laptop, &id, &theirs, &view, nonce + 2).await;
        nonce += 2;
        ceremonies += 2;
        // {device, cloud}, without it.
        nonce += 1;
        let input = chain_input(scheme, &mine.public_package().wallet_key(), &view, nonce);
        let signature = sign_without_service(&mine, &theirs, &input.requests()[0]).unwrap();
        check(scheme, &view, &input, &signature);
        eprintln!("{scheme}: created, refreshed, reshared to 2-of-3; signed by every pair");
    }

    // The audit log, checked by `tssw audit verify` on the database the server wrote.
    let mut audit = std::process::Command::new(&d.bin);
    audit.args(["audit", "verify", "--database-url", &d.database]);
    audit.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = common::spawn(&mut audit).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tssw audit verify failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let entries: usize = stdout
        .split("(entries: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no entry count in {stdout:?}"));
    // Each ceremony the service ran wrote its start and its end.
    assert!(entries >= 2 * ceremonies, "{entries} audit entries for {ceremonies} ceremonies");
    eprintln!("audit log intact: {entries} entries for {ceremonies} ceremonies");
}

/// Signs the `nonce`-th artifact with `share` and the enclave, through the service, and
/// checks it.
async fn sign(wallets: &Wallets, id: &str, share: &KeyShare, view: &WalletView, nonce: u64) {
    let scheme = share.scheme();
    let input = chain_input(scheme, &share.public_package().wallet_key(), view, nonce);
    let (request, signature) = wallets.sign_with(id, share, &input.payloads()[0]).await.unwrap();
    assert_eq!(request, input.requests()[0], "{scheme}: the service signed another request");
    check(scheme, view, &input, &signature);
}

/// A chain artifact for the wallet to sign, its `nonce`-th: an EIP-1559 transaction
/// (ECDSA), a legacy Solana transfer (Ed25519), a PSBT spending one taproot output (BIP-340).
fn chain_input(scheme: Scheme, key: &WalletKey, view: &WalletView, nonce: u64) -> SignInput {
    let addresses = view.addresses.as_ref().unwrap();
    let (kind, bytes) = match scheme {
        Scheme::Ecdsa => {
            let from = addresses.evm.as_ref().unwrap();
            let json = format!(
                r#"{{"from":"{from}","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0x{nonce:x}","nonce":"0x{nonce:x}","chainId":"0x1"}}"#
            );
            (InputKind::EvmTx, json.into_bytes())
        }
        Scheme::Ed25519 => {
            let payer: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
            (InputKind::SolanaTx, BASE64.encode(solana_transfer(payer, nonce)).into_bytes())
        }
        Scheme::Bip340 => (InputKind::Psbt, BASE64.encode(psbt(key, nonce, 1).serialize()).into_bytes()),
    };
    parse(kind, &bytes, key, &InputOptions::default()).unwrap()
}

/// An unsigned legacy Solana transaction, encoded by hand: `payer` sends `lamports` to
/// another account with the system program. Wire format: compact-u16 signature count, a
/// blank signature, then the message — header (1 signer, 0 read-only signed, 1 read-only
/// unsigned), the accounts, a recent blockhash, one instruction (system program index 2,
/// accounts 0 and 1, data = u32 LE 2 "transfer" ‖ u64 LE lamports).
fn solana_transfer(payer: [u8; 32], lamports: u64) -> Vec<u8> {
    let mut message = vec![1, 0, 1, 3];
    message.extend(payer);
    message.extend([9u8; 32]);
    message.extend([0u8; 32]);
    message.extend([3u8; 32]);
    message.extend([1, 2, 2, 0, 1, 12]);
    message.extend(2u32.to_le_bytes());
    message.extend(lamports.to_le_bytes());
    let mut wire = vec![1];
    wire.extend([0u8; 64]);
    wire.extend(message);
    wire
}

/// A PSBT spending `inputs` key-path outputs of the wallet (10 000 sat each) back to it.
fn psbt(key: &WalletKey, nonce: u64, inputs: u8) -> bitcoin::Psbt {
    use bitcoin::hashes::Hash as _;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let internal = bitcoin::key::UntweakedPublicKey::from_slice(&key.taproot_internal_key().unwrap()).unwrap();
    let script = ScriptBuf::new_p2tr(&secp, internal, None);
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: (0..inputs)
            .map(|i| TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([nonce as u8; 32]), vout: u32::from(i) },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(u64::from(inputs) * 10_000 - 1_000),
            script_pubkey: script.clone(),
        }],
    };
    let mut psbt = bitcoin::Psbt::from_unsigned_tx(tx).unwrap();
    for input in &mut psbt.inputs {
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(10_000), script_pubkey: script.clone() });
        input.tap_internal_key = Some(internal);
    }
    psbt
}

/// Signs every input of a three-input PSBT in one batch ceremony and runs the finished
/// spend through libbitcoinconsensus.
async fn sign_psbt_in_one_batch(wallets: &Wallets, id: &str, share: &KeyShare, nonce: u64) {
    let key = &share.public_package().wallet_key();
    let bytes = BASE64.encode(psbt(key, nonce, 3).serialize()).into_bytes();
    let input = parse(InputKind::Psbt, &bytes, key, &InputOptions::default()).unwrap();
    assert_eq!(input.payloads().len(), 3);
    let signed = wallets.sign_all(id, share, input.payloads()).await.unwrap();
    let (requests, signatures): (Vec<_>, Vec<Signature>) = signed.into_iter().unzip();
    assert_eq!(requests, input.requests(), "the batch signed other requests");
    let artifact = assemble(&input, &signatures).unwrap();
    let Signed::BitcoinTransaction { transaction_hex, spent_outputs, .. } = &artifact.signed else {
        panic!("unexpected artifact {:?}", artifact.signed)
    };
    let spent: Vec<(Vec<u8>, u64)> =
        spent_outputs.iter().map(|o| (hex::decode(&o.script_pubkey).unwrap(), o.value_sat)).collect();
    assert_eq!(spent.len(), 3);
    tssw_verify::artifacts::bitcoin_transaction(&hex::decode(transaction_hex).unwrap(), &spent)
        .unwrap_or_else(|e| panic!("libbitcoinconsensus refused the three-input spend: {e}"));
}

/// Assembles the artifact and checks it with the chain's own kind of verifier.
fn check(scheme: Scheme, view: &WalletView, input: &SignInput, signature: &Signature) {
    let public_key = input.key().public_key().clone();
    tssw_verify::verify(&public_key, &input.requests()[0], signature)
        .unwrap_or_else(|e| panic!("{scheme}: the signature does not verify: {e}"));
    let artifact = assemble(input, std::slice::from_ref(signature)).unwrap();
    let addresses = view.addresses.as_ref().unwrap();
    match (&artifact.signed, scheme) {
        (Signed::EvmTransaction { raw_transaction, .. }, Scheme::Ecdsa) => {
            let raw = hex::decode(raw_transaction.trim_start_matches("0x")).unwrap();
            let sender = tssw_verify::artifacts::evm_transaction_signer(&raw).unwrap();
            assert_eq!(Some(&sender), addresses.evm.as_ref(), "the transaction recovers to another sender");
        }
        (Signed::SolanaTransaction { transaction_base64, complete, .. }, Scheme::Ed25519) => {
            assert!(complete);
            let wire = BASE64.decode(transaction_base64).unwrap();
            let signers = tssw_verify::artifacts::solana_transaction(&wire).unwrap();
            assert_eq!(signers, vec![addresses.solana.clone().unwrap()]);
        }
        (Signed::BitcoinTransaction { transaction_hex, spent_outputs, .. }, Scheme::Bip340) => {
            let spent: Vec<(Vec<u8>, u64)> =
                spent_outputs.iter().map(|o| (hex::decode(&o.script_pubkey).unwrap(), o.value_sat)).collect();
            tssw_verify::artifacts::bitcoin_transaction(&hex::decode(transaction_hex).unwrap(), &spent)
                .unwrap_or_else(|e| panic!("libbitcoinconsensus refused the spend: {e}"));
        }
        (other, _) => panic!("{scheme}: unexpected artifact {other:?}"),
    }
    let expected = match scheme {
        Scheme::Ecdsa => &addresses.evm,
        Scheme::Ed25519 => &addresses.solana,
        Scheme::Bip340 => &addresses.bitcoin,
    };
    assert_eq!(Some(&artifact.address), expected.as_ref(), "{scheme}: signed by another address");
}
