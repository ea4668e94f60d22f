//! Store-and-forward: one append-only sequence of frames per (ceremony, recipient).
//!
//! The [`Mailbox`] trait is what the server needs from a backend; [`MemoryMailbox`] is the
//! embedded one. A Redis backend (several relay nodes sharing state) implements the same
//! trait: `append` → `XADD`, `fetch` → `XRANGE`, `ack` → `XTRIM MINID`, `watch` fed by
//! pub/sub.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// A ceremony id, as bytes.
pub type CeremonyKey = [u8; 32];

/// Why a mailbox operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// The ceremony's TTL has passed; its mailboxes are gone.
    #[error("ceremony expired")]
    Expired,
    /// The recipient's mailbox holds as many unacknowledged frames or bytes as allowed.
    #[error("mailbox full")]
    Full,
    /// The backend failed (never for memory).
    #[error("backend: {0}")]
    Backend(String),
}

/// One stored frame.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Its sequence number in the mailbox (from 1).
    pub seq: u64,
    /// The frame bytes.
    pub frame: Arc<[u8]>,
}

/// A store-and-forward backend. Every call takes the caller's clock (`now`, seconds) so
/// expiry is checked on access, without a sweeper loop.
pub trait Mailbox: Clone + Send + Sync + 'static {
    /// Appends `frame` to the mailbox of `to` in `ceremony`; returns its sequence number.
    fn append(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        frame: Arc<[u8]>,
        now: u64,
    ) -> impl Future<Output = Result<u64, MailboxError>> + Send;

    /// Up to `limit` frames with `seq > after`, oldest first.
    fn fetch(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        after: u64,
        limit: usize,
        now: u64,
    ) -> impl Future<Output = Result<Vec<Stored>, MailboxError>> + Send;

    /// Forgets every frame with `seq <= upto` (the recipient has them).
    fn ack(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        upto: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), MailboxError>> + Send;

    /// A receiver of the last appended sequence number of this mailbox (creating it if
    /// needed): it changes whenever a frame arrives, for push delivery.
    fn watch(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        now: u64,
    ) -> impl Future<Output = Result<watch::Receiver<u64>, MailboxError>> + Send;
}

/// Bounds of a [`MemoryMailbox`].
#[derive(Clone, Copy, Debug)]
pub struct MemoryLimits {
    /// Seconds a ceremony's mailboxes live after the first access.
    pub ttl_secs: u64,
    /// Unacknowledged frames per mailbox.
    pub max_frames: usize,
    /// Unacknowledged bytes per mailbox.
    pub max_bytes: usize,
}

/// The in-memory backend: a map behind a `std::sync::Mutex`. Every critical section is a
/// few map operations with no `.await` inside, so a blocking mutex is right (as in
/// mini-redis `db.rs`).
#[derive(Clone)]
pub struct MemoryMailbox {
    inner: Arc<Mutex<HashMap<CeremonyKey, Ceremony>>>,
    limits: MemoryLimits,
}

struct Ceremony {
    expires_at: u64,
    boxes: HashMap<u16, Queue>,
}

struct Queue {
    frames: VecDeque<Stored>,
    bytes: usize,
    last_seq: u64,
    acked: u64,
    notify: watch::Sender<u64>,
}

impl Queue {
    fn new() -> Queue {
        Queue { frames: VecDeque::new(), bytes: 0, last_seq: 0, acked: 0, notify: watch::Sender::new(0) }
    }
}

impl MemoryMailbox {
    /// An empty store.
    pub fn new(limits: MemoryLimits) -> MemoryMailbox {
        MemoryMailbox { inner: Arc::new(Mutex::new(HashMap::new())), limits }
    }

    /// Number of live ceremonies (for tests and metrics).
    pub fn ceremonies(&self) -> usize {
        self.inner.lock().map_or(0, |m| m.len())
    }

    fn with_queue<R>(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        now: u64,
        f: impl FnOnce(&mut Queue) -> Result<R, MailboxError>,
    ) -> Result<R, MailboxError> {
        let mut map = self.inner.lock().map_err(|_| MailboxError::Backend("poisoned".into()))?;
        if !map.contains_key(&ceremony) {
            // A new ceremony: drop the expired ones first. O(ceremonies) per new ceremony,
            // amortized; a Redis backend uses key TTLs instead.
            map.retain(|_, c| c.expires_at > now);
            map.insert(
                ceremony,
                Ceremony { expires_at: now.saturating_add(self.limits.ttl_secs), boxes: HashMap::new() },
            );
        }
        let expired = map.get(&ceremony).is_some_and(|c| c.expires_at <= now);
        if expired {
            map.remove(&ceremony);
            return Err(MailboxError::Expired);
        }
        let c = map.get_mut(&ceremony).ok_or(MailboxError::Expired)?;
        f(c.boxes.entry(to).or_insert_with(Queue::new))
    }
}

impl Mailbox for MemoryMailbox {
    async fn append(&self, ceremony: CeremonyKey, to: u16, frame: Arc<[u8]>, now: u64) -> Result<u64, MailboxError> {
        let limits = self.limits;
        self.with_queue(ceremony, to, now, |q| {
            if q.frames.len() >= limits.max_frames || q.bytes.saturating_add(frame.len()) > limits.max_bytes {
                return Err(MailboxError::Full);
            }
            q.last_seq += 1;
            q.bytes += frame.len();
            q.frames.push_back(Stored { seq: q.last_seq, frame });
            q.notify.send_replace(q.last_seq);
            Ok(q.last_seq)
        })
    }

    async fn fetch(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        after: u64,
        limit: usize,
        now: u64,
    ) -> Result<Vec<Stored>, MailboxError> {
        self.with_queue(ceremony, to, now, |q| {
            Ok(q.frames.iter().filter(|s| s.seq > after).take(limit).cloned().collect())
        })
    }

    async fn ack(&self, ceremony: CeremonyKey, to: u16, upto: u64, now: u64) -> Result<(), MailboxError> {
        self.with_queue(ceremony, to, now, |q| {
            // Acks beyond what was appended are clamped: a client cannot skip future frames.
            let upto = upto.min(q.last_seq);
            q.acked = q.acked.max(upto);
            while q.frames.front().is_some_and(|s| s.seq <= q.acked) {
                if let Some(s) = q.frames.pop_front() {
                    q.bytes -= s.frame.len();
                }
            }
            Ok(())
        })
    }

    async fn watch(&self, ceremony: CeremonyKey, to: u16, now: u64) -> Result<watch::Receiver<u64>, MailboxError> {
        self.with_queue(ceremony, to, now, |q| Ok(q.notify.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mb() -> MemoryMailbox {
        MemoryMailbox::new(MemoryLimits { ttl_secs: 10, max_frames: 2, max_bytes: 100 })
    }

    #[tokio::test]
    async fn append_fetch_ack_expire() {
        let m = mb();
        let c = [1; 32];
        assert_eq!(m.append(c, 2, Arc::from(&b"a"[..]), 0).await.unwrap(), 1);
        assert_eq!(m.append(c, 2, Arc::from(&b"b"[..]), 0).await.unwrap(), 2);
        assert_eq!(m.append(c, 2, Arc::from(&b"c"[..]), 0).await, Err(MailboxError::Full));
        assert_eq!(m.fetch(c, 2, 1, 10, 0).await.unwrap().len(), 1);
        m.ack(c, 2, 1, 0).await.unwrap();
        assert_eq!(m.fetch(c, 2, 0, 10, 0).await.unwrap().len(), 1);
        assert_eq!(m.append(c, 2, Arc::from(&b"c"[..]), 0).await.unwrap(), 3);
        assert_eq!(m.fetch(c, 2, 0, 10, 10).await.unwrap_err(), MailboxError::Expired);
        assert_eq!(m.ceremonies(), 0);
    }
}
