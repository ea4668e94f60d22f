//! Independent checks of signed artifacts in their chains' standard encodings, as another
//! wallet or node would check them: alloy decodes an EVM transaction and recovers its
//! sender; alloy computes an EIP-712 digest and libsecp256k1 recovers the signer;
//! ed25519-dalek `verify_strict` checks every signature of a Solana transaction over the
//! message bytes; libbitcoinconsensus runs a Bitcoin transaction's scripts with taproot
//! flags against the outputs it spends. None of it shares code with what made them.

use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use secp256k1::{Message, Secp256k1};

/// The sender of a raw EIP-2718 (or legacy RLP) transaction, `0x`-hex, checksummed.
pub fn evm_transaction_signer(raw: &[u8]) -> Result<String, String> {
    let envelope = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| format!("not an EVM transaction: {e}"))?;
    let signer = envelope.recover_signer().map_err(|e| format!("no signer recovers: {e}"))?;
    Ok(signer.to_checksum(None))
}

/// The signer of EIP-712 typed data (`eth_signTypedData_v4` JSON) given the 65-byte
/// `r ‖ s ‖ v` signature, `0x`-hex, checksummed.
pub fn eip712_signer(typed_data_json: &[u8], signature: &[u8]) -> Result<String, String> {
    let data: alloy_dyn_abi::TypedData =
        serde_json::from_slice(typed_data_json).map_err(|e| format!("not EIP-712 typed data: {e}"))?;
    let digest = data.eip712_signing_hash().map_err(|e| format!("EIP-712 hashing: {e}"))?;
    recover_address(digest.0, signature)
}

/// The signer of an EIP-191 `personal_sign` message given the 65-byte signature.
pub fn personal_sign_signer(message: &[u8], signature: &[u8]) -> Result<String, String> {
    let digest = alloy_primitives::eip191_hash_message(message);
    recover_address(digest.0, signature)
}

fn recover_address(digest: [u8; 32], signature: &[u8]) -> Result<String, String> {
    let [rs @ .., v] = signature else { return Err("empty signature".into()) };
    if rs.len() != 64 {
        return Err(format!("a {}-byte signature, not 65", signature.len()));
    }
    let id = match v {
        27 | 28 => i32::from(v - 27),
        0 | 1 => i32::from(*v),
        other => return Err(format!("recovery byte {other}")),
    };
    let id = secp256k1::ecdsa::RecoveryId::from_i32(id).map_err(|e| e.to_string())?;
    let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(rs, id).map_err(|e| e.to_string())?;
    let key = Secp256k1::new().recover_ecdsa(&Message::from_digest(digest), &sig).map_err(|e| e.to_string())?;
    let address = crate::eth_address(&key);
    Ok(alloy_primitives::Address::from(address).to_checksum(None))
}

/// Checks every signature of a serialized Solana transaction (legacy or v0) over its
/// message bytes; returns the signers' addresses, base58.
pub fn solana_transaction(wire: &[u8]) -> Result<Vec<String>, String> {
    let tx: solana_transaction::versioned::VersionedTransaction =
        wincode::deserialize_exact(wire).map_err(|e| format!("not a Solana transaction: {e}"))?;
    let message = wincode::serialize(&tx.message).map_err(|e| e.to_string())?;
    let keys = tx.message.static_account_keys();
    let mut signers = Vec::new();
    for (i, signature) in tx.signatures.iter().enumerate() {
        let key = keys.get(i).ok_or("more signatures than accounts")?;
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.to_bytes()).map_err(|e| e.to_string())?;
        let sig = ed25519_dalek::Signature::from_bytes(signature.as_array());
        verifying.verify_strict(&message, &sig).map_err(|_| format!("signature {i} ({key}) does not verify"))?;
        signers.push(key.to_string());
    }
    Ok(signers)
}

/// Runs a Bitcoin transaction's input scripts in libbitcoinconsensus (taproot flags)
/// against the outputs it spends, given as (scriptPubKey, value in satoshis) per input.
pub fn bitcoin_transaction(tx: &[u8], spent: &[(Vec<u8>, u64)]) -> Result<(), String> {
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|(script, value)| bitcoinconsensus::Utxo {
            script_pubkey: script.as_ptr(),
            script_pubkey_len: script.len() as u32,
            value: *value as i64,
        })
        .collect();
    for (index, (script, value)) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            script,
            *value,
            tx,
            Some(&utxos),
            index,
            bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT,
        )
        .map_err(|e| format!("input {index} refused by libbitcoinconsensus: {e:?}"))?;
    }
    Ok(())
}
