//! Relay benchmarks (the project's own harness: each figure needs its own setup, and the
//! memory figures need a separate relay process). Prints one table to stdout.
//!
//! `cargo bench -p tssw-relay --bench relay` — see BENCHMARKS.md for what each line means.
//! `TSSW_BENCH_QUICK=1` runs every part with small counts (a smoke test, no numbers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tssw_channel::testing::sessions;
use tssw_channel::{Frame, FrameHeader, IdentityKey, MemoryNetwork, MessageId, Operation, Outbound, Transport, drive};
use tssw_protocol::{CeremonyId, KeyShare, PartyIndex, Scheme};
use tssw_relay::{Claims, Config, Mailbox, MemoryLimits, MemoryMailbox, Rate, RelayTransport, Token, run};

const CHILD_ENV: &str = "TSSW_BENCH_RELAY_CHILD";

fn quick() -> bool {
    std::env::var_os("TSSW_BENCH_QUICK").is_some()
}

fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

/// A relay configuration without the abuse limits getting in the way of a benchmark.
fn bench_config(issuer: &SigningKey) -> Config {
    let mut config = Config::new(issuer.verifying_key());
    config.max_mailbox_frames = 1 << 20;
    config.max_mailbox_bytes = 4 << 30;
    config.account_rate = Rate { per_second: 1_000_000, burst: 1_000_000 };
    config.ip_rate = Rate { per_second: 1_000_000, burst: 1_000_000 };
    config.max_open_ceremonies_per_account = 1_000_000;
    config.max_connections = 100_000;
    config
}

fn token(issuer: &SigningKey, c: CeremonyId, party: u16, account: &str) -> Token {
    let expires_at = tssw_relay::system_clock()() + 3_600;
    Token::issue(issuer, &Claims { ceremony: c.0, party, account: account.into(), expires_at }).unwrap()
}

fn frame(c: CeremonyId, from: u16, to: u16, len: usize) -> Vec<u8> {
    Frame {
        header: FrameHeader {
            ceremony: c,
            round: 1,
            from: p(from),
            to: p(to),
            broadcast: false,
            id: MessageId([0; 32]),
        },
        body: vec![0x5a; len],
    }
    .encode()
}

async fn start_relay(issuer: &SigningKey) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(run(listener, bench_config(issuer), std::future::pending()));
    base
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One sender streams `count` frames of `len` body bytes to one receiver.
async fn throughput(base: &str, issuer: &SigningKey, len: usize, count: usize) -> (f64, f64) {
    let c = CeremonyId::random();
    let mut tx = RelayTransport::connect(base, c, token(issuer, c, 1, "bench")).await.unwrap();
    let mut rx = RelayTransport::connect(base, c, token(issuer, c, 2, "bench")).await.unwrap();
    let bytes = frame(c, 1, 2, len);
    let wire = bytes.len();
    let start = Instant::now();
    let send = async {
        for _ in 0..count {
            tx.send(Outbound { to: p(2), bytes: bytes.clone() }).await.unwrap();
        }
    };
    let recv = async {
        for _ in 0..count {
            rx.recv().await.unwrap().unwrap();
        }
    };
    tokio::join!(send, recv);
    let secs = start.elapsed().as_secs_f64();
    (count as f64 / secs, (count * wire) as f64 / secs / 1e6)
}

/// Ping-pong of small frames between two clients: one-way client → relay → client time.
async fn one_way_latency(base: &str, issuer: &SigningKey, rounds: usize) -> (Duration, Duration) {
    let c = CeremonyId::random();
    let mut a = RelayTransport::connect(base, c, token(issuer, c, 1, "bench")).await.unwrap();
    let mut b = RelayTransport::connect(base, c, token(issuer, c, 2, "bench")).await.unwrap();
    let (ab, ba) = (frame(c, 1, 2, 64), frame(c, 2, 1, 64));
    let echo = tokio::spawn(async move {
        for _ in 0..rounds {
            b.recv().await.unwrap().unwrap();
            b.send(Outbound { to: p(1), bytes: ba.clone() }).await.unwrap();
        }
    });
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        a.send(Outbound { to: p(2), bytes: ab.clone() }).await.unwrap();
        a.recv().await.unwrap().unwrap();
        samples.push(start.elapsed() / 2);
    }
    echo.await.unwrap();
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// Where a 2-of-2 sign runs: the protocol's in-process pump, the channel (sealed frames) on
/// an in-memory network, or the channel over the relay on loopback WebSockets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Pump,
    Memory,
    Relay,
}

async fn sign_once(path: Path, base: &str, issuer: &SigningKey, shares: &[KeyShare], ids: &[IdentityKey]) -> Duration {
    let request = tssw_protocol::testing::random_request(shares[0].scheme());
    if path == Path::Pump {
        let start = Instant::now();
        tssw_protocol::testing::sign(&[&shares[0], &shares[1]], &request).unwrap();
        return start.elapsed();
    }
    let parties = [(p(1), &ids[0]), (p(2), &ids[1])];
    let (setup, sess) =
        sessions(&ids[0], &parties, Operation::Sign, shares[0].scheme(), 2, Some([9; 32]), &mut rand_core::OsRng)
            .unwrap();
    let id = setup.ceremony_id();
    let signers = [p(1), p(2)];
    let network = MemoryNetwork::new();
    // Connections are made before the clock starts: what is timed is the ceremony's rounds
    // (a client reuses nothing across ceremonies, so add one WebSocket connect per party).
    let mut relayed = Vec::new();
    let mut local = Vec::new();
    for (share, session) in shares.iter().zip(sess) {
        let started = tssw_protocol::sign(id, share, &signers, request.clone()).unwrap();
        let me = session.me();
        if path == Path::Relay {
            let t = RelayTransport::connect(base, id, token(issuer, id, me.get(), "bench")).await.unwrap();
            relayed.push((started, session, t));
        } else {
            // Every endpoint exists before any party runs: the in-memory network reports a
            // stall when no other party is live.
            local.push((started, session, network.endpoint(me)));
        }
    }
    let start = Instant::now();
    let mut runs = Vec::new();
    for (started, mut session, mut t) in relayed {
        runs.push(tokio::spawn(async move {
            drive(started, &mut session, &mut t).await.map(|_| ()).map_err(|e| e.to_string())
        }));
    }
    for (started, mut session, mut t) in local {
        runs.push(tokio::spawn(async move {
            drive(started, &mut session, &mut t).await.map(|_| ()).map_err(|e| e.to_string())
        }));
    }
    for r in runs {
        r.await.unwrap().unwrap();
    }
    start.elapsed()
}

async fn sign_comparison(base: &str, issuer: &SigningKey, scheme: Scheme, n: usize) -> [Duration; 3] {
    let shares = tssw_protocol::testing::dkg(scheme, 2, 2).unwrap();
    let ids = [IdentityKey::random(), IdentityKey::random()];
    let mut out = [Duration::ZERO; 3];
    for (slot, path) in [Path::Pump, Path::Memory, Path::Relay].into_iter().enumerate() {
        sign_once(path, base, issuer, &shares, &ids).await; // warm-up
        let mut samples = Vec::new();
        for _ in 0..n {
            samples.push(sign_once(path, base, issuer, &shares, &ids).await);
        }
        samples.sort();
        out[slot] = percentile(&samples, 0.5);
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Opens `n` ceremonies (one party connection each, distinct accounts), 256 at a time;
/// returns the connections (drop them to leave only the ceremonies).
async fn open_ceremonies(base: &str, issuer: &SigningKey, n: usize) -> Vec<RelayTransport> {
    let mut held = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(256) {
        let connects = chunk.iter().map(|i| {
            let c = CeremonyId::random();
            let t = token(issuer, c, 1, &format!("acct-{i}"));
            async move { RelayTransport::connect(base, c, t).await.unwrap() }
        });
        held.extend(futures_util::future::join_all(connects).await);
    }
    held
}

/// Memory of idle ceremonies and idle connections. Connections: a relay in its own process
/// with `n` parties connected and waiting (each in its own ceremony), by its VmRSS before
/// and after. Ceremonies: `n` opened (and watched once) in a `MemoryMailbox` in this
/// process, by this process's VmRSS before and after — no network buffers in the figure.
async fn memory(n: usize) -> (f64, f64, u64) {
    let issuer = SigningKey::generate(&mut rand_core::OsRng);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, hex::encode(issuer.to_bytes()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().to_string();
    let pid = child.id();
    // Warm the relay's allocator and runtime with a few connections first.
    drop(open_ceremonies(&base, &issuer, 64).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = rss_kib(pid);
    let held = open_ceremonies(&base, &issuer, n).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_connections = rss_kib(pid);
    drop(held);
    child.kill().unwrap();
    child.wait().unwrap();
    let per_connection = with_connections.saturating_sub(baseline) as f64 * 1024.0 / n as f64;

    let mailbox = MemoryMailbox::new(MemoryLimits { ttl_secs: 600, max_frames: 256, max_bytes: 16 << 20 });
    let before = rss_kib(std::process::id());
    for i in 0..n {
        let c = CeremonyId::random().0;
        mailbox.open(c, &format!("acct-{i}"), 32, 1).await.unwrap();
        drop(mailbox.watch(c, 1, 1).await.unwrap());
    }
    let after = rss_kib(std::process::id());
    let per_ceremony = after.saturating_sub(before) as f64 * 1024.0 / n as f64;
    (per_ceremony, per_connection, with_connections)
}

fn child_relay(key_hex: &str) {
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex, &mut key).unwrap();
    let issuer = SigningKey::from_bytes(&key);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("ws://{}", listener.local_addr().unwrap());
        run(listener, bench_config(&issuer), std::future::pending()).await;
    });
}

fn main() {
    if let Ok(key) = std::env::var(CHILD_ENV) {
        return child_relay(&key);
    }
    let q = quick();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let issuer = SigningKey::generate(&mut rand_core::OsRng);
        let base = start_relay(&issuer).await;
        println!("| measure | value |");
        println!("|---|---|");
        for (len, count) in [(1_024, 20_000), (65_536, 2_000), (360_000, 300)] {
            let count = if q { 10 } else { count };
            let (fps, mbps) = throughput(&base, &issuer, len, count).await;
            println!("| throughput, {len}-byte bodies, 1 sender → 1 receiver | {fps:.0} frames/s, {mbps:.1} MB/s |");
        }
        let (p50, p99) = one_way_latency(&base, &issuer, if q { 10 } else { 5_000 }).await;
        println!("| one-way latency client → relay → client, 64-byte body | p50 {p50:?}, p99 {p99:?} |");
        for scheme in [Scheme::Ecdsa, Scheme::Ed25519, Scheme::Bip340] {
            let n = if q { 1 } else { 30 };
            let [pump, memory, relay] = sign_comparison(&base, &issuer, scheme, n).await;
            let rounds = match scheme {
                Scheme::Ecdsa => 3.0,
                Scheme::Ed25519 | Scheme::Bip340 => 2.0,
            };
            let added = (relay.as_secs_f64() - memory.as_secs_f64()) / rounds * 1e3;
            println!(
                "| 2-of-2 sign {scheme:?} (p50 of {n}) | in-process pump {pump:?}; channel in memory {memory:?}; \
                 channel over relay {relay:?}; relay adds {added:.2} ms per round |"
            );
        }
        let n = if q { 100 } else { 10_000 };
        let (per_ceremony, per_connection, total) = memory(n).await;
        println!(
            "| relay memory, {n} parties connected and waiting, one ceremony each | \
             {per_connection:.0} B per waiting party (connection + ceremony), relay VmRSS {total} KiB in all |"
        );
        println!("| mailbox memory, {n} idle ceremonies (nobody connected) | {per_ceremony:.0} B per ceremony |");
    });
}
