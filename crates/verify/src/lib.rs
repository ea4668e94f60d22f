//! Independent checks of the signatures tss-wallet makes: libsecp256k1 (the `secp256k1`
//! crate, Bitcoin Core's C library) for ECDSA with public-key recovery to the Ethereum
//! address and for BIP-340, and `ed25519-dalek` `verify_strict` for Ed25519. None of them is
//! the code that made the signature (`dkls23` uses k256, FROST its own arithmetic). Tests of
//! every crate and `tssw demo` use this one copy; [`artifacts`] checks whole signed
//! transactions and messages in their chains' encodings.

pub mod artifacts;

use secp256k1::{Message, Secp256k1};
use sha3::{Digest, Keccak256};
use tssw_protocol::{PublicKey, SignRequest, Signature};

/// Verifies `signature` over `request` under `public_key`; returns the verifier's name or
/// says what failed.
pub fn verify(public_key: &PublicKey, request: &SignRequest, signature: &Signature) -> Result<&'static str, String> {
    let secp = Secp256k1::new();
    match (request, signature) {
        (SignRequest::Ecdsa { prehash, .. }, Signature::Ecdsa { r, s, recovery_id }) => {
            let pk = secp256k1::PublicKey::from_slice(public_key.as_bytes()).map_err(|e| e.to_string())?;
            let mut compact = [0u8; 64];
            compact[..32].copy_from_slice(r);
            compact[32..].copy_from_slice(s);
            let msg = Message::from_digest(*prehash);
            // libsecp256k1 rejects high s, so this also checks the low-s normalization.
            let sig = secp256k1::ecdsa::Signature::from_compact(&compact).map_err(|e| e.to_string())?;
            secp.verify_ecdsa(&msg, &sig, &pk)
                .map_err(|e| format!("libsecp256k1 rejected the ECDSA signature: {e}"))?;
            let id = secp256k1::ecdsa::RecoveryId::from_i32(i32::from(*recovery_id)).map_err(|e| e.to_string())?;
            let rsig = secp256k1::ecdsa::RecoverableSignature::from_compact(&compact, id).map_err(|e| e.to_string())?;
            let recovered = secp.recover_ecdsa(&msg, &rsig).map_err(|e| e.to_string())?;
            if eth_address(&recovered) != eth_address(&pk) {
                return Err("the recovered Ethereum address differs from the wallet's".into());
            }
            Ok("libsecp256k1 verify + ecrecover")
        }
        (SignRequest::Ed25519 { message }, Signature::Ed25519(sig)) => {
            let key: [u8; 32] = public_key.as_bytes().try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
            vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
                .map_err(|e| format!("ed25519-dalek rejected the signature: {e}"))?;
            Ok("ed25519-dalek verify_strict")
        }
        (SignRequest::Bip340 { sighash, merkle_root: None }, Signature::Bip340(sig)) => {
            let xonly = secp256k1::XOnlyPublicKey::from_slice(public_key.as_bytes()).map_err(|e| e.to_string())?;
            let sig = secp256k1::schnorr::Signature::from_slice(sig).map_err(|e| e.to_string())?;
            secp.verify_schnorr(&sig, &Message::from_digest(*sighash), &xonly)
                .map_err(|e| format!("libsecp256k1 rejected the BIP-340 signature: {e}"))?;
            Ok("libsecp256k1 BIP-340 verify")
        }
        (SignRequest::Bip340 { merkle_root: Some(_), .. }, _) => {
            Err("a script-tree output key needs the internal key: verify against the tweaked key instead".into())
        }
        _ => Err("the signature is not of the request's scheme".into()),
    }
}

/// The 20-byte Ethereum address of a secp256k1 key: the last 20 bytes of keccak-256 of the
/// uncompressed point without its prefix.
pub fn eth_address(pk: &secp256k1::PublicKey) -> [u8; 20] {
    let hash = Keccak256::digest(&pk.serialize_uncompressed()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}
