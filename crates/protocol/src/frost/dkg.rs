//! FROST DKG (RFC 9591 appendix C, `keys::dkg` part1–3).
//!
//! Round 1: broadcast the commitment to a random polynomial and a proof of knowledge of its
//! constant. Round 2: send each party its evaluation (secret). `part3` verifies every proof
//! and evaluation against the commitments and names the culprit. Round 3 confirms that all
//! parties saw the same round-1 broadcasts and computed the same group package.

use std::collections::{BTreeMap, BTreeSet};

use frost_core::keys::dkg::{self, round1, round2};

use super::{Ids, Suite, id, rng};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::share::{KeyShare, PublicPackage};
use crate::{Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 3;

pub(crate) fn start<C: Suite>(ctx: &Context, threshold: u16, n: u16) -> Result<Started<KeyShare>, Error> {
    let ids = Ids::<C>::new(ctx.parties.iter().copied())?;
    let (secret, package) = dkg::part1::<C, _>(id::<C>(ctx.me)?, n, threshold, rng()).map_err(|e| ids.error(e))?;
    let out = vec![Outgoing::broadcast(&package)?];
    Ok((Box::new(Round1 { secret, own: package, ids, others: ctx.others(), threshold, n }), out))
}

struct Round1<C: Suite> {
    secret: round1::SecretPackage<C>,
    own: round1::Package<C>,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
    threshold: u16,
    n: u16,
}

impl<C: Suite> Round<KeyShare> for Round1<C> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.others.clone())
    }
    fn finish(self: Box<Self>, _ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round1 { secret, own, ids, others, threshold, n } = *self;
        let mut received = BTreeMap::new();
        for p in &others {
            received.insert(id::<C>(*p)?, inbox.broadcast::<round1::Package<C>>(*p)?);
        }
        let (secret, packages) = dkg::part2(secret, &received).map_err(|e| ids.error(e))?;
        let mut out = Vec::new();
        for p in &others {
            let package =
                packages.get(&id::<C>(*p)?).ok_or(Error::Aborted("part2 made no package for a party".into()))?;
            out.push(Outgoing::to(*p, package)?);
        }
        Ok(Transition::Next(Box::new(Round2 { secret, own, round1: received, ids, others, threshold, n }), out))
    }
}

struct Round2<C: Suite> {
    secret: round2::SecretPackage<C>,
    own: round1::Package<C>,
    round1: BTreeMap<frost_core::Identifier<C>, round1::Package<C>>,
    ids: Ids<C>,
    others: BTreeSet<PartyIndex>,
    threshold: u16,
    n: u16,
}

impl<C: Suite> Round<KeyShare> for Round2<C> {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round2 { secret, own, round1, ids, others, threshold, n } = *self;
        let mut received = BTreeMap::new();
        for p in &others {
            received.insert(id::<C>(*p)?, inbox.direct::<round2::Package<C>>(*p)?);
        }
        let (key, public) = dkg::part3(&secret, &round1, &received).map_err(|e| ids.error(e))?;
        let me = id::<C>(ctx.me)?;
        let mut commitments: BTreeMap<_, _> = round1.iter().map(|(i, p)| (*i, p.commitment())).collect();
        commitments.insert(me, own.commitment());
        let internal_key = C::internal_key(&commitments)?;
        let package = PublicPackage { epoch: 1, threshold, parties: n, inner: C::public(public, internal_key)? };
        let share = KeyShare { index: ctx.me, secret: C::secret(key), public: package };
        share.check()?;
        let transcript = crate::ceremony::encode(&commitments.values().collect::<Vec<_>>())?;
        let digest = ctx.hash("frost/dkg/confirm", &[&transcript, &share.public.to_bytes()?]);
        Confirm::transition(share, digest, others)
    }
}
