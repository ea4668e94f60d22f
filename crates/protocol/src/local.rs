//! Ceremonies whose parties all run in this process: the message pump that routes each
//! party's messages to the others. For a device that holds two shares of one wallet — the
//! device share and the downloaded cloud share of a 2-of-3 — signing without the service
//! (independent recovery) is exactly this; it assembles no key (invariant 1): each share
//! stays in its own ceremony. Tests use it too (`testing`).

use std::collections::{BTreeMap, VecDeque};

use crate::{Ceremony, CeremonyId, Error, KeyShare, Message, PartyIndex, Recipient, SignRequest, Signature, Step};

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
