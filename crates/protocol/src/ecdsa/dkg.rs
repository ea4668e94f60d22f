//! DKLs23 key generation (protocol 9.1 of the DKLs23 paper via `dkls23`'s `DkgSession`),
//! shared by DKG and by the new members of a reshare.
//!
//! Round 1: each party sends fragment `f_i(j)` of a random polynomial to party j (secret).
//! Round 2: broadcast a proof of the summed point and the chain-code commitment; send each
//! party a zero-share seed commitment. Round 3: broadcast the chain-code opening; send each
//! party the zero-share seed and the OT base setup for two-party multiplication. Then
//! `phase4` checks every proof, interpolates the group key and finishes the share. A last
//! confirmation round (see `Confirm`) compares everybody's public key package.

use std::collections::BTreeMap;

use dkls23_core::DkgSession;
use dkls23_core::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment, TransmitInitMulPhase3to4,
    TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{K, Members, abort, check_route};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::share::{DklsParty, DklsPublic, KeyShare, PublicInner, PublicPackage, Secret};
use crate::{CeremonyId, Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 4;

/// What to do with the finished `dkls23` party and package.
pub(crate) type Finish<O> = Box<dyn FnOnce(&Context, DklsParty, DklsPublic) -> Result<Transition<O>, Error> + Send>;

#[derive(Serialize, Deserialize)]
pub(crate) struct Fragment(pub k256::Scalar);

impl Drop for Fragment {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct R2Broadcast {
    proof: ProofCommitment<K>,
    chain: BroadcastDerivationPhase2to4,
}

#[derive(Serialize, Deserialize)]
struct R3Direct {
    zero: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<K>,
}

/// Starts a fresh t-of-n DKG for party `me` of `1..=n`.
pub(crate) fn start(id: CeremonyId, me: PartyIndex, threshold: u16, n: u16) -> Result<Started<KeyShare>, Error> {
    let params = super::params(threshold, n)?;
    let members = Members::identity(crate::ids::contiguous_parties(n)?);
    let session = DkgSession::<K>::new(params, me.dkls()?, id.0.to_vec());
    let fragments = Zeroizing::new(session.phase1());
    let mut out = Vec::new();
    let mut own = None;
    for (n, party) in members.parties() {
        let fragment = fragments
            .get(usize::from(n) - 1)
            .copied()
            .ok_or(Error::Aborted("dkls23 phase1 returned too few fragments".into()))?;
        if party == me {
            own = Some(Fragment(fragment));
        } else {
            out.push(Outgoing::to(party, &Fragment(fragment))?);
        }
    }
    let own = own.ok_or(Error::InvalidParameters("party not in 1..=n".into()))?;
    let finish: Finish<KeyShare> = Box::new(move |ctx, party, public| finish_dkg(ctx, party, public, threshold, n));
    Ok((Box::new(Round1 { me, session, own, members, finish }), out))
}

fn finish_dkg(
    ctx: &Context,
    party: DklsParty,
    public: DklsPublic,
    threshold: u16,
    n: u16,
) -> Result<Transition<KeyShare>, Error> {
    let chain_code = party.derivation_data.chain_code;
    let package = PublicPackage { epoch: 1, threshold, parties: n, inner: PublicInner::Ecdsa { public, chain_code } };
    let share = KeyShare { index: ctx.me, secret: Secret::Ecdsa(Box::new(party)), public: package };
    share.check()?;
    let digest = ctx.hash("ecdsa/dkg/confirm", &[&share.public.to_bytes()?]);
    Confirm::transition(share, digest, ctx.others())
}

pub(crate) struct Round1<O> {
    pub me: PartyIndex,
    pub session: DkgSession<K>,
    pub own: Fragment,
    pub members: Members,
    pub finish: Finish<O>,
}

impl<O: Send + 'static> Round<O> for Round1<O> {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.members.others(self.me))
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<O>, Error> {
        let mut fragments = Zeroizing::new(Vec::new());
        for (_, party) in self.members.parties() {
            if party == ctx.me {
                fragments.push(self.own.0);
            } else {
                fragments.push(inbox.direct::<Fragment>(party)?.0);
            }
        }
        let Round1 { session, members, finish, .. } = *self;
        round2(ctx, session, &fragments, members, finish)
    }
}

/// Runs `phase2` on the summed fragments (DKG: one from each party; reshare: one from
/// each dealer) and sends round-2 messages.
pub(crate) fn round2<O: Send + 'static>(
    ctx: &Context,
    mut session: DkgSession<K>,
    fragments: &[k256::Scalar],
    members: Members,
    finish: Finish<O>,
) -> Result<Transition<O>, Error> {
    let (proof, zero, chain) = session.phase2(fragments).map_err(|a| abort(a, &members))?;
    let mut out = vec![Outgoing::broadcast(&R2Broadcast { proof: proof.clone(), chain: chain.clone() })?];
    for message in zero {
        out.push(Outgoing::to(members.party(message.parties.receiver), &message)?);
    }
    let me = ctx.me;
    Ok(Transition::Next(Box::new(Round2 { session, members, me, own_proof: proof, own_chain: chain, finish }), out))
}

struct Round2<O> {
    session: DkgSession<K>,
    members: Members,
    me: PartyIndex,
    own_proof: ProofCommitment<K>,
    own_chain: BroadcastDerivationPhase2to4,
    finish: Finish<O>,
}

impl<O: Send + 'static> Round<O> for Round2<O> {
    fn expects(&self) -> Expect {
        Expect::both_from(self.members.others(self.me))
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<O>, Error> {
        let Round2 { mut session, members, me, own_proof, own_chain, finish } = *self;
        let mut proofs = Vec::new();
        let mut chains2 = BTreeMap::new();
        let mut zero2 = Vec::new();
        for (n, party) in members.parties() {
            if party == me {
                proofs.push(own_proof.clone());
                chains2.insert(own_chain.sender_index, own_chain.clone());
                continue;
            }
            let b: R2Broadcast = inbox.broadcast(party)?;
            if b.proof.index.as_u8() != n || b.chain.sender_index.as_u8() != n {
                return Err(Error::InvalidContribution {
                    culprit: party,
                    reason: "round 2 broadcast names another sender".into(),
                });
            }
            let z: TransmitInitZeroSharePhase2to4 = inbox.direct(party)?;
            check_route(&z.parties, party, me, &members, 2)?;
            proofs.push(b.proof);
            chains2.insert(b.chain.sender_index, b.chain);
            zero2.push(z);
        }
        let (zero3, mul3, chain3) = session.phase3().map_err(|a| abort(a, &members))?;
        let mut out = vec![Outgoing::broadcast(&chain3)?];
        let mut mul3: BTreeMap<u8, TransmitInitMulPhase3to4<K>> =
            mul3.into_iter().map(|m| (m.parties.receiver.as_u8(), m)).collect();
        for zero in zero3 {
            let receiver = zero.parties.receiver;
            let mul = mul3
                .remove(&receiver.as_u8())
                .ok_or(Error::Aborted("dkls23 phase3 missed a multiplication setup".into()))?;
            out.push(Outgoing::to(members.party(receiver), &R3Direct { zero, mul })?);
        }
        let _ = ctx;
        Ok(Transition::Next(
            Box::new(Round3 { session, members, me, proofs, chains2, zero2, own_chain3: chain3, finish }),
            out,
        ))
    }
}

struct Round3<O> {
    session: DkgSession<K>,
    members: Members,
    me: PartyIndex,
    proofs: Vec<ProofCommitment<K>>,
    chains2: BTreeMap<dkls23_core::protocols::PartyIndex, BroadcastDerivationPhase2to4>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    own_chain3: BroadcastDerivationPhase3to4,
    finish: Finish<O>,
}

impl<O: Send + 'static> Round<O> for Round3<O> {
    fn expects(&self) -> Expect {
        Expect::both_from(self.members.others(self.me))
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<O>, Error> {
        let Round3 { session, members, me, proofs, chains2, zero2, own_chain3, finish } = *self;
        let mut chains3 = BTreeMap::new();
        chains3.insert(own_chain3.sender_index, own_chain3);
        let mut zero3 = Vec::new();
        let mut mul3 = Vec::new();
        for (n, party) in members.parties() {
            if party == me {
                continue;
            }
            let b: BroadcastDerivationPhase3to4 = inbox.broadcast(party)?;
            if b.sender_index.as_u8() != n {
                return Err(Error::InvalidContribution {
                    culprit: party,
                    reason: "round 3 broadcast names another sender".into(),
                });
            }
            let d: R3Direct = inbox.direct(party)?;
            check_route(&d.zero.parties, party, me, &members, 3)?;
            check_route(&d.mul.parties, party, me, &members, 3)?;
            chains3.insert(b.sender_index, b);
            zero3.push(d.zero);
            mul3.push(d.mul);
        }
        let (party, public) = session
            .phase4(&proofs, &zero2, &zero3, &mul3, &chains2, &chains3, |_| String::new())
            .map_err(|a| abort(a, &members))?;
        finish(ctx, party, public)
    }
}
