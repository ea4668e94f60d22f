//! Inputs as wallets hand them over → payloads → what the ceremony signs → threshold
//! signatures (in-memory ceremonies) → artifacts, each artifact checked by a verifier that
//! is not our code: alloy's decoding and recovery, ed25519-dalek, libbitcoinconsensus.
//! Digests are cross-checked against published vectors or an independent computation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::sync::OnceLock;

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Signature as EvmSignature, TxKind, U256, b256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::hashes::Hash as _;
use bitcoin::key::UntweakedPublicKey;
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut, Txid, Witness};
use tssw_client::artifact::{ArtifactError, Signed};
use tssw_client::digest::{BitcoinOutput, Digest, SolanaTransfer};
use tssw_client::input::{InputError, InputKind, InputOptions, MAX_INPUT_BYTES, SignInput};
use tssw_client::{assemble, describe_input, parse};
use tssw_protocol::{KeyShare, Scheme, Signature, WalletKey, testing};

struct Wallets {
    ecdsa: Vec<KeyShare>,
    ed25519: Vec<KeyShare>,
    bip340: Vec<KeyShare>,
}

fn wallets() -> &'static Wallets {
    static W: OnceLock<Wallets> = OnceLock::new();
    W.get_or_init(|| Wallets {
        ecdsa: testing::dkg(Scheme::Ecdsa, 2, 2).unwrap(),
        ed25519: testing::dkg(Scheme::Ed25519, 2, 2).unwrap(),
        bip340: testing::dkg(Scheme::Bip340, 2, 2).unwrap(),
    })
}

fn key(shares: &[KeyShare]) -> WalletKey {
    shares[0].public_package().wallet_key()
}

/// Signs every request of `input` with both shares (one ceremony each).
fn sign(shares: &[KeyShare], input: &SignInput) -> Vec<Signature> {
    input.requests().iter().map(|r| testing::sign(&[&shares[0], &shares[1]], r).unwrap()).collect()
}

/// The one digest of a single-signature input.
fn one(input: &SignInput) -> Digest {
    let mut digests = describe_input(input).unwrap();
    assert_eq!(digests.len(), 1);
    digests.remove(0)
}

fn evm_address(shares: &[KeyShare], path: Option<&str>) -> Address {
    let public = match path {
        Some(p) => key(shares).derive_public_key(p).unwrap(),
        None => key(shares).public_key().clone(),
    };
    tssw_chains::address::evm_address(public.as_bytes()).unwrap()
}

fn tx_json(from: Address) -> String {
    format!(
        r#"{{"from":"{from}","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","value":"0xde0b6b3a7640000","nonce":"0x9","chainId":"0x1"}}"#
    )
}

#[test]
fn evm_transactions_in_every_wrapper_sign_to_a_transaction_alloy_recovers() {
    let w = &wallets().ecdsa;
    for path in [None, Some("m/44/60/0/0/3")] {
        let from = evm_address(w, path);
        let options = InputOptions { derivation_path: path.map(String::from), ..Default::default() };
        let tx = tx_json(from);
        let wrapped = [
            tx.clone(),
            format!("[{tx}]"),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{tx}]}}"#),
        ];
        // The signing hash, computed by alloy from the same fields.
        let expected = TxEip1559 {
            chain_id: 1,
            nonce: 9,
            gas_limit: 0x5208,
            max_fee_per_gas: 0x4a817c800,
            max_priority_fee_per_gas: 0x3b9aca00,
            to: TxKind::Call(Address::repeat_byte(0x35)),
            value: U256::from(10u64.pow(18)),
            ..Default::default()
        }
        .signature_hash();
        for json in &wrapped {
            let input = parse(InputKind::EvmTx, json.as_bytes(), &key(w), &options).unwrap();
            let Digest::EvmTransaction {
                signer,
                tx_type,
                chain_id,
                signing_hash,
                to,
                value_wei,
                nonce,
                gas_limit,
                max_fee_per_gas_wei,
                max_priority_fee_per_gas_wei,
                data,
            } = one(&input)
            else {
                panic!("not one EVM transaction digest")
            };
            assert_eq!((signer.parse::<Address>().unwrap(), tx_type, chain_id), (from, "eip1559", 1));
            assert_eq!(signing_hash, format!("{expected}"));
            // What the confirmation screen shows is the transaction that is signed.
            assert_eq!(to, Some(Address::repeat_byte(0x35).to_checksum(None)));
            assert_eq!((value_wei.as_str(), nonce, gas_limit), ("1000000000000000000", 9, 0x5208));
            assert_eq!(max_fee_per_gas_wei, 0x4a817c800u64.to_string());
            assert_eq!(max_priority_fee_per_gas_wei, Some(0x3b9aca00u64.to_string()));
            assert_eq!(data, "0x");
            let artifact = assemble(&input, &sign(w, &input)).unwrap();
            let Signed::EvmTransaction { raw_transaction, transaction_hash } = &artifact.signed else { panic!() };
            let raw = hex::decode(raw_transaction.trim_start_matches("0x")).unwrap();
            let envelope = TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
            assert_eq!(envelope.recover_signer().unwrap(), from);
            assert_eq!(transaction_hash, &format!("{}", envelope.tx_hash()));
            assert_eq!(artifact.address, from.to_checksum(None));
        }
    }
    // Legacy, with the chain id from the options; and a request from someone else.
    let legacy =
        r#"{"to":"0x3535353535353535353535353535353535353535","gas":"0x5208","gasPrice":"0x4a817c800","nonce":"0x0"}"#;
    let options = InputOptions { chain_id: Some(5), ..Default::default() };
    let input = parse(InputKind::EvmTx, legacy.as_bytes(), &key(w), &options).unwrap();
    assert!(matches!(
        &describe_input(&input).unwrap()[0],
        Digest::EvmTransaction { tx_type: "legacy", chain_id: 5, .. }
    ));
    let artifact = assemble(&input, &sign(w, &input)).unwrap();
    let Signed::EvmTransaction { raw_transaction, .. } = &artifact.signed else { panic!() };
    let raw = hex::decode(raw_transaction.trim_start_matches("0x")).unwrap();
    assert_eq!(TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap().recover_signer().unwrap(), evm_address(w, None));
    let foreign = tx_json(Address::repeat_byte(1));
    assert!(matches!(
        parse(InputKind::EvmTx, foreign.as_bytes(), &key(w), &InputOptions::default()),
        Err(InputError::Payload(_))
    ));
}

const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;

#[test]
fn eip712_digest_matches_the_published_example_and_its_signature_recovers() {
    let w = &wallets().ecdsa;
    let me = evm_address(w, None);
    let as_string = serde_json::to_string(MAIL).unwrap();
    for json in [
        MAIL.to_string(),
        as_string.clone(),
        format!(r#"["{me}",{as_string}]"#),
        format!(r#"{{"method":"eth_signTypedData_v4","params":["{me}",{MAIL}]}}"#),
    ] {
        let input = parse(InputKind::Eip712, json.as_bytes(), &key(w), &InputOptions::default()).unwrap();
        // EIP-712's own example (Example.js): domain separator, hashStruct(mail), digest.
        assert_eq!(
            describe_input(&input).unwrap(),
            vec![Digest::Eip712 {
                signer: me.to_checksum(None),
                primary_type: "Mail".into(),
                domain_separator: "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f".into(),
                struct_hash: Some("0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e".into()),
                digest: "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2".into(),
            }]
        );
        let artifact = assemble(&input, &sign(w, &input)).unwrap();
        let Signed::EvmSignature { signature } = &artifact.signed else { panic!() };
        let sig = EvmSignature::from_raw(&hex::decode(signature.trim_start_matches("0x")).unwrap()).unwrap();
        let digest = b256!("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
        assert_eq!(sig.recover_address_from_prehash(&digest).unwrap(), me);
    }
    let other = format!(r#"["{}",{MAIL}]"#, Address::repeat_byte(7));
    assert!(matches!(
        parse(InputKind::Eip712, other.as_bytes(), &key(w), &InputOptions::default()),
        Err(InputError::SignerMismatch(_))
    ));
    let wrong_method = format!(r#"{{"method":"eth_sign","params":["{me}",{MAIL}]}}"#);
    assert!(matches!(
        parse(InputKind::Eip712, wrong_method.as_bytes(), &key(w), &InputOptions::default()),
        Err(InputError::Malformed { .. })
    ));
}

#[test]
fn messages_are_eip191_for_ecdsa_and_solana_offchain_for_ed25519() {
    let w = &wallets().ecdsa;
    let me = evm_address(w, None);
    for text in [&b"Hello World"[..], b" 0x48656c6c6f20576f726c64\n"] {
        let input = parse(InputKind::Message, text, &key(w), &InputOptions::default()).unwrap();
        let Digest::Eip191 { digest, text, .. } = one(&input) else { panic!() };
        // keccak256("\x19Ethereum Signed Message:\n11Hello World"), as published by ethers and alloy.
        assert_eq!(digest, "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");
        assert_eq!(text.as_deref(), Some("Hello World"));
        let artifact = assemble(&input, &sign(w, &input)).unwrap();
        let Signed::EvmSignature { signature } = &artifact.signed else { panic!() };
        let sig = EvmSignature::from_raw(&hex::decode(signature.trim_start_matches("0x")).unwrap()).unwrap();
        assert_eq!(sig.recover_address_from_msg("Hello World").unwrap(), me);
    }
    // Text is signed as its exact bytes: a trailing newline is part of the message.
    let newline = parse(InputKind::Message, b"Hello World\n", &key(w), &InputOptions::default()).unwrap();
    assert_ne!(
        describe_input(&newline).unwrap(),
        describe_input(&parse(InputKind::Message, b"Hello World", &key(w), &InputOptions::default()).unwrap()).unwrap()
    );

    let ed = &wallets().ed25519;
    let input = parse(InputKind::Message, b"sign in to example.org", &key(ed), &InputOptions::default()).unwrap();
    // The off-chain message format by hand: signing domain, version 0, format 0 (ASCII),
    // length (u16 LE), text.
    let mut expected = b"\xffsolana offchain".to_vec();
    expected.extend([0, 0]);
    expected.extend(22u16.to_le_bytes());
    expected.extend(b"sign in to example.org");
    let Digest::SolanaOffchainMessage { signed_hex, .. } = one(&input) else { panic!() };
    assert_eq!(signed_hex, hex::encode(&expected));
    let artifact = assemble(&input, &sign(ed, &input)).unwrap();
    let Signed::SolanaSignature { signature } = &artifact.signed else { panic!() };
    verify_ed25519(ed, &expected, signature);

    let err = parse(InputKind::Message, b"hi", &key(&wallets().bip340), &InputOptions::default()).unwrap_err();
    assert!(matches!(err, InputError::WrongScheme { scheme: Scheme::Bip340, .. }), "{err}");
    assert!(err.to_string().contains("BIP-322"), "{err}");
}

fn verify_ed25519(shares: &[KeyShare], message: &[u8], signature_base58: &str) {
    let public: [u8; 32] = key(shares).public_key().as_bytes().try_into().unwrap();
    let sig: [u8; 64] = bs58::decode(signature_base58).into_vec().unwrap().try_into().unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .unwrap();
}

/// A legacy transfer message from `payer` built with the solana crates directly.
fn transfer_message(payer: [u8; 32]) -> Vec<u8> {
    let payer = solana_pubkey::Pubkey::new_from_array(payer);
    let ix =
        solana_system_interface::instruction::transfer(&payer, &solana_pubkey::Pubkey::new_from_array([9; 32]), 5000);
    solana_message::Message::new_with_blockhash(&[ix], Some(&payer), &solana_hash::Hash::new_from_array([3; 32]))
        .serialize()
}

#[test]
fn solana_transactions_and_messages_in_base64_base58_or_bytes() {
    let ed = &wallets().ed25519;
    let me: [u8; 32] = key(ed).public_key().as_bytes().try_into().unwrap();
    let message = transfer_message(me);
    // Wire format: compact-u16 signature count, blank signature, message.
    let mut wire = vec![1u8];
    wire.extend([0u8; 64]);
    wire.extend(&message);
    for text in [BASE64.encode(&wire).into_bytes(), bs58::encode(&wire).into_string().into_bytes(), wire.clone()] {
        let input = parse(InputKind::SolanaTx, &text, &key(ed), &InputOptions::default()).unwrap();
        let Digest::SolanaTransaction { message_base64, signer_index, version, transfers, instructions, .. } =
            one(&input)
        else {
            panic!()
        };
        assert_eq!((message_base64, signer_index, version), (BASE64.encode(&message), 0, "legacy"));
        let to = solana_pubkey::Pubkey::new_from_array([9; 32]).to_string();
        let from = solana_pubkey::Pubkey::new_from_array(me).to_string();
        assert_eq!((transfers, instructions), (vec![SolanaTransfer { from, to, lamports: 5000 }], 1));
        let artifact = assemble(&input, &sign(ed, &input)).unwrap();
        let Signed::SolanaTransaction { transaction_base64, signature, complete } = &artifact.signed else { panic!() };
        assert!(complete);
        verify_ed25519(ed, &message, signature);
        let signed = BASE64.decode(transaction_base64).unwrap();
        assert_eq!(&signed[1..65], &bs58::decode(signature).into_vec().unwrap()[..]);
        assert_eq!(&signed[65..], &message[..]);
    }
    // A bare message gives a signature.
    let input =
        parse(InputKind::SolanaTx, BASE64.encode(&message).as_bytes(), &key(ed), &InputOptions::default()).unwrap();
    let artifact = assemble(&input, &sign(ed, &input)).unwrap();
    let Signed::SolanaSignature { signature } = &artifact.signed else { panic!("{artifact:?}") };
    verify_ed25519(ed, &message, signature);
    assert_eq!(artifact.address, bs58::encode(me).into_string());

    let theirs = BASE64.encode(transfer_message([4; 32]));
    assert!(matches!(
        parse(InputKind::SolanaTx, theirs.as_bytes(), &key(ed), &InputOptions::default()),
        Err(InputError::Payload(_))
    ));
    for bad in [&b"!!not base anything!!"[..], b"", b"AAAA", &[0xff, 0xfe, 0x00]] {
        assert!(
            matches!(
                parse(InputKind::SolanaTx, bad, &key(ed), &InputOptions::default()),
                Err(InputError::Malformed { .. })
            ),
            "{bad:?}"
        );
    }
}

/// A PSBT spending `ours` outputs of the wallet and `foreign` outputs of another key.
fn make_psbt(wallet: &WalletKey, ours: usize, foreign: usize) -> Psbt {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let internal = UntweakedPublicKey::from_slice(&wallet.taproot_internal_key().unwrap()).unwrap();
    let ours_script = ScriptBuf::new_p2tr(&secp, internal, None);
    // Someone else's key-path output (the BIP-86 test vector's internal key).
    let other = hex::decode("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115").unwrap();
    let theirs = ScriptBuf::new_p2tr(&secp, UntweakedPublicKey::from_slice(&other).unwrap(), None);
    let n = ours + foreign;
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: (0..n)
            .map(|i| TxIn {
                previous_output: OutPoint { txid: Txid::from_byte_array([i as u8 + 1; 32]), vout: i as u32 },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(9_000 * n as u64), script_pubkey: ours_script.clone() }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (i, input) in psbt.inputs.iter_mut().enumerate() {
        let script = if i < ours { ours_script.clone() } else { theirs.clone() };
        input.witness_utxo = Some(TxOut { value: Amount::from_sat(10_000), script_pubkey: script });
        if i < ours {
            input.tap_internal_key = Some(internal);
        }
    }
    psbt
}

#[test]
fn psbt_inputs_sign_to_a_transaction_bitcoin_core_accepts() {
    let w = &wallets().bip340;
    let k = key(w);
    let psbt = make_psbt(&k, 2, 0);
    let spent: Vec<TxOut> = psbt.inputs.iter().map(|i| i.witness_utxo.clone().unwrap()).collect();
    for bytes in [BASE64.encode(psbt.serialize()).into_bytes(), psbt.serialize()] {
        let input = parse(InputKind::Psbt, &bytes, &k, &InputOptions::default()).unwrap();
        assert_eq!(input.payloads().len(), 2);
        // Each input's sighash, computed by the bitcoin crate directly.
        let mut cache = SighashCache::new(&psbt.unsigned_tx);
        let outputs: Vec<BitcoinOutput> = psbt
            .unsigned_tx
            .output
            .iter()
            .map(|o| BitcoinOutput {
                to: bitcoin::Address::from_script(&o.script_pubkey, bitcoin::Network::Bitcoin).unwrap().to_string(),
                value_sat: o.value.to_sat(),
            })
            .collect();
        let paid: u64 = outputs.iter().map(|o| o.value_sat).sum();
        for (i, d) in describe_input(&input).unwrap().into_iter().enumerate() {
            let want =
                cache.taproot_key_spend_signature_hash(i, &Prevouts::All(&spent), TapSighashType::Default).unwrap();
            assert_eq!(
                d,
                Digest::BitcoinInput {
                    input: i,
                    sighash_type: "SIGHASH_DEFAULT".into(),
                    sighash: hex::encode(want.to_byte_array()),
                    outputs: outputs.clone(),
                    fee_sat: Some(2 * 10_000 - paid),
                }
            );
        }
        let artifact = assemble(&input, &sign(w, &input)).unwrap();
        let Signed::BitcoinTransaction { transaction_hex, spent_outputs, .. } = &artifact.signed else { panic!() };
        assert!(artifact.address.starts_with("bc1p"));
        assert_eq!(spent_outputs.len(), 2);
        consensus_check(&hex::decode(transaction_hex).unwrap(), &spent);
        // Out of order or too few signatures are refused.
        let mut sigs = sign(w, &input);
        sigs.swap(0, 1);
        assert!(matches!(assemble(&input, &sigs), Err(ArtifactError::Chain(_))));
        assert!(matches!(assemble(&input, &sigs[..1]), Err(ArtifactError::Count { expected: 2, got: 1 })));
    }
    // With another signer's input, the artifact is the PSBT with ours finalized.
    let mixed = make_psbt(&k, 1, 1);
    let input =
        parse(InputKind::Psbt, BASE64.encode(mixed.serialize()).as_bytes(), &k, &InputOptions::default()).unwrap();
    assert_eq!(input.payloads().len(), 1);
    let artifact = assemble(&input, &sign(w, &input)).unwrap();
    let Signed::BitcoinPsbt { psbt_base64, .. } = &artifact.signed else { panic!("{artifact:?}") };
    let signed = Psbt::deserialize(&BASE64.decode(psbt_base64).unwrap()).unwrap();
    assert!(signed.inputs[0].final_script_witness.is_some() && signed.inputs[1].final_script_witness.is_none());

    // No input of ours, or a key without its internal key: clear errors.
    let none = make_psbt(&key(&testing::dkg(Scheme::Bip340, 2, 2).unwrap()), 1, 0);
    assert!(parse(InputKind::Psbt, BASE64.encode(none.serialize()).as_bytes(), &k, &InputOptions::default()).is_err());
    let bare = WalletKey::new(k.public_key().clone(), None, None).unwrap();
    let err = parse(InputKind::Psbt, BASE64.encode(psbt.serialize()).as_bytes(), &bare, &InputOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("internal key"), "{err}");
}

fn consensus_check(tx: &[u8], spent: &[TxOut]) {
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
            bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT,
        )
        .unwrap();
    }
}

#[test]
fn wrong_schemes_oversized_and_malformed_inputs_are_clear_errors() {
    let w = wallets();
    let keys = [(Scheme::Ecdsa, key(&w.ecdsa)), (Scheme::Ed25519, key(&w.ed25519)), (Scheme::Bip340, key(&w.bip340))];
    for kind in InputKind::ALL {
        assert_eq!(InputKind::from_str(kind.name()).unwrap(), kind);
        for (scheme, k) in &keys {
            let result = parse(kind, b"x", k, &InputOptions::default());
            if kind.schemes().contains(scheme) {
                assert!(!matches!(result, Err(InputError::WrongScheme { .. })), "{kind} {scheme}");
            } else {
                let err = result.unwrap_err();
                assert!(matches!(err, InputError::WrongScheme { .. }), "{kind} {scheme}: {err}");
                assert!(err.to_string().contains(&scheme.to_string()), "{err}");
            }
        }
        let big = vec![b'{'; MAX_INPUT_BYTES + 1];
        assert!(matches!(parse(kind, &big, &keys[0].1, &InputOptions::default()), Err(InputError::TooLarge { .. })));
    }
    assert!(InputKind::from_str("evm").is_err());
    let ecdsa = &keys[0].1;
    for bad in [&b""[..], b"{", b"[]", b"[1,2]", b"null", br#"{"method":"eth_sendTransaction"}"#, br#"{"method":1}"#] {
        assert!(parse(InputKind::EvmTx, bad, ecdsa, &InputOptions::default()).is_err(), "{bad:?}");
        assert!(parse(InputKind::Eip712, bad, ecdsa, &InputOptions::default()).is_err(), "{bad:?}");
    }
    let tx = tx_json(evm_address(&w.ecdsa, None));
    let bad_path = InputOptions { derivation_path: Some("m/44'/60".into()), ..Default::default() };
    assert!(matches!(parse(InputKind::EvmTx, tx.as_bytes(), ecdsa, &bad_path), Err(InputError::Payload(_))));
    let no_code = WalletKey::new(ecdsa.public_key().clone(), None, None).unwrap();
    let with_path = InputOptions { derivation_path: Some("m/0".into()), ..Default::default() };
    assert!(parse(InputKind::Message, b"m", &no_code, &with_path).unwrap_err().to_string().contains("chain code"));
    for bad in [&b""[..], b"not base64", b"cHNidP8=", &[0xff; 8]] {
        assert!(parse(InputKind::Psbt, bad, &keys[2].1, &InputOptions::default()).is_err(), "{bad:?}");
    }
}
