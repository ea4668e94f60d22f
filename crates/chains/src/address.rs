//! Addresses from public-key bytes, in the format the protocol crate exports them.

use alloy_primitives::Address;
use bitcoin::key::{TapTweak, TweakedPublicKey, XOnlyPublicKey};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{KnownHrp, Network, ScriptBuf};
use k256_alloy::ecdsa::VerifyingKey;
use solana_pubkey::Pubkey;

use crate::Error;

/// The EVM address of a secp256k1 key given as SEC1 bytes (33-byte compressed, as the
/// protocol exports it, or 65-byte uncompressed). For a BIP-32 child account pass the derived
/// public key; the address is the same function of it.
pub fn evm_address(sec1: &[u8]) -> Result<Address, Error> {
    let key = VerifyingKey::from_sec1_bytes(sec1)
        .map_err(|e| Error::InvalidPublicKey { scheme: "secp256k1", reason: e.to_string() })?;
    Ok(Address::from_public_key(&key))
}

/// [`evm_address`] as an EIP-55 mixed-case checksum string. The checksum is chain-agnostic
/// (EIP-1191 chain-specific checksums are not what wallets display).
pub fn evm_address_checksummed(sec1: &[u8]) -> Result<String, Error> {
    Ok(evm_address(sec1)?.to_checksum(None))
}

/// The Solana address (base58) of a 32-byte Ed25519 public key.
pub fn solana_address(ed25519: &[u8]) -> Result<String, Error> {
    Ok(solana_pubkey(ed25519)?.to_string())
}

pub(crate) fn solana_pubkey(ed25519: &[u8]) -> Result<Pubkey, Error> {
    let bytes: [u8; 32] = ed25519.try_into().map_err(|_| Error::InvalidPublicKey {
        scheme: "ed25519",
        reason: format!("expected 32 bytes, got {}", ed25519.len()),
    })?;
    Ok(Pubkey::new_from_array(bytes))
}

/// A BIP-341 key-path-only Taproot key: the internal key P (kept for PSBT `tap_internal_key`
/// and `tr(P)` descriptors) and the output key Q = P + H_TapTweak(P)·G that coins are paid to
/// and that the threshold ceremony signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaprootKey {
    internal: XOnlyPublicKey,
    output: TweakedPublicKey,
}

impl TaprootKey {
    /// Both keys as 32-byte x-only bytes. Refuses a pair where Q is not P tweaked with an
    /// empty script tree: such a pair would put coins at an address no one can spend from
    /// with this key, or one whose PSBTs other wallets cannot check.
    pub fn new(internal_p: &[u8], output_q: &[u8]) -> Result<Self, Error> {
        let internal = xonly(internal_p)?;
        let output = xonly(output_q)?;
        let (expected, _parity) = internal.tap_tweak(&Secp256k1::verification_only(), None);
        if expected.to_x_only_public_key() != output {
            return Err(Error::InvalidPublicKey {
                scheme: "bip340",
                reason: "output key is not the internal key tweaked with no script tree".into(),
            });
        }
        Ok(Self { internal, output: expected })
    }

    /// The internal key P.
    pub fn internal_key(&self) -> XOnlyPublicKey {
        self.internal
    }

    /// The output key Q.
    pub fn output_key(&self) -> TweakedPublicKey {
        self.output
    }

    /// The P2TR address (bech32m: `bc1p…`, `tb1p…` for testnet and signet, `bcrt1p…`).
    pub fn address(&self, network: Network) -> bitcoin::Address {
        bitcoin::Address::p2tr_tweaked(self.output, KnownHrp::from(network))
    }

    /// The P2TR scriptPubKey (`OP_1 <Q>`) that our inputs' prevouts must carry.
    pub fn script_pubkey(&self) -> ScriptBuf {
        ScriptBuf::new_p2tr_tweaked(self.output)
    }
}

/// The P2TR address string for a Taproot key pair (see [`TaprootKey::new`]).
pub fn taproot_address(internal_p: &[u8], output_q: &[u8], network: Network) -> Result<String, Error> {
    Ok(TaprootKey::new(internal_p, output_q)?.address(network).to_string())
}

fn xonly(bytes: &[u8]) -> Result<XOnlyPublicKey, Error> {
    XOnlyPublicKey::from_slice(bytes).map_err(|e| Error::InvalidPublicKey { scheme: "bip340", reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn evm_address_of_generator_point() {
        // Private key 1 → G; its address is a well-known constant.
        let g = hex::decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798").unwrap();
        assert_eq!(evm_address_checksummed(&g).unwrap(), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(evm_address(&[5u8; 33]).is_err());
        assert!(evm_address(&[]).is_err());
        assert!(solana_address(&[0u8; 31]).is_err());
        assert!(TaprootKey::new(&[0u8; 32], &[0u8; 32]).is_err());
        let g = hex::decode("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798").unwrap();
        // Q = P (untweaked) must be refused.
        assert!(TaprootKey::new(&g, &g).is_err());
    }

    #[test]
    fn solana_address_is_base58() {
        // The all-zero key is the system program id.
        assert_eq!(solana_address(&[0u8; 32]).unwrap(), "11111111111111111111111111111111");
    }

    #[test]
    fn taproot_addresses_per_network() {
        // BIP-86 test vector: internal key of m/86'/0'/0'/0/0 and its address.
        let p = hex::decode("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115").unwrap();
        let q = hex::decode("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap();
        assert_eq!(
            taproot_address(&p, &q, Network::Bitcoin).unwrap(),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
        assert!(taproot_address(&p, &q, Network::Testnet).unwrap().starts_with("tb1p"));
        assert!(taproot_address(&p, &q, Network::Signet).unwrap().starts_with("tb1p"));
        assert!(taproot_address(&p, &q, Network::Regtest).unwrap().starts_with("bcrt1p"));
    }
}
