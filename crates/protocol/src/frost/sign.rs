//! FROST signing (RFC 9591 section 5) without a coordinator: every signer broadcasts its
//! nonce commitments, builds the same signing package, broadcasts its signature share, and
//! aggregates. `aggregate` verifies the result and names a party whose share is bad.
//! Nonces are consumed by value in round 2 and never stored.

use std::collections::{BTreeMap, BTreeSet};

use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::round1::{self, SigningCommitments, SigningNonces};
use frost_core::round2::{self, SignatureShare};
use frost_core::{Identifier, SigningPackage};

use super::{Ids, Suite, id, rng};
use crate::ceremony::{Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::{Error, KeyShare, PartyIndex, Signature};

pub(crate) const ROUNDS: u8 = 2;

pub(crate) fn start<C: Suite>(
    ctx: &Context,
    share: &KeyShare,
    message: Vec<u8>,
    merkle_root: Option<[u8; 32]>,
) -> Result<Started<Signature>, Error> {
    let key = C::key_of(&share.secret).ok_or(Error::InvalidParameters("share of another scheme".into()))?;
    let public = C::public_of(&share.public.inner).ok_or(Error::InvalidParameters("share of another scheme".into()))?;
    let (key, public) = C::signing_keys(key, public, &share.public.inner, merkle_root)?;
    let (nonces, commitments) = round1::commit(key.signing_share(), &mut rng());
    let out = vec![Outgoing::broadcast(&commitments)?];
    let ids = Ids::<C>::new(ctx.parties.iter().copied())?;
    Ok((Box::new(Round1 { key, public, message, nonces, commitments, ids, others: ctx.others() }), out))
}

struct Round1<C: Suite> {
    key: KeyPackage<C>,
    public: PublicKeyPackage<C>,
    message: Vec<u8>,
    nonces: SigningNonces<C>,
    commitments: SigningCommitments<C>,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
}

impl<C: Suite> Round<Signature> for Round1<C> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<Signature>, Error> {
        let Round1 { key, public, message, nonces, commitments, ids, others } = *self;
        let mut all: BTreeMap<Identifier<C>, SigningCommitments<C>> = BTreeMap::new();
        all.insert(id::<C>(ctx.me)?, commitments);
        for p in &others {
            all.insert(id::<C>(*p)?, inbox.broadcast(*p)?);
        }
        let package = SigningPackage::new(all, &message);
        let share = round2::sign(&package, &nonces, &key).map_err(|e| ids.error(e))?;
        drop(nonces);
        let out = vec![Outgoing::broadcast(&share)?];
        Ok(Transition::Next(Box::new(Round2 { public, package, own: share, ids, others }), out))
    }
}

struct Round2<C: Suite> {
    public: PublicKeyPackage<C>,
    package: SigningPackage<C>,
    own: SignatureShare<C>,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
}

impl<C: Suite> Round<Signature> for Round2<C> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<Signature>, Error> {
        let Round2 { public, package, own, ids, others } = *self;
        let mut shares = BTreeMap::new();
        shares.insert(id::<C>(ctx.me)?, own);
        for p in &others {
            shares.insert(id::<C>(*p)?, inbox.broadcast::<SignatureShare<C>>(*p)?);
        }
        let signature = frost_core::aggregate(&package, &shares, &public).map_err(|e| ids.error(e))?;
        let bytes: [u8; 64] = signature
            .serialize()
            .map_err(|e| Error::Aborted(e.to_string()))?
            .try_into()
            .map_err(|_| Error::Aborted("signature is not 64 bytes".into()))?;
        Ok(Transition::Done(match C::SCHEME {
            crate::Scheme::Bip340 => Signature::Bip340(bytes),
            _ => Signature::Ed25519(bytes),
        }))
    }
}
