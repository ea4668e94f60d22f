//! A wallet's address, computed on the device from its own copy of the public key (never
//! taken from the server's record, which a compromised server could swap).

use tssw_chains::address::{evm_address_checksummed, solana_address, taproot_address};
use tssw_chains::bitcoin::Network;
use tssw_protocol::{PublicKey, Scheme, WalletKey};

/// The address of `key` and the public key behind it: EIP-55 for ECDSA (of the non-hardened
/// BIP-32 `path` when given), base58 for Ed25519, P2TR on `network` for BIP-340.
pub fn address(key: &WalletKey, path: Option<&str>, network: Network) -> Result<(String, PublicKey), String> {
    match key.scheme() {
        Scheme::Ecdsa => {
            let public = match path {
                Some(p) => key.derive_public_key(p).map_err(|e| format!("path {p}: {e}"))?,
                None => key.public_key().clone(),
            };
            Ok((evm_address_checksummed(public.as_bytes()).map_err(|e| e.to_string())?, public))
        }
        Scheme::Ed25519 => {
            Ok((solana_address(key.public_key().as_bytes()).map_err(|e| e.to_string())?, key.public_key().clone()))
        }
        Scheme::Bip340 => {
            let internal = key.taproot_internal_key().ok_or("the wallet has no taproot internal key")?;
            let q = key.public_key().clone();
            Ok((taproot_address(&internal, q.as_bytes(), network).map_err(|e| e.to_string())?, q))
        }
    }
}
