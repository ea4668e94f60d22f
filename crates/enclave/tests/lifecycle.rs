//! For each scheme, over real processes on loopback: DKG 2-of-2 → sign a chain payload
//! (checked by independent verifiers and by the chain's own assembly) → refresh → sign with
//! the new epoch → the old sealed blob is refused as stale. Prints sign latency through
//! the enclave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use common::{World, p};
use tssw_chains::bitcoin::{TaprootKey, TaprootPsbt};
use tssw_chains::evm::EvmTransaction;
use tssw_chains::solana::{MessageVersion, SolanaTransaction};
use tssw_chains::{ChainSignature, SigningPayload};
use tssw_enclave::{Begin, CeremonyOp, ChainPayload, ClientError, ErrorCode, NewShare, WalletId};
use tssw_protocol::{KeyShare, Scheme, SignRequest, Signature};

const EVM_TX: &[u8] = br#"{"to":"0x000000000000000000000000000000000000dEaD","value":"0x2386f26fc10000","nonce":"0x7","gas":"0x5208","maxFeePerGas":"0x77359400","maxPriorityFeePerGas":"0x3b9aca00","chainId":"0x1"}"#;

fn payload(scheme: Scheme, user: &KeyShare) -> ChainPayload {
    let pk = user.public_key();
    match scheme {
        Scheme::Ecdsa => {
            ChainPayload::EvmTransaction { request_json: EVM_TX.to_vec(), chain_id: None, derivation_path: None }
        }
        Scheme::Ed25519 => {
            let tx =
                SolanaTransaction::transfer(pk.as_bytes(), &[42; 32], 1_000, [3; 32], MessageVersion::Legacy).unwrap();
            ChainPayload::SolanaMessage { message: tx.message_bytes().to_vec() }
        }
        Scheme::Bip340 => ChainPayload::BitcoinPsbtInput { psbt: psbt(&taproot_key(user)).serialize(), input: 0 },
    }
}

fn taproot_key(user: &KeyShare) -> TaprootKey {
    TaprootKey::new(&user.taproot_internal_key().unwrap(), user.public_key().as_bytes()).unwrap()
}

/// A spend of one output of ours to a foreign script with change back to us.
fn psbt(key: &TaprootKey) -> Psbt {
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint { txid: Txid::from_byte_array([7; 32]), vout: 1 },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut { value: Amount::from_sat(40_000), script_pubkey: ScriptBuf::new_op_return([1u8; 8]) },
            TxOut { value: Amount::from_sat(59_000), script_pubkey: key.script_pubkey() },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(TxOut { value: Amount::from_sat(100_000), script_pubkey: key.script_pubkey() });
    psbt.inputs[0].tap_internal_key = Some(key.internal_key());
    psbt
}

/// Checks the signature with a verifier that did not make it, then lets the chain's own
/// assembly check it against the payload and build the signed transaction.
fn check(user: &KeyShare, payload: &ChainPayload, request: &SignRequest, signature: &Signature) {
    let how = tssw_verify::verify(&user.public_key(), request, signature).unwrap();
    let pk = user.public_key();
    match (payload, signature) {
        (ChainPayload::EvmTransaction { request_json, .. }, Signature::Ecdsa { r, s, recovery_id }) => {
            let signer = tssw_chains::address::evm_address(pk.as_bytes()).unwrap();
            let tx = EvmTransaction::from_request_json(request_json, signer, None).unwrap();
            let signed = tx.assemble(&[ChainSignature::Ecdsa { r: *r, s: *s, recovery_id: *recovery_id }]).unwrap();
            assert_eq!(signed.raw[0], 2, "EIP-1559 envelope");
        }
        (ChainPayload::SolanaMessage { message }, Signature::Ed25519(sig)) => {
            let tx = SolanaTransaction::from_message_bytes(message, pk.as_bytes()).unwrap();
            let signed = tx.assemble(&[ChainSignature::Ed25519(*sig)]).unwrap();
            assert!(signed.complete);
        }
        (ChainPayload::BitcoinPsbtInput { psbt, .. }, Signature::Bip340(sig)) => {
            let psbt = TaprootPsbt::from_bytes(psbt, &taproot_key(user)).unwrap();
            psbt.finalize(&[&sig[..]]).unwrap();
        }
        other => panic!("unexpected pair {other:?}"),
    }
    eprintln!("{}: verified by {how}", user.scheme());
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

async fn lifecycle(scheme: Scheme) {
    let world = World::start(&format!("lifecycle-{scheme}")).await;
    let wallet = WalletId::new(format!("wallet-{scheme}")).unwrap();

    let t = Instant::now();
    let (user, sealed) = world.dkg(&wallet, scheme).await;
    let dkg_time = t.elapsed();
    let payload = payload(scheme, &user);

    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (request, signature) = world.sign(&wallet, &user, &sealed, &payload).await;
        times.push(t.elapsed());
        check(&user, &payload, &request, &signature);
    }

    // The enclave's own timing of the last sign (its log: one line per request).
    let log = common::log_of(&world.dir);
    for line in log.lines().filter(|l| l.contains("request=\"begin\"") || l.contains("request=\"run\"")).rev().take(2) {
        eprintln!("{scheme}: enclave log: {}", line.split_once("request=").map_or(line, |(_, r)| r));
    }

    let (user2, sealed2) = world.refresh(&wallet, &user, &sealed).await;
    assert_eq!(sealed2.sealed.epoch(), 2);
    let (request, signature) = world.sign(&wallet, &user2, &sealed2, &payload).await;
    check(&user2, &payload, &request, &signature);

    // The epoch-1 blob, presented for the wallet's current epoch 2: stale.
    let stale = begin_sign(&world, &wallet, &sealed, 2, &payload).await.unwrap_err();
    assert_eq!(stale.code(), Some(ErrorCode::StaleEpoch), "{stale}");
    // Relabelled as epoch 2 it does not authenticate.
    let relabelled = NewShare { sealed: sealed.sealed.relabel(wallet.clone(), 2, 1), ..sealed.clone() };
    let forged = begin_sign(&world, &wallet, &relabelled, 2, &payload).await.unwrap_err();
    assert_eq!(forged.code(), Some(ErrorCode::SealTampered), "{forged}");

    eprintln!(
        "{scheme}: DKG through the enclave {:.0} ms; sign p50 {:.1} ms (min {:.1}, max {:.1}) over {} runs",
        dkg_time.as_secs_f64() * 1e3,
        median(times.clone()).as_secs_f64() * 1e3,
        times.iter().min().unwrap().as_secs_f64() * 1e3,
        times.iter().max().unwrap().as_secs_f64() * 1e3,
        times.len(),
    );
}

pub async fn begin_sign(
    world: &World,
    wallet: &WalletId,
    sealed: &NewShare,
    epoch: u64,
    payload: &ChainPayload,
) -> Result<tssw_enclave::Began, ClientError> {
    let (contribution, _) = tssw_channel::Contribution::new(&world.user, &mut rand_core::OsRng);
    world
        .enclave
        .client
        .begin(Begin {
            wallet_id: wallet.clone(),
            operation: CeremonyOp::Sign {
                share: sealed.sealed.clone(),
                epoch,
                payload: payload.clone(),
                allow_raw_digest: false,
                expected_digest: None,
            },
            enclave_index: p(2),
            others: vec![tssw_channel::SetupParty { index: p(1), contribution }],
            expires_at: common::now() + 60,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_evm_transaction() {
    lifecycle(Scheme::Ecdsa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_solana_message() {
    lifecycle(Scheme::Ed25519).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bip340_psbt_input() {
    lifecycle(Scheme::Bip340).await;
}
