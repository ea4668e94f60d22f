//! A compromised relay over real WebSockets. [`HostileMailbox`] wraps the in-memory
//! backend and misbehaves on frames the relay has already checked (so it models a relay
//! whose own checks are bypassed, not a client): it tampers, truncates, drops, duplicates,
//! reorders, replays an earlier ceremony's frames and spoofs senders. For every scheme,
//! each case either completes with signatures an independent verifier accepts, or ends in
//! a typed `DriveError::Stalled` whose `rejected` list shows the forged frame, quickly,
//! through the client's stall timeout. No case ever yields a signature that does not
//! verify. The expectations are those of `crates/channel/tests/adversarial.rs` (the same
//! relay as an in-memory hook), now through the server, the client and the sockets.
//!
//! One exception, found here: a reorder into FROST sign's last round fails (safely, with
//! typed errors) instead of completing; see `reordered_frames_are_harmless`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Outcome, Relay, bounded, dkg_parties, no_wrong_signature, p, request_for, run_each, sign_parties};
use futures_util::future::join_all;
use tokio::sync::watch;
use tssw_channel::{ChannelError, DriveError, Frame, IdentityKey, Rejected};
use tssw_protocol::{CeremonyId, KeyShare, PartyIndex, Scheme, SignRequest};
use tssw_relay::mailbox::{CeremonyKey, Stored};
use tssw_relay::{Mailbox, MailboxError, MemoryLimits, MemoryMailbox, RelayTransport, Stop};

/// Stall timeout for runs the attack must stop: long enough for an honest peer's slowest
/// step on a loaded machine (a spurious stall before the attack would hide it), short
/// enough that every failing case ends in seconds.
const STALL: Duration = Duration::from_secs(2);

/// Stall timeout for runs that must complete: never reached unless something is wrong,
/// and then it ends the run with a typed error well before the test's own limit.
const PATIENT: Duration = Duration::from_secs(20);

/// How the relay breaks frames: one chosen way per run.
#[derive(Clone, Debug)]
enum Attack {
    /// Passes everything (and records it, for a later replay).
    Honest,
    /// Flips a byte in the middle of the body (the AEAD ciphertext) of the n-th frame.
    Tamper(usize),
    /// Cuts the n-th frame to half its length.
    Truncate(usize),
    /// Loses the n-th frame.
    Drop(usize),
    /// Stores every frame twice.
    Duplicate,
    /// Holds the ceremony's first frame until the next one for the same mailbox, then
    /// stores them in swapped order.
    Reorder,
    /// Rewrites the n-th frame's routing.
    Spoof(usize, Spoof),
    /// Before the first frame of each mailbox, stores every frame recorded for that
    /// mailbox in an earlier ceremony, once as recorded and once relabelled with this
    /// ceremony's id (and a recomputed message id, so only the AEAD can tell).
    ReplayInFront(Vec<Recorded>),
    /// Replaces the n-th frame with the earlier ceremony's frame for the same slot (round,
    /// sender, recipient), relabelled with this ceremony's id.
    ReplayInstead(usize, Vec<Recorded>),
}

#[derive(Clone, Copy, Debug)]
enum Spoof {
    /// Claims to come from its own recipient (who is not its own counterparty).
    FromRecipient,
    /// Sent back to its sender as if the recipient had sent it.
    Reflect,
    /// Delivered unchanged into the sender's own mailbox.
    Misdeliver,
}

/// A frame as a party sent it: (ceremony, recipient, bytes).
type Recorded = (CeremonyKey, u16, Arc<[u8]>);

/// What the attack did in one ceremony.
#[derive(Default)]
struct Ledger {
    /// Genuine frames appended so far.
    frames: usize,
    /// Frames changed, dropped, moved, duplicated, swapped or injected: (sender, mailbox
    /// that got the result, or lost the frame).
    hits: Vec<(u16, u16)>,
    /// Reorder: the frame held back, and whether the swap happened.
    held: Option<(u16, Arc<[u8]>)>,
    swapped: bool,
    /// Replay: the mailboxes already given the old frames.
    replayed_to: BTreeSet<u16>,
}

struct State {
    attack: Attack,
    log: Vec<Recorded>,
    ledgers: HashMap<CeremonyKey, Ledger>,
}

/// A [`Mailbox`] that delegates to [`MemoryMailbox`] and misbehaves on `append`, which
/// the server calls only after its header checks.
#[derive(Clone)]
struct HostileMailbox<M: Mailbox> {
    inner: M,
    state: Arc<Mutex<State>>,
}

impl HostileMailbox<MemoryMailbox> {
    fn new(attack: Attack) -> HostileMailbox<MemoryMailbox> {
        let inner = MemoryMailbox::new(MemoryLimits { ttl_secs: 600, max_frames: 256, max_bytes: 16 << 20 });
        HostileMailbox {
            inner,
            state: Arc::new(Mutex::new(State { attack, log: Vec::new(), ledgers: HashMap::new() })),
        }
    }
}

impl<M: Mailbox> HostileMailbox<M> {
    fn set_attack(&self, attack: Attack) {
        self.state.lock().unwrap().attack = attack;
    }

    /// Every genuine frame of `ceremony`, as sent.
    fn recorded(&self, ceremony: CeremonyId) -> Vec<Recorded> {
        self.state.lock().unwrap().log.iter().filter(|(c, _, _)| *c == ceremony.0).cloned().collect()
    }

    fn hits(&self, ceremony: CeremonyId) -> Vec<(u16, u16)> {
        self.state.lock().unwrap().ledgers.get(&ceremony.0).map(|l| l.hits.clone()).unwrap_or_default()
    }

    fn swapped(&self, ceremony: CeremonyId) -> bool {
        self.state.lock().unwrap().ledgers.get(&ceremony.0).is_some_and(|l| l.swapped)
    }
}

impl State {
    /// What to store, and where, instead of `frame` for mailbox `to`.
    fn route(&mut self, ceremony: CeremonyKey, to: u16, frame: Arc<[u8]>) -> Vec<(u16, Arc<[u8]>)> {
        self.log.push((ceremony, to, frame.clone()));
        let header = Frame::decode(&frame).unwrap().header;
        let from = header.from.get();
        let ledger = self.ledgers.entry(ceremony).or_default();
        let n = ledger.frames;
        ledger.frames += 1;
        let mut hit = |mailbox: u16| ledger.hits.push((from, mailbox));
        match &self.attack {
            Attack::Tamper(k) if n == *k => {
                hit(to);
                vec![(
                    to,
                    rewrite(
                        &frame,
                        |f| {
                            let middle = f.body.len() / 2;
                            f.body[middle] ^= 0x5a;
                        },
                        false,
                    ),
                )]
            }
            Attack::Truncate(k) if n == *k => {
                hit(to);
                vec![(to, Arc::from(&frame[..frame.len() / 2]))]
            }
            Attack::Drop(k) if n == *k => {
                hit(to);
                Vec::new()
            }
            Attack::Duplicate => {
                hit(to);
                vec![(to, frame.clone()), (to, frame)]
            }
            Attack::Reorder if !ledger.swapped => match ledger.held.take() {
                None => {
                    ledger.held = Some((to, frame));
                    Vec::new()
                }
                Some((held_to, held)) if held_to == to => {
                    ledger.swapped = true;
                    ledger.hits.push((from, to));
                    vec![(to, frame), (to, held)]
                }
                other => {
                    ledger.held = other;
                    vec![(to, frame)]
                }
            },
            Attack::Spoof(k, how) if n == *k => {
                let (mailbox, forged) = match how {
                    Spoof::FromRecipient => (to, rewrite(&frame, |f| f.header.from = f.header.to, true)),
                    Spoof::Reflect => (
                        from,
                        rewrite(
                            &frame,
                            |f| {
                                let h = &mut f.header;
                                (h.from, h.to) = (h.to, h.from);
                            },
                            true,
                        ),
                    ),
                    Spoof::Misdeliver => (from, frame),
                };
                hit(mailbox);
                vec![(mailbox, forged)]
            }
            Attack::ReplayInFront(old) if ledger.replayed_to.insert(to) => {
                let mut out = Vec::new();
                for (_, _, bytes) in old.iter().filter(|(_, t, _)| *t == to) {
                    let old_from = Frame::decode(bytes).unwrap().header.from.get();
                    out.push((to, bytes.clone()));
                    out.push((to, relabel(bytes, ceremony)));
                    ledger.hits.extend([(old_from, to), (old_from, to)]);
                }
                out.push((to, frame));
                out
            }
            Attack::ReplayInstead(k, old) if n == *k => {
                let slot = |h: &tssw_channel::FrameHeader| (h.round, h.from, h.to, h.broadcast);
                let same = old.iter().find(|(_, _, b)| slot(&Frame::decode(b).unwrap().header) == slot(&header));
                let (_, _, bytes) = same.expect("the earlier ceremony has a frame for this slot");
                hit(to);
                vec![(to, relabel(bytes, ceremony))]
            }
            _ => vec![(to, frame)],
        }
    }
}

/// Decodes, changes and re-encodes a frame; with `fix_id`, recomputes the message id from
/// the new header, as a relay that knows the format can.
fn rewrite(bytes: &[u8], change: impl Fn(&mut Frame), fix_id: bool) -> Arc<[u8]> {
    let mut frame = Frame::decode(bytes).unwrap();
    change(&mut frame);
    if fix_id {
        frame.header.id = frame.header.expected_id();
    }
    Arc::from(frame.encode())
}

/// An old frame made to look like one of `ceremony`.
fn relabel(bytes: &[u8], ceremony: CeremonyKey) -> Arc<[u8]> {
    rewrite(bytes, |f| f.header.ceremony = CeremonyId(ceremony), true)
}

impl<M: Mailbox> Mailbox for HostileMailbox<M> {
    async fn open(
        &self,
        ceremony: CeremonyKey,
        account: &str,
        max_open: usize,
        now: u64,
    ) -> Result<bool, MailboxError> {
        self.inner.open(ceremony, account, max_open, now).await
    }

    async fn put_result(&self, ceremony: CeremonyKey, result: Arc<[u8]>, now: u64) -> Result<(), MailboxError> {
        self.inner.put_result(ceremony, result, now).await
    }

    async fn get_result(&self, ceremony: CeremonyKey, now: u64) -> Result<Option<Arc<[u8]>>, MailboxError> {
        self.inner.get_result(ceremony, now).await
    }

    async fn append(&self, ceremony: CeremonyKey, to: u16, frame: Arc<[u8]>, now: u64) -> Result<u64, MailboxError> {
        // Decided under the lock, stored after it: the lock is never held across `.await`.
        let stores = self.state.lock().unwrap().route(ceremony, to, frame);
        // The server ignores the sequence number; 0 stands for "nothing stored".
        let mut seq = 0;
        for (mailbox, bytes) in stores {
            seq = self.inner.append(ceremony, mailbox, bytes, now).await?;
        }
        Ok(seq)
    }

    async fn fetch(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        after: u64,
        limit: usize,
        now: u64,
    ) -> Result<Vec<Stored>, MailboxError> {
        self.inner.fetch(ceremony, to, after, limit, now).await
    }

    async fn ack(&self, ceremony: CeremonyKey, to: u16, upto: u64, now: u64) -> Result<(), MailboxError> {
        self.inner.ack(ceremony, to, upto, now).await
    }

    async fn watch(&self, ceremony: CeremonyKey, to: u16, now: u64) -> Result<watch::Receiver<u64>, MailboxError> {
        self.inner.watch(ceremony, to, now).await
    }
}

/// One scheme's world: a relay serving a hostile mailbox, the wallet's identities, and a
/// 2-of-2 key (made in-process unless a test makes it over the relay).
struct World {
    scheme: Scheme,
    relay: Relay,
    hostile: HostileMailbox<MemoryMailbox>,
    ids: [IdentityKey; 2],
    coordinator: IdentityKey,
    shares: Vec<KeyShare>,
}

type SignOutcome = Outcome<tssw_protocol::Signature>;

impl World {
    async fn new(scheme: Scheme, attack: Attack) -> World {
        let hostile = HostileMailbox::new(attack);
        let backend = hostile.clone();
        let relay = Relay::start_with(|_| {}, move |_| backend).await;
        World {
            scheme,
            relay,
            hostile,
            ids: [IdentityKey::random(), IdentityKey::random()],
            coordinator: IdentityKey::random(),
            shares: tssw_protocol::testing::dkg(scheme, 2, 2).unwrap(),
        }
    }

    /// A 2-of-2 sign of `request` over the relay: the ceremony id and every party's
    /// outcome, after checking that no signature that came out is wrong.
    async fn sign(&self, request: &SignRequest, stall: Duration) -> (CeremonyId, Vec<SignOutcome>) {
        let parties = sign_parties(&self.ids, &self.coordinator, &[&self.shares[0], &self.shares[1]], request);
        let id = parties[0].1.ceremony_id();
        let out = run_each(&self.relay, parties, with_stall(stall)).await;
        no_wrong_signature(&out, &self.shares[0].public_key(), request);
        (id, out)
    }

    /// A 2-of-2 DKG over the relay.
    async fn dkg(&self, stall: Duration) -> (CeremonyId, Vec<Outcome<KeyShare>>) {
        let parties = dkg_parties(&self.ids, &self.coordinator, self.scheme);
        let id = parties[0].1.ceremony_id();
        (id, run_each(&self.relay, parties, with_stall(stall)).await)
    }
}

fn with_stall(stall: Duration) -> impl Fn(RelayTransport) -> RelayTransport {
    move |t| t.with_stall_timeout(stall)
}

/// Runs `case` for every scheme at once, each on its own relay: the failing cases each
/// wait out a stall timeout, and this way they wait together.
async fn for_every_scheme<F: Future<Output = ()>>(case: impl Fn(Scheme) -> F) {
    bounded(join_all(Scheme::ALL.map(case))).await;
}

/// The attack was caught: the party whose mailbox got the forged frame stalled (on the
/// stall timeout, still waiting for a peer) having rejected exactly that frame with an
/// error `kind` accepts; every other party finished or stalled, and none failed otherwise.
fn caught<O: Debug>(outcomes: &[Outcome<O>], hits: &[(u16, u16)], what: &str, kind: impl Fn(&ChannelError) -> bool) {
    assert_eq!(hits.len(), 1, "{what}: the attack must hit exactly one frame: {hits:?}");
    let victim = p(hits[0].1);
    for (party, result, session, transport) in outcomes {
        match result {
            Err(DriveError::Stalled { waiting_for, rejected, .. }) if *party == victim => {
                assert!(!waiting_for.is_empty(), "{what}");
                assert!(
                    matches!(rejected.as_slice(), [Rejected::Channel(e)] if kind(e)),
                    "{what}: party {party} rejected {rejected:?}"
                );
                assert_eq!(session.rejected_frames(), 1, "{what}");
                assert_eq!(transport.stopped_by(), Some(Stop::Stall), "{what}");
            }
            Ok(_) | Err(DriveError::Stalled { .. }) if *party != victim => {
                assert_eq!(session.rejected_frames(), 0, "{what}: party {party} saw a forgery too");
            }
            other => panic!("{what}: party {party} (victim {victim}): {other:?}"),
        }
        assert!(session.is_closed(), "{what}");
    }
}

/// Every party finished, and its session rejected `rejected(party)` frames.
fn completed<O: Debug>(outcomes: &[Outcome<O>], what: &str, rejected: impl Fn(PartyIndex) -> usize) {
    for (party, result, session, transport) in outcomes {
        assert!(result.is_ok(), "{what}: party {party}: {result:?}");
        assert_eq!(session.rejected_frames(), rejected(*party), "{what}: party {party}");
        assert_eq!(transport.stopped_by(), None, "{what}");
    }
}

fn shares_of(outcomes: Vec<Outcome<KeyShare>>) -> Vec<KeyShare> {
    let mut shares: Vec<KeyShare> = outcomes.into_iter().map(|(_, r, _, _)| r.unwrap()).collect();
    shares.sort_by_key(KeyShare::index);
    assert_eq!(shares[0].public_key(), shares[1].public_key());
    shares
}

fn is_decrypt(e: &ChannelError) -> bool {
    matches!(e, ChannelError::Decrypt { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_body_is_rejected_and_the_run_stalls() {
    for_every_scheme(|scheme| async move {
        let world = World::new(scheme, Attack::Honest).await;
        for n in [0, 2] {
            world.hostile.set_attack(Attack::Tamper(n));
            let (id, out) = world.sign(&request_for(scheme), STALL).await;
            caught(&out, &world.hostile.hits(id), &format!("{scheme} sign, frame {n}"), is_decrypt);
        }
        world.hostile.set_attack(Attack::Tamper(1));
        let (id, out) = world.dkg(STALL).await;
        caught(&out, &world.hostile.hits(id), &format!("{scheme} dkg"), is_decrypt);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_is_rejected_and_the_run_stalls() {
    for_every_scheme(|scheme| async move {
        let world = World::new(scheme, Attack::Truncate(1)).await;
        let (id, out) = world.sign(&request_for(scheme), STALL).await;
        caught(&out, &world.hostile.hits(id), &format!("{scheme}"), |e| matches!(e, ChannelError::Decode(_)));
    })
    .await;
}

/// A lost frame cannot be told from a slow peer: the recipient stalls naming the sender,
/// with nothing rejected. Losing the last frame lets its sender finish; that signature
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_frame_stalls_naming_the_sender() {
    for_every_scheme(|scheme| async move {
        let world = World::new(scheme, Attack::Honest).await;
        let (honest, out) = world.sign(&request_for(scheme), PATIENT).await;
        completed(&out, &format!("{scheme} honest"), |_| 0);
        let last = world.hostile.recorded(honest).len() - 1;
        for n in [0, last] {
            world.hostile.set_attack(Attack::Drop(n));
            let (id, out) = world.sign(&request_for(scheme), STALL).await;
            let what = format!("{scheme} frame {n}");
            let hits = world.hostile.hits(id);
            assert_eq!(hits.len(), 1, "{what}");
            let (sender, victim) = (p(hits[0].0), p(hits[0].1));
            let mut finished = 0;
            for (party, result, _, transport) in &out {
                match result {
                    Err(DriveError::Stalled { waiting_for, rejected, .. }) => {
                        assert!(rejected.is_empty(), "{what}: {rejected:?}");
                        if *party == victim {
                            assert_eq!(waiting_for, &[sender], "{what}");
                        }
                        assert_eq!(transport.stopped_by(), Some(Stop::Stall), "{what}");
                    }
                    Ok(_) => {
                        assert_ne!(*party, victim, "{what}: finished without a frame");
                        finished += 1;
                    }
                    Err(e) => panic!("{what}: party {party}: {e}"),
                }
            }
            assert_eq!(finished, usize::from(n == last), "{what}");
        }
    })
    .await;
}

/// Every frame twice: the client passes both copies on (they have distinct relay sequence
/// numbers) and the session drops the byte-identical second one without calling it a
/// rejection. DKG and sign complete and the signatures verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_frames_are_harmless() {
    for_every_scheme(|scheme| async move {
        let mut world = World::new(scheme, Attack::Duplicate).await;
        let (id, out) = world.dkg(PATIENT).await;
        completed(&out, &format!("{scheme} dkg"), |_| 0);
        assert!(!world.hostile.hits(id).is_empty());
        world.shares = shares_of(out);
        let (id, out) = world.sign(&request_for(scheme), PATIENT).await;
        completed(&out, &format!("{scheme} sign"), |_| 0);
        assert!(!world.hostile.hits(id).is_empty());
    })
    .await;
}

/// The first frame of each ceremony is held until the next frame for the same mailbox,
/// then both are stored swapped. In every 2-of-2 ceremony here both parties send round 1
/// unprompted, so that next frame always comes; the ceremony buffers the later-round frame
/// until its round. In FROST sign (two rounds) the swap puts the peer's last-round frame
/// before its first-round one: the receiver closes both rounds in one step, and its
/// last-round messages go out with its output. Every ceremony completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_frames_are_harmless() {
    for_every_scheme(|scheme| async move {
        let mut world = World::new(scheme, Attack::Reorder).await;
        let (id, out) = world.dkg(PATIENT).await;
        completed(&out, &format!("{scheme} dkg"), |_| 0);
        assert!(world.hostile.swapped(id), "{scheme} dkg: nothing was reordered");
        world.shares = shares_of(out);
        let (id, out) = world.sign(&request_for(scheme), PATIENT).await;
        assert!(world.hostile.swapped(id), "{scheme} sign: nothing was reordered");
        completed(&out, &format!("{scheme} sign"), |_| 0);
    })
    .await;
}

/// Frames recorded from an earlier ceremony of the same parties, key and request: stored
/// in front of the retry's own, each is rejected (as recorded: another ceremony; relabelled
/// with the retry's id: it does not authenticate under the retry's keys) and the retry
/// completes; stored instead of one of the retry's frames, the retry stalls on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_frames_from_an_earlier_ceremony_are_rejected() {
    for_every_scheme(|scheme| async move {
        let world = World::new(scheme, Attack::Honest).await;
        let request = request_for(scheme);
        let (earlier, out) = world.sign(&request, PATIENT).await;
        completed(&out, &format!("{scheme} earlier"), |_| 0);
        let old = world.hostile.recorded(earlier);

        world.hostile.set_attack(Attack::ReplayInFront(old.clone()));
        let (id, out) = world.sign(&request, PATIENT).await;
        let old_for = |party: PartyIndex| old.iter().filter(|(_, to, _)| *to == party.get()).count();
        completed(&out, &format!("{scheme} replay in front"), |party| 2 * old_for(party));
        assert_eq!(world.hostile.hits(id).len(), 2 * old.len(), "{scheme}");

        world.hostile.set_attack(Attack::ReplayInstead(1, old));
        let (id, out) = world.sign(&request, STALL).await;
        caught(&out, &world.hostile.hits(id), &format!("{scheme} replay instead"), is_decrypt);
    })
    .await;
}

/// A frame whose routing the relay rewrote: claiming to come from its own recipient
/// (unknown sender), reflected to its sender as if from the peer (the direction keys
/// differ: does not authenticate), or put unchanged into the sender's own mailbox
/// (misrouted). Each is rejected and the run stalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_senders_are_rejected_and_the_run_stalls() {
    for_every_scheme(|scheme| async move {
        let world = World::new(scheme, Attack::Honest).await;
        type Kind = fn(&ChannelError) -> bool;
        let cases: [(Spoof, Kind); 3] = [
            (Spoof::FromRecipient, |e| matches!(e, ChannelError::UnknownSender { .. })),
            (Spoof::Reflect, is_decrypt),
            (Spoof::Misdeliver, |e| matches!(e, ChannelError::Misrouted { .. })),
        ];
        for (how, kind) in cases {
            world.hostile.set_attack(Attack::Spoof(1, how));
            let (id, out) = world.sign(&request_for(scheme), STALL).await;
            caught(&out, &world.hostile.hits(id), &format!("{scheme} {how:?}"), kind);
        }
    })
    .await;
}
