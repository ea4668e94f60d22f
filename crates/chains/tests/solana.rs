//! Solana: FROST-signed transactions verified by the solana crates and ed25519-dalek, and
//! executed by litesvm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::tools::LiteSvm;
use common::wallets;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use solana_message::{Message, VersionedMessage};
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use tssw_chains::address::solana_address;
use tssw_chains::solana::{MessageVersion, OffchainMessage, SolanaTransaction};
use tssw_chains::{ChainSignature, SigningPayload};
use tssw_protocol::Scheme;

const RECIPIENT: [u8; 32] = [42; 32];

fn dalek_verify(public: &[u8], message: &[u8], sig: &[u8; 64]) {
    let key = VerifyingKey::from_bytes(public.try_into().unwrap()).unwrap();
    key.verify_strict(message, &DalekSignature::from_bytes(sig)).unwrap();
}

#[test]
fn threshold_signed_transfers_verify() {
    for (round, wallet) in wallets(Scheme::Ed25519).iter().enumerate() {
        let me = wallet.public_key();
        for version in [MessageVersion::Legacy, MessageVersion::V0] {
            let tx = SolanaTransaction::transfer(&me, &RECIPIENT, 1_000, [3; 32], version).unwrap();
            let signed = tx.assemble(&wallet.sign(&tx, round)).unwrap();
            assert!(signed.complete);
            dalek_verify(&me, tx.message_bytes(), &signed.signature);
            let decoded: VersionedTransaction = wincode::deserialize(&signed.wire).unwrap();
            assert_eq!(wincode::serialize(&decoded.message).unwrap(), tx.message_bytes());
            match version {
                MessageVersion::Legacy => {
                    let legacy = decoded.clone().into_legacy_transaction().unwrap();
                    legacy.verify().unwrap();
                    assert_eq!(legacy.message_data(), tx.message_bytes());
                }
                MessageVersion::V0 => {
                    assert!(matches!(decoded.message, VersionedMessage::V0(_)));
                    decoded.verify_and_hash_message().unwrap();
                }
            }
            // Both RPC encodings round-trip to the same bytes.
            let b64 = SolanaTransaction::from_base64(&signed.to_base64(), &me).unwrap();
            let b58 = SolanaTransaction::from_base58(&signed.to_base58(), &me).unwrap();
            assert_eq!(b64.message_bytes(), tx.message_bytes());
            assert_eq!(b58.message_bytes(), tx.message_bytes());
        }
    }
}

#[test]
fn second_signer_position_is_respected() {
    let wallet = &wallets(Scheme::Ed25519)[1];
    let me = Pubkey::new_from_array(wallet.public_key().try_into().unwrap());
    let fee_payer = Pubkey::new_from_array([5; 32]);
    let ix = solana_system_interface::instruction::transfer(&me, &Pubkey::new_from_array(RECIPIENT), 7);
    let message = Message::new_with_blockhash(&[ix], Some(&fee_payer), &solana_hash::Hash::new_from_array([1; 32]));
    let unsigned =
        VersionedTransaction { signatures: vec![Default::default(); 2], message: VersionedMessage::Legacy(message) };
    let wire = wincode::serialize(&unsigned).unwrap();
    let tx = SolanaTransaction::from_wire(&wire, me.as_ref()).unwrap();
    assert_eq!(tx.signer_index(), 1);
    let signed = tx.assemble(&wallet.sign(&tx, 2)).unwrap();
    assert!(!signed.complete, "fee payer has not signed yet");
    let decoded: VersionedTransaction = wincode::deserialize(&signed.wire).unwrap();
    assert_eq!(decoded.signatures[1].as_ref(), &signed.signature[..]);
    assert_eq!(decoded.signatures[0], Default::default());
    dalek_verify(me.as_ref(), tx.message_bytes(), &signed.signature);
}

#[test]
fn threshold_signed_offchain_message_verifies() {
    for (round, wallet) in wallets(Scheme::Ed25519).iter().enumerate() {
        let me = wallet.public_key();
        let msg = OffchainMessage::new(b"Sign in to tss-wallet", &me).unwrap();
        let sig = msg.assemble(&wallet.sign(&msg, round)).unwrap();
        dalek_verify(&me, msg.serialized(), &sig);
        let parsed = solana_offchain_message::OffchainMessage::deserialize(msg.serialized()).unwrap();
        assert!(parsed.verify(&Pubkey::new_from_array(me.try_into().unwrap()), &sig.into()).unwrap());
        // A transaction-message signature cannot stand in for it, and vice versa.
        assert!(msg.assemble(&[ChainSignature::Ed25519([0; 64])]).is_err());
    }
}

#[test]
fn litesvm_executes_threshold_signed_transfers() {
    let [two_of_two, two_of_three] = wallets(Scheme::Ed25519);
    let payers: Vec<String> =
        [two_of_two, two_of_three].iter().map(|w| solana_address(&w.public_key()).unwrap()).collect();
    let recipient = solana_address(&RECIPIENT).unwrap();
    let airdrop = 10_000_000_000u64;
    let mut svm = LiteSvm::start(&payers, airdrop);
    let lamports = 1_234_567u64;
    let mut received = 0u64;
    for ((round, wallet), version) in
        [two_of_two, two_of_three].iter().enumerate().zip([MessageVersion::Legacy, MessageVersion::V0])
    {
        let me = wallet.public_key();
        let tx = SolanaTransaction::transfer(&me, &RECIPIENT, lamports, svm.blockhash, version).unwrap();
        let signed = tx.assemble(&wallet.sign(&tx, round)).unwrap();
        let watch = vec![payers[round].clone(), recipient.clone()];
        let report = svm.send(&signed.to_base64(), &watch);
        assert_eq!(report["ok"], true, "{} {version:?}: {report}", wallet.label);
        received += lamports;
        let balances = &report["balances"];
        let payer_after: u64 = balances[&payers[round]].as_str().unwrap().parse().unwrap();
        // One signature: the 5000-lamport base fee.
        assert_eq!(payer_after, airdrop - lamports - 5_000, "{}", wallet.label);
        assert_eq!(balances[&recipient].as_str().unwrap(), received.to_string());
        // The same transaction again is a duplicate and must not execute twice.
        let replay = svm.send(&signed.to_base64(), &watch);
        assert_eq!(replay["ok"], false);
    }
    // A tampered signature is rejected by the runtime.
    let wallet = two_of_two;
    let tx = SolanaTransaction::transfer(&wallet.public_key(), &RECIPIENT, 99, svm.blockhash, MessageVersion::Legacy)
        .unwrap();
    let mut signed = tx.assemble(&wallet.sign(&tx, 0)).unwrap();
    signed.wire[5] ^= 1;
    let report = svm.send(&signed.to_base64(), std::slice::from_ref(&recipient));
    assert_eq!(report["ok"], false);
    assert_eq!(report["balances"][&recipient].as_str().unwrap(), received.to_string());
}
