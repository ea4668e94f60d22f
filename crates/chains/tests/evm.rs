//! EVM: published vectors, threshold-signed transactions and messages checked by recovery,
//! and a local anvil node that must accept and execute both transaction types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Signature, U256, address, b256, hex};
use common::tools::Anvil;
use common::wallets;
use serde_json::json;
use tssw_chains::address::{evm_address, evm_address_checksummed};
use tssw_chains::evm::{EvmTransaction, PersonalMessage, TxType, TypedData};
use tssw_chains::{ChainSignature, SigningPayload};
use tssw_protocol::Scheme;

const EIP155_REQUEST: &str = r#"{"nonce":"0x9","gasPrice":"0x4a817c800","gas":"0x5208","to":"0x3535353535353535353535353535353535353535","value":"0xde0b6b3a7640000","data":"0x","chainId":"0x1"}"#;

const MAIL: &str = r#"{
  "types": {
    "EIP712Domain": [
      {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
      {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
    ],
    "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
    "Mail": [
      {"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
      {"name": "contents", "type": "string"}
    ]
  },
  "primaryType": "Mail",
  "domain": {
    "name": "Ether Mail", "version": "1", "chainId": 1,
    "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
  },
  "message": {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
    "contents": "Hello, Bob!"
  }
}"#;

fn scalars(r: &str, s: &str, recovery_id: u8) -> ChainSignature {
    ChainSignature::Ecdsa {
        r: hex::decode(r).unwrap().try_into().unwrap(),
        s: hex::decode(s).unwrap().try_into().unwrap(),
        recovery_id,
    }
}

#[test]
fn eip155_example_reproduces_published_hash_and_transaction() {
    // EIP-155 "Example": private key 0x4646…46, whose address is 0x9d8A…5A4F.
    let signer = address!("9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
    let tx = EvmTransaction::from_request_json(EIP155_REQUEST.as_bytes(), signer, None).unwrap();
    assert_eq!(tx.tx_type(), TxType::Legacy);
    assert_eq!(tx.signature_hash(), b256!("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"));
    // v = 37 = 35 + 2·chainId + 0.
    let sig = scalars(
        "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276",
        "67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83",
        0,
    );
    let signed = tx.assemble(&[sig]).unwrap();
    assert_eq!(
        signed.raw_hex(),
        "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
    );
    // The wrong parity recovers another address and must be refused.
    let flipped = scalars(
        "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276",
        "67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83",
        1,
    );
    assert!(tx.assemble(&[flipped]).is_err());
}

#[test]
fn eip712_mail_example_reproduces_published_digest_and_signature() {
    // Signed by keccak256("cow"), address 0xCD2a…D826, in the EIP's Example.js.
    let cow = address!("CD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    let typed = TypedData::from_json(MAIL.as_bytes(), cow).unwrap();
    assert_eq!(typed.hash(), b256!("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"));
    // The same document as a JSON string, as some dapps send it.
    let quoted = serde_json::to_vec(&MAIL).unwrap();
    assert_eq!(TypedData::from_json(&quoted, cow).unwrap().hash(), typed.hash());
    let sig = scalars(
        "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d",
        "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562",
        1,
    );
    let out = typed.assemble(&[sig]).unwrap();
    assert_eq!(
        hex::encode(out),
        "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c"
    );
}

fn request_1559(nonce: u64, to: Address, chain_id: u64) -> Vec<u8> {
    json!({
        "to": to, "gas": "0x5208", "maxFeePerGas": "0x77359400",
        "maxPriorityFeePerGas": "0x3b9aca00", "value": "0x2386f26fc10000",
        "nonce": format!("{nonce:#x}"), "chainId": format!("{chain_id:#x}"), "type": "0x2"
    })
    .to_string()
    .into_bytes()
}

fn request_legacy(nonce: u64, to: Address, chain_id: u64) -> Vec<u8> {
    json!({
        "to": to, "gas": "0x5208", "gasPrice": "0x77359400", "value": "0x2386f26fc10000",
        "nonce": format!("{nonce:#x}"), "chainId": format!("{chain_id:#x}"), "data": "0x"
    })
    .to_string()
    .into_bytes()
}

#[test]
fn threshold_signed_transactions_recover_to_the_wallet() {
    let to = address!("3535353535353535353535353535353535353535");
    for (round, wallet) in wallets(Scheme::Ecdsa).iter().enumerate() {
        let me = evm_address(&wallet.public_key()).unwrap();
        for json in [request_1559(0, to, 1), request_legacy(1, to, 137)] {
            let tx = EvmTransaction::from_request_json(&json, me, None).unwrap();
            let sigs = wallet.sign(&tx, round);
            let signed = tx.assemble(&sigs).unwrap();
            let envelope = TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
            assert_eq!(envelope.recover_signer().unwrap(), me, "{}", wallet.label);
            assert_eq!(*envelope.tx_hash(), signed.hash);
            // Low s on the wire (EIP-2), whatever the ceremony returned.
            let s = envelope.signature().s();
            assert!(s <= U256::from_be_bytes(SECP256K1N_HALF), "{}", wallet.label);
            if let TxEnvelope::Legacy(l) = &envelope {
                assert_eq!(l.tx().chain_id, Some(137));
            }
        }
    }
}

const SECP256K1N_HALF: [u8; 32] = hex!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

#[test]
fn high_s_is_normalised_with_flipped_parity() {
    let wallet = &wallets(Scheme::Ecdsa)[0];
    let me = evm_address(&wallet.public_key()).unwrap();
    let tx = EvmTransaction::from_request_json(&request_1559(0, Address::ZERO, 1), me, None).unwrap();
    let sigs = wallet.sign(&tx, 0);
    let [ChainSignature::Ecdsa { r, s, recovery_id }] = sigs[..] else { panic!("one ECDSA signature") };
    // (r, n - s) with the other parity is the same signature in its high-s form.
    let n = U256::from_be_bytes(hex!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));
    let high =
        ChainSignature::Ecdsa { r, s: (n - U256::from_be_bytes(s)).to_be_bytes::<32>(), recovery_id: recovery_id ^ 1 };
    assert_eq!(tx.assemble(&[high]).unwrap(), tx.assemble(&sigs).unwrap());
}

#[test]
fn threshold_signed_messages_recover_to_the_wallet() {
    for (round, wallet) in wallets(Scheme::Ecdsa).iter().enumerate() {
        let me = evm_address(&wallet.public_key()).unwrap();
        let personal = PersonalMessage::from_rpc_param("Sign in to tss-wallet", me).unwrap();
        let sig = personal.assemble(&wallet.sign(&personal, round)).unwrap();
        let parsed = Signature::from_raw_array(&sig).unwrap();
        assert!(sig[64] == 27 || sig[64] == 28);
        assert_eq!(parsed.recover_address_from_msg(b"Sign in to tss-wallet").unwrap(), me, "{}", wallet.label);

        let typed = TypedData::from_json(MAIL.as_bytes(), me).unwrap();
        let sig = typed.assemble(&wallet.sign(&typed, round + 1)).unwrap();
        let parsed = Signature::from_raw_array(&sig).unwrap();
        assert_eq!(parsed.recover_address_from_prehash(&typed.hash()).unwrap(), me);
    }
}

#[test]
fn bip32_child_address_signs_with_the_derived_key() {
    let path = "m/44/60/0/0/0";
    for (round, wallet) in wallets(Scheme::Ecdsa).iter().enumerate() {
        let root = evm_address(&wallet.public_key()).unwrap();
        let child = evm_address(&wallet.derived_public_key(path)).unwrap();
        assert_ne!(root, child);
        assert!(evm_address_checksummed(&wallet.derived_public_key(path)).unwrap().starts_with("0x"));
        let tx = EvmTransaction::from_request_json(&request_1559(3, root, 1), child, None).unwrap();
        let sigs = wallet.sign_digests(&tx.digests(), Some(path), round);
        let signed = tx.assemble(&sigs).unwrap();
        let envelope = TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
        assert_eq!(envelope.recover_signer().unwrap(), child);
        // The root key's signature is refused for the child's transaction.
        let root_sigs = wallet.sign(&tx, round);
        assert!(tx.assemble(&root_sigs).is_err());
    }
}

fn wait_receipt(anvil: &Anvil, hash: &str) -> serde_json::Value {
    for _ in 0..100 {
        let receipt = anvil.rpc("eth_getTransactionReceipt", json!([hash]));
        if !receipt.is_null() {
            return receipt;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no receipt for {hash}");
}

#[test]
fn anvil_executes_threshold_signed_eip1559_and_legacy_transactions() {
    let anvil = Anvil::start();
    let chain_id =
        u64::from_str_radix(anvil.rpc("eth_chainId", json!([])).as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap();
    let recipient = address!("000000000000000000000000000000000000bEEF");
    let mut expected_recipient = U256::ZERO;
    for (round, wallet) in wallets(Scheme::Ecdsa).iter().enumerate() {
        let me = evm_address(&wallet.public_key()).unwrap();
        anvil.rpc("anvil_setBalance", json!([me, "0xde0b6b3a7640000"]));
        for (nonce, make) in [(0u64, request_1559 as fn(u64, Address, u64) -> Vec<u8>), (1, request_legacy)] {
            // Let the request come from the wallet, as a dapp would send it.
            let mut request: serde_json::Value = serde_json::from_slice(&make(nonce, recipient, chain_id)).unwrap();
            request["from"] = json!(me);
            let tx = EvmTransaction::from_request_json(request.to_string().as_bytes(), me, None).unwrap();
            let signed = tx.assemble(&wallet.sign(&tx, round + nonce as usize)).unwrap();
            let hash = anvil.rpc("eth_sendRawTransaction", json!([signed.raw_hex()]));
            assert_eq!(hash.as_str().unwrap(), format!("{:#x}", signed.hash));
            let receipt = wait_receipt(&anvil, hash.as_str().unwrap());
            assert_eq!(receipt["status"], "0x1", "{} {:?}: {receipt}", wallet.label, tx.tx_type());
            assert_eq!(receipt["from"].as_str().unwrap().to_lowercase(), format!("{me:#x}"));
            let expected_type = if tx.tx_type() == TxType::Eip1559 { "0x2" } else { "0x0" };
            assert_eq!(receipt["type"], expected_type);
            expected_recipient += U256::from(10_000_000_000_000_000u64);
        }
    }
    let balance = anvil.rpc("eth_getBalance", json!([recipient, "latest"]));
    assert_eq!(balance.as_str().unwrap(), format!("{expected_recipient:#x}"));
}
