//! [`RedisMailbox`]: the [`Mailbox`] kept in Redis, so several relay nodes serve the same
//! ceremonies: a frame appended through node A is pushed to a party connected to node B.
//!
//! Layout, under a configurable prefix `P` (one prefix per deployment; tests use a random
//! one each):
//! - `P:c:<ceremony hex>`: one hash per ceremony holding all of it: `exp` (its expiry on
//!   the relay clock), `acct`, `res`, and per recipient `l:<to>` (last seq), `a:<to>`
//!   (acked through), `b:<to>` (unacknowledged bytes) and `f:<to>:<seq>` (the frames).
//!   One key, so one Redis expiry, set at first use, removes the whole ceremony at once.
//! - `P:a:<account>`: the account's open ceremonies, a sorted set scored by expiry.
//! - channel `P:n`: `a <ceremony hex> <to> <seq>` after each append, `x <ceremony hex>`
//!   when an access finds the ceremony expired (and deletes it).
//!
//! Every operation is one Lua script, so it is atomic across nodes. Expiry is decided by
//! comparing the stored `exp` with the caller's `now`, as [`crate::MemoryMailbox`] does;
//! the Redis key expiry (same instant, from the Redis clock) only makes sure nothing leaks.
//!
//! Push: each `RedisMailbox` (one per node; clones share it) holds one subscription to
//! `P:n` and feeds local `tokio::sync::watch` senders. The subscription is made before
//! [`RedisMailbox::connect`] returns, and a watcher is registered before [`Mailbox::watch`]
//! returns, so a notice for an append is either dispatched to it or was published before
//! the caller's first fetch (which then sees the frame). If the subscription drops, it is
//! made again and every watcher is woken, since notices may have been missed meanwhile.
//!
//! Needs a standalone Redis or a Sentinel-managed primary (tested with 7.0), not Redis
//! Cluster: the `put_result` script derives the account key from the stored account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, Script, Value};
use tokio::sync::watch;

use crate::mailbox::{CeremonyKey, Mailbox, MailboxError, MemoryLimits, Stored};

/// How a [`RedisMailbox`] is set up.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Prefix of every key and of the notice channel. Nodes that share ceremonies share it.
    pub prefix: String,
    /// TTL and mailbox bounds, as for the memory backend.
    pub limits: MemoryLimits,
    /// Mailboxes this node watches at once (one per live connection): at least the
    /// relay's `max_connections`.
    pub max_watched: usize,
    /// Bound on each Redis round trip and connection attempt.
    pub timeout: Duration,
}

impl RedisOptions {
    /// Defaults: room for 20,000 watched mailboxes, 2 s Redis timeout.
    pub fn new(prefix: impl Into<String>, limits: MemoryLimits) -> RedisOptions {
        RedisOptions { prefix: prefix.into(), limits, max_watched: 20_000, timeout: Duration::from_secs(2) }
    }
}

/// The Redis backend. Cheap to clone; the subscription task stops when the last clone is
/// dropped.
#[derive(Clone)]
pub struct RedisMailbox {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    limits: MemoryLimits,
    scripts: Scripts,
    hub: Arc<Hub>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for RedisMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMailbox").field("prefix", &self.inner.prefix).finish_non_exhaustive()
    }
}

/// Reply codes of the scripts (first element of every reply).
const OK: i64 = 0;
const EXPIRED: i64 = 1;
const FULL: i64 = 2;
const TOO_MANY: i64 = 3;
const OTHER_ACCOUNT: i64 = 4;
const CONFLICT: i64 = 5;

/// Keeps TTL arithmetic exact in Lua (doubles) and within what `EXPIRE` accepts.
const MAX_TTL_SECS: u64 = 100 * 365 * 24 * 3600;

/// Shared by every script. KEYS[1] = ceremony hash; ARGV[1] = now, ARGV[2] = ttl,
/// ARGV[3] = notice channel, ARGV[4] = ceremony hex. Returns the ceremony's expiry, or
/// nil when it has expired (then it is deleted and its watchers are told).
const TOUCH: &str = r"
local function touch()
  local now = tonumber(ARGV[1])
  local exp = redis.call('HGET', KEYS[1], 'exp')
  if not exp then
    local ttl = tonumber(ARGV[2])
    if ttl <= 0 then return nil end
    redis.call('HSET', KEYS[1], 'exp', now + ttl)
    redis.call('EXPIRE', KEYS[1], ttl)
    return now + ttl
  end
  exp = tonumber(exp)
  if exp <= now then
    redis.call('DEL', KEYS[1])
    redis.call('PUBLISH', ARGV[3], 'x ' .. ARGV[4])
    return nil
  end
  return exp
end
local function num(field)
  return tonumber(redis.call('HGET', KEYS[1], field) or '0')
end
";

/// KEYS[2] = account set; ARGV[5] = account, ARGV[6] = max open.
const OPEN: &str = r"
local exp = touch()
if not exp then return {1} end
local owner = redis.call('HGET', KEYS[1], 'acct')
if owner then
  if owner == ARGV[5] then return {0, 0} end
  return {4}
end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return {3} end
redis.call('HSET', KEYS[1], 'acct', ARGV[5])
if redis.call('HEXISTS', KEYS[1], 'res') == 0 then
  redis.call('ZADD', KEYS[2], exp, ARGV[4])
  if redis.call('TTL', KEYS[2]) < exp - now then redis.call('EXPIRE', KEYS[2], exp - now) end
end
return {0, 1}
";

/// ARGV[5] = result, ARGV[6] = account key prefix.
const PUT_RESULT: &str = r"
if not touch() then return {1} end
local existing = redis.call('HGET', KEYS[1], 'res')
if existing then
  if existing == ARGV[5] then return {0} end
  return {5}
end
redis.call('HSET', KEYS[1], 'res', ARGV[5])
local owner = redis.call('HGET', KEYS[1], 'acct')
if owner then redis.call('ZREM', ARGV[6] .. owner, ARGV[4]) end
return {0}
";

const GET_RESULT: &str = r"
if not touch() then return {1} end
local res = redis.call('HGET', KEYS[1], 'res')
if res then return {0, res} end
return {0}
";

/// ARGV[5] = to, ARGV[6] = frame, ARGV[7] = max frames, ARGV[8] = max bytes.
const APPEND: &str = r"
if not touch() then return {1} end
local to = ARGV[5]
local frame = ARGV[6]
local last = num('l:' .. to)
local bytes = num('b:' .. to)
if last - num('a:' .. to) >= tonumber(ARGV[7]) or bytes + #frame > tonumber(ARGV[8]) then return {2} end
last = last + 1
redis.call('HSET', KEYS[1], 'f:' .. to .. ':' .. last, frame, 'l:' .. to, last, 'b:' .. to, bytes + #frame)
redis.call('PUBLISH', ARGV[3], 'a ' .. ARGV[4] .. ' ' .. to .. ' ' .. last)
return {0, last}
";

/// ARGV[5] = to, ARGV[6] = after, ARGV[7] = limit. Replies `{0, first seq, frames…}`, or
/// `{0}` when there is nothing (`first` may then be beyond what a reply integer holds).
const FETCH: &str = r"
if not touch() then return {1} end
local to = ARGV[5]
local first = math.max(tonumber(ARGV[6]), num('a:' .. to)) + 1
local last = math.min(num('l:' .. to), first + tonumber(ARGV[7]) - 1)
if last < first then return {0} end
local out = {0, first}
for s = first, last do
  local f = redis.call('HGET', KEYS[1], 'f:' .. to .. ':' .. s)
  if not f then break end
  out[#out + 1] = f
end
return out
";

/// ARGV[5] = to, ARGV[6] = upto.
const ACK: &str = r"
if not touch() then return {1} end
local to = ARGV[5]
local acked = num('a:' .. to)
-- Clamped to what was appended: a client cannot acknowledge (skip) future frames.
local upto = math.min(tonumber(ARGV[6]), num('l:' .. to))
if upto > acked then
  local freed = 0
  for s = acked + 1, upto do
    local f = 'f:' .. to .. ':' .. s
    freed = freed + redis.call('HSTRLEN', KEYS[1], f)
    redis.call('HDEL', KEYS[1], f)
  end
  redis.call('HSET', KEYS[1], 'a:' .. to, upto)
  redis.call('HINCRBY', KEYS[1], 'b:' .. to, -freed)
end
return {0}
";

/// ARGV[5] = to. Replies `{0, last seq}`.
const WATCH: &str = r"
if not touch() then return {1} end
return {0, num('l:' .. ARGV[5])}
";

struct Scripts {
    open: Script,
    put_result: Script,
    get_result: Script,
    append: Script,
    fetch: Script,
    ack: Script,
    watch: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let with_touch = |body: &str| Script::new(&format!("{TOUCH}{body}"));
        Scripts {
            open: with_touch(OPEN),
            put_result: with_touch(PUT_RESULT),
            get_result: with_touch(GET_RESULT),
            append: with_touch(APPEND),
            fetch: with_touch(FETCH),
            ack: with_touch(ACK),
            watch: with_touch(WATCH),
        }
    }
}

impl RedisMailbox {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379`) and subscribes to the
    /// notice channel. Fails if Redis cannot be reached now; later connection losses are
    /// retried in the background (operations fail with [`MailboxError::Backend`] meanwhile).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisMailbox, MailboxError> {
        // The URL may carry a password: never echo it.
        let client = Client::open(url).map_err(|_| MailboxError::Backend("invalid redis url".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(3)
            .set_max_delay(options.timeout);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await.map_err(backend)?;
        let channel = format!("{}:n", options.prefix);
        let pubsub = subscribe(&client, &channel, options.timeout).await.map_err(backend)?;
        let hub = Arc::new(Hub { watchers: Mutex::new(HashMap::new()), max: options.max_watched });
        let listener = tokio::spawn(listen(client, channel.clone(), pubsub, hub.clone(), options.timeout));
        let inner = Inner {
            conn,
            prefix: options.prefix,
            channel,
            limits: options.limits,
            scripts: Scripts::new(),
            hub,
            listener,
        };
        Ok(RedisMailbox { inner: Arc::new(inner) })
    }

    /// Mailboxes watched on this node right now (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.inner.hub.watchers.lock().map_or(0, |mut m| {
            m.retain(|_, tx| tx.receiver_count() > 0);
            m.len()
        })
    }

    fn ceremony_key(&self, ceremony: &CeremonyKey) -> String {
        format!("{}:c:{}", self.inner.prefix, hex::encode(ceremony))
    }

    fn account_prefix(&self) -> String {
        format!("{}:a:", self.inner.prefix)
    }

    /// Runs `script` on `ceremony` with the common arguments, then `extra` arguments;
    /// returns the reply after its OK code.
    async fn run(
        &self,
        script: &Script,
        ceremony: &CeremonyKey,
        extra_keys: &[&[u8]],
        now: u64,
        extra: &[&[u8]],
    ) -> Result<Vec<Value>, MailboxError> {
        let mut call = script.key(self.ceremony_key(ceremony));
        for key in extra_keys {
            call.key(*key);
        }
        call.arg(now)
            .arg(self.inner.limits.ttl_secs.min(MAX_TTL_SECS))
            .arg(&self.inner.channel)
            .arg(hex::encode(ceremony));
        for arg in extra {
            call.arg(*arg);
        }
        let mut conn = self.inner.conn.clone();
        let reply: Value = call.invoke_async(&mut conn).await.map_err(backend)?;
        let Value::Array(items) = reply else { return Err(unexpected()) };
        let mut items = items.into_iter();
        match items.next() {
            Some(Value::Int(OK)) => Ok(items.collect()),
            Some(Value::Int(EXPIRED)) => Err(MailboxError::Expired),
            Some(Value::Int(FULL)) => Err(MailboxError::Full),
            Some(Value::Int(TOO_MANY)) => Err(MailboxError::TooManyCeremonies),
            Some(Value::Int(OTHER_ACCOUNT)) => Err(MailboxError::OtherAccount),
            Some(Value::Int(CONFLICT)) => Err(MailboxError::ResultConflict),
            _ => Err(unexpected()),
        }
    }
}

fn backend(e: redis::RedisError) -> MailboxError {
    // Only the category: a server error's detail can echo script arguments (frames).
    if e.is_timeout() {
        MailboxError::Backend("redis: timed out".into())
    } else {
        MailboxError::Backend(format!("redis: {}", e.category()))
    }
}

fn unexpected() -> MailboxError {
    MailboxError::Backend("redis: unexpected script reply".into())
}

fn int(value: Option<Value>) -> Result<u64, MailboxError> {
    match value {
        Some(Value::Int(n)) => u64::try_from(n).map_err(|_| unexpected()),
        _ => Err(unexpected()),
    }
}

fn bytes(value: Value) -> Result<Arc<[u8]>, MailboxError> {
    match value {
        Value::BulkString(b) => Ok(Arc::from(b)),
        _ => Err(unexpected()),
    }
}

fn decimal(n: impl std::fmt::Display) -> Vec<u8> {
    n.to_string().into_bytes()
}

impl Mailbox for RedisMailbox {
    async fn open(
        &self,
        ceremony: CeremonyKey,
        account: &str,
        max_open: usize,
        now: u64,
    ) -> Result<bool, MailboxError> {
        let account_key = format!("{}{account}", self.account_prefix());
        let max_open = decimal(max_open);
        let args = [account.as_bytes(), &max_open];
        let reply = self.run(&self.inner.scripts.open, &ceremony, &[account_key.as_bytes()], now, &args).await?;
        Ok(int(reply.into_iter().next())? == 1)
    }

    async fn put_result(&self, ceremony: CeremonyKey, result: Arc<[u8]>, now: u64) -> Result<(), MailboxError> {
        let account_prefix = self.account_prefix();
        let args = [&result[..], account_prefix.as_bytes()];
        self.run(&self.inner.scripts.put_result, &ceremony, &[], now, &args).await.map(drop)
    }

    async fn get_result(&self, ceremony: CeremonyKey, now: u64) -> Result<Option<Arc<[u8]>>, MailboxError> {
        let reply = self.run(&self.inner.scripts.get_result, &ceremony, &[], now, &[]).await?;
        reply.into_iter().next().map(bytes).transpose()
    }

    async fn append(&self, ceremony: CeremonyKey, to: u16, frame: Arc<[u8]>, now: u64) -> Result<u64, MailboxError> {
        let limits = self.inner.limits;
        let (to, max_frames, max_bytes) = (decimal(to), decimal(limits.max_frames), decimal(limits.max_bytes));
        let args = [&to[..], &frame[..], &max_frames, &max_bytes];
        let reply = self.run(&self.inner.scripts.append, &ceremony, &[], now, &args).await?;
        int(reply.into_iter().next())
    }

    async fn fetch(
        &self,
        ceremony: CeremonyKey,
        to: u16,
        after: u64,
        limit: usize,
        now: u64,
    ) -> Result<Vec<Stored>, MailboxError> {
        // A mailbox never holds more than max_frames, so a larger limit changes nothing.
        let limit = limit.min(self.inner.limits.max_frames);
        let (to, after, limit) = (decimal(to), decimal(after), decimal(limit));
        let reply = self.run(&self.inner.scripts.fetch, &ceremony, &[], now, &[&to, &after, &limit]).await?;
        let mut reply = reply.into_iter();
        let Some(first) = reply.next() else { return Ok(Vec::new()) };
        let first = int(Some(first))?;
        reply.zip(first..).map(|(frame, seq)| Ok(Stored { seq, frame: bytes(frame)? })).collect()
    }

    async fn ack(&self, ceremony: CeremonyKey, to: u16, upto: u64, now: u64) -> Result<(), MailboxError> {
        let (to, upto) = (decimal(to), decimal(upto));
        self.run(&self.inner.scripts.ack, &ceremony, &[], now, &[&to, &upto]).await.map(drop)
    }

    async fn watch(&self, ceremony: CeremonyKey, to: u16, now: u64) -> Result<watch::Receiver<u64>, MailboxError> {
        let reply = self.run(&self.inner.scripts.watch, &ceremony, &[], now, &[&decimal(to)]).await?;
        let last = int(reply.into_iter().next())?;
        self.inner.hub.watch((ceremony, to), last)
    }
}

/// This node's watchers, fed by the notice subscription.
struct Hub {
    /// `std::sync::Mutex`: a few map operations per notice, never held across `.await`.
    watchers: Mutex<HashMap<(CeremonyKey, u16), watch::Sender<u64>>>,
    max: usize,
}

impl Hub {
    fn watch(&self, key: (CeremonyKey, u16), last: u64) -> Result<watch::Receiver<u64>, MailboxError> {
        let mut map = self.watchers.lock().map_err(|_| MailboxError::Backend("poisoned".into()))?;
        if let Some(tx) = map.get(&key) {
            raise(tx, last);
            return Ok(tx.subscribe());
        }
        if map.len() >= self.max {
            // Entries whose connections are gone; O(watchers), only when the map is full.
            map.retain(|_, tx| tx.receiver_count() > 0);
            if map.len() >= self.max {
                return Err(MailboxError::Backend("too many watched mailboxes on this node".into()));
            }
        }
        let (tx, rx) = watch::channel(last);
        map.insert(key, tx);
        Ok(rx)
    }

    fn notice(&self, payload: &[u8]) {
        let Some(notice) = Notice::parse(payload) else {
            tracing::warn!("ignoring a malformed relay notice");
            return;
        };
        let Ok(mut map) = self.watchers.lock() else { return };
        match notice {
            Notice::Appended { ceremony, to, seq } => {
                let key = (ceremony, to);
                if let Some(tx) = map.get(&key) {
                    if tx.receiver_count() == 0 {
                        map.remove(&key);
                    } else {
                        raise(tx, seq);
                    }
                }
            }
            // Dropping the senders tells the connections the ceremony is gone, as the
            // memory backend does when it removes an expired ceremony.
            Notice::Expired { ceremony } => map.retain(|(c, _), _| *c != ceremony),
        }
    }

    /// After a gap in the subscription: every watcher fetches again.
    fn wake_all(&self) {
        if let Ok(mut map) = self.watchers.lock() {
            map.retain(|_, tx| tx.receiver_count() > 0);
            for tx in map.values() {
                tx.send_modify(|_| {});
            }
        }
    }
}

fn raise(tx: &watch::Sender<u64>, seq: u64) {
    tx.send_if_modified(|v| {
        let newer = seq > *v;
        if newer {
            *v = seq;
        }
        newer
    });
}

enum Notice {
    Appended { ceremony: CeremonyKey, to: u16, seq: u64 },
    Expired { ceremony: CeremonyKey },
}

impl Notice {
    fn parse(payload: &[u8]) -> Option<Notice> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut parts = text.split(' ');
        let kind = parts.next()?;
        let mut ceremony = [0u8; 32];
        hex::decode_to_slice(parts.next()?, &mut ceremony).ok()?;
        let notice = match kind {
            "a" => Notice::Appended { ceremony, to: parts.next()?.parse().ok()?, seq: parts.next()?.parse().ok()? },
            "x" => Notice::Expired { ceremony },
            _ => return None,
        };
        parts.next().is_none().then_some(notice)
    }
}

async fn subscribe(client: &Client, channel: &str, timeout: Duration) -> redis::RedisResult<PubSub> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))))
}

/// Dispatches notices for as long as the mailbox lives; resubscribes (bounded backoff,
/// forever) when the subscription drops.
async fn listen(client: Client, channel: String, mut pubsub: PubSub, hub: Arc<Hub>, timeout: Duration) {
    const FIRST_DELAY: Duration = Duration::from_millis(50);
    loop {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            hub.notice(msg.get_payload_bytes());
        }
        tracing::warn!("redis notice subscription lost; resubscribing");
        let mut delay = FIRST_DELAY;
        pubsub = loop {
            tokio::time::sleep(delay).await;
            match subscribe(&client, &channel, timeout).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!(error = %e.category(), "redis resubscribe failed");
                    delay = (delay * 2).min(timeout);
                }
            }
        };
        tracing::info!("redis notice subscription restored");
        hub.wake_all();
    }
}
