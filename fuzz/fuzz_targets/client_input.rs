//! What wallets hand over (JSON requests, typed data, messages, Solana transactions, PSBTs),
//! parsed for a wallet of each scheme, then described: never a panic. The first byte picks
//! the kind and the wallet, the rest is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_client::input::{InputKind, InputOptions};
use tssw_protocol::{PublicKey, Scheme, WalletKey};

// secp256k1 G (compressed), RFC 8032 test 1's Ed25519 key, the BIP-86 test vector's Q and P.
const G: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const ED: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const Q: &str = "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c";
const P: &str = "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115";

fn key(scheme: Scheme, public: &str, chain_code: Option<[u8; 32]>, internal: Option<&str>) -> Option<WalletKey> {
    let public = PublicKey::from_bytes(scheme, &hex::decode(public).ok()?).ok()?;
    let internal = match internal {
        Some(p) => Some(hex::decode(p).ok()?.try_into().ok()?),
        None => None,
    };
    WalletKey::new(public, chain_code, internal).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let keys = [
        key(Scheme::Ecdsa, G, Some([7; 32]), None),
        key(Scheme::Ed25519, ED, None, None),
        key(Scheme::Bip340, Q, None, Some(P)),
    ];
    let kind = InputKind::ALL[usize::from(selector) % InputKind::ALL.len()];
    let Some(Some(key)) = keys.get(usize::from(selector / 8) % keys.len()) else { return };
    let options = InputOptions {
        chain_id: Some(1),
        derivation_path: (selector & 0x80 != 0).then(|| "m/44/60/0/0/0".to_string()),
        ..Default::default()
    };
    if let Ok(parsed) = tssw_client::parse(kind, input, key, &options) {
        assert_eq!(parsed.payloads().len(), parsed.requests().len());
        assert!(tssw_client::describe_input(&parsed).is_ok(), "a parsed input failed to describe");
    }
});
