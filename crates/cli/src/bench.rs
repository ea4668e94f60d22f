//! `tssw bench`: end-to-end DKG and signing through the real stack on loopback, with the
//! in-process protocol floor measured in the same run.
//!
//! The service side is `tssw dev` in a child process (its enclave another child); this
//! process is the client, so the client's CPU is separate from the service's as it would be
//! on a real device. For each scheme: DKG latency, sequential sign latency (p50/p99), then
//! sign throughput with `--concurrency` ceremonies in flight (one payload each, then batches),
//! then with `--callers` single-payload requests at once through a `SignQueue`, which coalesces
//! them into batch ceremonies while the wallet is busy; beside each, the floor: the
//! same ceremony with both parties in this process through the protocol crate's in-memory
//! pump (no encryption, network, database or enclave), whose time is also the whole
//! compute of one ceremony. The compute bound on throughput is `cores / floor`; beside it,
//! the floor run on every core at once, which measures that bound instead of assuming it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tssw_api::ChainPayload;
use tssw_client::{ApiClient, Device, SignQueue};
use tssw_protocol::{KeyShare, Scheme, SignRequest};

use crate::config::ClientConfig;

/// Flags of `tssw bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Sequential signatures per scheme for the latency figures.
    #[arg(long, default_value_t = 50)]
    signs: usize,
    /// DKGs per scheme.
    #[arg(long, default_value_t = 3)]
    dkgs: usize,
    /// Signatures in flight at once for the throughput figure. Below the server's
    /// per-account ceremony limit (8 by default): a ceremony counts as running until the
    /// server has stored the enclave's result, a moment after the client has its signature.
    #[arg(long, default_value_t = 6)]
    concurrency: usize,
    /// Signatures per scheme for the throughput figure (the batch run signs at least four
    /// batches per signer in flight).
    #[arg(long, default_value_t = 200)]
    throughput_signs: usize,
    /// Payloads per ceremony in the second throughput run (`POST …/sign-batch`, at most
    /// the scheme's limit: 16 for ECDSA, 64 for FROST); 1 skips it.
    #[arg(long, default_value_t = tssw_protocol::MAX_BATCH)]
    batch: usize,
    /// Tasks that each sign one payload at a time through one `SignQueue` in the third
    /// throughput run (requests coalesced into batch ceremonies while the wallet is busy);
    /// each signs at least 16, so the queue's start (lone ceremonies) weighs little. The
    /// default keeps the queue saturated: a full FROST batch for each of its two ceremonies
    /// and as many again waiting, so a ceremony that ends is followed by a full one (at
    /// 128, one batch each, the callers of an ending ceremony were still collecting their
    /// answers when the next began, and FROST ceremonies averaged 48 – 55 of 64). 0 skips it.
    #[arg(long, default_value_t = 256)]
    callers: usize,
    /// Ceremonies the `SignQueue` of the third run may have running at once.
    #[arg(long, default_value_t = SignQueue::CEREMONIES)]
    queue_ceremonies: usize,
    /// Schemes to measure (default: all).
    #[arg(long, value_delimiter = ',')]
    schemes: Vec<Scheme>,
    /// Also measure the web wallet in Chromium against the same stack: the directory
    /// `scripts/build-web` built (`web`), with `npm ci --prefix web` done. Reports the
    /// in-browser (wasm) sign latency beside the native one, and the module's size.
    #[arg(long)]
    web_dir: Option<std::path::PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The web wallet's figures: sign latency in the browser per scheme, and the download.
#[derive(Serialize)]
struct WebReport {
    /// `{scheme: {n, p50, p90}}` in ms, as `web/tests/browser.mjs` measured them.
    browser_sign_ms: serde_json::Value,
    wasm_bytes: u64,
    js_bytes: u64,
}

#[derive(Serialize)]
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    n: usize,
}

#[derive(Serialize)]
struct SchemeReport {
    scheme: Scheme,
    dkg: Latency,
    dkg_floor: Latency,
    sign: Latency,
    sign_floor: Latency,
    sign_ratio_p50: f64,
    /// One payload per ceremony, `concurrency` in flight.
    #[serde(flatten)]
    throughput: Throughput,
    compute_bound_per_s: f64,
    /// The floor run on every core at once (`parallel_floor`): the mean of the measurements
    /// that bracket the throughput runs.
    measured_bound_per_s: f64,
    /// CPU per signature in the throughput phase, by process (Linux only).
    cpu_ms_per_sign: Option<CpuPerSign>,
    concurrency: usize,
    /// The same with `batch` payloads signed per ceremony.
    batched: Option<Batched>,
    /// The same with single-payload requests from `callers` tasks through a `SignQueue`.
    queued: Option<Queued>,
}

/// The throughput run with concurrent single-payload requests, coalesced.
#[derive(Serialize)]
struct Queued {
    callers: usize,
    /// Signatures per ceremony the queue ran, on average.
    per_ceremony: f64,
    #[serde(flatten)]
    throughput: Throughput,
    cpu_ms_per_sign: Option<CpuPerSign>,
}

/// The throughput run with several payloads per ceremony.
#[derive(Serialize)]
struct Batched {
    batch: usize,
    #[serde(flatten)]
    throughput: Throughput,
    cpu_ms_per_sign: Option<CpuPerSign>,
}

/// Signatures per second of one throughput run, and what share they are of either bound.
#[derive(Serialize)]
struct Throughput {
    throughput_per_s: f64,
    throughput_of_bound: f64,
    /// The mean of the parallel floor measured just before and just after this run.
    bracket_bound_per_s: f64,
    throughput_of_measured_bound: f64,
}

impl Throughput {
    fn of(per_s: f64, bound: f64, measured_bound: f64) -> Throughput {
        Throughput {
            throughput_per_s: per_s,
            throughput_of_bound: per_s / bound,
            bracket_bound_per_s: measured_bound,
            throughput_of_measured_bound: per_s / measured_bound,
        }
    }
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Latency { p50_ms: at(0.5), p99_ms: at(0.99), n: samples.len() }
}

fn payload(scheme: Scheme, i: usize) -> ChainPayload {
    let message = format!("tssw bench {i}").into_bytes();
    match scheme {
        Scheme::Ecdsa => ChainPayload::EvmPersonalMessage { message, derivation_path: None },
        Scheme::Ed25519 => ChainPayload::SolanaOffchainMessage { message },
        // Sighash-like bytes; the bench wallet enables raw digests for this scheme only.
        Scheme::Bip340 => {
            let mut digest = [0u8; 32];
            digest[..message.len().min(32)].copy_from_slice(&message[..message.len().min(32)]);
            ChainPayload::RawDigest { digest }
        }
    }
}

/// Runs the benchmark.
pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    let schemes = if args.schemes.is_empty() { Scheme::ALL.to_vec() } else { args.schemes.clone() };
    let dir = std::env::temp_dir().join(format!("tssw-bench-{}", std::process::id()));
    let stack = crate::dev::DevProcess::start(&dir, args.web_dir.as_deref())?;
    let result = crate::runtime()?.block_on(async {
        let config = ClientConfig::load(Some(&stack.config))?;
        let token = config.token.clone().ok_or("the dev config has no token")?;
        let api = ApiClient::new(&config.server_url, &token).map_err(|e| e.to_string())?;
        let trust = config.trust.policy()?;
        let identity = Arc::new(tssw_channel::IdentityKey::random());
        api.register_device(&identity.party_id(), "bench").await.map_err(|e| e.to_string())?;
        let enclave = tssw_client::ceremony::attest(&api, &trust).await.map_err(|e| e.to_string())?;
        let device = Device { api: &api, identity: &identity, enclave, stall: STALL };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let processes = Processes::of(&stack);
        let mut reports = Vec::new();
        for scheme in schemes {
            reports.push(bench_scheme(&device, &identity, scheme, args, cores, &processes).await?);
        }
        Ok::<_, String>((reports, cores))
    });
    let web = match (&args.web_dir, &stack.dapp_url, &result) {
        (Some(web_dir), Some(dapp), Ok(_)) => Some(bench_web(web_dir, dapp, args.signs)),
        _ => None,
    };
    drop(stack);
    let _ = std::fs::remove_dir_all(&dir);
    let (reports, cores) = result?;
    let web = web.transpose()?;
    if args.json {
        let out = serde_json::json!({"cores": cores, "schemes": reports, "web": web});
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        print_table(&reports, cores);
        if let Some(web) = &web {
            print_web(web, &reports);
        }
    }
    Ok(())
}

/// Runs `web/tests/browser.mjs` in its latency mode (wallets created in the iframe, then
/// `signs` approved signatures per scheme, each timed inside the iframe from the approval
/// to the result) against the stack at `dapp`.
fn bench_web(web_dir: &std::path::Path, dapp: &str, signs: usize) -> Result<WebReport, String> {
    let size = |name: &str| {
        std::fs::metadata(web_dir.join("wallet/pkg").join(name))
            .map(|m| m.len())
            .map_err(|e| format!("{name}: {e} (run scripts/build-web)"))
    };
    let out_dir = std::env::temp_dir().join(format!("tssw-bench-web-{}", std::process::id()));
    let output = std::process::Command::new("node")
        .arg(web_dir.join("tests/browser.mjs"))
        .env("DAPP_URL", format!("{dapp}/"))
        .env("OUT_DIR", &out_dir)
        .env("LATENCY_ONLY", "1")
        .env("LATENCY_N", signs.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let _ = std::fs::remove_dir_all(&out_dir);
    if !output.status.success() {
        return Err(format!("the browser benchmark failed ({})", output.status));
    }
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("browser.mjs printed no result: {e}"))?;
    Ok(WebReport {
        browser_sign_ms: result["latency_ms"].clone(),
        wasm_bytes: size("tssw_web_bg.wasm")?,
        js_bytes: size("tssw_web.js")?,
    })
}

fn print_web(web: &WebReport, reports: &[SchemeReport]) {
    println!();
    println!("web wallet in Chromium (wasm) against the same stack; sign latency from approval to result");
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>12} {:>7}",
        "scheme", "wasm p50", "wasm p90", "of it: POST", "native p50", "ratio"
    );
    for r in reports {
        let figures = &web.browser_sign_ms[r.scheme.name()];
        let Some(p50) = figures["p50"].as_f64() else { continue };
        let p90 = figures["p90"].as_f64().unwrap_or(f64::NAN);
        let post = figures["sign_request_p50"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>14.2} {:>12.2} {:>6.2}x",
            r.scheme.name(),
            p50,
            p90,
            post,
            r.sign.p50_ms,
            p50 / r.sign.p50_ms
        );
    }
    println!("(POST: the browser's time for the sign request that starts each ceremony, p50)");
    println!("module: {} bytes of wasm, {} bytes of JS glue (uncompressed)", web.wasm_bytes, web.js_bytes);
}

/// CPU milliseconds per signature, by process.
#[derive(Serialize)]
struct CpuPerSign {
    client: f64,
    /// `tssw dev`: the HTTP API, the relay and SQLite.
    server: f64,
    enclave: f64,
}

/// The bench's own process, `tssw dev` and its enclave child.
struct Processes {
    client: u32,
    server: u32,
    enclave: Option<u32>,
}

impl Processes {
    fn of(stack: &crate::dev::DevProcess) -> Processes {
        let server = stack.pid();
        // `tssw dev` has one child: the enclave.
        let enclave = crate::cpu::children(server).first().copied();
        Processes { client: std::process::id(), server, enclave }
    }

    fn used(&self) -> Option<[Duration; 3]> {
        let used = crate::cpu::used;
        Some([used(self.client)?, used(self.server)?, used(self.enclave?)?])
    }

    fn per_sign(&self, before: Option<[Duration; 3]>, signs: usize) -> Option<CpuPerSign> {
        let (before, after) = (before?, self.used()?);
        let ms = |i: usize| (after[i].saturating_sub(before[i])).as_secs_f64() * 1e3 / signs.max(1) as f64;
        Some(CpuPerSign { client: ms(0), server: ms(1), enclave: ms(2) })
    }
}

/// The relay stall timeout of the bench's parties.
const STALL: Duration = Duration::from_secs(30);

async fn bench_scheme(
    d: &Device<'_>,
    identity: &Arc<tssw_channel::IdentityKey>,
    scheme: Scheme,
    args: &BenchArgs,
    cores: usize,
    processes: &Processes,
) -> Result<SchemeReport, String> {
    let e = |e: tssw_client::CeremonyError| format!("{scheme}: {e}");
    let mut dkg = Vec::new();
    let mut wallet = None;
    for _ in 0..args.dkgs.max(1) {
        let started = Instant::now();
        let (start, share) = d.create_wallet(scheme).await.map_err(e)?;
        d.outcome(&start).await.map_err(e)?;
        dkg.push(started.elapsed());
        wallet = Some((start.wallet_id, share));
    }
    let (wallet, share) = wallet.ok_or("no wallet")?;
    let raw = scheme == Scheme::Bip340;
    if raw {
        d.api
            .set_policy(&wallet, tssw_api::http::WalletPolicy { allow_raw_digest: true })
            .await
            .map_err(|e| e.to_string())?;
    }

    // Warm up connections and caches, then measure one at a time.
    d.sign(&wallet, &share, &payload(scheme, 0), raw).await.map_err(e)?;
    let mut sign = Vec::new();
    for i in 0..args.signs {
        let started = Instant::now();
        let (request, signature) = d.sign(&wallet, &share, &payload(scheme, i), raw).await.map_err(e)?;
        sign.push(started.elapsed());
        tssw_verify::verify(&share.public_key(), &request, &signature).map_err(|v| format!("{scheme}: {v}"))?;
    }

    // The floor right after the end-to-end latencies, for their ratio.
    let (dkg_floor, sign_floor, shares) = floor(scheme, args.dkgs.max(1), args.signs.max(1))?;
    let floor_p50 = sign_floor.p50_ms;
    let bound = cores as f64 * 1e3 / floor_p50;

    // Each throughput run is bracketed by the parallel floor, measured just before and just
    // after it: this machine's speed drifts over seconds (other tenants of the host), and a
    // bound measured minutes away moves the ratio more than the code does.
    let signer = Signer { api: d.api, identity, enclave: &d.enclave, wallet: &wallet, share: &share, scheme, raw };
    let mut bounds = vec![parallel_floor(scheme, &shares, cores)?];
    let mut bracket = |per_s: f64| -> Result<Throughput, String> {
        let before = bounds.last().copied().unwrap_or_default();
        let after = parallel_floor(scheme, &shares, cores)?;
        bounds.push(after);
        Ok(Throughput::of(per_s, bound, (before + after) / 2.0))
    };
    let (per_s, cpu_ms_per_sign) = signer.throughput(args.concurrency, args.throughput_signs, 1, processes).await?;
    let throughput = bracket(per_s)?;
    let batch = args.batch.min(tssw_protocol::max_batch(scheme));
    let batched = if batch > 1 {
        // Several ceremonies per signer: with one each (6 × 64 FROST payloads fill 200) the
        // run was a single wave, its ramp and tail the whole of it, and a 50 ms stall moved
        // it by a fifth.
        let total = args.throughput_signs.max(args.concurrency * batch * BATCH_WAVES);
        let (per_s, cpu) = signer.throughput(args.concurrency, total, batch, processes).await?;
        Some(Batched { batch, throughput: bracket(per_s)?, cpu_ms_per_sign: cpu })
    } else {
        None
    };
    let queued = if args.callers > 0 {
        let total = args.throughput_signs.max(args.callers * 16);
        let (per_s, cpu, per_ceremony) = signer.queued(args.callers, args.queue_ceremonies, total, processes).await?;
        Some(Queued { callers: args.callers, per_ceremony, throughput: bracket(per_s)?, cpu_ms_per_sign: cpu })
    } else {
        None
    };

    let sign = latency(sign);
    Ok(SchemeReport {
        scheme,
        dkg: latency(dkg),
        dkg_floor,
        sign_ratio_p50: sign.p50_ms / floor_p50,
        sign,
        sign_floor,
        throughput,
        compute_bound_per_s: bound,
        measured_bound_per_s: bounds.iter().sum::<f64>() / bounds.len() as f64,
        cpu_ms_per_sign,
        concurrency: args.concurrency,
        batched,
        queued,
    })
}

/// Ceremonies each signer runs at least in the explicit-batch throughput run.
const BATCH_WAVES: usize = 4;

/// What the throughput runs share.
struct Signer<'a> {
    api: &'a ApiClient,
    identity: &'a Arc<tssw_channel::IdentityKey>,
    enclave: &'a tssw_client::ceremony::Attested,
    wallet: &'a str,
    share: &'a KeyShare,
    scheme: Scheme,
    raw: bool,
}

impl Signer<'_> {
    /// Signs at least `total` payloads, `concurrency` ceremonies in flight of `batch`
    /// payloads each (1: `POST …/sign`); returns signatures/s and CPU per signature.
    async fn throughput(
        &self,
        concurrency: usize,
        total: usize,
        batch: usize,
        processes: &Processes,
    ) -> Result<(f64, Option<CpuPerSign>), String> {
        let scheme = self.scheme;
        let concurrency = concurrency.max(1);
        let ceremonies = total.div_ceil(concurrency).div_ceil(batch);
        // Each signer is its own task, as concurrent users of a client would be: joined in
        // one future they would all run on one thread, and the client's half of every
        // ceremony's compute would queue behind the others on one core.
        let cpu_before = processes.used();
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let (api, identity, enclave) = (self.api.clone(), self.identity.clone(), self.enclave.clone());
                let (wallet, share, raw) = (self.wallet.to_string(), self.share.clone(), self.raw);
                tokio::spawn(async move {
                    let d = Device { api: &api, identity: &identity, enclave, stall: STALL };
                    let fail = |e: tssw_client::CeremonyError| format!("{scheme}: {e}");
                    for c in 0..ceremonies {
                        let first = (w * ceremonies + c) * batch;
                        if batch == 1 {
                            d.sign(&wallet, &share, &payload(scheme, first), raw).await.map_err(fail)?;
                        } else {
                            let payloads: Vec<ChainPayload> =
                                (first..first + batch).map(|i| payload(scheme, i)).collect();
                            let signed = d.sign_batch(&wallet, &share, &payloads, raw).await.map_err(fail)?;
                            // Spot-check one signature per ceremony with the independent verifier.
                            if let Some((request, signature)) = signed.last() {
                                tssw_verify::verify(&share.public_key(), request, signature)
                                    .map_err(|v| format!("{scheme}: {v}"))?;
                            }
                        }
                    }
                    Ok::<usize, String>(ceremonies * batch)
                })
            })
            .collect();
        let mut done = 0;
        for worker in futures_util::future::join_all(workers).await {
            done += worker.map_err(|j| format!("{scheme}: a signer task failed: {j}"))??;
        }
        let per_s = done as f64 / started.elapsed().as_secs_f64();
        Ok((per_s, processes.per_sign(cpu_before, done)))
    }

    /// `callers` tasks each signing one payload at a time through one [`SignQueue`] of
    /// `ceremonies` slots, at least `total` in all; returns signatures/s, CPU per signature and signatures per
    /// ceremony.
    async fn queued(
        &self,
        callers: usize,
        ceremonies: usize,
        total: usize,
        processes: &Processes,
    ) -> Result<(f64, Option<CpuPerSign>, f64), String> {
        let scheme = self.scheme;
        let each = total.div_ceil(callers);
        let queue = Arc::new(SignQueue::new(self.wallet, self.share.clone(), self.raw, ceremonies));
        let cpu_before = processes.used();
        let started = Instant::now();
        let workers: Vec<_> = (0..callers)
            .map(|c| {
                let (api, identity, enclave) = (self.api.clone(), self.identity.clone(), self.enclave.clone());
                let (queue, key) = (queue.clone(), self.share.public_key());
                tokio::spawn(async move {
                    let d = Device { api: &api, identity: &identity, enclave, stall: STALL };
                    let mut last = None;
                    for i in 0..each {
                        let signed = queue.sign(&d, &payload(scheme, c * each + i)).await;
                        last = Some(signed.map_err(|e| format!("{scheme}: {e}"))?);
                    }
                    // Spot-check each caller's last signature with the independent verifier.
                    if let Some((request, signature)) = last {
                        tssw_verify::verify(&key, &request, &signature).map_err(|v| format!("{scheme}: {v}"))?;
                    }
                    Ok::<usize, String>(each)
                })
            })
            .collect();
        let mut done = 0;
        for worker in futures_util::future::join_all(workers).await {
            done += worker.map_err(|j| format!("{scheme}: a signer task failed: {j}"))??;
        }
        let per_s = done as f64 / started.elapsed().as_secs_f64();
        let per_ceremony = done as f64 / queue.ceremonies().max(1) as f64;
        Ok((per_s, processes.per_sign(cpu_before, done), per_ceremony))
    }
}

/// Both parties in this process, one thread, through the in-memory pump. Returns the
/// shares too, for the parallel floor.
fn floor(scheme: Scheme, dkgs: usize, signs: usize) -> Result<(Latency, Latency, Vec<KeyShare>), String> {
    let mut dkg = Vec::new();
    let mut shares: Vec<KeyShare> = Vec::new();
    for _ in 0..dkgs {
        let started = Instant::now();
        shares = tssw_protocol::testing::dkg(scheme, 2, 2).map_err(|e| e.to_string())?;
        dkg.push(started.elapsed());
    }
    let refs: Vec<&KeyShare> = shares.iter().collect();
    let mut sign = Vec::new();
    for i in 0..signs {
        let started = Instant::now();
        tssw_protocol::testing::sign(&refs, &floor_request(scheme, i)).map_err(|e| e.to_string())?;
        sign.push(started.elapsed());
    }
    Ok((latency(dkg), latency(sign), shares))
}

/// The floor on every core at once: `cores` threads each signing for `PARALLEL_FLOOR`, both
/// parties in the thread. `cores / floor` assumes each core computes as fast with the other
/// busy; this measures it (shared cache, memory bandwidth and the host's other tenants).
fn parallel_floor(scheme: Scheme, shares: &[KeyShare], cores: usize) -> Result<f64, String> {
    let refs: Vec<&KeyShare> = shares.iter().collect();
    let started = Instant::now();
    let done = std::thread::scope(|s| {
        let threads: Vec<_> = (0..cores)
            .map(|t| {
                let refs = &refs;
                s.spawn(move || {
                    let mut signed = 0;
                    while signed == 0 || started.elapsed() < PARALLEL_FLOOR {
                        tssw_protocol::testing::sign(refs, &floor_request(scheme, t * 1_000_000 + signed))
                            .map_err(|e| e.to_string())?;
                        signed += 1;
                    }
                    Ok::<usize, String>(signed)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| "a floor thread panicked".to_string())?)
            .sum::<Result<usize, String>>()
    })?;
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Long enough that one signature's noise does not matter (a 1 ms signature runs 1 000
/// times per thread), short enough to measure next to each throughput run.
const PARALLEL_FLOOR: Duration = Duration::from_secs(1);

fn floor_request(scheme: Scheme, i: usize) -> SignRequest {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&(i as u64).to_be_bytes());
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: digest, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: digest.to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: digest, merkle_root: None },
    }
}

fn print_table(reports: &[SchemeReport], cores: usize) {
    println!("tssw bench: the real stack on loopback (tssw dev in a child process), this process as the client");
    println!("{:<8} {:<6} {:>10} {:>10} {:>12} {:>7}", "scheme", "op", "p50 ms", "p99 ms", "floor p50", "ratio");
    for r in reports {
        let dkg_ratio = r.dkg.p50_ms / r.dkg_floor.p50_ms;
        println!(
            "{:<8} {:<6} {:>10.2} {:>10.2} {:>12.2} {:>6.2}x",
            r.scheme.name(),
            "dkg",
            r.dkg.p50_ms,
            r.dkg.p99_ms,
            r.dkg_floor.p50_ms,
            dkg_ratio
        );
        println!(
            "{:<8} {:<6} {:>10.2} {:>10.2} {:>12.2} {:>6.2}x",
            r.scheme.name(),
            "sign",
            r.sign.p50_ms,
            r.sign.p99_ms,
            r.sign_floor.p50_ms,
            r.sign_ratio_p50
        );
    }
    println!();
    println!(
        "{:<10} {:>8} {:>10} {:>9} {:>12} {:>9}",
        "scheme", "signs/s", "bound/s", "of bound", "measured/s", "of it"
    );
    for r in reports {
        let mut rows = vec![(r.scheme.name().to_string(), &r.throughput)];
        if let Some(b) = &r.batched {
            rows.push((format!("{} x{}", r.scheme.name(), b.batch), &b.throughput));
        }
        if let Some(q) = &r.queued {
            rows.push((format!("{} q{}", r.scheme.name(), q.callers), &q.throughput));
        }
        for (name, t) in rows {
            println!(
                "{:<10} {:>8.1} {:>10.1} {:>8.0}% {:>12.1} {:>8.0}%",
                name,
                t.throughput_per_s,
                r.compute_bound_per_s,
                t.throughput_of_bound * 100.0,
                t.bracket_bound_per_s,
                t.throughput_of_measured_bound * 100.0
            );
        }
    }
    println!(
        "(bound = {cores} cores / the floor's time per signature; measured = the floor on {cores} threads at once, just before and after each run; {} ceremonies in flight; xN: N payloads per ceremony; qN: N callers of one payload each through a SignQueue)",
        reports.first().map_or(0, |r| r.concurrency)
    );
    for r in reports {
        if let Some(q) = &r.queued {
            println!("{} q{}: {:.1} signatures per ceremony", r.scheme.name(), q.callers, q.per_ceremony);
        }
    }
    println!();
    println!("{:<10} {:>8} {:>10} {:>10} {:>10} {:>10}", "scheme", "client", "server", "enclave", "total", "floor");
    for r in reports {
        let mut rows = vec![(r.scheme.name().to_string(), &r.cpu_ms_per_sign)];
        if let Some(b) = &r.batched {
            rows.push((format!("{} x{}", r.scheme.name(), b.batch), &b.cpu_ms_per_sign));
        }
        if let Some(q) = &r.queued {
            rows.push((format!("{} q{}", r.scheme.name(), q.callers), &q.cpu_ms_per_sign));
        }
        for (name, cpu) in rows {
            match cpu {
                Some(c) => println!(
                    "{:<10} {:>8.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                    name,
                    c.client,
                    c.server,
                    c.enclave,
                    c.client + c.server + c.enclave,
                    r.sign_floor.p50_ms
                ),
                None => println!("{name:<10} (needs Linux's /proc)"),
            }
        }
    }
    println!("(CPU ms per signature in the throughput run, by process; server = tssw dev: API, relay, SQLite)");
}
