//! An untrusted relay between the parties: it tampers, drops, duplicates, reorders,
//! replays frames from an earlier ceremony and spoofs senders. Every case is either
//! detected with a typed error or harmless, and no party ever outputs a signature that an
//! independent verifier rejects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Outcome, Wallet, p, request_for, sign_on, verify};
use tssw_channel::{ChannelError, DriveError, FnRelay, Frame, MemoryNetwork, MessageId, Rejected, Relay};
use tssw_protocol::{KeyShare, PartyIndex, Scheme, SignRequest, Signature};

type Route = Vec<(PartyIndex, Vec<u8>)>;

fn shares(scheme: Scheme, t: u16, n: u16) -> Vec<KeyShare> {
    tssw_protocol::testing::dkg(scheme, t, n).unwrap()
}

/// No output is ever a bad signature; returns how many parties finished.
fn no_wrong_signature(outcomes: &[Outcome<Signature>], share: &KeyShare, request: &SignRequest) -> usize {
    let mut ok = 0;
    for (party, result, _) in outcomes {
        if let Ok(sig) = result {
            verify(&share.public_key(), request, sig).unwrap_or_else(|e| panic!("party {party}: wrong signature: {e}"));
            ok += 1;
        }
    }
    ok
}

fn rejected_of(outcome: &Outcome<Signature>) -> Vec<Rejected> {
    match &outcome.1 {
        Err(DriveError::Stalled { rejected, .. }) => rejected.clone(),
        _ => Vec::new(),
    }
}

/// A relay that applies `f` to the n-th frame (0-based) and passes the rest.
fn on_nth(n: usize, mut f: impl FnMut(PartyIndex, Vec<u8>) -> Route + Send + 'static) -> MemoryNetwork {
    let mut count = 0;
    MemoryNetwork::with_relay(FnRelay(move |to, frame| {
        count += 1;
        if count - 1 == n { f(to, frame) } else { vec![(to, frame)] }
    }))
}

#[test]
fn clean_run_rejects_nothing() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 2);
        let wallet = Wallet::new(2);
        let request = request_for(scheme);
        let out = sign_on(&MemoryNetwork::new(), &wallet, &[&shares[0], &shares[1]], &request);
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2);
        assert!(out.iter().all(|(_, _, s)| s.rejected_frames() == 0 && s.is_closed()));
    }
}

#[test]
fn tampering_any_byte_is_detected() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 2);
        let wallet = Wallet::new(2);
        let request = request_for(scheme);
        // Size of the first frame, to flip each of its bytes in turn.
        let first_len = Arc::new(Mutex::new(0));
        let len = first_len.clone();
        let out = sign_on(
            &on_nth(0, move |to, f| {
                *len.lock().unwrap() = f.len();
                vec![(to, f)]
            }),
            &wallet,
            &[&shares[0], &shares[1]],
            &request,
        );
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2);
        let len = *first_len.lock().unwrap();
        // Every byte for the cheap schemes; a spread of offsets for ECDSA (slower rounds).
        let step = if scheme == Scheme::Ecdsa { len / 40 + 1 } else { 1 };
        for offset in (0..len).step_by(step) {
            for frame_no in [0, 1, 2] {
                let tampered = Arc::new(Mutex::new(false));
                let flag = tampered.clone();
                let out = sign_on(
                    &on_nth(frame_no, move |to, mut f| {
                        if let Some(b) = f.get_mut(offset) {
                            *b ^= 0x5a;
                            *flag.lock().unwrap() = true;
                        }
                        vec![(to, f)]
                    }),
                    &wallet,
                    &[&shares[0], &shares[1]],
                    &request,
                );
                no_wrong_signature(&out, &shares[0], &request);
                if !*tampered.lock().unwrap() {
                    continue; // this frame is shorter than the offset
                }
                let victim = out.iter().find(|(_, _, s)| s.rejected_frames() > 0);
                let victim = victim.unwrap_or_else(|| panic!("{scheme}: frame {frame_no} byte {offset}: undetected"));
                assert!(victim.1.is_err(), "{scheme}: victim finished without the tampered frame");
                let rejected = rejected_of(victim);
                assert_eq!(rejected.len(), 1, "{scheme}: {rejected:?}");
                assert!(
                    matches!(
                        rejected[0],
                        Rejected::Channel(
                            ChannelError::Decrypt { .. }
                                | ChannelError::MessageId
                                | ChannelError::Decode(_)
                                | ChannelError::UnsupportedVersion { .. }
                                | ChannelError::WrongCeremony
                                | ChannelError::Misrouted { .. }
                                | ChannelError::UnknownSender { .. }
                        )
                    ),
                    "{scheme}: frame {frame_no} byte {offset}: {rejected:?}"
                );
            }
        }
    }
}

#[test]
fn dropped_frame_stalls_with_a_typed_error() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 2);
        let wallet = Wallet::new(2);
        let request = request_for(scheme);
        for n in 0..3 {
            let out = sign_on(&on_nth(n, |_, _| Vec::new()), &wallet, &[&shares[0], &shares[1]], &request);
            no_wrong_signature(&out, &shares[0], &request);
            let stalled: Vec<_> = out
                .iter()
                .filter(
                    |(_, r, _)| matches!(r, Err(DriveError::Stalled { waiting_for, .. }) if !waiting_for.is_empty()),
                )
                .collect();
            assert!(!stalled.is_empty(), "{scheme}: dropping frame {n} went unnoticed");
        }
    }
}

#[test]
fn duplicates_are_dropped() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 3);
        let wallet = Wallet::new(3);
        let request = request_for(scheme);
        let network =
            MemoryNetwork::with_relay(FnRelay(|to, f: Vec<u8>| vec![(to, f.clone()), (to, f.clone()), (to, f)]));
        let out = sign_on(&network, &wallet, &[&shares[0], &shares[2]], &request);
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2, "{scheme}");
        assert!(out.iter().all(|(_, _, s)| s.rejected_frames() == 0));
    }
}

/// Holds every frame until nothing else can move, then releases them newest first.
#[derive(Default)]
struct Reverser(Vec<(PartyIndex, Vec<u8>)>);
impl Relay for Reverser {
    fn route(&mut self, to: PartyIndex, frame: Vec<u8>) -> Route {
        self.0.push((to, frame));
        Vec::new()
    }
    fn flush(&mut self) -> Route {
        let mut held = std::mem::take(&mut self.0);
        held.reverse();
        held
    }
}

#[test]
fn reordering_is_tolerated() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 3);
        let wallet = Wallet::new(3);
        let request = request_for(scheme);
        let out =
            sign_on(&MemoryNetwork::with_relay(Reverser::default()), &wallet, &[&shares[1], &shares[2]], &request);
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2, "{scheme}");
    }
    // FROST with three signers: frames of two rounds from two senders interleave.
    let shares = shares(Scheme::Ed25519, 2, 3);
    let wallet = Wallet::new(3);
    let request = request_for(Scheme::Ed25519);
    let out = sign_on(
        &MemoryNetwork::with_relay(Reverser::default()),
        &wallet,
        &[&shares[0], &shares[1], &shares[2]],
        &request,
    );
    assert_eq!(no_wrong_signature(&out, &shares[0], &request), 3);
}

#[test]
fn frames_from_an_earlier_ceremony_are_rejected() {
    for scheme in Scheme::ALL {
        let shares = shares(scheme, 2, 2);
        let wallet = Wallet::new(2);
        let request = request_for(scheme);
        // Record a whole first ceremony with the same parties, identities and request.
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let rec = recorded.clone();
        let out = sign_on(
            &MemoryNetwork::with_relay(FnRelay(move |to, f: Vec<u8>| {
                rec.lock().unwrap().push((to, f.clone()));
                vec![(to, f)]
            })),
            &wallet,
            &[&shares[0], &shares[1]],
            &request,
        );
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2);
        let old: Vec<_> = recorded.lock().unwrap().clone();

        // Replay them, as sent, in front of every frame of a retry.
        let replay = old.clone();
        let out = sign_on(
            &MemoryNetwork::with_relay(FnRelay(move |to, f: Vec<u8>| {
                let mut route: Route = replay.clone();
                route.push((to, f));
                route
            })),
            &wallet,
            &[&shares[0], &shares[1]],
            &request,
        );
        assert_eq!(no_wrong_signature(&out, &shares[0], &request), 2, "{scheme}: replays must not stop the retry");
        assert!(out.iter().all(|(_, _, s)| s.rejected_frames() > 0));

        // The same, but relabelled with the retry's ceremony id and a recomputed id: the
        // keys differ per ceremony, so they do not authenticate.
        let (_, mut sessions) = wallet.sessions(
            &[(p(1), 0), (p(2), 1)],
            tssw_channel::Operation::Sign,
            scheme,
            2,
            Some(common::request_digest(&request)),
        );
        let new_id = sessions[0].ceremony_id();
        for (to, bytes) in &old {
            let session = &mut sessions[usize::from(to.get() - 1)];
            assert_eq!(session.open(bytes).unwrap_err(), ChannelError::WrongCeremony);
            let mut frame = Frame::decode(bytes).unwrap();
            frame.header.ceremony = new_id;
            frame.header.id = frame.header.expected_id();
            assert!(
                matches!(session.open(&frame.encode()).unwrap_err(), ChannelError::Decrypt { .. }),
                "{scheme}: relabelled replay"
            );
        }
    }
}

/// Rewrites one frame's header and recomputes the message id, as a relay can.
fn rewrite(bytes: &[u8], f: impl Fn(&mut Frame)) -> Vec<u8> {
    let mut frame = Frame::decode(bytes).unwrap();
    f(&mut frame);
    frame.header.id = frame.header.expected_id();
    frame.encode()
}

#[test]
fn spoofed_senders_are_rejected() {
    for scheme in [Scheme::Ed25519, Scheme::Bip340, Scheme::Ecdsa] {
        let shares = shares(scheme, 2, 3);
        let wallet = Wallet::new(3);
        let request = request_for(scheme);
        let signers: Vec<&KeyShare> = if scheme == Scheme::Ecdsa {
            vec![&shares[0], &shares[1]]
        } else {
            vec![&shares[0], &shares[1], &shares[2]]
        };
        type Forge = fn(&mut Frame);
        let cases: Vec<(&str, Forge)> = vec![
            // From 1 to 2, relabelled as from 3 (a third party, or in ECDSA one not signing).
            ("from another party", |f| f.header.from = PartyIndex::new(3).unwrap()),
            // Claiming to come from the recipient itself.
            ("from the recipient", |f| f.header.from = f.header.to),
            // Redirected to a party it was not sealed for.
            ("to another party", |f| f.header.to = PartyIndex::new(3).unwrap()),
            // A direct frame relabelled as a broadcast copy, or the reverse.
            ("kind flipped", |f| f.header.broadcast = !f.header.broadcast),
        ];
        for (what, change) in cases {
            let out = sign_on(
                &on_nth(0, move |to, f| {
                    let forged = rewrite(&f, change);
                    vec![(to_of(&forged), forged), (to, f)]
                }),
                &wallet,
                &signers,
                &request,
            );
            // The genuine frame still arrives: the ceremony completes and the forgery is
            // rejected by whoever received it.
            assert_eq!(no_wrong_signature(&out, &shares[0], &request), signers.len(), "{scheme}: {what}");
            let total: usize = out.iter().map(|(_, _, s)| s.rejected_frames()).sum();
            assert!(total >= 1 || is_noop(what, scheme), "{scheme}: {what}: forgery accepted");
        }
    }
}

fn to_of(bytes: &[u8]) -> PartyIndex {
    Frame::decode(bytes).unwrap().header.to
}

/// Cases where the forged frame goes to a party outside the ceremony (ECDSA signs with
/// parties 1 and 2 only: nobody receives "to another party"), so nobody has to reject it.
fn is_noop(what: &str, scheme: Scheme) -> bool {
    scheme == Scheme::Ecdsa && what == "to another party"
}

#[test]
fn message_ids_are_distinct_per_slot() {
    let id = tssw_protocol::CeremonyId([3; 32]);
    let mut ids = std::collections::BTreeSet::new();
    for round in 1..=4 {
        for from in 1..=3 {
            for to in [None, Some(p(1)), Some(p(2)), Some(p(3))] {
                assert!(ids.insert(MessageId::compute(id, round, p(from), to)));
            }
        }
    }
    assert_ne!(
        MessageId::compute(id, 1, p(1), None),
        MessageId::compute(tssw_protocol::CeremonyId([4; 32]), 1, p(1), None)
    );
}
