//! Signatures checked the way chains check them: a real taproot key-path spend through
//! libbitcoinconsensus, BIP-32 child keys, and merkle-root tweaks computed by the `bitcoin`
//! crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::key::TweakedPublicKey;
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use common::{random32, verify, verify_with_merkle_root};
use tssw_protocol::{Scheme, SignRequest, Signature, testing};

/// Builds a transaction spending `amount` from the wallet's P2TR output and returns it with
/// the output it spends.
fn unsigned_spend(output_key: &[u8], amount: u64) -> (Transaction, TxOut) {
    let q = bitcoin::secp256k1::XOnlyPublicKey::from_slice(output_key).unwrap();
    let spent = TxOut {
        value: Amount::from_sat(amount),
        script_pubkey: ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(q)),
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint { txid: Txid::from_byte_array(random32()), vout: 0 },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut { value: Amount::from_sat(amount - 500), script_pubkey: spent.script_pubkey.clone() }],
    };
    (tx, spent)
}

fn consensus_check(tx: &Transaction, spent: &TxOut) -> Result<(), bitcoinconsensus::Error> {
    let script = spent.script_pubkey.as_bytes();
    let utxo = bitcoinconsensus::Utxo {
        script_pubkey: script.as_ptr(),
        script_pubkey_len: script.len() as u32,
        value: spent.value.to_sat() as i64,
    };
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    bitcoinconsensus::verify_with_flags(script, spent.value.to_sat(), &serialize(tx), Some(&[utxo]), 0, flags)
}

#[test]
fn threshold_taproot_key_path_spend_passes_libbitcoinconsensus() {
    for (t, n) in [(2, 2), (2, 3)] {
        let shares = testing::dkg(Scheme::Bip340, t, n).unwrap();
        let key = shares[0].public_key();
        // The address from the stored internal key P equals the one from the output key Q.
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let p = bitcoin::secp256k1::XOnlyPublicKey::from_slice(&shares[0].taproot_internal_key().unwrap()).unwrap();
        let q = bitcoin::secp256k1::XOnlyPublicKey::from_slice(key.as_bytes()).unwrap();
        assert_eq!(
            Address::p2tr(&secp, p, None, Network::Regtest),
            Address::p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(q), Network::Regtest)
        );

        let amount = 100_000;
        let (mut tx, spent) = unsigned_spend(key.as_bytes(), amount);
        let sighash = SighashCache::new(&tx)
            .taproot_key_spend_signature_hash(0, &Prevouts::All(std::slice::from_ref(&spent)), TapSighashType::Default)
            .unwrap();
        let request = SignRequest::Bip340 { sighash: sighash.to_byte_array(), merkle_root: None };
        let signature = testing::sign(&[&shares[0], &shares[usize::from(n) - 1]], &request).unwrap();
        let Signature::Bip340(sig) = signature else { panic!() };
        tx.input[0].witness = Witness::p2tr_key_spend(&bitcoin::taproot::Signature::from_slice(&sig).unwrap());
        consensus_check(&tx, &spent).unwrap();

        // One changed signature byte, or a different spent amount, is rejected.
        let mut bad_sig = sig;
        bad_sig[40] ^= 1;
        let mut forged = tx.clone();
        forged.input[0].witness = Witness::from_slice(&[bad_sig.to_vec()]);
        assert!(consensus_check(&forged, &spent).is_err());
        let mut other_amount = spent.clone();
        other_amount.value = Amount::from_sat(amount + 1);
        assert!(consensus_check(&tx, &other_amount).is_err());
    }
}

#[test]
fn bip340_signs_for_an_output_with_a_script_tree() {
    let shares = testing::dkg(Scheme::Bip340, 2, 3).unwrap();
    let (merkle_root, sighash) = (random32(), random32());
    let request = SignRequest::Bip340 { sighash, merkle_root: Some(merkle_root) };
    let signature = testing::sign(&[&shares[1], &shares[2]], &request).unwrap();
    verify_with_merkle_root(shares[0].taproot_internal_key().unwrap(), merkle_root, sighash, &signature).unwrap();
    // …and not for the key-path-only output key.
    let plain = SignRequest::Bip340 { sighash, merkle_root: None };
    assert!(verify(&shares[0].public_key(), &plain, &signature).is_err());
}

#[test]
fn ecdsa_signs_under_bip32_child_keys() {
    let shares = testing::dkg(Scheme::Ecdsa, 2, 2).unwrap();
    for path in ["m/44/60/0/0/0", "m/44/60/0/0/1", "m/0"] {
        let child = shares[0].derive_public_key(path).unwrap();
        assert_eq!(child, shares[1].derive_public_key(path).unwrap());
        assert_ne!(child, shares[0].public_key());
        let request = SignRequest::Ecdsa { prehash: random32(), derivation_path: Some(path.into()) };
        let signature = testing::sign(&[&shares[0], &shares[1]], &request).unwrap();
        verify(&child, &request, &signature).unwrap();
        assert!(verify(&shares[0].public_key(), &request, &signature).is_err());
    }
    // Hardened or malformed paths are refused before any message is sent.
    assert!(shares[0].derive_public_key("m/44'/60'").is_err());
    let request = SignRequest::Ecdsa { prehash: [1; 32], derivation_path: Some("44/60".into()) };
    assert!(testing::sign(&[&shares[0], &shares[1]], &request).is_err());
}

#[test]
fn ecdsa_public_key_matches_independent_bip32() {
    // The same child key computed by the `bitcoin` crate's BIP-32 from the group key and
    // the DKG chain code.
    use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpub};
    let shares = testing::dkg(Scheme::Ecdsa, 2, 2).unwrap();
    let xpub = Xpub {
        network: bitcoin::NetworkKind::Main,
        depth: 0,
        parent_fingerprint: Fingerprint::default(),
        child_number: ChildNumber::from_normal_idx(0).unwrap(),
        public_key: bitcoin::secp256k1::PublicKey::from_slice(shares[0].public_key().as_bytes()).unwrap(),
        chain_code: ChainCode::from(shares[0].chain_code().unwrap()),
    };
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let path: bitcoin::bip32::DerivationPath = "m/44/60/0/0/5".parse().unwrap();
    let child = xpub.derive_pub(&secp, &path).unwrap();
    assert_eq!(shares[1].derive_public_key("m/44/60/0/0/5").unwrap().as_bytes(), &child.public_key.serialize());
}
