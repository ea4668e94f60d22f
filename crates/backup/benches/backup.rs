//! Backup costs through a real EPS on loopback (HTTP, SQLite, JWT verification), on the
//! same machine as the device side:
//! - `backup/create/*` and `backup/restore/*`: a 2-of-2 ECDSA share (≈ 58 KB), with and
//!   without a passcode (the passcode adds one Argon2id, 19 MiB, t = 2).
//! - `eps/evaluate/*`: the EPS's unwrap step (`POST …/evaluate`: JWT check, counter
//!   update in SQLite, POPRF evaluation and proof), one request at a time and 8 in flight;
//!   and `oprf/evaluate_blinded`, the same evaluation in-process (the compute floor).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tssw_auth::DevIssuer;
use tssw_backup::eps::{self, Config, Rate};
use tssw_backup::oprf::{self, OprfKey};
use tssw_backup::{EpsClient, Passcode, WalletId, WalletMeta, create_backup, kdf, restore};
use tssw_protocol::Scheme;

struct Bench {
    rt: tokio::runtime::Runtime,
    client: EpsClient,
    _dir: std::path::PathBuf,
}

fn start() -> Bench {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dev = DevIssuer::random();
    let dir = std::env::temp_dir().join(format!("tssw-backup-bench-{}", std::process::id()));
    let mut config = Config::new(dir.clone(), vec![dev.config()]);
    config.max_attempts = u32::MAX;
    config.account_rate = Rate { per_second: 1_000_000, burst: 1_000_000 };
    config.ip_rate = Rate { per_second: 1_000_000, burst: 1_000_000 };
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(eps::run(listener, config, std::future::pending()));
        url
    });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let client = EpsClient::new(&url, &dev.mint("bench", now, 24 * 3600).unwrap()).unwrap();
    rt.block_on(async {
        while client.public_key().await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    Bench { rt, client, _dir: dir }
}

fn backups(c: &mut Criterion) {
    let bench = start();
    let share = tssw_protocol::testing::dkg(Scheme::Ecdsa, 2, 2).unwrap().remove(0);
    eprintln!("share: {} bytes", share.to_bytes().unwrap().len());
    let mut group = c.benchmark_group("backup");
    group.sample_size(20);
    for (label, passcode) in [("no-passcode", None), ("passcode", Some(Passcode::new("482913").unwrap()))] {
        let mut n = 0u32;
        group.bench_function(format!("create/{label}"), |b| {
            b.iter(|| {
                n += 1;
                let meta =
                    WalletMeta::of_share(WalletId::new(format!("w-create-{label}-{n}")).unwrap(), &share).unwrap();
                bench.rt.block_on(create_backup(&share, &meta, &bench.client, passcode.as_ref())).unwrap()
            });
        });
        let meta = WalletMeta::of_share(WalletId::new(format!("w-restore-{label}")).unwrap(), &share).unwrap();
        let prepared = bench.rt.block_on(create_backup(&share, &meta, &bench.client, passcode.as_ref())).unwrap();
        eprintln!("envelope ({label}): {} bytes", prepared.envelope().len());
        group.bench_function(format!("restore/{label}"), |b| {
            b.iter(|| {
                bench.rt.block_on(restore(prepared.envelope(), &meta, &bench.client, passcode.as_ref())).unwrap()
            });
        });
    }
    group.finish();

    // The EPS's unwrap step alone.
    let wallet = WalletId::new("w-evaluate").unwrap();
    let input = kdf::oprf_input(&wallet, None);
    let registered = bench.rt.block_on(bench.client.register(&wallet, &oprf::blind(&input).unwrap().message)).unwrap();
    let id = registered.registration.0;
    bench.rt.block_on(bench.client.set_verifier(&wallet, &id, &[7; 32])).unwrap();
    let blinded = oprf::blind(&input).unwrap().message;
    let mut group = c.benchmark_group("eps");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evaluate/sequential", |b| {
        b.iter(|| bench.rt.block_on(bench.client.evaluate(&wallet, &id, &blinded)).unwrap());
    });
    let client = Arc::new(bench.client.clone());
    group.bench_function("evaluate/8-in-flight", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            bench.rt.block_on(async {
                let mut tasks = Vec::new();
                for worker in 0..8u64 {
                    let (client, wallet) = (client.clone(), wallet.clone());
                    let count = iters / 8 + u64::from(worker < iters % 8);
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..count {
                            client.evaluate(&wallet, &id, &blinded).await.unwrap();
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            start.elapsed()
        });
    });
    group.finish();

    let key = OprfKey::from_seed(&[5; 32]).unwrap();
    let info = oprf::info("tssw-dev", "bench", &wallet, &id);
    c.bench_function("oprf/evaluate_blinded", |b| b.iter(|| key.evaluate_blinded(&blinded, &info).unwrap()));
    c.bench_function("kdf/argon2id-interactive", |b| {
        b.iter(|| kdf::argon2id(b"482913", &[1; 32], kdf::Argon2Profile::Interactive).unwrap())
    });
}

criterion_group!(benches, backups);
criterion_main!(benches);
