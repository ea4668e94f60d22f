//! The taproot ciphersuite's quirks, in one place (CRATE-NOTES "Taproot footguns").
//!
//! DKG output is already tweaked: shares q_i = ±p_i + t of the BIP-341 output key
//! Q = even(P) + t·G with t = H_TapTweak(x(P)) and no script tree. The internal key P is not
//! kept by the crate, so we recover it from the round-1 commitments and store it. A
//! key-path spend without script tree signs with the stored packages as they are; for an
//! output with a script tree (merkle root m) we untweak (subtract t, which needs P) and let
//! the crate tweak again with m. Both go through the same `round2::sign` and `aggregate`.

use std::collections::BTreeMap;

use frost_core::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost_core::{Ciphersuite, Group, Identifier, VerifyingKey};
use frost_secp256k1_tr::Secp256K1Sha256TR as Tr;
use frost_secp256k1_tr::keys::Tweak;
use sha2::{Digest, Sha256};

use super::{Suite, element, element_bytes, scalar, scalar_bytes};
use crate::share::{PublicInner, Secret};
use crate::{Error, Scheme};

impl Suite for Tr {
    const SCHEME: Scheme = Scheme::Bip340;
    fn secret(key: KeyPackage<Self>) -> Secret {
        Secret::Bip340(key)
    }
    fn key_of(secret: &Secret) -> Option<&KeyPackage<Self>> {
        match secret {
            Secret::Bip340(k) => Some(k),
            _ => None,
        }
    }
    fn public(public: PublicKeyPackage<Self>, internal_key: Option<[u8; 32]>) -> Result<PublicInner, Error> {
        let internal_key =
            internal_key.ok_or(Error::InvalidParameters("a taproot key needs its internal key".into()))?;
        Ok(PublicInner::Bip340 { public, internal_key })
    }
    fn public_of(inner: &PublicInner) -> Option<&PublicKeyPackage<Self>> {
        match inner {
            PublicInner::Bip340 { public, .. } => Some(public),
            _ => None,
        }
    }

    fn internal_key(
        commitments: &BTreeMap<Identifier<Self>, &frost_core::keys::VerifiableSecretSharingCommitment<Self>>,
    ) -> Result<Option<[u8; 32]>, Error> {
        // P is the sum of the constant terms: what `from_dkg_commitments` computes, without
        // also recomputing every verifying share.
        let mut p = <<Tr as Ciphersuite>::Group as Group>::identity();
        for commitment in commitments.values() {
            let serialized = commitment.serialize().map_err(|e| Error::Aborted(e.to_string()))?;
            let constant = serialized.first().ok_or(Error::Aborted("empty commitment".into()))?;
            p += element::<Tr>(constant)?;
        }
        Ok(Some(x_only(&element_bytes::<Tr>(&p)?)?))
    }

    fn signing_keys(
        key: &KeyPackage<Self>,
        public: &PublicKeyPackage<Self>,
        inner: &PublicInner,
        merkle_root: Option<[u8; 32]>,
    ) -> Result<(KeyPackage<Self>, PublicKeyPackage<Self>), Error> {
        let PublicInner::Bip340 { internal_key, .. } = inner else {
            return Err(Error::InvalidParameters("not a taproot key".into()));
        };
        // The stored packages are already tweaked for "no script tree": untweaking and
        // tweaking again with `None` would give the same packages back.
        let Some(merkle_root) = merkle_root else {
            return Ok((key.clone(), public.clone()));
        };
        let t = tap_tweak(internal_key)?;
        let t_point = <<Tr as Ciphersuite>::Group as Group>::generator() * t;
        let untweak_point =
            |bytes: Vec<u8>| -> Result<Vec<u8>, Error> { element_bytes::<Tr>(&(element::<Tr>(&bytes)? - t_point)) };

        let q = public.verifying_key().serialize().map_err(|e| Error::Aborted(e.to_string()))?;
        let p_even = untweak_point(q)?;
        // The stored output key must be even(P) + t·G for the stored P, or the share is not ours.
        if x_only(&p_even)? != *internal_key || p_even.first() != Some(&2) {
            return Err(Error::Aborted("taproot output key does not match the stored internal key".into()));
        }
        let vk = VerifyingKey::<Tr>::deserialize(&p_even).map_err(|e| Error::Aborted(e.to_string()))?;
        let mut shares = BTreeMap::new();
        for (id, vs) in public.verifying_shares() {
            let bytes = untweak_point(vs.serialize().map_err(|e| Error::Aborted(e.to_string()))?)?;
            shares.insert(*id, VerifyingShare::<Tr>::deserialize(&bytes).map_err(|e| Error::Aborted(e.to_string()))?);
        }
        let own_share = scalar::<Tr>(&key.signing_share().serialize())? - t;
        let signing_share = SigningShare::<Tr>::deserialize(&zeroize::Zeroizing::new(scalar_bytes::<Tr>(&own_share)))
            .map_err(|e| Error::Aborted(e.to_string()))?;
        let own_verifying =
            *shares.get(key.identifier()).ok_or(Error::Aborted("own verifying share missing".into()))?;
        let untweaked_key = KeyPackage::new(*key.identifier(), signing_share, own_verifying, vk, *key.min_signers());
        let untweaked_public = PublicKeyPackage::new(shares, vk, public.min_signers());
        Ok((untweaked_key.tweak(Some(merkle_root)), untweaked_public.tweak(Some(merkle_root))))
    }
}

/// int(H_TapTweak(x(P))) mod n, per BIP-341 (no script tree).
fn tap_tweak(internal_key: &[u8; 32]) -> Result<super::Scalar<Tr>, Error> {
    let tag = Sha256::digest(b"TapTweak");
    let digest = Sha256::new().chain_update(tag).chain_update(tag).chain_update(internal_key).finalize();
    // BIP-341 fails for a hash at or above the group order (probability ~2^-128).
    scalar::<Tr>(&digest).map_err(|_| Error::Aborted("taproot tweak out of range".into()))
}

fn x_only(compressed: &[u8]) -> Result<[u8; 32], Error> {
    compressed.get(1..33).and_then(|x| x.try_into().ok()).ok_or(Error::Aborted("not a compressed point".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    #[test]
    fn tap_tweak_matches_the_bitcoin_crate() {
        use bitcoin::key::{Secp256k1, UntweakedPublicKey};
        use bitcoin::taproot::TapTweakHash;
        let secp = Secp256k1::new();
        for seed in 1u8..20 {
            let sk = bitcoin::secp256k1::SecretKey::from_slice(&[seed; 32]).unwrap();
            let (xonly, _) = sk.x_only_public_key(&secp);
            let ours = super::tap_tweak(&xonly.serialize()).unwrap();
            let theirs = TapTweakHash::from_key_and_tweak(UntweakedPublicKey::from(xonly), None).to_scalar();
            assert_eq!(super::scalar_bytes::<super::Tr>(&ours), theirs.to_be_bytes().to_vec());
        }
    }
}
