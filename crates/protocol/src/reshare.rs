//! Reshare: the same key under a new party set and/or threshold (2-of-2 → 2-of-3,
//! 2-of-3 → 2-of-2, 2-of-3 → 3-of-5, …). Neither upstream crate ships this; the glue here is
//! ours, written on their public building blocks as `RESHARE-NOTES.md` describes, and is
//! listed as unaudited in `SECURITY.md`.
//!
//! Every old member in the plan deals: with λ_i its Lagrange coefficient over the dealers'
//! old indices, it shares λ_i·s_i with a fresh polynomial of degree t_new − 1, broadcasts
//! the Feldman commitments and sends each new member its evaluation (secret). Each member
//! checks every dealer: the commitment count, the Feldman equation for its own evaluation,
//! and that the constant term equals λ_i·Y_i for the dealer's old verifying share (each
//! names the dealer). The sum is a sharing of the old secret, so the group key stays. A
//! last round compares a digest over the plan, the old package and every commitment, so a
//! dealer that showed different commitments to different members is caught, and old members
//! learn that every new member finished before they erase their old shares.

use serde::{Deserialize, Serialize};

use crate::{Error, KeyShare, PartyIndex};

/// One participant of a reshare: its share index in the old key (if it holds one and deals)
/// and in the new key (if it receives one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Index of its old share; every old member listed deals.
    pub old: Option<PartyIndex>,
    /// Index of its new share; the new indices must be exactly `1..=n_new`.
    pub new: Option<PartyIndex>,
}

/// Who deals, who receives, and the new threshold. A member's index in the ceremony is its
/// position in `members`, starting at 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResharePlan {
    old_threshold: u16,
    new_threshold: u16,
    members: Vec<Member>,
}

/// What a reshare leaves a member with.
// One per reshare, moved once: boxing the share would only burden callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ReshareOutput {
    /// The member's share of the same key in the new set (next epoch).
    Share(KeyShare),
    /// The member dealt but is not in the new set: every new member has confirmed, so it
    /// must now erase its old share and any backup of it.
    Retired,
}

impl ResharePlan {
    /// Checks and builds a plan.
    pub fn new(old_threshold: u16, new_threshold: u16, members: Vec<Member>) -> Result<ResharePlan, Error> {
        let bad = |why: String| Err(Error::InvalidParameters(format!("reshare plan: {why}")));
        if members.is_empty() || members.len() > usize::from(PartyIndex::MAX) {
            return bad(format!("{} members (need 1..=255)", members.len()));
        }
        let mut olds: Vec<u16> = members.iter().filter_map(|m| m.old.map(PartyIndex::get)).collect();
        let mut news: Vec<u16> = members.iter().filter_map(|m| m.new.map(PartyIndex::get)).collect();
        if members.iter().any(|m| m.old.is_none() && m.new.is_none()) {
            return bad("a member with neither an old nor a new share".into());
        }
        olds.sort_unstable();
        news.sort_unstable();
        if olds.windows(2).any(|w| w.first() == w.get(1)) {
            return bad("an old index appears twice".into());
        }
        if olds.len() < usize::from(old_threshold) {
            return bad(format!("{} dealers cannot reconstruct a {old_threshold}-threshold key", olds.len()));
        }
        if news != (1..=news.len() as u16).collect::<Vec<_>>() {
            return bad("new indices must be exactly 1..=n".into());
        }
        if new_threshold < 2 || usize::from(new_threshold) > news.len() {
            return bad(format!("threshold {new_threshold} with {} new shares", news.len()));
        }
        Ok(ResharePlan { old_threshold, new_threshold, members })
    }

    /// The new threshold.
    pub fn new_threshold(&self) -> u16 {
        self.new_threshold
    }

    /// The old threshold.
    pub fn old_threshold(&self) -> u16 {
        self.old_threshold
    }

    /// Number of new shares.
    pub fn new_parties(&self) -> u16 {
        self.members.iter().filter(|m| m.new.is_some()).count() as u16
    }

    /// The members in ceremony order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Ceremony index of every member.
    pub(crate) fn parties(&self) -> Vec<PartyIndex> {
        (1..=self.members.len() as u16).filter_map(|i| PartyIndex::new(i).ok()).collect()
    }

    pub(crate) fn member(&self, party: PartyIndex) -> Result<Member, Error> {
        self.members
            .get(usize::from(party.get()) - 1)
            .copied()
            .ok_or_else(|| Error::InvalidParameters(format!("party {party} is not in the reshare plan")))
    }

    /// (ceremony index, old share index) of every dealer.
    pub(crate) fn dealers(&self) -> Vec<(PartyIndex, PartyIndex)> {
        self.parties().into_iter().zip(&self.members).filter_map(|(p, m)| m.old.map(|o| (p, o))).collect()
    }

    /// (ceremony index, new share index) of every receiver.
    pub(crate) fn receivers(&self) -> Vec<(PartyIndex, PartyIndex)> {
        self.parties().into_iter().zip(&self.members).filter_map(|(p, m)| m.new.map(|n| (p, n))).collect()
    }

    /// The dealing round: every other dealer's commitments, and its evaluation for us if we
    /// receive a new share.
    pub(crate) fn dealing_expects(&self, me: PartyIndex) -> crate::ceremony::Expect {
        let dealers: std::collections::BTreeSet<PartyIndex> =
            self.dealers().into_iter().map(|(p, _)| p).filter(|p| *p != me).collect();
        let receiving = self.member(me).is_ok_and(|m| m.new.is_some());
        let direct = if receiving { dealers.clone() } else { Default::default() };
        crate::ceremony::Expect { broadcast: dealers, direct }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, Error> {
        crate::ceremony::encode(self)
    }
}
