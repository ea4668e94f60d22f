//! `tssw digest` as a process: every kind from a file or stdin, human and `--json`, each
//! digest checked against a published vector or an independent computation (alloy, the
//! bitcoin crate's `SighashCache`, hand-built Solana bytes); bad input → a clear error and
//! a non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Address, TxKind, U256};
use bitcoin::hashes::Hash as _;
use bitcoin::key::{TapTweak, UntweakedPublicKey};
use bitcoin::secp256k1::{Keypair, SECP256K1, SecretKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut, Txid, Witness};
use serde_json::Value;

fn tssw() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("tssw").unwrap()
}

/// Runs `tssw digest ARGS --json` on `stdin` and returns the JSON.
fn digest_json(args: &[&str], stdin: &[u8]) -> Value {
    let out = tssw().arg("digest").args(args).arg("--json").write_stdin(stdin).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `tssw digest ARGS` expecting failure; returns stderr.
fn digest_error(args: &[&str], stdin: &[u8]) -> String {
    let out = tssw().arg("digest").args(args).write_stdin(stdin).output().unwrap();
    assert!(!out.status.success(), "expected failure: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

/// The secp256k1 key of secret 0x4646…46 (EIP-155's example key), compressed, hex.
fn eip155_key() -> String {
    let sk = SecretKey::from_slice(&[0x46; 32]).unwrap();
    hex::encode(sk.public_key(SECP256K1).serialize())
}

#[test]
fn evm_transactions_print_the_signing_hash() {
    // EIP-155's example: the published signing hash.
    let eip155 = r#"{"nonce":"0x9","gasPrice":"0x4a817c800","gas":"0x5208","to":"0x3535353535353535353535353535353535353535","value":"0xde0b6b3a7640000","data":"0x","chainId":"0x1"}"#;
    let key = eip155_key();
    let out = digest_json(&["evm-tx", "--public-key", &key], eip155.as_bytes());
    assert_eq!(out["kind"], "evm-tx");
    assert_eq!(out["scheme"], "ecdsa");
    let d = &out["digests"][0];
    assert_eq!(d["signing_hash"], "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    assert_eq!(d["signs"], "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    assert_eq!(d["signer"], "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
    assert_eq!((d["tx_type"].as_str(), d["chain_id"].as_u64()), (Some("legacy"), Some(1)));

    // EIP-1559 from a file, the chain id from the command line; alloy computes the hash.
    let request = r#"{"to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0x1","nonce":"0x2","input":"0xabcd"}"#;
    let file = std::env::temp_dir().join(format!("tssw-digest-tx-{}.json", std::process::id()));
    std::fs::write(&file, request).unwrap();
    let path = file.to_str().unwrap();
    let out = digest_json(&["evm-tx", "--public-key", &key, "--chain-id", "10", "--file", path], b"");
    let expected = TxEip1559 {
        chain_id: 10,
        nonce: 2,
        gas_limit: 0x5208,
        max_fee_per_gas: 0x4a817c800,
        max_priority_fee_per_gas: 0x3b9aca00,
        to: TxKind::Call(Address::repeat_byte(0x35)),
        value: U256::from(1),
        input: vec![0xab, 0xcd].into(),
        ..Default::default()
    }
    .signature_hash();
    assert_eq!(out["digests"][0]["signing_hash"], format!("{expected}"));
    assert_eq!(out["digests"][0]["tx_type"], "eip1559");

    let human =
        tssw().args(["digest", "evm-tx", "--public-key", &key, "--chain-id", "10", "-f", path]).output().unwrap();
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("eip1559, chain id 10") && text.contains(&format!("{expected}")), "{text}");
    std::fs::remove_file(&file).unwrap();
}

const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;

#[test]
fn eip712_prints_the_domain_separator_struct_hash_and_digest() {
    // EIP-712's own example (Example.js).
    let out = digest_json(&["eip712", "--public-key", &eip155_key()], MAIL.as_bytes());
    let d = &out["digests"][0];
    assert_eq!(d["kind"], "eip712");
    assert_eq!(d["primary_type"], "Mail");
    assert_eq!(d["domain_separator"], "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
    assert_eq!(d["struct_hash"], "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
    assert_eq!(d["digest"], "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
}

#[test]
fn messages_print_the_eip191_digest_or_the_solana_offchain_bytes() {
    let out = digest_json(&["message", "--public-key", &eip155_key()], b"Hello World");
    assert_eq!(out["digests"][0]["digest"], "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");
    assert_eq!(out["digests"][0]["text"], "Hello World");

    // RFC 8032 test 1's public key; the off-chain format by hand.
    let ed = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let out = digest_json(&["message", "--public-key", ed], b"0x6869");
    let mut expected = b"\xffsolana offchain".to_vec();
    expected.extend([0, 0, 2, 0]);
    expected.extend(b"hi");
    assert_eq!(out["scheme"], "ed25519");
    assert_eq!(out["digests"][0]["signed_hex"], hex::encode(&expected));
    assert_eq!(out["digests"][0]["signs"], hex::encode(&expected));
}

#[test]
fn solana_transactions_print_the_message_bytes() {
    use base64::Engine as _;
    let ed = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
    // A legacy transfer message by hand: header (1 signer, 0 read-only signed, 1 read-only
    // unsigned), keys [payer, recipient, system program], blockhash, one instruction
    // (program 2, accounts [0, 1], data = transfer tag 2 ‖ lamports, little-endian).
    let mut message = vec![1, 0, 1, 3];
    message.extend(&ed);
    message.extend([7u8; 32]);
    message.extend([0u8; 32]);
    message.extend([5u8; 32]);
    message.extend([1, 2, 2, 0, 1, 12]);
    message.extend(2u32.to_le_bytes());
    message.extend(1_000_000u64.to_le_bytes());
    let mut wire = vec![1u8];
    wire.extend([0u8; 64]);
    wire.extend(&message);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&wire);
    let out = digest_json(&["solana-tx", "--public-key", &hex::encode(&ed)], b64.as_bytes());
    let d = &out["digests"][0];
    assert_eq!(d["message_hex"], hex::encode(&message));
    assert_eq!(d["signs"], hex::encode(&message));
    assert_eq!((d["version"].as_str(), d["signer_index"].as_u64()), (Some("legacy"), Some(0)));
}

#[test]
fn psbts_print_each_inputs_sighash() {
    let keypair = Keypair::from_seckey_slice(SECP256K1, &[0x11; 32]).unwrap();
    let (internal, _) = UntweakedPublicKey::from_keypair(&keypair);
    let (output, _) = internal.tap_tweak(SECP256K1, None);
    let ours = ScriptBuf::new_p2tr(SECP256K1, internal, None);
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: (0..2u8)
            .map(|i| TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([i + 1; 32]), vout: 0 },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(15_000), script_pubkey: ours.clone() }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (i, input) in psbt.inputs.iter_mut().enumerate() {
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(8_000 + i as u64), script_pubkey: ours.clone() });
        input.tap_internal_key = Some(internal);
    }
    psbt.inputs[1].sighash_type = Some(TapSighashType::All.into());
    let spent: Vec<TxOut> = psbt.inputs.iter().map(|i| i.witness_utxo.clone().unwrap()).collect();
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let want: Vec<String> = [TapSighashType::Default, TapSighashType::All]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            hex::encode(cache.taproot_key_spend_signature_hash(i, &Prevouts::All(&spent), *t).unwrap().to_byte_array())
        })
        .collect();

    let q = hex::encode(output.to_x_only_public_key().serialize());
    let p = hex::encode(internal.serialize());
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
    };
    let out = digest_json(&["psbt", "--public-key", &q, "--internal-key", &p], b64.as_bytes());
    let digests = out["digests"].as_array().unwrap();
    assert_eq!(digests.len(), 2);
    for (i, d) in digests.iter().enumerate() {
        assert_eq!(d["input"], i);
        assert_eq!(d["sighash"], want[i]);
        assert_eq!(d["signs"], want[i]);
    }
    assert_eq!(digests[1]["sighash_type"], "SIGHASH_ALL");

    let human = tssw()
        .args(["digest", "psbt", "--public-key", &q, "--internal-key", &p, "--network", "regtest"])
        .write_stdin(b64.clone())
        .output()
        .unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    let address = bitcoin::Address::p2tr(SECP256K1, internal, None, bitcoin::KnownHrp::Regtest);
    assert!(text.contains(&format!("2 input(s) of {address}")) && text.contains(&want[1]), "{text}");

    let err = digest_error(&["psbt", "--public-key", &q], b64.as_bytes());
    assert!(err.contains("internal key"), "{err}");
}

#[test]
fn bad_input_is_a_clear_error_and_a_failure_exit() {
    let key = eip155_key();
    let cases: &[(&[&str], &[u8], &str)] = &[
        (&["evm-tx", "--public-key", &key], b"{not json", "malformed evm-tx input"),
        (&["evm-tx", "--public-key", &key], br#"{"gas":"0x1","gasPrice":"0x1","nonce":"0x0"}"#, "chainId"),
        (&["evm-tx", "--public-key", &key, "--scheme", "ed25519"], b"{}", "not a valid ed25519 public key"),
        (&["solana-tx", "--public-key", &key, "--scheme", "ecdsa"], b"AAAA", "solana-tx needs an Ed25519"),
        (&["eip712", "--public-key", "zz"], MAIL.as_bytes(), "--public-key: not hex"),
        (&["eip712", "--public-key", &key, "--path", "m/44/60"], MAIL.as_bytes(), "chain code"),
        (&["message", "--public-key", &key, "--network", "mars"], b"x", "--network mars"),
        (&["psbt", "--public-key", &key[2..], "--internal-key", &key[2..]], b"cHNidP8=", "bip340"),
    ];
    for (args, stdin, needle) in cases {
        let err = digest_error(args, stdin);
        assert!(err.starts_with("tssw digest: ") && err.contains(needle), "{args:?}: {err}");
    }
    let missing = digest_error(&["eip712", "--public-key", &key, "--file", "/nonexistent/tx.json"], b"");
    assert!(missing.contains("cannot read /nonexistent/tx.json"), "{missing}");
    let big = vec![b' '; (1 << 20) + 10];
    assert!(digest_error(&["eip712", "--public-key", &key], &big).contains("limit"));
    // An unknown kind is a usage error from clap.
    let usage = tssw().args(["digest", "bitcoin-tx", "--public-key", &key]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
