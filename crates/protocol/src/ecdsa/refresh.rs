//! DKLs23 fast refresh: every party re-randomizes its share with a zero-constant polynomial
//! and reuses the OT base setup; the group key and chain code stay, the epoch moves on.
//!
//! Round 1: fragments of the zero polynomial (secret, direct). Round 2: broadcast the proof
//! commitment; send each party a zero-share seed commitment. Round 3: open the seeds.
//! Then `refresh_phase4` checks the proofs and returns the new party; the new public
//! package comes from `PublicKeyPackage::refresh` over the same proofs. Round 4 confirms.

use std::collections::{BTreeMap, BTreeSet};

use dkls23_core::protocols::dkg::ProofCommitment;
use dkls23_core::protocols::refresh::{KeepRefreshPhase2to3, TransmitRefreshPhase2to4, TransmitRefreshPhase3to4};
use zeroize::Zeroizing;

use super::dkg::Fragment;
use super::{K, Members, abort, check_route};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::share::{DklsParty, DklsPublic, KeyShare, PublicInner, PublicPackage, Secret};
use crate::{Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 4;

pub(crate) fn start(ctx: &Context, share: &KeyShare) -> Result<Started<KeyShare>, Error> {
    let (Secret::Ecdsa(party), PublicInner::Ecdsa { public, chain_code }) = (&share.secret, &share.public.inner) else {
        return Err(Error::InvalidParameters("not an ECDSA share".into()));
    };
    let members = Members::identity(ctx.parties.iter().copied());
    let fragments = Zeroizing::new(party.refresh_phase1());
    let mut out = Vec::new();
    let mut own = None;
    for (n, p) in members.parties() {
        let f = *fragments
            .get(usize::from(n) - 1)
            .ok_or(Error::Aborted("dkls23 refresh returned too few fragments".into()))?;
        if p == ctx.me {
            own = Some(Fragment(f));
        } else {
            out.push(Outgoing::to(p, &Fragment(f))?);
        }
    }
    let own = own.ok_or(Error::InvalidParameters("party not in the share's set".into()))?;
    let round = Round1 {
        party: party.clone(),
        public: public.clone(),
        chain_code: *chain_code,
        package: share.public.clone(),
        others: ctx.others(),
        members,
        own,
    };
    Ok((Box::new(round), out))
}

struct Round1 {
    party: Box<DklsParty>,
    public: DklsPublic,
    chain_code: [u8; 32],
    package: PublicPackage,
    others: BTreeSet<PartyIndex>,
    members: Members,
    own: Fragment,
}

impl Round<KeyShare> for Round1 {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let mut fragments = Zeroizing::new(Vec::new());
        for (_, p) in self.members.parties() {
            fragments.push(if p == ctx.me { self.own.0 } else { inbox.direct::<Fragment>(p)?.0 });
        }
        let (correction, proof, kept, transmit) = self.party.refresh_phase2(&ctx.id.0, &fragments);
        let mut out = vec![Outgoing::broadcast(&proof)?];
        for m in &transmit {
            out.push(Outgoing::to(self.members.party(m.parties.receiver), m)?);
        }
        let Round1 { party, public, chain_code, package, others, members, .. } = *self;
        let correction = Zeroizing::new(correction);
        Ok(Transition::Next(
            Box::new(Round2 {
                party,
                public,
                chain_code,
                package,
                others,
                members,
                correction,
                own_proof: proof,
                kept,
            }),
            out,
        ))
    }
}

struct Round2 {
    party: Box<DklsParty>,
    public: DklsPublic,
    chain_code: [u8; 32],
    package: PublicPackage,
    others: BTreeSet<PartyIndex>,
    members: Members,
    correction: Zeroizing<k256::Scalar>,
    own_proof: ProofCommitment<K>,
    kept: BTreeMap<dkls23_core::protocols::PartyIndex, KeepRefreshPhase2to3>,
}

impl Round<KeyShare> for Round2 {
    fn expects(&self) -> Expect {
        Expect::both_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round2 { party, public, chain_code, package, others, members, correction, own_proof, kept } = *self;
        let mut proofs = Vec::new();
        let mut received2 = Vec::new();
        for (n, p) in members.parties() {
            if p == ctx.me {
                proofs.push(own_proof.clone());
                continue;
            }
            let proof: ProofCommitment<K> = inbox.broadcast(p)?;
            if proof.index.as_u8() != n {
                return Err(Error::InvalidContribution {
                    culprit: p,
                    reason: "refresh proof names another sender".into(),
                });
            }
            let m: TransmitRefreshPhase2to4 = inbox.direct(p)?;
            check_route(&m.parties, p, ctx.me, &members, 2)?;
            proofs.push(proof);
            received2.push(m);
        }
        let (kept3, transmit) = party.refresh_phase3(&kept);
        let out =
            transmit.iter().map(|m| Outgoing::to(members.party(m.parties.receiver), m)).collect::<Result<_, _>>()?;
        Ok(Transition::Next(
            Box::new(Round3 {
                party,
                public,
                chain_code,
                package,
                others,
                members,
                correction,
                proofs,
                received2,
                kept3,
            }),
            out,
        ))
    }
}

struct Round3 {
    party: Box<DklsParty>,
    public: DklsPublic,
    chain_code: [u8; 32],
    package: PublicPackage,
    others: BTreeSet<PartyIndex>,
    members: Members,
    correction: Zeroizing<k256::Scalar>,
    proofs: Vec<ProofCommitment<K>>,
    received2: Vec<TransmitRefreshPhase2to4>,
    kept3: BTreeMap<dkls23_core::protocols::PartyIndex, dkls23_core::protocols::refresh::KeepRefreshPhase3to4>,
}

impl Round<KeyShare> for Round3 {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<KeyShare>, Error> {
        let Round3 { party, public, chain_code, package, others, members, correction, proofs, received2, kept3 } =
            *self;
        let mut received3 = Vec::new();
        for p in &others {
            let m: TransmitRefreshPhase3to4 = inbox.direct(*p)?;
            check_route(&m.parties, *p, ctx.me, &members, 3)?;
            received3.push(m);
        }
        let new_party = party
            .refresh_phase4(&ctx.id.0, &correction, &proofs, &kept3, &received2, &received3)
            .map_err(|a| abort(a, &members))?;
        let new_public = public
            .refresh(&ctx.id.0, &proofs)
            .map_err(|reason| Error::Aborted(format!("refreshed public package: {reason}")))?;
        let epoch = package.epoch.checked_add(1).ok_or(Error::InvalidParameters("epoch overflow".into()))?;
        let new_package =
            PublicPackage { epoch, inner: PublicInner::Ecdsa { public: new_public, chain_code }, ..package };
        let share = KeyShare { index: ctx.me, secret: Secret::Ecdsa(Box::new(new_party)), public: new_package };
        share.check()?;
        let digest = ctx.hash("ecdsa/refresh/confirm", &[&share.public.to_bytes()?]);
        Confirm::transition(share, digest, others)
    }
}
