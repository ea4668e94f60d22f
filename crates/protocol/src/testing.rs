//! Whole ceremonies in one process through the [`crate::local`] pump (rustls' `transfer`
//! idea), with counters for rounds and bytes: DKG, refresh and reshare of every share at
//! once, for tests, benches and the in-process floor of `tssw bench`.

pub use crate::local::{Stats, run, run_with, sign, sign_with_stats};
use crate::{
    CeremonyId, Error, KeyShare, Message, PartyIndex, Recipient, ReshareOutput, ResharePlan, Scheme, SignRequest,
};

/// A request for `scheme` over 32 fresh random bytes (no derivation path, no merkle root).
pub fn random_request(scheme: Scheme) -> SignRequest {
    let mut m = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut m);
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: m, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: m.to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: m, merkle_root: None },
    }
}

/// A t-of-n key, all shares.
pub fn dkg(scheme: Scheme, threshold: u16, parties: u16) -> Result<Vec<KeyShare>, Error> {
    dkg_with_stats(scheme, threshold, parties).map(|(s, _)| s)
}

/// A t-of-n key and what generating it cost.
pub fn dkg_with_stats(scheme: Scheme, threshold: u16, parties: u16) -> Result<(Vec<KeyShare>, Stats), Error> {
    let id = CeremonyId::random();
    let all = (1..=parties)
        .map(|i| crate::dkg(id, scheme, PartyIndex::new(i)?, threshold, parties))
        .collect::<Result<_, _>>()?;
    run(all)
}

/// Refreshes all shares.
pub fn refresh(shares: &[KeyShare]) -> Result<(Vec<KeyShare>, Stats), Error> {
    let id = CeremonyId::random();
    run(shares.iter().map(|s| crate::refresh(id, s)).collect::<Result<_, _>>()?)
}

/// Reshares under `plan`; `old_shares[i]` is the old share of member `i + 1` (or `None`).
/// Returns each member's outcome in plan order.
pub fn reshare(
    plan: &ResharePlan,
    old_shares: &[Option<&KeyShare>],
    old: &crate::PublicPackage,
) -> Result<(Vec<ReshareOutput>, Stats), Error> {
    let id = CeremonyId::random();
    let all = (1..=plan.members().len() as u16)
        .map(|i| {
            crate::reshare(id, plan, PartyIndex::new(i)?, old_shares.get(usize::from(i) - 1).copied().flatten(), old)
        })
        .collect::<Result<_, _>>()?;
    run(all)
}

/// A copy of `msg` with some header fields or the payload replaced, as a hostile relay or
/// party would send it.
pub fn forge(
    msg: &Message,
    round: Option<u8>,
    from: Option<PartyIndex>,
    to: Option<Recipient>,
    payload: Option<Vec<u8>>,
) -> Message {
    let mut m = msg.clone();
    if let Some(r) = round {
        m.round = r;
    }
    if let Some(f) = from {
        m.from = f;
    }
    if let Some(t) = to {
        m.to = t;
    }
    if let Some(p) = payload {
        m.payload = p;
    }
    m
}
