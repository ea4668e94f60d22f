//! FROST refresh with DKG (`keys::refresh::refresh_dkg_*`): every party deals a sharing of
//! zero; the group key and threshold stay, every share changes, the epoch moves on. Round 3
//! confirms the new group package. Not covered by the NCC audit (it came later).

use std::collections::{BTreeMap, BTreeSet};

use frost_core::keys::dkg::{round1, round2};
use frost_core::keys::refresh;
use frost_core::keys::{KeyPackage, PublicKeyPackage};

use super::{Ids, Suite, id, rng};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::share::{KeyShare, PublicPackage};
use crate::{Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 3;

pub(crate) fn start<C: Suite>(ctx: &Context, share: &KeyShare) -> Result<Started<KeyShare>, Error> {
    let key = C::key_of(&share.secret).ok_or(Error::InvalidParameters("share of another scheme".into()))?.clone();
    let public =
        C::public_of(&share.public.inner).ok_or(Error::InvalidParameters("share of another scheme".into()))?.clone();
    let ids = Ids::<C>::new(ctx.parties.iter().copied())?;
    let (secret, package) =
        refresh::refresh_dkg_part1::<C, _>(id::<C>(ctx.me)?, share.parties(), share.threshold(), rng())
            .map_err(|e| ids.error(e))?;
    let out = vec![Outgoing::broadcast(&package)?];
    Ok((Box::new(Round1 { secret, key, public, old: share.public.clone(), ids, others: ctx.others() }), out))
}

struct Round1<C: Suite> {
    secret: round1::SecretPackage<C>,
    key: KeyPackage<C>,
    public: PublicKeyPackage<C>,
    old: PublicPackage,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
}

impl<C: Suite> Round<KeyShare> for Round1<C> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.others.clone())
    }
    fn finish(self: Box<Self>, _ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round1 { secret, key, public, old, ids, others } = *self;
        let mut received = BTreeMap::new();
        for p in &others {
            received.insert(id::<C>(*p)?, inbox.broadcast::<round1::Package<C>>(*p)?);
        }
        let (secret, packages) = refresh::refresh_dkg_part2(secret, &received).map_err(|e| ids.error(e))?;
        let mut out = Vec::new();
        for p in &others {
            let package =
                packages.get(&id::<C>(*p)?).ok_or(Error::Aborted("refresh made no package for a party".into()))?;
            out.push(Outgoing::to(*p, package)?);
        }
        Ok(Transition::Next(Box::new(Round2 { secret, round1: received, key, public, old, ids, others }), out))
    }
}

struct Round2<C: Suite> {
    secret: round2::SecretPackage<C>,
    round1: BTreeMap<frost_core::Identifier<C>, round1::Package<C>>,
    key: KeyPackage<C>,
    public: PublicKeyPackage<C>,
    old: PublicPackage,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
}

impl<C: Suite> Round<KeyShare> for Round2<C> {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round2 { secret, round1, key, public, old, ids, others } = *self;
        let mut received = BTreeMap::new();
        for p in &others {
            received.insert(id::<C>(*p)?, inbox.direct::<round2::Package<C>>(*p)?);
        }
        let (key, public) =
            refresh::refresh_dkg_shares(&secret, &round1, &received, public, key).map_err(|e| ids.error(e))?;
        let epoch = old.epoch.checked_add(1).ok_or(Error::InvalidParameters("epoch overflow".into()))?;
        let package = PublicPackage { epoch, inner: C::public(public, old.taproot_internal_key())?, ..old };
        let share = KeyShare { index: ctx.me, secret: C::secret(key), public: package };
        share.check()?;
        let digest = ctx.hash("frost/refresh/confirm", &[&share.public.to_bytes()?]);
        Confirm::transition(share, digest, others)
    }
}
