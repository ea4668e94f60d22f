//! An in-memory pump that runs every party of a ceremony in one process (rustls' `transfer`
//! idea), with counters for rounds and bytes. For tests, benches and the in-process demo.

use std::collections::{BTreeMap, VecDeque};

use crate::{
    Ceremony, CeremonyId, Error, KeyShare, Message, PartyIndex, Recipient, ReshareOutput, ResharePlan, Scheme,
    SignRequest, Signature, Step,
};

/// What a run cost on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Protocol rounds.
    pub rounds: u8,
    /// Messages delivered (a broadcast counts once per recipient).
    pub messages: usize,
    /// Encoded bytes delivered (a broadcast counts once per recipient).
    pub bytes: usize,
}

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

/// Runs parties to completion, delivering every message in order of sending.
pub fn run<O>(parties: Vec<(Ceremony<O>, Vec<Message>)>) -> Result<(Vec<O>, Stats), Error> {
    let (results, stats) = run_with(parties, |_, m| Some(m));
    let mut outputs = Vec::new();
    for (_, result) in results {
        outputs.push(result?);
    }
    Ok((outputs, stats))
}

/// Runs parties with a man in the middle: `relay(target, message)` sees every delivery and
/// may change, replace or drop (`None`) it. Each party's own result is kept, so a test can
/// check who detected what and whom it blamed. A party whose ceremony fails is stopped.
#[allow(clippy::type_complexity)]
pub fn run_with<O>(
    parties: Vec<(Ceremony<O>, Vec<Message>)>,
    mut relay: impl FnMut(PartyIndex, Message) -> Option<Message>,
) -> (Vec<(PartyIndex, Result<O, Error>)>, Stats) {
    let mut stats = Stats::default();
    let mut queue: VecDeque<Message> = VecDeque::new();
    let mut running: BTreeMap<PartyIndex, Ceremony<O>> = BTreeMap::new();
    for (ceremony, out) in parties {
        stats.rounds = stats.rounds.max(ceremony.rounds());
        queue.extend(out);
        running.insert(ceremony.me(), ceremony);
    }
    let members: Vec<PartyIndex> = running.keys().copied().collect();
    let mut results: BTreeMap<PartyIndex, Result<O, Error>> = BTreeMap::new();
    while let Some(msg) = queue.pop_front() {
        let targets: Vec<PartyIndex> = match msg.to() {
            Recipient::Broadcast => members.iter().copied().filter(|p| *p != msg.from()).collect(),
            Recipient::One(p) => vec![p],
        };
        for target in targets {
            let Some(delivered) = relay(target, msg.clone()) else { continue };
            stats.messages += 1;
            stats.bytes += delivered.encode().len();
            let Some(ceremony) = running.get_mut(&target) else { continue };
            match ceremony.handle(delivered) {
                Ok(Step::Send(out)) => queue.extend(out),
                Ok(Step::Done(o, last)) => {
                    queue.extend(last);
                    results.insert(target, Ok(o));
                    running.remove(&target);
                }
                Err(e) if e.is_fatal() => {
                    results.insert(target, Err(e));
                    running.remove(&target);
                }
                Err(_) => {}
            }
        }
    }
    for (party, ceremony) in running {
        let waiting = ceremony.waiting_for();
        results.insert(
            party,
            Err(Error::Aborted(format!("party {party} stalled in round {} waiting for {waiting:?}", ceremony.round()))),
        );
    }
    (results.into_iter().collect(), stats)
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

/// Signs with the given shares (which pick the signer set).
pub fn sign(shares: &[&KeyShare], request: &SignRequest) -> Result<Signature, Error> {
    sign_with_stats(shares, request).map(|(s, _)| s)
}

/// Signs and reports what it cost. Every party must output the same signature.
pub fn sign_with_stats(shares: &[&KeyShare], request: &SignRequest) -> Result<(Signature, Stats), Error> {
    let id = CeremonyId::random();
    let signers: Vec<PartyIndex> = shares.iter().map(|s| s.index()).collect();
    let all = shares.iter().map(|s| crate::sign(id, s, &signers, request.clone())).collect::<Result<_, _>>()?;
    let (signatures, stats) = run(all)?;
    let first = *signatures.first().ok_or(Error::Aborted("no signers".into()))?;
    if signatures.iter().any(|s| *s != first) {
        return Err(Error::Aborted("signers disagree on the signature".into()));
    }
    Ok((first, stats))
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
