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
    /// The account already has as many open ceremonies as allowed.
    #[error("too many open ceremonies for this account")]
    TooManyCeremonies,
    /// The ceremony was opened by another account.
    #[error("ceremony belongs to another account")]
    OtherAccount,
    /// A different result was already recorded for this ceremony.
    #[error("a different result is already recorded")]
    ResultConflict,
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
///
/// Besides the mailboxes it keeps, per ceremony, the account that opened it (for the
/// per-account cap on open ceremonies, which must hold across relay nodes) and the
/// ceremony's result record.
pub trait Mailbox: Clone + Send + Sync + 'static {
    /// Opens `ceremony` for `account` (`true`), or checks that `account` is the one that
    /// opened it (`false`). An account may hold at most `max_open` open ceremonies:
    /// opened, not expired, and with no result recorded yet.
    fn open(
        &self,
        ceremony: CeremonyKey,
        account: &str,
        max_open: usize,
        now: u64,
    ) -> impl Future<Output = Result<bool, MailboxError>> + Send;

    /// Records the ceremony's result (opaque bytes, e.g. a signature or a public key).
    /// Idempotent: the first record wins, the same bytes again are accepted, different
    /// bytes are [`MailboxError::ResultConflict`]. A recorded ceremony no longer counts
    /// as open for its account; the record lives until the ceremony expires.
    fn put_result(
        &self,
        ceremony: CeremonyKey,
        result: Arc<[u8]>,
        now: u64,
    ) -> impl Future<Output = Result<(), MailboxError>> + Send;

    /// The recorded result, if any.
    fn get_result(
        &self,
        ceremony: CeremonyKey,
        now: u64,
    ) -> impl Future<Output = Result<Option<Arc<[u8]>>, MailboxError>> + Send;

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
    account: Option<String>,
    result: Option<Arc<[u8]>>,
    boxes: HashMap<u16, Queue>,
}

impl Ceremony {
    fn is_open_for(&self, account: &str, now: u64) -> bool {
        self.expires_at > now && self.result.is_none() && self.account.as_deref() == Some(account)
    }
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

    fn with_ceremony<R>(
        &self,
        ceremony: CeremonyKey,
        now: u64,
        f: impl FnOnce(&mut Ceremony, &HashMap<CeremonyKey, Ceremony>) -> Result<R, MailboxError>,
    ) -> Result<R, MailboxError> {
        let mut map = self.inner.lock().map_err(|_| MailboxError::Backend("poisoned".into()))?;
        if !map.contains_key(&ceremony) {
            // A new ceremony: drop the expired ones first. O(ceremonies) per new ceremony,
            // amortized; a Redis backend uses key TTLs instead.
            map.retain(|_, c| c.expires_at > now);
            let fresh = Ceremony {
                expires_at: now.saturating_add(self.limits.ttl_secs),
                account: None,
                result: None,
                boxes: HashMap::new(),
            };
            map.insert(ceremony, fresh);
        }
        let expired = map.get(&ceremony).is_some_and(|c| c.expires_at <= now);
        if expired {
            map.remove(&ceremony);
            return Err(MailboxError::Expired);
        }
        // Taken out so `f` can look at the other ceremonies (the per-account count).
        let mut c = map.remove(&ceremony).ok_or(MailboxError::Expired)?;
        let result = f(&mut c, &map);
        map.insert(ceremony, c);
        result
    }

    fn with_queue<R>(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        now: u64,
        f: impl FnOnce(&mut Queue) -> Result<R, MailboxError>,
    ) -> Result<R, MailboxError> {
        self.with_ceremony(ceremony, now, |c, _| f(c.boxes.entry(to).or_insert_with(Queue::new)))
    }
}

impl Mailbox for MemoryMailbox {
    async fn open(
        &self,
        ceremony: CeremonyKey,
        account: &str,
        max_open: usize,
        now: u64,
    ) -> Result<bool, MailboxError> {
        self.with_ceremony(ceremony, now, |c, others| match &c.account {
            Some(owner) if owner == account => Ok(false),
            Some(_) => Err(MailboxError::OtherAccount),
            None => {
                // O(ceremonies) per new ceremony, like the expiry sweep above.
                if others.values().filter(|o| o.is_open_for(account, now)).count() >= max_open {
                    return Err(MailboxError::TooManyCeremonies);
                }
                c.account = Some(account.to_owned());
                Ok(true)
            }
        })
    }

    async fn put_result(&self, ceremony: CeremonyKey, result: Arc<[u8]>, now: u64) -> Result<(), MailboxError> {
        self.with_ceremony(ceremony, now, |c, _| match &c.result {
            Some(existing) if **existing == *result => Ok(()),
            Some(_) => Err(MailboxError::ResultConflict),
            None => {
                c.result = Some(result);
                Ok(())
            }
        })
    }

    async fn get_result(&self, ceremony: CeremonyKey, now: u64) -> Result<Option<Arc<[u8]>>, MailboxError> {
        self.with_ceremony(ceremony, now, |c, _| Ok(c.result.clone()))
    }

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

    #[tokio::test]
    async fn accounts_and_results() {
        let m = mb();
        assert!(m.open([1; 32], "a", 2, 0).await.unwrap());
        assert!(!m.open([1; 32], "a", 2, 0).await.unwrap());
        assert_eq!(m.open([1; 32], "b", 2, 0).await, Err(MailboxError::OtherAccount));
        m.open([2; 32], "a", 2, 0).await.unwrap();
        assert_eq!(m.open([3; 32], "a", 2, 0).await, Err(MailboxError::TooManyCeremonies));
        m.open([3; 32], "b", 2, 0).await.unwrap();
        // A recorded result closes the ceremony for the count; the record is idempotent.
        assert_eq!(m.get_result([1; 32], 0).await.unwrap(), None);
        m.put_result([1; 32], Arc::from(&b"sig"[..]), 0).await.unwrap();
        m.put_result([1; 32], Arc::from(&b"sig"[..]), 0).await.unwrap();
        assert_eq!(m.put_result([1; 32], Arc::from(&b"other"[..]), 0).await, Err(MailboxError::ResultConflict));
        assert_eq!(m.get_result([1; 32], 0).await.unwrap().as_deref(), Some(&b"sig"[..]));
        m.open([4; 32], "a", 2, 0).await.unwrap();
        // Expiry frees the account's slots too.
        m.open([5; 32], "a", 2, 11).await.unwrap();
        m.open([6; 32], "a", 2, 11).await.unwrap();
    }
}
