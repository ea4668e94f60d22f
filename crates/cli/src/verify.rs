//! Independent checks of the signatures the demo makes: libsecp256k1 for ECDSA (with
//! recovery to the Ethereum address) and BIP-340, ed25519-dalek for Ed25519. None of them is
//! the code that made the signature.

use secp256k1::{Message, Secp256k1};
use tssw_protocol::{PublicKey, SignRequest, Signature};

/// Verifies and names the verifier, or says what failed.
pub fn check(key: &PublicKey, request: &SignRequest, signature: &Signature) -> Result<&'static str, String> {
    let secp = Secp256k1::new();
    match (request, signature) {
        (SignRequest::Ecdsa { prehash, .. }, Signature::Ecdsa { r, s, recovery_id }) => {
            let pk = secp256k1::PublicKey::from_slice(key.as_bytes()).map_err(|e| e.to_string())?;
            let mut compact = [0u8; 64];
            compact[..32].copy_from_slice(r);
            compact[32..].copy_from_slice(s);
            let msg = Message::from_digest(*prehash);
            let sig = secp256k1::ecdsa::Signature::from_compact(&compact).map_err(|e| e.to_string())?;
            secp.verify_ecdsa(&msg, &sig, &pk).map_err(|e| format!("libsecp256k1 rejected the signature: {e}"))?;
            let id = secp256k1::ecdsa::RecoveryId::from_i32(i32::from(*recovery_id)).map_err(|e| e.to_string())?;
            let rsig = secp256k1::ecdsa::RecoverableSignature::from_compact(&compact, id).map_err(|e| e.to_string())?;
            let recovered = secp.recover_ecdsa(&msg, &rsig).map_err(|e| e.to_string())?;
            let address =
                |k: &secp256k1::PublicKey| tssw_chains::address::evm_address(&k.serialize()).map_err(|e| e.to_string());
            if address(&recovered)? != address(&pk)? {
                return Err("the recovered Ethereum address differs from the wallet's".into());
            }
            Ok("libsecp256k1 verify + ecrecover")
        }
        (SignRequest::Ed25519 { message }, Signature::Ed25519(sig)) => {
            let bytes: [u8; 32] = key.as_bytes().try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| e.to_string())?;
            vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
                .map_err(|e| format!("ed25519-dalek rejected the signature: {e}"))?;
            Ok("ed25519-dalek verify_strict")
        }
        (SignRequest::Bip340 { sighash, merkle_root: None }, Signature::Bip340(sig)) => {
            let xonly = secp256k1::XOnlyPublicKey::from_slice(key.as_bytes()).map_err(|e| e.to_string())?;
            let sig = secp256k1::schnorr::Signature::from_slice(sig).map_err(|e| e.to_string())?;
            secp.verify_schnorr(&sig, &Message::from_digest(*sighash), &xonly)
                .map_err(|e| format!("libsecp256k1 rejected the BIP-340 signature: {e}"))?;
            Ok("libsecp256k1 BIP-340 verify")
        }
        _ => Err("the signature is not of the request's scheme".into()),
    }
}
