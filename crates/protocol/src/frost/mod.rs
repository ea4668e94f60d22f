//! FROST (RFC 9591) for Ed25519 and for BIP-340 (`frost-secp256k1-tr`), written once over
//! `frost_core::Ciphersuite` with the two suites as thin [`Suite`] impls; taproot's quirks
//! are hooks with defaults, as frost itself does it.

pub(crate) mod dkg;
pub(crate) mod refresh;
pub(crate) mod reshare;
pub(crate) mod sign;
mod taproot;

use std::collections::BTreeMap;

use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::{Ciphersuite, Field, Group, Identifier};

use crate::share::{PublicInner, Secret};
use crate::{Error, PartyIndex, Scheme};

pub(crate) type Scalar<C> = <<<C as Ciphersuite>::Group as Group>::Field as Field>::Scalar;
pub(crate) type Element<C> = <<C as Ciphersuite>::Group as Group>::Element;

/// A FROST ciphersuite this crate runs, with its scheme-specific hooks.
pub(crate) trait Suite: Ciphersuite {
    const SCHEME: Scheme;

    fn secret(key: KeyPackage<Self>) -> Secret;
    fn key_of(secret: &Secret) -> Option<&KeyPackage<Self>>;
    /// Wraps a group package; `internal_key` is the taproot internal key where there is one.
    fn public(public: PublicKeyPackage<Self>, internal_key: Option<[u8; 32]>) -> Result<PublicInner, Error>;
    fn public_of(inner: &PublicInner) -> Option<&PublicKeyPackage<Self>>;

    /// Hook run after DKG with every party's round-1 commitment: the taproot internal key.
    fn internal_key(
        _commitments: &BTreeMap<Identifier<Self>, &frost_core::keys::VerifiableSecretSharingCommitment<Self>>,
    ) -> Result<Option<[u8; 32]>, Error> {
        Ok(None)
    }

    /// Hook: the key and group packages a signature uses. By default the stored ones;
    /// taproot re-tweaks them for the requested merkle root.
    fn signing_keys(
        key: &KeyPackage<Self>,
        public: &PublicKeyPackage<Self>,
        _inner: &PublicInner,
        merkle_root: Option<[u8; 32]>,
    ) -> Result<(KeyPackage<Self>, PublicKeyPackage<Self>), Error> {
        if merkle_root.is_some() {
            return Err(Error::InvalidParameters(format!("{} signatures take no merkle root", Self::SCHEME)));
        }
        Ok((key.clone(), public.clone()))
    }
}

impl Suite for frost_ed25519::Ed25519Sha512 {
    const SCHEME: Scheme = Scheme::Ed25519;
    fn secret(key: KeyPackage<Self>) -> Secret {
        Secret::Ed25519(key)
    }
    fn key_of(secret: &Secret) -> Option<&KeyPackage<Self>> {
        match secret {
            Secret::Ed25519(k) => Some(k),
            _ => None,
        }
    }
    fn public(public: PublicKeyPackage<Self>, _internal_key: Option<[u8; 32]>) -> Result<PublicInner, Error> {
        Ok(PublicInner::Ed25519 { public })
    }
    fn public_of(inner: &PublicInner) -> Option<&PublicKeyPackage<Self>> {
        match inner {
            PublicInner::Ed25519 { public } => Some(public),
            _ => None,
        }
    }
}

/// The identifier of a party (FROST identifiers are non-zero scalars; ours are the indices).
pub(crate) fn id<C: Ciphersuite>(p: PartyIndex) -> Result<Identifier<C>, Error> {
    Identifier::try_from(p.get()).map_err(|_| Error::InvalidParameters(format!("party {p} has no FROST identifier")))
}

/// Maps FROST identifiers back to parties, for blame.
pub(crate) struct Ids<C: Ciphersuite> {
    by_id: BTreeMap<Identifier<C>, PartyIndex>,
}

impl<C: Ciphersuite> Ids<C> {
    pub fn new(parties: impl IntoIterator<Item = PartyIndex>) -> Result<Ids<C>, Error> {
        Ok(Ids { by_id: parties.into_iter().map(|p| Ok((id::<C>(p)?, p))).collect::<Result<_, Error>>()? })
    }
    pub fn party(&self, id: &Identifier<C>) -> Option<PartyIndex> {
        self.by_id.get(id).copied()
    }
    /// Turns a frost error into ours, naming the culprit the crate found.
    pub fn error(&self, e: frost_core::Error<C>) -> Error {
        match e.culprits().first().and_then(|c| self.party(c)) {
            Some(culprit) => Error::InvalidContribution { culprit, reason: e.to_string() },
            None => Error::Aborted(e.to_string()),
        }
    }
}

pub(crate) fn scalar<C: Ciphersuite>(bytes: &[u8]) -> Result<Scalar<C>, Error> {
    let ser = <<C::Group as Group>::Field as Field>::Serialization::try_from(bytes)
        .map_err(|_| Error::Aborted("scalar of the wrong length".into()))?;
    <<C::Group as Group>::Field as Field>::deserialize(&ser).map_err(|_| Error::Aborted("non-canonical scalar".into()))
}

pub(crate) fn scalar_bytes<C: Ciphersuite>(s: &Scalar<C>) -> Vec<u8> {
    <<C::Group as Group>::Field as Field>::serialize(s).as_ref().to_vec()
}

pub(crate) fn element<C: Ciphersuite>(bytes: &[u8]) -> Result<Element<C>, Error> {
    let ser = <C::Group as Group>::Serialization::try_from(bytes)
        .map_err(|_| Error::Aborted("point of the wrong length".into()))?;
    <C::Group as Group>::deserialize(&ser).map_err(|_| Error::Aborted("invalid point".into()))
}

pub(crate) fn element_bytes<C: Ciphersuite>(e: &Element<C>) -> Result<Vec<u8>, Error> {
    <C::Group as Group>::serialize(e).map(|s| s.as_ref().to_vec()).map_err(|_| Error::Aborted("identity point".into()))
}

pub(crate) fn rng() -> rand_core::OsRng {
    rand_core::OsRng
}
