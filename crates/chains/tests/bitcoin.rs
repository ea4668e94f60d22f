//! Bitcoin Taproot: PSBTs signed through FROST ceremonies, checked by Bitcoin Core's script
//! interpreter (libbitcoinconsensus, taproot flags, all spent outputs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::PsbtSighashType;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut, Txid, Witness,
    consensus,
};
use common::wallets;
use tssw_chains::bitcoin::{TaprootKey, TaprootPsbt};
use tssw_chains::{ChainSignature, Error, SigningPayload};
use tssw_protocol::Scheme;

const FLAGS: u32 = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;

fn taproot_key(wallet: &common::Wallet) -> TaprootKey {
    TaprootKey::new(&wallet.internal_key(), &wallet.public_key()).unwrap()
}

fn foreign_script() -> ScriptBuf {
    // Some other P2TR output (BIP-86 test vector key).
    let q = hex::decode("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap();
    let p = hex::decode("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115").unwrap();
    TaprootKey::new(&p, &q).unwrap().script_pubkey()
}

/// A spend of `amounts.len()` outputs paying to `scripts`, with the given sighash types.
fn psbt(key: &TaprootKey, inputs: &[(ScriptBuf, u64, Option<TapSighashType>, bool)]) -> Psbt {
    let total: u64 = inputs.iter().map(|i| i.1).sum();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..inputs.len())
            .map(|i| TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([i as u8 + 1; 32]), vout: i as u32 },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![
            TxOut { value: Amount::from_sat(total / 2), script_pubkey: foreign_script() },
            TxOut { value: Amount::from_sat(total / 2 - 500), script_pubkey: key.script_pubkey() },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (input, (script, value, sighash, name_p)) in psbt.inputs.iter_mut().zip(inputs) {
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(*value), script_pubkey: script.clone() });
        input.sighash_type = sighash.map(PsbtSighashType::from);
        if *name_p {
            input.tap_internal_key = Some(key.internal_key());
        }
    }
    psbt
}

fn spent(psbt: &Psbt) -> Vec<TxOut> {
    psbt.inputs.iter().map(|i| i.witness_utxo.clone().unwrap()).collect()
}

/// Runs every input through libbitcoinconsensus; Ok when all are valid.
fn consensus_check(tx: &[u8], spent: &[TxOut]) -> Result<(), String> {
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    for (index, out) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            tx,
            Some(&utxos),
            index,
            FLAGS,
        )
        .map_err(|e| format!("input {index}: {e:?}"))?;
    }
    Ok(())
}

#[test]
fn threshold_signed_psbt_passes_consensus_and_tampering_fails() {
    for (round, wallet) in wallets(Scheme::Bip340).iter().enumerate() {
        let key = taproot_key(wallet);
        assert!(key.address(Network::Regtest).to_string().starts_with("bcrt1p"));
        let ours = key.script_pubkey();
        let psbt = psbt(
            &key,
            &[
                (ours.clone(), 50_000, None, true),
                (ours.clone(), 70_000, Some(TapSighashType::All), false),
                (ours.clone(), 30_000, Some(TapSighashType::Default), true),
            ],
        );
        let spent = spent(&psbt);
        let text = base64_psbt(&psbt);
        let payload = TaprootPsbt::from_base64(&text, &key).unwrap();
        let owned: Vec<usize> = payload.owned_inputs().iter().map(|o| o.index).collect();
        assert_eq!(owned, [0, 1, 2]);
        assert_eq!(payload.owned_inputs()[1].sighash_type, TapSighashType::All);
        let sigs = wallet.sign(&payload, round);
        let signed = payload.assemble(&sigs).unwrap();
        consensus_check(&signed.raw, &spent).unwrap_or_else(|e| panic!("{}: {e}", wallet.label));
        let tx: Transaction = consensus::deserialize(&signed.raw).unwrap();
        assert_eq!(tx.compute_txid().to_string(), signed.txid);
        // SIGHASH_ALL signatures carry the type byte; SIGHASH_DEFAULT ones do not.
        assert_eq!(tx.input[0].witness.nth(0).unwrap().len(), 64);
        assert_eq!(tx.input[1].witness.nth(0).unwrap().len(), 65);

        // An output amount changed after signing: every input's signature breaks.
        let mut bumped = tx.clone();
        bumped.output[0].value += Amount::from_sat(1);
        assert!(consensus_check(&consensus::serialize(&bumped), &spent).is_err());
        // A spent amount that differs from what was signed (BIP-341 commits to all of them).
        let mut lied = spent.clone();
        lied[2].value += Amount::from_sat(1);
        assert!(consensus_check(&signed.raw, &lied).is_err());
        // One signature byte flipped, in each input in turn.
        for i in 0..tx.input.len() {
            let mut broken = tx.clone();
            let mut sig = broken.input[i].witness.nth(0).unwrap().to_vec();
            sig[10] ^= 1;
            broken.input[i].witness = Witness::from_slice(&[sig]);
            let err = consensus_check(&consensus::serialize(&broken), &spent).unwrap_err();
            assert!(err.starts_with(&format!("input {i}")), "{err}");
        }
    }
}

#[test]
fn signatures_as_bytes_with_sighash_byte() {
    let wallet = &wallets(Scheme::Bip340)[1];
    let key = taproot_key(wallet);
    let ours = key.script_pubkey();
    let psbt = psbt(&key, &[(ours.clone(), 10_000, Some(TapSighashType::All), true), (ours, 20_000, None, false)]);
    let spent = spent(&psbt);
    let payload = TaprootPsbt::new(psbt, &key).unwrap();
    let sigs: Vec<Vec<u8>> = wallet
        .sign(&payload, 0)
        .into_iter()
        .map(|s| match s {
            ChainSignature::Bip340(b) => b.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    let mut with_type = sigs[0].clone();
    with_type.push(0x01);
    let signed = payload.finalize(&[&with_type, &sigs[1]]).unwrap();
    consensus_check(&signed.raw, &spent).unwrap();
    // A type byte that disagrees with the input's sighash type, or 0x00, is refused.
    let mut wrong = sigs[0].clone();
    wrong.push(0x02);
    assert!(payload.finalize(&[&wrong, &sigs[1]]).is_err());
    let mut zero = sigs[1].clone();
    zero.push(0x00);
    assert!(payload.finalize(&[&with_type, &zero]).is_err());
    // Signatures in the wrong order do not verify.
    assert!(matches!(payload.finalize(&[&sigs[1], &sigs[0]]), Err(Error::InvalidSignature { .. })));
    assert!(payload.finalize(&[&sigs[0]]).is_err());
}

#[test]
fn foreign_inputs_are_refused_or_left_alone() {
    let wallet = &wallets(Scheme::Bip340)[0];
    let key = taproot_key(wallet);
    let ours = key.script_pubkey();
    // Claims our internal key but pays elsewhere: refused.
    let claims = psbt(&key, &[(ours.clone(), 10_000, None, false), (foreign_script(), 10_000, None, true)]);
    assert!(matches!(TaprootPsbt::new(claims, &key), Err(Error::ForeignInput { index: 1, .. })));
    // Pays to us under another internal key: refused.
    let mut other_p = psbt(&key, &[(ours.clone(), 10_000, None, false)]);
    other_p.inputs[0].tap_internal_key = Some(foreign_key().internal_key());
    assert!(matches!(TaprootPsbt::new(other_p, &key), Err(Error::ForeignInput { index: 0, .. })));
    // Someone else's input: only ours is signed; the PSBT goes back for the other signer.
    let shared = psbt(&key, &[(foreign_script(), 10_000, None, false), (ours.clone(), 20_000, None, true)]);
    let payload = TaprootPsbt::new(shared, &key).unwrap();
    assert_eq!(payload.owned_inputs().len(), 1);
    assert_eq!(payload.owned_inputs()[0].index, 1);
    let sigs = wallet.sign(&payload, 0);
    assert!(payload.assemble(&sigs).is_err());
    let ChainSignature::Bip340(sig) = &sigs[0] else { panic!() };
    let partial = payload.sign_psbt(&[&sig[..]]).unwrap();
    assert!(partial.inputs[1].final_script_witness.is_some());
    assert!(partial.inputs[0].final_script_witness.is_none());
    // Nothing of ours at all.
    let none = psbt(&key, &[(foreign_script(), 10_000, None, false)]);
    assert!(TaprootPsbt::new(none, &key).is_err());
    // Unsupported sighash types.
    let anyone = psbt(&key, &[(ours, 10_000, Some(TapSighashType::AllPlusAnyoneCanPay), true)]);
    assert!(matches!(TaprootPsbt::new(anyone, &key), Err(Error::Unsupported(_))));
}

fn foreign_key() -> TaprootKey {
    let q = hex::decode("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap();
    let p = hex::decode("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115").unwrap();
    TaprootKey::new(&p, &q).unwrap()
}

fn base64_psbt(psbt: &Psbt) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
}
