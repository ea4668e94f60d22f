//! DKLs23 signing (protocol 3.6 of the paper): three rounds, the hash fixed from round 1.
//!
//! Round 1: each signer sends each other signer a commitment and its OT-extension data.
//! Round 2: the multiplication responses and public shares. Round 3: broadcast `(u, w)`;
//! everyone assembles `s = Σw / Σu`, normalizes to low s, and `dkls23` verifies the result
//! against the (possibly derived) public key before returning it.

use std::collections::{BTreeMap, BTreeSet};

use dkls23_core::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3, UniqueKeep1to2,
    UniqueKeep2to3,
};

use super::{K, Members, abort, check_route};
use crate::ceremony::{Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::share::DklsParty;
use crate::{Error, PartyIndex, Signature};

pub(crate) const ROUNDS: u8 = 3;

type Party = dkls23_core::protocols::PartyIndex;

/// Starts signing `prehash` with `party` (already derived, if a path was asked for).
pub(crate) fn start(ctx: &Context, party: DklsParty, prehash: [u8; 32]) -> Result<Started<Signature>, Error> {
    let members = Members::identity(ctx.parties.iter().copied());
    let counterparties = ctx.others().into_iter().map(PartyIndex::dkls).collect::<Result<Vec<_>, _>>()?;
    let data = SignData { sign_id: ctx.id.0.to_vec(), counterparties, message_hash: prehash };
    let (unique, kept, transmit) = party.sign_phase1(&data).map_err(|a| abort(a, &members))?;
    let out = transmit.iter().map(|m| Outgoing::to(members.party(m.parties.receiver), m)).collect::<Result<_, _>>()?;
    let others = ctx.others();
    Ok((Box::new(Round1 { party: Box::new(party), data, members, others, unique, kept }), out))
}

struct Round1 {
    party: Box<DklsParty>,
    data: SignData,
    members: Members,
    others: BTreeSet<PartyIndex>,
    unique: UniqueKeep1to2<K>,
    kept: BTreeMap<Party, KeepPhase1to2<K>>,
}

impl Round<Signature> for Round1 {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<Signature>, Error> {
        let Round1 { party, data, members, others, unique, kept } = *self;
        let mut received = Vec::new();
        for from in &others {
            let m: TransmitPhase1to2 = inbox.direct(*from)?;
            check_route(&m.parties, *from, ctx.me, &members, 1)?;
            received.push(m);
        }
        let (unique, kept, transmit) =
            party.sign_phase2(&data, unique, kept, &received).map_err(|a| abort(a, &members))?;
        let out =
            transmit.iter().map(|m| Outgoing::to(members.party(m.parties.receiver), m)).collect::<Result<_, _>>()?;
        Ok(Transition::Next(Box::new(Round2 { party, data, members, others, unique, kept }), out))
    }
}

struct Round2 {
    party: Box<DklsParty>,
    data: SignData,
    members: Members,
    others: BTreeSet<PartyIndex>,
    unique: UniqueKeep2to3<K>,
    kept: BTreeMap<Party, KeepPhase2to3<K>>,
}

impl Round<Signature> for Round2 {
    fn expects(&self) -> Expect {
        Expect::direct_from(self.others.clone())
    }
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<Signature>, Error> {
        let Round2 { party, data, members, others, unique, kept } = *self;
        let mut received = Vec::new();
        for from in &others {
            let m: TransmitPhase2to3<K> = inbox.direct(*from)?;
            check_route(&m.parties, *from, ctx.me, &members, 2)?;
            received.push(m);
        }
        let (x_coord, broadcast) = party.sign_phase3(&data, unique, kept, &received).map_err(|a| abort(a, &members))?;
        let out = vec![Outgoing::broadcast(&broadcast)?];
        Ok(Transition::Next(Box::new(Round3 { party, data, members, others, x_coord, own: broadcast }), out))
    }
}

struct Round3 {
    party: Box<DklsParty>,
    data: SignData,
    members: Members,
    others: BTreeSet<PartyIndex>,
    x_coord: String,
    own: Broadcast3to4<K>,
}

impl Round<Signature> for Round3 {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.others.clone())
    }
    fn finish(self: Box<Self>, _ctx: &Context, inbox: Inbox) -> Result<Transition<Signature>, Error> {
        let Round3 { party, data, members, others, x_coord, own } = *self;
        // `sign_phase4` sums every signer's broadcast, ours included.
        let mut received = vec![own];
        for from in &others {
            received.push(inbox.broadcast::<Broadcast3to4<K>>(*from)?);
        }
        let (s_hex, recovery_id) =
            party.sign_phase4(&data, &x_coord, &received, true).map_err(|a| abort(a, &members))?;
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        decode_hex(&x_coord, &mut r)?;
        decode_hex(&s_hex, &mut s)?;
        Ok(Transition::Done(Signature::Ecdsa { r, s, recovery_id }))
    }
}

fn decode_hex(hex: &str, out: &mut [u8; 32]) -> Result<(), Error> {
    if hex.len() != 64 {
        return Err(Error::Aborted("dkls23 returned a malformed scalar".into()));
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).ok_or(Error::Aborted("dkls23 returned a malformed scalar".into()))?;
        *byte =
            u8::from_str_radix(pair, 16).map_err(|_| Error::Aborted("dkls23 returned a malformed scalar".into()))?;
    }
    Ok(())
}
