//! Cost of the chain layer per payload type: parse + digest, and assembly (which verifies the
//! signature). Signatures come from one threshold ceremony each, made before timing starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use criterion::{Criterion, criterion_group, criterion_main};
use tssw_chains::address::evm_address;
use tssw_chains::bitcoin::{TaprootKey, TaprootPsbt};
use tssw_chains::evm::{EvmTransaction, PersonalMessage, TypedData};
use tssw_chains::solana::{MessageVersion, OffchainMessage, SolanaTransaction};
use tssw_chains::{ChainSignature, SigningDigest, SigningPayload};
use tssw_protocol::{KeyShare, Scheme, SignRequest, Signature, testing};

const TX_1559: &str = r#"{"to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x77359400","maxPriorityFeePerGas":"0x3b9aca00","value":"0x2386f26fc10000","nonce":"0x7","chainId":"0x1","type":"0x2"}"#;
const TX_LEGACY: &str = r#"{"to":"0x3535353535353535353535353535353535353535","gas":"0x5208","gasPrice":"0x77359400","value":"0x2386f26fc10000","nonce":"0x7","chainId":"0x1"}"#;
const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;

fn sign(shares: &[KeyShare], digests: &[SigningDigest]) -> Vec<ChainSignature> {
    let quorum: Vec<&KeyShare> = shares.iter().collect();
    digests
        .iter()
        .map(|d| {
            let req = match d {
                SigningDigest::Ecdsa { prehash } => SignRequest::Ecdsa { prehash: *prehash, derivation_path: None },
                SigningDigest::Ed25519 { message } => SignRequest::Ed25519 { message: message.clone() },
                SigningDigest::Bip340 { sighash } => SignRequest::Bip340 { sighash: *sighash, merkle_root: None },
            };
            match testing::sign(&quorum, &req).unwrap() {
                Signature::Ecdsa { r, s, recovery_id } => ChainSignature::Ecdsa { r, s, recovery_id },
                Signature::Ed25519(b) => ChainSignature::Ed25519(b),
                Signature::Bip340(b) => ChainSignature::Bip340(b),
            }
        })
        .collect()
}

fn bench_payload<P: SigningPayload>(c: &mut Criterion, name: &str, shares: &[KeyShare], parse: impl Fn() -> P) {
    let payload = parse();
    let sigs = sign(shares, &payload.digests());
    let mut group = c.benchmark_group(name);
    group.bench_function("digest", |b| b.iter(|| black_box(parse().digests())));
    group.bench_function("assemble", |b| b.iter(|| black_box(payload.assemble(black_box(&sigs)).is_ok())));
    group.finish();
}

fn psbt_base64(key: &TaprootKey, inputs: usize) -> String {
    use base64::Engine as _;
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..inputs)
            .map(|i| TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([i as u8 + 1; 32]), vout: 0 },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(9_000 * inputs as u64), script_pubkey: key.script_pubkey() }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for input in &mut psbt.inputs {
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(10_000), script_pubkey: key.script_pubkey() });
        input.tap_internal_key = Some(key.internal_key());
    }
    base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
}

fn benches(c: &mut Criterion) {
    let ecdsa = testing::dkg(Scheme::Ecdsa, 2, 2).unwrap();
    let ed = testing::dkg(Scheme::Ed25519, 2, 2).unwrap();
    let tr = testing::dkg(Scheme::Bip340, 2, 2).unwrap();

    let me = evm_address(&ecdsa[0].public_key().to_bytes()).unwrap();
    bench_payload(c, "evm_eip1559", &ecdsa, || {
        EvmTransaction::from_request_json(TX_1559.as_bytes(), me, None).unwrap()
    });
    bench_payload(c, "evm_legacy_eip155", &ecdsa, || {
        EvmTransaction::from_request_json(TX_LEGACY.as_bytes(), me, None).unwrap()
    });
    bench_payload(c, "evm_personal_sign", &ecdsa, || {
        PersonalMessage::from_rpc_param("Sign in to tss-wallet at 2026-01-01T00:00:00Z", me).unwrap()
    });
    bench_payload(c, "evm_eip712_mail", &ecdsa, || TypedData::from_json(MAIL.as_bytes(), me).unwrap());

    let sol = ed[0].public_key().to_bytes();
    for (name, version) in
        [("solana_transfer_legacy", MessageVersion::Legacy), ("solana_transfer_v0", MessageVersion::V0)]
    {
        let tx = SolanaTransaction::transfer(&sol, &[9; 32], 1_000, [1; 32], version).unwrap();
        let signed = tx.assemble(&sign(&ed, &tx.digests())).unwrap();
        let wire = signed.to_base64();
        bench_payload(c, name, &ed, || SolanaTransaction::from_base64(&wire, &sol).unwrap());
    }
    bench_payload(c, "solana_offchain_message", &ed, || OffchainMessage::new(b"Sign in to tss-wallet", &sol).unwrap());

    let key = TaprootKey::new(&tr[0].taproot_internal_key().unwrap(), &tr[0].public_key().to_bytes()).unwrap();
    for inputs in [1usize, 3] {
        let text = psbt_base64(&key, inputs);
        bench_payload(c, &format!("bitcoin_psbt_{inputs}_input"), &tr, || {
            TaprootPsbt::from_base64(&text, &key).unwrap()
        });
    }
}

criterion_group!(chains, benches);
criterion_main!(chains);
