//! Hostile input: malformed, foreign, stale, duplicated, tampered and equivocating
//! messages, and parties that deal wrong shares. Every case ends in a typed error (naming the
//! sender where the math allows) or is harmlessly ignored; never a panic, never a bad signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{request_for, verify};
use proptest::prelude::*;
use tssw_protocol::testing::{self, forge, run_with};
use tssw_protocol::{
    Ceremony, CeremonyId, Error, KeyShare, Member, Message, PartyIndex, Recipient, ResharePlan, Scheme, SignRequest,
    Signature, Step,
};

fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

fn start_sign(shares: &[KeyShare], request: &SignRequest) -> Vec<(Ceremony<Signature>, Vec<Message>)> {
    let id = CeremonyId::random();
    let signers: Vec<PartyIndex> = shares.iter().map(|s| s.index()).collect();
    shares.iter().map(|s| tssw_protocol::sign(id, s, &signers, request.clone()).unwrap()).collect()
}

/// Two-party signing, message by message, so a test can interleave bad deliveries.
struct Pair {
    a: Ceremony<Signature>,
    b: Ceremony<Signature>,
    to_a: Vec<Message>,
    to_b: Vec<Message>,
}

impl Pair {
    fn new(shares: &[KeyShare], request: &SignRequest) -> Pair {
        let mut parties = start_sign(shares, request).into_iter();
        let (a, out_a) = parties.next().unwrap();
        let (b, out_b) = parties.next().unwrap();
        Pair { a, b, to_a: out_b, to_b: out_a }
    }

    /// Delivers everything until both finish; returns their signatures.
    fn finish(mut self) -> (Signature, Signature) {
        let (mut sa, mut sb) = (None, None);
        while sa.is_none() || sb.is_none() {
            assert!(!(self.to_a.is_empty() && self.to_b.is_empty()), "ceremony stalled");
            for m in std::mem::take(&mut self.to_a) {
                match self.a.handle(m).unwrap() {
                    Step::Send(out) => self.to_b.extend(out),
                    Step::Done(s, last) => {
                        self.to_b.extend(last);
                        sa = Some(s);
                    }
                }
            }
            for m in std::mem::take(&mut self.to_b) {
                match self.b.handle(m).unwrap() {
                    Step::Send(out) => self.to_a.extend(out),
                    Step::Done(s, last) => {
                        self.to_a.extend(last);
                        sb = Some(s);
                    }
                }
            }
        }
        (sa.unwrap(), sb.unwrap())
    }
}

fn for_each_scheme(f: impl Fn(Scheme, &[KeyShare])) {
    for scheme in Scheme::ALL {
        let shares = testing::dkg(scheme, 2, 2).unwrap();
        f(scheme, &shares);
    }
}

#[test]
fn harmless_messages_are_rejected_without_aborting() {
    for_each_scheme(|_, shares| {
        let request = request_for(&shares[0]);
        let mut pair = Pair::new(shares, &request);
        let first = pair.to_a[0].clone();

        // Another ceremony's message.
        let other = start_sign(shares, &request).pop().unwrap().1.remove(0);
        assert_eq!(pair.a.handle(other).unwrap_err(), Error::WrongCeremony);
        // A message for somebody else.
        let misrouted = forge(&first, None, None, Some(Recipient::One(p(7))), None);
        assert_eq!(pair.a.handle(misrouted).unwrap_err(), Error::Misrouted { to: p(7) });
        // The same message twice.
        if let Step::Send(out) = pair.a.handle(first.clone()).unwrap() {
            pair.to_b.extend(out);
        }
        assert_eq!(pair.a.handle(first.clone()).unwrap_err(), Error::Duplicate { from: p(2), round: 1 });
        pair.to_a.remove(0);

        let (sa, sb) = pair.finish();
        assert_eq!(sa, sb);
        verify(&shares[0].public_key(), &request, &sa).unwrap();
    });
}

#[test]
fn hostile_messages_abort_and_the_error_sticks() {
    type Case = (&'static str, fn(&Message) -> Message, fn(&Error) -> bool);
    let cases: [Case; 5] = [
        ("unknown sender", |m| forge(m, None, Some(p(9)), None, None), |e| *e == Error::UnknownSender { from: p(9) }),
        (
            "round never reached",
            |m| forge(m, Some(9), None, None, None),
            |e| *e == Error::WrongRound { from: p(2), round: 9 },
        ),
        (
            "truncated payload",
            |m| forge(m, None, None, None, Some(m.payload()[..m.payload().len() / 2].to_vec())),
            |e| *e == Error::MalformedPayload { from: p(2), round: 1 },
        ),
        (
            "payload of another type",
            |m| forge(m, None, None, None, Some(vec![0xff; 3])),
            |e| *e == Error::MalformedPayload { from: p(2), round: 1 },
        ),
        (
            "spoofed self as sender",
            |m| forge(m, None, Some(p(1)), None, None),
            |e| *e == Error::UnknownSender { from: p(1) },
        ),
    ];
    for_each_scheme(|scheme, shares| {
        for (name, tamper, expected) in &cases {
            let request = request_for(&shares[0]);
            let mut pair = Pair::new(shares, &request);
            let bad = tamper(&pair.to_a[0]);
            let err = pair.a.handle(bad).unwrap_err();
            assert!(expected(&err), "{scheme} {name}: got {err:?}");
            assert!(err.is_fatal());
            // Sticky: the genuine message is refused with the same error.
            assert_eq!(pair.a.handle(pair.to_a[0].clone()).unwrap_err(), err, "{scheme} {name}");
        }
    });
}

#[test]
fn equivocation_is_named() {
    for_each_scheme(|scheme, shares| {
        let request = request_for(&shares[0]);
        let mut pair = Pair::new(shares, &request);
        let first = pair.to_a[0].clone();
        let mut flipped = first.payload().to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let _ = pair.a.handle(first.clone());
        let err = pair.a.handle(forge(&first, None, None, None, Some(flipped))).unwrap_err();
        assert_eq!(err, Error::Equivocation { from: p(2), round: 1 }, "{scheme}");
    });
}

/// A delivery hook that swaps the payload of one (round, from, to) message for another's.
fn swap_payload(round: u8, from: u16, to: u16, with_to: u16) -> impl FnMut(PartyIndex, Message) -> Option<Message> {
    let mut stash: BTreeMap<u16, Message> = BTreeMap::new();
    move |target, m| {
        if m.round() == round && m.from() == p(from) && m.to() != Recipient::Broadcast {
            if target == p(with_to) {
                stash.insert(with_to, m.clone());
            }
            if target == p(to) {
                // Deliver the payload meant for `with_to` instead (sent earlier in the same round).
                if let Some(other) = stash.get(&with_to) {
                    return Some(forge(&m, None, None, None, Some(other.payload().to_vec())));
                }
            }
        }
        Some(m)
    }
}

#[test]
fn frost_dkg_names_a_party_that_sends_a_wrong_share() {
    for scheme in [Scheme::Ed25519, Scheme::Bip340] {
        let id = CeremonyId::random();
        let parties = (1..=3).map(|i| tssw_protocol::dkg(id, scheme, p(i), 2, 3).unwrap()).collect();
        // Party 2's round-2 share for party 3 is delivered to party 3 in place of... the one
        // for party 1 (sent first): party 3 gets a share that is not its own.
        let (results, _) = run_with(parties, swap_payload(2, 2, 3, 1));
        let (_, r3) = results.iter().find(|(i, _)| *i == p(3)).unwrap();
        let err = r3.as_ref().unwrap_err();
        assert_eq!(err.culprits(), vec![p(2)], "{scheme}: {err:?}");
        assert!(results.iter().all(|(_, r)| r.is_err()), "{scheme}: a party accepted a key");
    }
}

#[test]
fn ecdsa_dkg_with_a_wrong_fragment_produces_no_key() {
    let id = CeremonyId::random();
    let parties = (1..=3).map(|i| tssw_protocol::dkg(id, Scheme::Ecdsa, p(i), 2, 3).unwrap()).collect();
    let (results, _) = run_with(parties, swap_payload(1, 2, 3, 1));
    // DKLs23 sees only an inconsistent polynomial here (RESHARE-NOTES): no culprit, no key.
    assert!(results.iter().all(|(_, r)| r.is_err()));
}

fn two_of_two_to_three(scheme: Scheme) -> (Vec<KeyShare>, ResharePlan) {
    let shares = testing::dkg(scheme, 2, 2).unwrap();
    let m = |o: Option<u16>, n: Option<u16>| Member { old: o.map(p), new: n.map(p) };
    let plan = ResharePlan::new(2, 2, vec![m(Some(1), Some(1)), m(Some(2), Some(2)), m(None, Some(3))]).unwrap();
    (shares, plan)
}

fn start_reshare(
    shares: &[KeyShare],
    plan: &ResharePlan,
) -> Vec<(Ceremony<tssw_protocol::ReshareOutput>, Vec<Message>)> {
    let id = CeremonyId::random();
    let old = shares[0].public_package();
    (1..=3u16).map(|i| tssw_protocol::reshare(id, plan, p(i), shares.get(usize::from(i) - 1), old).unwrap()).collect()
}

#[test]
fn reshare_names_a_dealer_that_sends_a_wrong_evaluation() {
    for scheme in Scheme::ALL {
        let (shares, plan) = two_of_two_to_three(scheme);
        // Dealer 1's evaluation for member 3 is replaced by the one for member 2.
        let (results, _) = run_with(start_reshare(&shares, &plan), swap_payload(1, 1, 3, 2));
        let (_, r3) = results.iter().find(|(i, _)| *i == p(3)).unwrap();
        let err = r3.as_ref().unwrap_err();
        assert!(matches!(err, Error::InvalidContribution { culprit, .. } if *culprit == p(1)), "{scheme}: {err:?}");
        assert!(results.iter().all(|(_, r)| r.is_err()), "{scheme}: someone finished a broken reshare");
    }
}

/// Records what `from` delivered to `to` in `round` during a full run (broadcast, direct).
fn capture<O>(parties: Vec<(Ceremony<O>, Vec<Message>)>, round: u8, from: u16, to: u16) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut broadcast = None;
    let mut direct = None;
    let _ = run_with(parties, |target, m: Message| {
        if m.round() == round && m.from() == p(from) && target == p(to) {
            if m.to() == Recipient::Broadcast {
                broadcast = Some(m.payload().to_vec());
            } else {
                direct = Some(m.payload().to_vec());
            }
        }
        Some(m)
    });
    (broadcast.unwrap(), direct)
}

/// Replaces what `from` delivers to `to` in `round` with the given payloads.
fn substitute(
    round: u8,
    from: u16,
    to: u16,
    payloads: (Vec<u8>, Option<Vec<u8>>),
) -> impl FnMut(PartyIndex, Message) -> Option<Message> {
    move |target, m| {
        if m.round() == round && m.from() == p(from) && target == p(to) {
            let replacement =
                if m.to() == Recipient::Broadcast { Some(payloads.0.clone()) } else { payloads.1.clone() };
            return Some(forge(&m, None, None, None, replacement));
        }
        Some(m)
    }
}

#[test]
fn reshare_catches_a_dealer_that_shows_members_different_commitments() {
    for scheme in Scheme::ALL {
        let (shares, plan) = two_of_two_to_three(scheme);
        // Dealer 1 deals twice and shows member 3 the other dealing: commitments alone.
        let other = capture(start_reshare(&shares, &plan), 1, 1, 3);
        let (results, _) = run_with(start_reshare(&shares, &plan), substitute(1, 1, 3, (other.0.clone(), None)));
        let (_, r3) = results.iter().find(|(i, _)| *i == p(3)).unwrap();
        assert_eq!(r3.as_ref().unwrap_err().culprits(), vec![p(1)], "{scheme}");
        assert!(results.iter().all(|(_, r)| r.is_err()), "{scheme}");

        // Commitments and a matching evaluation: every per-dealer check passes for member 3
        // alone. For FROST the final transcript comparison stops everybody; for DKLs23 the
        // new members' key setup already finds the points off one polynomial.
        let (results, _) = run_with(start_reshare(&shares, &plan), substitute(1, 1, 3, other));
        assert!(results.iter().all(|(_, r)| r.is_err()), "{scheme}: a party accepted an equivocated reshare");
        let caught = |e: &Error| match scheme {
            Scheme::Ecdsa => matches!(e, Error::TranscriptMismatch { .. } | Error::Aborted(_)),
            _ => matches!(e, Error::TranscriptMismatch { .. }),
        };
        assert!(results.iter().any(|(_, r)| r.as_ref().is_err_and(caught)), "{scheme}: {results:?}");
    }
}

#[test]
fn frost_signing_names_a_bad_signature_share() {
    for scheme in [Scheme::Ed25519, Scheme::Bip340] {
        let shares = testing::dkg(scheme, 2, 2).unwrap();
        let request = request_for(&shares[0]);
        // Party 2 answers with a share from another signing session.
        let stale = capture(start_sign(&shares, &request), 2, 2, 1);
        let (results, _) = run_with(start_sign(&shares, &request), substitute(2, 2, 1, stale));
        let (_, r1) = results.iter().find(|(i, _)| *i == p(1)).unwrap();
        assert_eq!(r1.as_ref().unwrap_err().culprits(), vec![p(2)], "{scheme}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A relay that flips one bit in one delivered message never yields a bad signature:
    /// the ceremony either still produces a valid one (a flip it tolerates) or fails typed.
    #[test]
    fn one_flipped_bit_never_yields_a_bad_signature(scheme_i in 0usize..3, which in 0usize..16, bit in 0usize..4096) {
        let scheme = Scheme::ALL[scheme_i];
        let shares = SHARES.with(|s| s.get(&scheme).cloned()).unwrap();
        let request = request_for(&shares[0]);
        let mut n = 0usize;
        let hook = move |_t: PartyIndex, m: Message| {
            n += 1;
            if n - 1 != which || m.payload().is_empty() {
                return Some(m);
            }
            let mut payload = m.payload().to_vec();
            let i = (bit / 8) % payload.len();
            payload[i] ^= 1 << (bit % 8);
            Some(forge(&m, None, None, None, Some(payload)))
        };
        let (results, _) = run_with(start_sign(&shares, &request), hook);
        for (_, r) in results {
            if let Ok(sig) = r {
                prop_assert!(verify(&shares[0].public_key(), &request, &sig).is_ok());
            }
        }
    }
}

thread_local! {
    static SHARES: BTreeMap<Scheme, Vec<KeyShare>> =
        Scheme::ALL.into_iter().map(|s| (s, testing::dkg(s, 2, 2).unwrap())).collect();
}

/// A relay that holds a party's messages back and then delivers them newest first: the
/// party receives a later round before an earlier one, may close two rounds in one call,
/// and the messages it must still send come with its output.
#[test]
fn later_rounds_first_still_complete() {
    for_each_scheme(|scheme, shares| {
        let request = request_for(&shares[0]);
        let mut pair = Pair::new(shares, &request);
        let (mut sa, mut sb) = (None, None);
        for _ in 0..16 {
            // B runs in order until A has everything B can send without hearing from A again.
            for m in std::mem::take(&mut pair.to_b) {
                match pair.b.handle(m).unwrap() {
                    Step::Send(out) => pair.to_a.extend(out),
                    Step::Done(s, last) => {
                        pair.to_a.extend(last);
                        sb = Some(s);
                    }
                }
            }
            for m in std::mem::take(&mut pair.to_a).into_iter().rev() {
                match pair.a.handle(m).unwrap() {
                    Step::Send(out) => pair.to_b.extend(out),
                    Step::Done(s, last) => {
                        pair.to_b.extend(last);
                        sa = Some(s);
                    }
                }
            }
            if sa.is_some() && sb.is_some() {
                break;
            }
        }
        let (sa, sb) =
            (sa.unwrap_or_else(|| panic!("{scheme}: A stalled")), sb.unwrap_or_else(|| panic!("{scheme}: B stalled")));
        assert_eq!(sa, sb);
        verify(&shares[0].public_key(), &request, &sa).unwrap();
    });
}
