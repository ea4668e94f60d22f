//! The Redis backend: the memory backend's semantics checked on both backends, state shared
//! between two `RedisMailbox` instances, two relay nodes sharing one Redis prefix, and a
//! client failing over when its node shuts down or crashes mid-ceremony.
//!
//! Redis comes from `TSSW_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`): unset, each test
//! says it is skipped and passes; set but unreachable, the tests fail. Every test uses its
//! own random key prefix, so tests run in parallel and against a shared Redis. No sleeps:
//! every wait is on an event, and every test is bounded by a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Relay, bounded, dkg, dkg_via, sign_and_verify, sign_and_verify_via};
use ed25519_dalek::SigningKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tssw_channel::{IdentityKey, Outbound, Transport};
use tssw_protocol::Scheme;
use tssw_relay::mailbox::CeremonyKey;
use tssw_relay::{
    ClientError, Config, Mailbox, MailboxError, MemoryLimits, MemoryMailbox, RedisMailbox, RedisOptions,
    RelayTransport, run_with,
};

/// How long a ceremony of the node tests lives (also the Redis key expiry).
const TTL: Duration = Duration::from_secs(300);
/// Bound on one push notification crossing Redis.
const NOTICE: Duration = Duration::from_secs(10);

fn redis_url(test: &str) -> Option<String> {
    match std::env::var("TSSW_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("{test}: skipped: TSSW_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)");
            None
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b
}

fn random_prefix() -> String {
    format!("tssw-test:{}", hex::encode(random_bytes::<8>()))
}

async fn redis(url: &str, prefix: &str, limits: MemoryLimits) -> RedisMailbox {
    RedisMailbox::connect(url, RedisOptions::new(prefix, limits))
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_REDIS_URL is set but Redis is unusable: {e}"))
}

fn frame(bytes: &[u8]) -> Arc<[u8]> {
    Arc::from(bytes)
}

/// The limits of `MemoryMailbox`'s own unit tests (except a longer TTL, so the Redis keys
/// outlive a slow test run).
const SMALL: MemoryLimits = MemoryLimits { ttl_secs: 60, max_frames: 2, max_bytes: 100 };

async fn changed(rx: &mut watch::Receiver<u64>) -> Result<(), watch::error::RecvError> {
    tokio::time::timeout(NOTICE, rx.changed()).await.expect("no notification")
}

// --- The memory backend's semantics, on both backends ---

async fn append_fetch_ack_expire<M: Mailbox>(m: M) {
    let c: CeremonyKey = random_bytes();
    let mut rx = m.watch(c, 2, 0).await.unwrap();
    assert_eq!(*rx.borrow(), 0);
    assert_eq!(m.append(c, 2, frame(b"a"), 0).await.unwrap(), 1);
    changed(&mut rx).await.unwrap();
    assert_eq!(*rx.borrow_and_update(), 1);
    assert_eq!(m.append(c, 2, frame(b"b"), 0).await.unwrap(), 2);
    assert_eq!(m.append(c, 2, frame(b"c"), 0).await, Err(MailboxError::Full));
    let got = m.fetch(c, 2, 0, 10, 0).await.unwrap();
    assert_eq!(got.iter().map(|s| (s.seq, &s.frame[..])).collect::<Vec<_>>(), [(1, &b"a"[..]), (2, b"b")]);
    assert_eq!(m.fetch(c, 2, 0, 1, 0).await.unwrap().len(), 1);
    assert_eq!(m.fetch(c, 2, 1, 10, 0).await.unwrap().len(), 1);
    m.ack(c, 2, 1, 0).await.unwrap();
    assert_eq!(m.fetch(c, 2, 0, 10, 0).await.unwrap()[0].seq, 2);
    assert_eq!(m.append(c, 2, frame(b"c"), 0).await.unwrap(), 3);
    // Another recipient has its own sequence; a watch starts at the last appended seq.
    assert_eq!(m.append(c, 1, frame(b"z"), 0).await.unwrap(), 1);
    assert_eq!(*m.watch(c, 2, 0).await.unwrap().borrow(), 3);
    // At the TTL the ceremony is gone, and its watchers are told (the sender is dropped).
    rx.borrow_and_update();
    assert_eq!(m.fetch(c, 2, 0, 10, 60).await.unwrap_err(), MailboxError::Expired);
    assert!(changed(&mut rx).await.is_err());
    // Used again afterwards, the id starts a fresh ceremony.
    assert_eq!(m.append(c, 2, frame(b"d"), 60).await.unwrap(), 1);
}

async fn bytes_bound_and_ack_clamp<M: Mailbox>(m: M) {
    let c: CeremonyKey = random_bytes();
    assert_eq!(m.append(c, 2, frame(&[1; 60]), 0).await.unwrap(), 1);
    assert_eq!(m.append(c, 2, frame(&[2; 50]), 0).await, Err(MailboxError::Full));
    m.ack(c, 2, 1, 0).await.unwrap();
    assert_eq!(m.append(c, 2, frame(&[2; 50]), 0).await.unwrap(), 2);
    // An ack beyond the last appended seq is clamped: it cannot skip frames to come.
    m.ack(c, 2, 99, 0).await.unwrap();
    m.ack(c, 2, u64::MAX, 0).await.unwrap();
    assert_eq!(m.append(c, 2, frame(&[3; 100]), 0).await.unwrap(), 3);
    let got = m.fetch(c, 2, 0, 10, 0).await.unwrap();
    assert_eq!(got.iter().map(|s| s.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(got[0].frame.len(), 100);
    assert!(m.fetch(c, 2, u64::MAX, 10, 0).await.unwrap().is_empty());
}

async fn accounts_and_results<M: Mailbox>(m: M) {
    let [c1, c2, c3, c4, c5, c6]: [CeremonyKey; 6] = std::array::from_fn(|_| random_bytes());
    m.open(c1, "a", 2, 0).await.unwrap();
    m.open(c1, "a", 2, 0).await.unwrap();
    assert_eq!(m.open(c1, "b", 2, 0).await, Err(MailboxError::OtherAccount));
    m.open(c2, "a", 2, 0).await.unwrap();
    assert_eq!(m.open(c3, "a", 2, 0).await, Err(MailboxError::TooManyCeremonies));
    m.open(c3, "b", 2, 0).await.unwrap();
    // A recorded result closes the ceremony for the count; the record is idempotent.
    assert_eq!(m.get_result(c1, 0).await.unwrap(), None);
    m.put_result(c1, frame(b"sig"), 0).await.unwrap();
    m.put_result(c1, frame(b"sig"), 0).await.unwrap();
    assert_eq!(m.put_result(c1, frame(b"other"), 0).await, Err(MailboxError::ResultConflict));
    assert_eq!(m.get_result(c1, 0).await.unwrap().as_deref(), Some(&b"sig"[..]));
    m.open(c4, "a", 2, 0).await.unwrap();
    // Expiry frees the account's slots too.
    m.open(c5, "a", 2, 61).await.unwrap();
    m.open(c6, "a", 2, 61).await.unwrap();
    // Expired, or already swept by the memory backend (then the id is a fresh ceremony).
    assert!(matches!(m.get_result(c1, 61).await, Err(MailboxError::Expired) | Ok(None)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_reference_semantics() {
    bounded(async {
        append_fetch_ack_expire(MemoryMailbox::new(SMALL)).await;
        bytes_bound_and_ack_clamp(MemoryMailbox::new(SMALL)).await;
        accounts_and_results(MemoryMailbox::new(SMALL)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_append_fetch_ack_expire() {
    let Some(url) = redis_url("redis_append_fetch_ack_expire") else { return };
    bounded(async { append_fetch_ack_expire(redis(&url, &random_prefix(), SMALL).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_bytes_bound_and_ack_clamp() {
    let Some(url) = redis_url("redis_bytes_bound_and_ack_clamp") else { return };
    bounded(async { bytes_bound_and_ack_clamp(redis(&url, &random_prefix(), SMALL).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_accounts_and_results() {
    let Some(url) = redis_url("redis_accounts_and_results") else { return };
    bounded(async { accounts_and_results(redis(&url, &random_prefix(), SMALL).await).await }).await;
}

// --- Two instances (two nodes) on one prefix ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_instances_share_frames_watches_and_caps() {
    let Some(url) = redis_url("redis_instances_share_frames_watches_and_caps") else { return };
    bounded(async {
        let prefix = random_prefix();
        let limits = MemoryLimits { ttl_secs: 60, max_frames: 64, max_bytes: 1 << 20 };
        let (one, two) = (redis(&url, &prefix, limits).await, redis(&url, &prefix, limits).await);
        let c: CeremonyKey = random_bytes();

        // Appended through one, pushed to a watcher on the other, fetched from either.
        let mut rx = one.watch(c, 2, 0).await.unwrap();
        assert_eq!(two.append(c, 2, frame(b"hello"), 0).await.unwrap(), 1);
        changed(&mut rx).await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 1);
        assert_eq!(&one.fetch(c, 2, 0, 10, 0).await.unwrap()[0].frame[..], b"hello");
        assert_eq!(*two.watch(c, 2, 0).await.unwrap().borrow(), 1);

        // The server's order: watch, then fetch, then wait. A frame appended between the
        // watch and the fetch is in the fetch, and the watcher fires for it as well.
        let mut rx3 = one.watch(c, 3, 0).await.unwrap();
        two.append(c, 3, frame(b"early"), 0).await.unwrap();
        assert_eq!(one.fetch(c, 3, 0, 10, 0).await.unwrap().len(), 1);
        changed(&mut rx3).await.unwrap();

        // Concurrent appends through both get distinct, gapless sequence numbers.
        let appends = (0..20u8).map(|i| {
            let m = if i % 2 == 0 { one.clone() } else { two.clone() };
            tokio::spawn(async move { m.append(c, 4, frame(&[i]), 0).await.unwrap() })
        });
        let mut seqs: Vec<u64> =
            futures_util::future::join_all(appends).await.into_iter().map(Result::unwrap).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        let mut rx4 = two.watch(c, 4, 0).await.unwrap();
        assert_eq!(*rx4.borrow_and_update(), 20);

        // The per-account cap holds across nodes.
        let (d1, d2): (CeremonyKey, CeremonyKey) = (random_bytes(), random_bytes());
        one.open(d1, "acct", 1, 0).await.unwrap();
        assert_eq!(two.open(d2, "acct", 1, 0).await, Err(MailboxError::TooManyCeremonies));
        assert_eq!(two.open(d1, "other", 1, 0).await, Err(MailboxError::OtherAccount));
        two.put_result(d1, frame(b"pk"), 0).await.unwrap();
        assert_eq!(one.get_result(d1, 0).await.unwrap().as_deref(), Some(&b"pk"[..]));
        two.open(d2, "acct", 1, 0).await.unwrap();

        // Expiry found through one node ends the watchers on the other.
        assert_eq!(two.fetch(c, 2, 0, 10, 60).await.unwrap_err(), MailboxError::Expired);
        assert!(changed(&mut rx).await.is_err());
        assert!(changed(&mut rx3).await.is_err());
        assert_eq!(one.watched(), 0);
        // Dropped receivers free their slots.
        drop(rx4);
        assert_eq!(two.watched(), 0);
    })
    .await;
}

/// Redis on a closed port: an error, not a panic, and the URL's password is not in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_a_backend_error() {
    bounded(async {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("redis://:hunter2@127.0.0.1:{port}");
        match RedisMailbox::connect(&url, RedisOptions::new(random_prefix(), SMALL)).await {
            Err(MailboxError::Backend(text)) => assert!(!text.contains("hunter2"), "{text}"),
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert!(matches!(
            RedisMailbox::connect("not a url", RedisOptions::new(random_prefix(), SMALL)).await,
            Err(MailboxError::Backend(_))
        ));
    })
    .await;
}

/// A loopback TCP proxy in front of Redis whose connections can be cut (as a network
/// failure would), while new connections are still accepted.
struct CuttableProxy {
    url: String,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(redis_url: &str) -> CuttableProxy {
        let target = redis_url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let (cut, cuts) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let target = target.clone();
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        CuttableProxy { url, cut, task }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Cut connections to Redis: a failed operation is a backend error, the next one
/// reconnects, and watchers are woken once the subscription is back (notices sent
/// meanwhile were missed), so frames appended during the gap are fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connection_loss_is_survived() {
    let Some(url) = redis_url("redis_connection_loss_is_survived") else { return };
    if !url.starts_with("redis://") || url.contains('@') {
        println!("redis_connection_loss_is_survived: skipped: the proxy only handles plain redis://host:port URLs");
        return;
    }
    bounded(async {
        let prefix = random_prefix();
        let proxy = CuttableProxy::start(&url).await;
        let node = redis(&proxy.url, &prefix, SMALL).await;
        let other = redis(&url, &prefix, SMALL).await;
        let c: CeremonyKey = random_bytes();
        let mut rx = node.watch(c, 2, 0).await.unwrap();
        proxy.cut();
        other.append(c, 2, frame(b"during the gap"), 0).await.unwrap();
        // The subscription is restored and the watcher woken, with or without the notice.
        changed(&mut rx).await.unwrap();
        let fetched = match node.fetch(c, 2, 0, 10, 0).await {
            Ok(f) => f,
            Err(MailboxError::Backend(_)) => node.fetch(c, 2, 0, 10, 0).await.unwrap(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(&fetched[0].frame[..], b"during the gap");
        // And push works again afterwards.
        rx.borrow_and_update();
        other.append(c, 2, frame(b"after"), 0).await.unwrap();
        changed(&mut rx).await.unwrap();
        assert_eq!(*rx.borrow(), 2);
    })
    .await;
}

// --- Two relay nodes sharing one Redis prefix ---

fn node_limits() -> MemoryLimits {
    let defaults = Config::new(SigningKey::from_bytes(&[1; 32]).verifying_key());
    MemoryLimits {
        ttl_secs: TTL.as_secs(),
        max_frames: defaults.max_mailbox_frames,
        max_bytes: defaults.max_mailbox_bytes,
    }
}

fn node_config(c: &mut Config) {
    c.ceremony_ttl = TTL;
}

/// Nodes A and B of one relay: same issuer and clock, one Redis prefix.
async fn two_nodes(url: &str, prefix: &str) -> (Relay, Relay) {
    let (ma, mb) = (redis(url, prefix, node_limits()).await, redis(url, prefix, node_limits()).await);
    let a = Relay::start_with(node_config, move |_| ma).await;
    let b = a.start_peer(node_config, mb).await;
    (a, b)
}

/// 2-of-2 DKG then sign with party 1 on node A and party 2 on node B; the same on one
/// memory node for comparison (both durations are printed).
async fn dkg_and_sign_across_nodes(url: &str, scheme: Scheme) {
    let ids = [IdentityKey::random(), IdentityKey::random()];
    let coordinator = IdentityKey::random();

    let memory = Relay::start(|_| {}).await;
    let start = Instant::now();
    let shares = dkg(&memory, &ids, &coordinator, scheme).await;
    sign_and_verify(&memory, &ids, &coordinator, &shares, None).await;
    let on_memory = start.elapsed();

    let (a, b) = two_nodes(url, &random_prefix()).await;
    let routes = [vec![a.base.clone()], vec![b.base.clone()]];
    let start = Instant::now();
    let shares = dkg_via(&a, &routes, &ids, &coordinator, scheme).await;
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[0].public_key(), shares[1].public_key());
    let transports = sign_and_verify_via(&a, &routes, &ids, &coordinator, &shares, |_, _, t| t).await;
    let on_redis = start.elapsed();
    for (i, t) in transports.iter().enumerate() {
        assert_eq!(t.reconnects(), 0, "party {}: {t:?}", i + 1);
        assert!(t.last_seq() >= 1);
    }
    println!("timing {scheme:?} 2-of-2 DKG + sign: one memory node {on_memory:?}, two Redis nodes {on_redis:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_ecdsa_dkg_and_sign() {
    let Some(url) = redis_url("two_nodes_ecdsa_dkg_and_sign") else { return };
    bounded(dkg_and_sign_across_nodes(&url, Scheme::Ecdsa)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_ed25519_dkg_and_sign() {
    let Some(url) = redis_url("two_nodes_ed25519_dkg_and_sign") else { return };
    bounded(dkg_and_sign_across_nodes(&url, Scheme::Ed25519)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_bip340_dkg_and_sign() {
    let Some(url) = redis_url("two_nodes_bip340_dkg_and_sign") else { return };
    bounded(dkg_and_sign_across_nodes(&url, Scheme::Bip340)).await;
}

// --- A node dies mid-ceremony ---

/// The parties' transports in the node-death tests. Party 1 (first on node A) runs `kill`
/// at its second `recv`, once it has received and answered a frame. Party 2 holds back
/// every frame it sends after its first `recv` until then, so nothing for party 1 is on
/// its way through node A when A dies: party 1 still needs a frame that only node B can
/// deliver, and its next read finds A gone.
///
/// Without the hold-back the test would race: node A may have pushed party 1's last
/// frame before dying, and party 1 would finish without reading again, so it would never
/// reconnect and never resend a frame that it wrote into the dying connection (the relay
/// does not acknowledge receipt).
struct NodeDeath<F> {
    inner: RelayTransport,
    role: Role<F>,
    recvs: u32,
}

enum Role<F> {
    Victim { kill: Option<F>, killed: watch::Sender<bool> },
    Peer { killed: watch::Receiver<bool> },
}

impl<F: Future<Output = ()>> Transport for NodeDeath<F> {
    type Error = ClientError;

    async fn send(&mut self, frame: Outbound) -> Result<(), ClientError> {
        if let Role::Peer { killed } = &mut self.role
            && self.recvs > 0
        {
            killed.wait_for(|k| *k).await.unwrap();
        }
        self.inner.send(frame).await
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        self.recvs += 1;
        if let Role::Victim { kill, killed } = &mut self.role
            && self.recvs == 2
            && let Some(kill) = kill.take()
        {
            kill.await;
            killed.send_replace(true);
        }
        self.inner.recv().await
    }
}

/// Signs with party 1 on `[a, b]` and party 2 on `[b]`, killing node A with `kill` at
/// party 1's second receive; returns party 1's transport.
async fn sign_through_node_death<F: Future<Output = ()>>(
    b: &Relay,
    a_base: &str,
    shares_scheme: Scheme,
    kill: F,
) -> RelayTransport {
    let ids = [IdentityKey::random(), IdentityKey::random()];
    let coordinator = IdentityKey::random();
    let routes = [vec![a_base.to_owned(), b.base.clone()], vec![b.base.clone()]];
    let shares = dkg_via(b, &routes, &ids, &coordinator, shares_scheme).await;
    let (killed, is_killed) = watch::channel(false);
    let victim = Mutex::new(Some(Role::Victim { kill: Some(kill), killed }));
    let transports = sign_and_verify_via(b, &routes, &ids, &coordinator, &shares, |_, me, inner| {
        let role =
            if me == 1 { victim.lock().unwrap().take().unwrap() } else { Role::Peer { killed: is_killed.clone() } };
        NodeDeath { inner, role, recvs: 0 }
    })
    .await;
    let mut transports = transports.into_iter();
    let one = transports.next().unwrap();
    assert!(matches!(one.role, Role::Victim { kill: None, .. }), "party 1 never reached its second receive");
    assert_eq!(transports.next().unwrap().inner.reconnects(), 0);
    one.inner
}

/// Node A shuts down (1001 to its connections): party 1 resumes on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_shutdown_fails_over_to_the_other_node() {
    let Some(url) = redis_url("node_shutdown_fails_over_to_the_other_node") else { return };
    bounded(async {
        let prefix = random_prefix();
        let (mut a, b) = two_nodes(&url, &prefix).await;
        let stop = a.stop.take().unwrap();
        let kill = async move {
            let _ = stop.send(());
        };
        let one = sign_through_node_death(&b, &a.base, Scheme::Ecdsa, kill).await;
        assert_eq!(one.reconnects(), 1, "{one:?}");
        assert_eq!(one.current_base(), 1, "party 1 should be on node B: {one:?}");
        // Node A is really gone.
        (&mut a.server).await.unwrap();
    })
    .await;
}

/// A relay node on its own runtime, so it can die as a crashed process does: every task
/// dropped, every socket closed, no close frame.
struct CrashableNode {
    base: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl CrashableNode {
    async fn start(peer: &Relay, url: &str, prefix: &str) -> CrashableNode {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let mut config = Config::new(peer.issuer.verifying_key());
        let clock = peer.now.clone();
        config.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        node_config(&mut config);
        let (ready, is_ready) = oneshot::channel();
        let (url, options) = (url.to_owned(), RedisOptions::new(prefix, node_limits()));
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            match RedisMailbox::connect(&url, options).await {
                Ok(mailbox) => {
                    let _ = ready.send(Ok(()));
                    run_with(listener, config, mailbox, std::future::pending()).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        });
        is_ready.await.unwrap().unwrap_or_else(|e| panic!("TSSW_TEST_REDIS_URL is set but Redis is unusable: {e}"));
        CrashableNode { base, runtime: Some(runtime) }
    }

    fn crash(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for CrashableNode {
    fn drop(&mut self) {
        self.crash();
    }
}

/// Node A crashes (connections dropped without a close frame): party 1 resumes on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_crash_fails_over_to_the_other_node() {
    let Some(url) = redis_url("node_crash_fails_over_to_the_other_node") else { return };
    bounded(async {
        let prefix = random_prefix();
        let mb = redis(&url, &prefix, node_limits()).await;
        let b = Relay::start_with(node_config, move |_| mb).await;
        for scheme in [Scheme::Ed25519, Scheme::Bip340] {
            let a = CrashableNode::start(&b, &url, &prefix).await;
            let a_base = a.base.clone();
            let kill = async move {
                let mut a = a;
                a.crash();
            };
            let one = sign_through_node_death(&b, &a_base, scheme, kill).await;
            assert_eq!(one.reconnects(), 1, "{scheme:?}: {one:?}");
            assert_eq!(one.current_base(), 1, "{scheme:?}: party 1 should be on node B: {one:?}");
        }
    })
    .await;
}
