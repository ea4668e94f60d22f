//! Concurrent signing with one wallet share, coalesced: requests that arrive while the
//! wallet's ceremonies are busy wait here and go together in the next batch ceremony.
//!
//! Why: a ceremony has a fixed cost (the HTTP request, the signed setup and its checks, the
//! relay sessions, the server's rows) that is several times a FROST signature's compute and
//! about half an ECDSA one's (BENCHMARKS.md). A service that signs many payloads at once with
//! one wallet (a payment processor, an exchange's hot wallet) would pay it per payload. Here
//! queued payloads share it, as concurrent transactions share a database's group commit: an
//! idle queue signs a lone payload at once in an ordinary ceremony (no added latency), a busy
//! one batches what arrived while it was busy, up to the scheme's `max_batch`.
//!
//! Nothing about what is signed changes: the enclave parses and checks every payload of a
//! batch against the wallet's policy, and the setup binds each request in order. Each caller
//! gets what [`Device::sign`] would have given it: its own request and signature, or an
//! error. A batch refused for one payload's sake (the device cannot build its request, or the
//! server answers 400 or 403) is signed again one payload per ceremony, so that only the
//! faulty payload's caller sees the refusal; any other failure (relay, enclave, protocol)
//! reaches every caller in the batch, as it would have reached each of them alone. (A 429,
//! the account's ceremony limit, never gets this far: [`crate::ApiClient`] asks again.)
//!
//! There is no background task: a caller whose payload still waits may get one of the
//! queue's ceremony slots; it runs one batch — its own payload, then more from the head of
//! the queue — and that batch answers it too. Callers whose payloads a batch took just
//! wait. If a caller is dropped while it runs a batch, the other callers in it are told and
//! queue their payloads again, for a new ceremony (a ceremony is never resumed or re-run).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Semaphore, oneshot};
use tssw_api::ChainPayload;
use tssw_protocol::{KeyShare, SignRequest, Signature};

use crate::api::ApiError;
use crate::ceremony::CeremonyError;
use crate::ops::Device;

/// What one caller gets back.
type Signed = Result<(SignRequest, Signature), CeremonyError>;

/// The payloads waiting, and how many are in ceremonies now.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    signing: usize,
}

/// One caller's payload, where its answer goes, and how its caller learns that another
/// caller's batch took it.
struct Waiting {
    id: u64,
    payload: ChainPayload,
    answer: oneshot::Sender<Signed>,
    taken: Option<oneshot::Sender<()>>,
}

/// Signing requests for one wallet share, coalesced into as few ceremonies as the load
/// allows. Share it (e.g. in an `Arc`) between the tasks that sign with the wallet.
pub struct SignQueue {
    wallet: String,
    share: KeyShare,
    allow_raw_digest: bool,
    max_batch: usize,
    ceremonies_at_once: usize,
    slots: Semaphore,
    // A std mutex: every critical section is a push, a drain or a count, never held
    // across an await.
    queue: Mutex<Queue>,
    ceremonies: AtomicUsize,
    next_id: AtomicU64,
}

impl std::fmt::Debug for SignQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The share is a secret: name the wallet and the settings only.
        f.debug_struct("SignQueue")
            .field("wallet", &self.wallet)
            .field("scheme", &self.share.scheme())
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl SignQueue {
    /// Ceremonies at once for one wallet: one batch fills while the other signs. Measured
    /// (BENCHMARKS.md): three were no faster within the machine's noise and use more of the
    /// account's ceremony limit; four split 128 callers into batches too thin to pay off.
    pub const CEREMONIES: usize = 2;

    /// A queue for `wallet` signing with `share`, running at most `ceremonies` ceremonies at
    /// once (at least 1; [`SignQueue::CEREMONIES`] keeps the wallet busy). Each counts against the server's per-account ceremony limit.
    pub fn new(wallet: impl Into<String>, share: KeyShare, allow_raw_digest: bool, ceremonies: usize) -> SignQueue {
        SignQueue {
            wallet: wallet.into(),
            max_batch: tssw_protocol::max_batch(share.scheme()),
            share,
            allow_raw_digest,
            ceremonies_at_once: ceremonies.max(1),
            slots: Semaphore::new(ceremonies.max(1)),
            queue: Mutex::new(Queue::default()),
            ceremonies: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    /// The share this queue signs with.
    pub fn share(&self) -> &KeyShare {
        &self.share
    }

    /// How many ceremonies this queue has started (for load figures: signatures per
    /// ceremony); requests the server refused started none and are not counted.
    pub fn ceremonies(&self) -> usize {
        self.ceremonies.load(Ordering::Relaxed)
    }

    /// Signs `payload` through `device`, alone or in a batch with other callers' payloads;
    /// returns what was signed and the signature, as [`Device::sign`] does.
    pub async fn sign(&self, device: &Device<'_>, payload: &ChainPayload) -> Signed {
        'asked: loop {
            let (answer, answered) = oneshot::channel();
            let (taken, mut taken_by_another) = oneshot::channel();
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.lock().waiting.push_back(Waiting { id, payload: payload.clone(), answer, taken: Some(taken) });
            // Only callers whose payloads still wait compete for a slot. One whose payload
            // another caller's batch took leaves the race: were it to win a slot, it would
            // sign a batch of others' payloads while its own answer waited, and fall behind
            // the callers it shares the wallet with by one ceremony each time.
            let slot = tokio::select! {
                biased;
                // Sent when taken, or dropped unsent when that batch's caller gave up: either
                // way the answer (or its absence) settles it.
                _ = &mut taken_by_another => None,
                slot = self.slots.acquire() => match slot {
                    Ok(slot) => Some(slot),
                    Err(_) => return Err(CeremonyError::Start("the signing queue was closed".into())),
                },
            };
            if let Some(slot) = slot {
                // Callers woken with the answers of the ceremony that freed this slot queue
                // their next payloads now: let them, so they join this batch instead of each
                // starting a ceremony of its own.
                tokio::task::yield_now().await;
                // `None`: another caller took ours meanwhile, and its batch answers us.
                if let Some(batch) = self.take(id) {
                    self.run(device, batch).await;
                }
                drop(slot);
            }
            match answered.await {
                Ok(signed) => return signed,
                // The caller running our batch was dropped: ask again.
                Err(_) => continue 'asked,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic elsewhere while holding the lock cannot leave the queue half-changed
        // (pushes and drains only), so a poisoned lock is still a good queue.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The payload of caller `own` (the slot's holder), then payloads from the head of the
    /// queue whose callers still wait: up to an even share, per ceremony slot, of all the
    /// payloads waiting or being signed (and `max_batch`). `None` if `own`'s payload is no
    /// longer waiting. The holder's own goes first so that the batch it signs answers it
    /// too. Every other caller taken is told, so it stops competing for a slot.
    /// Counting those being signed is what evens the batches out: a slot that took only the
    /// payloads waiting would take back, ceremony after ceremony, just the callers its last
    /// batch answered, and a wallet that started with one lone payload in one slot and the
    /// rest in the other would keep that split.
    fn take(&self, own: u64) -> Option<Batch<'_>> {
        let mut queue = self.lock();
        let share = (queue.waiting.len() + queue.signing).div_ceil(self.ceremonies_at_once).clamp(1, self.max_batch);
        let at = queue.waiting.iter().position(|w| w.id == own)?;
        let mut items = Vec::with_capacity(share);
        items.extend(queue.waiting.remove(at));
        while items.len() < share {
            let Some(w) = queue.waiting.pop_front() else { break };
            if !w.answer.is_closed() {
                items.push(w);
            }
        }
        for taken in items[1..].iter_mut().filter_map(|w| w.taken.take()) {
            let _ = taken.send(());
        }
        queue.signing += items.len();
        Some(Batch { counted: items.len(), items, queue: self })
    }

    async fn run(&self, device: &Device<'_>, mut taken: Batch<'_>) {
        // `taken` keeps the payloads counted as being signed until this returns.
        let batch = std::mem::take(&mut taken.items);
        let payloads: Vec<ChainPayload> = batch.iter().map(|w| w.payload.clone()).collect();
        match self.attempt(device, &payloads).await {
            Ok(signed) => {
                for (w, s) in batch.into_iter().zip(signed) {
                    let _ = w.answer.send(Ok(s));
                }
            }
            Err(e) if batch.len() > 1 && one_payloads_fault(&e) => {
                for w in batch {
                    let signed = self.attempt(device, std::slice::from_ref(&w.payload)).await;
                    let _ = w.answer.send(signed.and_then(|mut s| s.pop().ok_or_else(no_signature)));
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.answer.send(Err(e.clone()));
                }
            }
        }
    }

    /// One ceremony over `payloads` (a lone one as an ordinary sign).
    async fn attempt(
        &self,
        device: &Device<'_>,
        payloads: &[ChainPayload],
    ) -> Result<Vec<(SignRequest, Signature)>, CeremonyError> {
        let signed = if let [one] = payloads {
            device.sign(&self.wallet, &self.share, one, self.allow_raw_digest).await.map(|s| vec![s])
        } else {
            device.sign_batch(&self.wallet, &self.share, payloads, self.allow_raw_digest).await
        };
        // A request the server refused started no ceremony.
        if !matches!(signed, Err(CeremonyError::Api(ApiError::Refused { .. }))) {
            self.ceremonies.fetch_add(1, Ordering::Relaxed);
        }
        signed
    }
}

fn no_signature() -> CeremonyError {
    CeremonyError::Protocol("the ceremony gave no signature".into())
}

/// Whether a batch may have failed for one payload's sake rather than for all of them.
fn one_payloads_fault(e: &CeremonyError) -> bool {
    match e {
        CeremonyError::Start(_) => true,
        CeremonyError::Api(ApiError::Refused { status, .. }) => matches!(status, 400 | 403),
        _ => false,
    }
}

/// Payloads taken from the queue for one ceremony; they count as being signed until it is
/// dropped, when the ceremony has ended or its caller was dropped.
struct Batch<'a> {
    items: Vec<Waiting>,
    counted: usize,
    queue: &'a SignQueue,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.queue.lock().signing -= self.counted;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tssw_protocol::Scheme;

    fn queue(ceremonies: usize) -> SignQueue {
        let share = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
        SignQueue::new("w", share, false, ceremonies)
    }

    /// A queued payload's caller: its id, and what it waits on.
    struct Caller {
        id: u64,
        _answered: oneshot::Receiver<Signed>,
        taken: oneshot::Receiver<()>,
    }

    /// Queues `n` payloads; the receivers keep their callers "waiting".
    fn push(q: &SignQueue, n: usize) -> Vec<Caller> {
        (0..n)
            .map(|i| {
                let (answer, _answered) = oneshot::channel();
                let (taken, taken_rx) = oneshot::channel();
                let id = q.next_id.fetch_add(1, Ordering::Relaxed);
                let payload = ChainPayload::SolanaOffchainMessage { message: vec![i as u8] };
                q.lock().waiting.push_back(Waiting { id, payload, answer, taken: Some(taken) });
                Caller { id, _answered, taken: taken_rx }
            })
            .collect()
    }

    #[test]
    fn a_lone_payload_is_taken_at_once_and_batches_even_out() {
        let q = queue(2);
        let first = push(&q, 1);
        let lone = q.take(first[0].id).unwrap();
        assert_eq!(lone.items.len(), 1);
        // 63 more arrive while it signs: this slot takes half of all 64, not all 63 …
        let more = push(&q, 63);
        let half = q.take(more[0].id).unwrap();
        assert_eq!(half.items.len(), 32);
        // … and when the lone one ends, its slot takes the rest (31 waiting, 32 signing).
        drop(lone);
        let rest = q.take(more[62].id).unwrap();
        assert_eq!(rest.items.len(), 31);
        drop((half, rest));
        assert_eq!(q.lock().signing, 0);
        // Never more than the scheme's batch.
        let many = push(&q, 200);
        assert_eq!(q.take(many[0].id).unwrap().items.len(), tssw_protocol::max_batch(Scheme::Ed25519));
    }

    #[test]
    fn payloads_of_callers_that_left_are_not_signed() {
        let q = queue(1);
        let mut waiting = push(&q, 3);
        drop(waiting.remove(1));
        let batch = q.take(waiting[0].id).unwrap();
        let messages: Vec<_> = batch.items.iter().map(|w| w.payload.clone()).collect();
        assert_eq!(messages, [0u8, 2].map(|i| ChainPayload::SolanaOffchainMessage { message: vec![i] }).to_vec());
        assert_eq!(q.lock().signing, 2);
    }

    /// The slot's holder signs its own payload in the batch it runs, whatever its place in
    /// the queue, and every other caller taken learns it, so it stops competing for a slot.
    #[test]
    fn the_holder_signs_its_own_and_tells_the_others() {
        let q = queue(2);
        let mut callers = push(&q, 10);
        // 10 waiting, none signing: a share is 5, and the holder is the 8th in line.
        let batch = q.take(callers[7].id).unwrap();
        let ids: Vec<u64> = batch.items.iter().map(|w| w.id).collect();
        assert_eq!(ids, [7, 0, 1, 2, 3].map(|i| callers[i].id));
        for (i, c) in callers.iter_mut().enumerate() {
            let told = c.taken.try_recv().is_ok();
            assert_eq!(told, [0, 1, 2, 3].contains(&i), "caller {i}");
        }
        // A caller whose payload another batch took has nothing to take.
        assert!(q.take(callers[0].id).is_none());
        assert_eq!(q.lock().waiting.len(), 5);
    }

    #[test]
    fn only_refusals_of_a_payload_split_a_batch() {
        let refused = |status| CeremonyError::Api(ApiError::Refused { status, code: "x".into(), message: "x".into() });
        assert!(one_payloads_fault(&CeremonyError::Start("bad payload".into())));
        assert!(one_payloads_fault(&refused(400)));
        assert!(one_payloads_fault(&refused(403)));
        // Over a limit, a stale epoch, a server fault: the same for every payload.
        for status in [409, 429, 500, 503] {
            assert!(!one_payloads_fault(&refused(status)), "{status}");
        }
        assert!(!one_payloads_fault(&CeremonyError::Relay("lost".into())));
        assert!(!one_payloads_fault(&CeremonyError::Protocol("stalled".into())));
    }
}
