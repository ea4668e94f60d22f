//! An in-memory transport: every party's endpoint shares one hub of mailboxes. For tests,
//! benches and `tssw dev`; an optional [`Relay`] sees every frame in transit and may drop,
//! alter, duplicate, hold or inject frames, as an untrusted relay could.
//!
//! The hub knows when nothing can move any more (every live endpoint waits on an empty
//! mailbox and the relay holds nothing back), and then ends every `recv` with `None`, so a
//! stalled ceremony ends with a typed error instead of hanging a test.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use tssw_protocol::PartyIndex;

use crate::session::Outbound;
use crate::transport::Transport;

/// A man in the middle for the in-memory network.
pub trait Relay: Send {
    /// Called for every frame sent; returns what to deliver to whom instead.
    fn route(&mut self, to: PartyIndex, frame: Vec<u8>) -> Vec<(PartyIndex, Vec<u8>)>;
    /// Called when nothing else can move: frames held back so far, to deliver now.
    fn flush(&mut self) -> Vec<(PartyIndex, Vec<u8>)> {
        Vec::new()
    }
}

/// A [`Relay`] from a closure (no holding back).
pub struct FnRelay<F>(pub F);

impl<F: FnMut(PartyIndex, Vec<u8>) -> Vec<(PartyIndex, Vec<u8>)> + Send> Relay for FnRelay<F> {
    fn route(&mut self, to: PartyIndex, frame: Vec<u8>) -> Vec<(PartyIndex, Vec<u8>)> {
        (self.0)(to, frame)
    }
}

#[derive(Default)]
struct Hub {
    mailboxes: BTreeMap<PartyIndex, VecDeque<Vec<u8>>>,
    wakers: BTreeMap<PartyIndex, Waker>,
    live: BTreeSet<PartyIndex>,
    waiting: BTreeSet<PartyIndex>,
    stalled: bool,
    relay: Option<Box<dyn Relay>>,
    frames: usize,
    bytes: usize,
}

impl Hub {
    fn deliver(&mut self, deliveries: Vec<(PartyIndex, Vec<u8>)>) {
        for (to, frame) in deliveries {
            self.frames += 1;
            self.bytes += frame.len();
            self.mailboxes.entry(to).or_default().push_back(frame);
            self.waiting.remove(&to);
            if let Some(w) = self.wakers.remove(&to) {
                w.wake();
            }
        }
    }

    /// Called whenever an endpoint starts waiting or leaves: if every live endpoint waits
    /// with an empty mailbox, let the relay release what it holds, or else declare a stall.
    fn check_stall(&mut self) {
        if self.stalled || !self.live.iter().all(|p| self.waiting.contains(p)) {
            return;
        }
        let held = self.relay.as_mut().map(|r| r.flush()).unwrap_or_default();
        if held.is_empty() {
            self.stalled = true;
            for (_, w) in std::mem::take(&mut self.wakers) {
                w.wake();
            }
        } else {
            self.deliver(held);
        }
    }
}

/// The shared hub. Clone it to hand it around; make one endpoint per party.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    hub: Arc<Mutex<Hub>>,
}

impl MemoryNetwork {
    /// A network that delivers every frame as sent.
    pub fn new() -> MemoryNetwork {
        MemoryNetwork::default()
    }

    /// A network whose frames all pass through `relay`.
    pub fn with_relay(relay: impl Relay + 'static) -> MemoryNetwork {
        let network = MemoryNetwork::default();
        network.lock().relay = Some(Box::new(relay));
        network
    }

    /// The endpoint of party `me`. It counts as live until dropped.
    pub fn endpoint(&self, me: PartyIndex) -> MemoryTransport {
        let mut hub = self.lock();
        hub.live.insert(me);
        hub.mailboxes.entry(me).or_default();
        MemoryTransport { me, network: self.clone() }
    }

    /// Frames and bytes delivered so far.
    pub fn stats(&self) -> (usize, usize) {
        let hub = self.lock();
        (hub.frames, hub.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        // The hub's state stays consistent across a panic in a test thread (each method
        // finishes its edits before it wakes anyone), so a poisoned lock is still usable.
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One party's endpoint on a [`MemoryNetwork`].
pub struct MemoryTransport {
    me: PartyIndex,
    network: MemoryNetwork,
}

/// The in-memory transport never fails.
#[derive(Debug, thiserror::Error)]
#[error("in-memory transport error")]
pub struct MemoryError;

impl Transport for MemoryTransport {
    type Error = MemoryError;

    async fn send(&mut self, frame: Outbound) -> Result<(), MemoryError> {
        let mut hub = self.network.lock();
        let deliveries = match hub.relay.as_mut() {
            Some(relay) => relay.route(frame.to, frame.bytes),
            None => vec![(frame.to, frame.bytes)],
        };
        hub.deliver(deliveries);
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, MemoryError> {
        let me = self.me;
        let network = self.network.clone();
        poll_fn(move |cx| {
            let mut hub = network.lock();
            if let Some(frame) = hub.mailboxes.get_mut(&me).and_then(VecDeque::pop_front) {
                hub.waiting.remove(&me);
                return Poll::Ready(Ok(Some(frame)));
            }
            if hub.stalled {
                return Poll::Ready(Ok(None));
            }
            hub.waiting.insert(me);
            hub.wakers.insert(me, cx.waker().clone());
            hub.check_stall();
            // The relay may just have released frames for us, or declared the stall.
            if let Some(frame) = hub.mailboxes.get_mut(&me).and_then(VecDeque::pop_front) {
                hub.waiting.remove(&me);
                return Poll::Ready(Ok(Some(frame)));
            }
            if hub.stalled { Poll::Ready(Ok(None)) } else { Poll::Pending }
        })
        .await
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        let mut hub = self.network.lock();
        hub.live.remove(&self.me);
        hub.waiting.remove(&self.me);
        hub.wakers.remove(&self.me);
        hub.check_stall();
    }
}
