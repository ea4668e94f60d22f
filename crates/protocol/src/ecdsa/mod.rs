//! ECDSA over secp256k1 with DKLs23 (`dkls23-core` 0.6.2, the code of the `dkls23` crate).
//!
//! `dkls23` keeps state in `Option` fields and returns tuples; this module keeps that behind
//! typed rounds. Every message `dkls23` defines carries its own `PartiesMessage`; we check it
//! against the sender the channel authenticated before the crate sees it, since the crate
//! panics when its maps and message lists disagree.

pub(crate) mod dkg;
pub(crate) mod refresh;
pub(crate) mod reshare;
pub(crate) mod sign;

use std::collections::BTreeMap;

use dkls23_core::protocols::{Abort, AbortKind, AbortReason, PartiesMessage};

use crate::share::DklsParty;
use crate::{Error, PartyIndex, PublicKey, Scheme};

pub(crate) type K = k256::Secp256k1;

/// Maps `dkls23`'s party numbers to ceremony parties. They are the same in DKG, signing
/// and refresh; a reshare renumbers the new set `1..=n`.
#[derive(Clone, Debug)]
pub(crate) struct Members {
    by_dkls: BTreeMap<u8, PartyIndex>,
}

impl Members {
    pub fn identity(parties: impl IntoIterator<Item = PartyIndex>) -> Members {
        Members { by_dkls: parties.into_iter().map(|p| (p.as_u8(), p)).collect() }
    }
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u8, PartyIndex)>) -> Members {
        Members { by_dkls: pairs.into_iter().collect() }
    }
    pub fn party(&self, dkls: dkls23_core::protocols::PartyIndex) -> PartyIndex {
        self.by_dkls.get(&dkls.as_u8()).copied().unwrap_or_else(|| PartyIndex::from_dkls(dkls))
    }
    pub fn parties(&self) -> impl Iterator<Item = (u8, PartyIndex)> + '_ {
        self.by_dkls.iter().map(|(n, p)| (*n, *p))
    }
    pub fn others(&self, me: PartyIndex) -> std::collections::BTreeSet<PartyIndex> {
        self.by_dkls.values().copied().filter(|p| *p != me).collect()
    }
}

/// A message `dkls23` addressed from `from` to us must say so itself.
pub(crate) fn check_route(
    parties: &PartiesMessage,
    from: PartyIndex,
    me: PartyIndex,
    members: &Members,
    round: u8,
) -> Result<(), Error> {
    if members.party(parties.sender) != from || members.party(parties.receiver) != me {
        return Err(Error::InvalidContribution {
            culprit: from,
            reason: format!("round {round} message names the wrong sender or receiver"),
        });
    }
    Ok(())
}

/// Turns a `dkls23` abort into our error, naming the counterparty where the reason does.
pub(crate) fn abort(a: Abort, members: &Members) -> Error {
    let reason = a.reason.to_string();
    match a.kind {
        AbortKind::BanCounterparty(i) => Error::BanCounterparty { culprit: members.party(i), reason },
        AbortKind::Recoverable => match culprit_of(&a.reason) {
            Some(i) => Error::InvalidContribution { culprit: members.party(i), reason },
            None => Error::Aborted(reason),
        },
    }
}

fn culprit_of(reason: &AbortReason) -> Option<dkls23_core::protocols::PartyIndex> {
    use AbortReason as R;
    match reason {
        R::ProofVerificationFailed { counterparty }
        | R::CommitmentMismatch { counterparty }
        | R::TrivialInstancePoint { counterparty }
        | R::OtConsistencyCheckFailed { counterparty }
        | R::MultiplicationVerificationFailed { counterparty, .. }
        | R::GammaUInconsistency { counterparty }
        | R::ZeroShareDecommitFailed { counterparty }
        | R::SessionBindingMismatch { counterparty } => Some(*counterparty),
        R::ChainCodeCommitmentFailed { party } | R::MissingCommittedPoint { party } => Some(*party),
        R::UnexpectedSender { sender } | R::DuplicateSender { sender } => Some(*sender),
        _ => None,
    }
}

/// The public point of this party's share.
pub(crate) fn own_point(party: &DklsParty) -> k256::AffinePoint {
    (k256::ProjectivePoint::GENERATOR * party.poly_point).to_affine()
}

pub(crate) fn public_key_of(point: &k256::AffinePoint) -> PublicKey {
    use k256::elliptic_curve::group::GroupEncoding;
    PublicKey::new(Scheme::Ecdsa, point.to_bytes().to_vec())
}

pub(crate) fn derive_public_key(party: &DklsParty, path: &str) -> Result<PublicKey, Error> {
    let derived = party
        .derivation_data
        .derive_from_path(path)
        .map_err(|e| Error::InvalidParameters(format!("derivation path `{path}`: {}", e.description)))?;
    Ok(public_key_of(&derived.pk))
}

/// BIP-32 public derivation from the group key and chain code alone. `dkls23`'s own
/// derivation (`DerivData::derive_from_path`) is reused with a zero share: the child key
/// and chain code depend only on the parent key, chain code and index, so the result is
/// the key a share derived along the same path signs for.
pub(crate) fn derive_public_from(sec1: &[u8], chain_code: [u8; 32], path: &str) -> Result<PublicKey, Error> {
    let pk = point_from_sec1(sec1).ok_or(Error::Malformed("public key"))?;
    let root = dkls23_core::protocols::derivation::DerivData::<K> {
        depth: 0,
        child_number: 0,
        parent_fingerprint: [0; 4],
        poly_point: k256::Scalar::ZERO,
        pk,
        chain_code,
    };
    let derived = root
        .derive_from_path(path)
        .map_err(|e| Error::InvalidParameters(format!("derivation path `{path}`: {}", e.description)))?;
    Ok(public_key_of(&derived.pk))
}

/// A SEC1 compressed point, or `None` if the bytes are not one.
pub(crate) fn point_from_sec1(bytes: &[u8]) -> Option<k256::AffinePoint> {
    use k256::elliptic_curve::group::GroupEncoding;
    let array: [u8; 33] = bytes.try_into().ok()?;
    let point = k256::AffinePoint::from_bytes(&array.into());
    Option::from(point)
}

/// The share's `dkls23` threshold and size must fit its `u8` numbering.
pub(crate) fn params(threshold: u16, parties: u16) -> Result<dkls23_core::protocols::Parameters, Error> {
    let t = u8::try_from(threshold).map_err(|_| Error::InvalidParameters("threshold above 255".into()))?;
    let n = u8::try_from(parties).map_err(|_| Error::InvalidParameters("more than 255 parties".into()))?;
    dkls23_core::protocols::Parameters::new(t, n).map_err(|_| {
        Error::InvalidParameters(format!("cannot make a {threshold}-of-{parties} ECDSA key (need 2 <= t <= n)"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn dkls(i: u8) -> dkls23_core::protocols::PartyIndex {
        dkls23_core::protocols::PartyIndex::new(i).unwrap()
    }

    #[test]
    fn ban_counterparty_is_a_distinct_terminal_error() {
        // A reshare renumbers parties: dkls index 2 is ceremony party 3 here.
        let members = Members::from_pairs([(1, PartyIndex::new(1).unwrap()), (2, PartyIndex::new(3).unwrap())]);
        let ban = Abort::ban(dkls(1), dkls(2), AbortReason::OtConsistencyCheckFailed { counterparty: dkls(2) });
        let e = abort(ban, &members);
        assert!(matches!(e, Error::BanCounterparty { culprit, .. } if culprit == PartyIndex::new(3).unwrap()), "{e:?}");
        assert!(e.is_fatal());
        assert_eq!(e.culprits(), vec![PartyIndex::new(3).unwrap()]);

        let recoverable = Abort::recoverable(dkls(1), AbortReason::ProofVerificationFailed { counterparty: dkls(2) });
        assert!(matches!(abort(recoverable, &members), Error::InvalidContribution { .. }));
        let anonymous = Abort::recoverable(dkls(1), AbortReason::PolynomialInconsistency);
        assert_eq!(abort(anonymous, &members).culprits(), Vec::new());
    }
}
