//! Criterion benchmarks for the protocol ceremonies (issue 2).
//!
//! For each scheme (ECDSA/DKLs23, Ed25519/FROST, BIP-340/FROST-taproot) and for 2-of-2 and
//! 2-of-3 this measures, in one process with every party run in turn on one thread:
//!
//! * `ours`: DKG, sign, refresh and reshare through the wrapper, driven by the in-memory
//!   pump in `tssw_protocol::testing` (postcard-encoded messages, route and transcript
//!   checks, confirmation round on key-producing ceremonies);
//! * `raw`: the same DKG, sign and refresh calling `dkls23-core` / `frost-core` directly,
//!   messages moved between parties as Rust values (no encoding, no checks of ours). Each
//!   party does the same cryptographic work as in `ours` (every signer assembles and checks
//!   the signature itself; refresh also refreshes each party's public package);
//! * `raw+postcard`: the same raw drivers, but every message (a broadcast once per receiver)
//!   goes through a postcard encoding and decoding, as it must between machines. Decoding is
//!   not free: it validates every curve point (Ed25519 points are checked to be torsion-free,
//!   a full scalar multiplication). `ours` minus `raw+postcard` is the wrapper's own cost;
//! * single-party signing baselines (k256 and libsecp256k1 ECDSA, ed25519-dalek,
//!   libsecp256k1 BIP-340).
//!
//! Reshare has no upstream counterpart (it is our code on the crates' building blocks), so it
//! has no `raw` row. Before measuring, the bench prints the wire cost (rounds, messages,
//! bytes) of every wrapper ceremony as a Markdown table on stderr.
//!
//! Times are CPU time of the one benchmarking thread (see `CpuTime`); set
//! `TSSW_BENCH_WALL=1` for wall-clock time. Run:
//! `cargo bench -p tssw-protocol --bench ceremonies`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use tssw_protocol::testing::{self, Stats};
use tssw_protocol::{KeyShare, Member, PartyIndex, ResharePlan, Scheme, SignRequest};

/// 32 bytes signed by every scheme (an EVM hash, a BIP-341 sighash, an Ed25519 message).
const MESSAGE: [u8; 32] = *b"tss-wallet ceremony bench msg 32";

/// The (threshold, parties) shapes measured.
const SHAPES: [(u16, u16); 2] = [(2, 2), (2, 3)];

fn main() {
    print_stats();
    if std::env::var_os("TSSW_BENCH_WALL").is_some() {
        run(Criterion::default().configure_from_args());
    } else {
        run(Criterion::default().with_measurement(CpuTime).configure_from_args());
    }
}

fn run<M: Measurement + 'static>(mut c: Criterion<M>) {
    bench_ecdsa(&mut c);
    bench_frost::<frost_ed25519::Ed25519Sha512, M>(&mut c, Scheme::Ed25519);
    bench_frost::<frost_secp256k1_tr::Secp256K1Sha256TR, M>(&mut c, Scheme::Bip340);
    bench_baselines(&mut c);
    c.final_summary();
}

/// CPU time of the benchmarking thread (every party runs on it): on a shared 2-core machine
/// this is far steadier than wall-clock time, which counts the time other processes had the
/// core. `TSSW_BENCH_WALL=1` measures wall-clock time instead.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;
    fn start(&self) -> cpu_time::ThreadTime {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, start: cpu_time::ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Formats nanoseconds as criterion's wall-clock formatter does.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _typical: f64, _throughput: &Throughput, _values: &mut [f64]) -> &'static str {
        "ns"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

// ---------------------------------------------------------------------------------------
// The wrapper, through the in-memory pump.
// ---------------------------------------------------------------------------------------

fn request(scheme: Scheme) -> SignRequest {
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: MESSAGE, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: MESSAGE.to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: MESSAGE, merkle_root: None },
    }
}

fn member(old: Option<u16>, new: Option<u16>) -> Member {
    let p = |i: u16| PartyIndex::new(i).unwrap();
    Member { old: old.map(p), new: new.map(p) }
}

/// 2-of-2 → 2-of-3: both old holders deal and keep a share, a new party joins.
fn plan_2of2_to_2of3() -> ResharePlan {
    ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), Some(2)), member(None, Some(3))]).unwrap()
}

/// 2-of-3 → 2-of-2: all three old holders deal, party 2 retires.
fn plan_2of3_to_2of2() -> ResharePlan {
    ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), None), member(Some(3), Some(2))]).unwrap()
}

fn ours_sign(shares: &[KeyShare], t: u16, request: &SignRequest) -> Stats {
    let signers: Vec<&KeyShare> = shares.iter().take(usize::from(t)).collect();
    testing::sign_with_stats(&signers, request).unwrap().1
}

fn ours_reshare_up(two: &[KeyShare]) -> Stats {
    testing::reshare(&plan_2of2_to_2of3(), &[Some(&two[0]), Some(&two[1]), None], two[0].public_package()).unwrap().1
}

fn ours_reshare_down(three: &[KeyShare]) -> Stats {
    testing::reshare(
        &plan_2of3_to_2of2(),
        &[Some(&three[0]), Some(&three[1]), Some(&three[2])],
        three[0].public_package(),
    )
    .unwrap()
    .1
}

/// Runs every wrapper ceremony once and prints what it cost on the wire.
fn print_stats() {
    eprintln!("\n| scheme | operation | t-of-n | rounds | messages | bytes |");
    eprintln!("|---|---|---|---:|---:|---:|");
    let row = |scheme: Scheme, op: &str, shape: &str, s: Stats| {
        eprintln!("| {scheme} | {op} | {shape} | {} | {} | {} |", s.rounds, s.messages, s.bytes);
    };
    for scheme in Scheme::ALL {
        let mut keys = Vec::new();
        for (t, n) in SHAPES {
            let shape = format!("{t}-of-{n}");
            let (shares, dkg) = testing::dkg_with_stats(scheme, t, n).unwrap();
            row(scheme, "dkg", &shape, dkg);
            row(scheme, "sign", &shape, ours_sign(&shares, t, &request(scheme)));
            row(scheme, "refresh", &shape, testing::refresh(&shares).unwrap().1);
            keys.push(shares);
        }
        row(scheme, "reshare", "2-of-2 → 2-of-3", ours_reshare_up(&keys[0]));
        row(scheme, "reshare", "2-of-3 → 2-of-2", ours_reshare_down(&keys[1]));
    }
    eprintln!();
}

/// A group for ceremonies that take a second or more: 10 samples of one run each.
fn slow_group<'a, M: Measurement>(c: &'a mut Criterion<M>, name: &str) -> BenchmarkGroup<'a, M> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(1));
    g
}

/// A group for millisecond ceremonies.
fn fast_group<'a, M: Measurement>(
    c: &'a mut Criterion<M>,
    name: &str,
    samples: usize,
    secs: u64,
) -> BenchmarkGroup<'a, M> {
    let mut g = c.benchmark_group(name);
    g.sample_size(samples).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(secs));
    g
}

// ---------------------------------------------------------------------------------------
// ECDSA (DKLs23)
// ---------------------------------------------------------------------------------------

fn bench_ecdsa<M: Measurement>(c: &mut Criterion<M>) {
    let scheme = Scheme::Ecdsa;
    let req = request(scheme);
    let mut ours_keys = Vec::new();
    let mut raw_keys = Vec::new();
    for (t, n) in SHAPES {
        ours_keys.push(testing::dkg(scheme, t, n).unwrap());
        raw_keys.push(raw_dkls::dkg::<false>(t as u8, n as u8));
    }

    let mut g = slow_group(c, "ecdsa/dkg");
    for (t, n) in SHAPES {
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| testing::dkg_with_stats(scheme, t, n).unwrap()));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_dkls::dkg::<false>(t as u8, n as u8)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_dkls::dkg::<true>(t as u8, n as u8)));
    }
    g.finish();

    let mut g = fast_group(c, "ecdsa/sign", 20, 3);
    for (i, (t, n)) in SHAPES.into_iter().enumerate() {
        let ours = &ours_keys[i];
        let raw: Vec<_> = raw_keys[i].iter().take(usize::from(t)).map(|(p, _)| p).collect();
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| ours_sign(ours, t, &req)));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_dkls::sign::<false>(&raw, MESSAGE)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_dkls::sign::<true>(&raw, MESSAGE)));
    }
    g.finish();

    let mut g = fast_group(c, "ecdsa/refresh", 10, 3);
    for (i, (t, n)) in SHAPES.into_iter().enumerate() {
        let ours = &ours_keys[i];
        let raw = &raw_keys[i];
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| testing::refresh(ours).unwrap()));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_dkls::refresh::<false>(raw)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_dkls::refresh::<true>(raw)));
    }
    g.finish();

    let mut g = slow_group(c, "ecdsa/reshare");
    g.bench_function("ours/2-of-2 to 2-of-3", |b| b.iter(|| ours_reshare_up(&ours_keys[0])));
    g.bench_function("ours/2-of-3 to 2-of-2", |b| b.iter(|| ours_reshare_down(&ours_keys[1])));
    g.finish();
}

/// Moves a message to one receiver: as a Rust value, or (`WIRE`) through a postcard encoding
/// and a decoding, as a networked party would receive it. A broadcast is delivered once per
/// receiver.
mod wire {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub fn deliver<T: Serialize + DeserializeOwned + Clone, const WIRE: bool>(m: &T) -> T {
        if WIRE { postcard::from_bytes(&postcard::to_stdvec(m).unwrap()).unwrap() } else { m.clone() }
    }

    pub fn deliver_owned<T: Serialize + DeserializeOwned, const WIRE: bool>(m: T) -> T {
        if WIRE { postcard::from_bytes(&postcard::to_stdvec(&m).unwrap()).unwrap() } else { m }
    }
}

/// DKLs23 driven directly: `DkgSession` phases, `Party::sign_phase*`, `refresh_phase*`.
mod raw_dkls {
    use std::collections::BTreeMap;

    use dkls23_core::DkgSession;
    use dkls23_core::protocols::signing::SignData;
    use dkls23_core::protocols::{Parameters, Party, PartyIndex, PublicKeyPackage};

    use super::wire::{deliver, deliver_owned};

    type K = k256::Secp256k1;

    fn session_id() -> [u8; 32] {
        use rand_core::RngCore;
        let mut id = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut id);
        id
    }

    fn index(i: usize) -> PartyIndex {
        PartyIndex::new(u8::try_from(i + 1).unwrap()).unwrap()
    }

    fn slot(p: PartyIndex) -> usize {
        usize::from(p.as_u8()) - 1
    }

    fn inboxes<T>(n: usize) -> Vec<Vec<T>> {
        (0..n).map(|_| Vec::new()).collect()
    }

    /// Receiver `i`'s copy of everybody's broadcast (its own kept as is).
    fn received<T, const WIRE: bool>(all: &[T], i: usize) -> Vec<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        all.iter().enumerate().map(|(j, m)| if i == j { m.clone() } else { deliver::<T, WIRE>(m) }).collect()
    }

    fn received_map<T, const WIRE: bool>(all: &[T], i: usize) -> BTreeMap<PartyIndex, T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        received::<T, WIRE>(all, i).into_iter().enumerate().map(|(j, m)| (index(j), m)).collect()
    }

    /// All four phases for every party; returns each party's share and public package.
    pub fn dkg<const WIRE: bool>(t: u8, n: u8) -> Vec<(Party<K>, PublicKeyPackage<K>)> {
        let sid = session_id();
        let n_us = usize::from(n);
        let params = Parameters::new(t, n).unwrap();
        let mut sessions: Vec<DkgSession<K>> =
            (0..n_us).map(|i| DkgSession::new(params.clone(), index(i), sid.to_vec())).collect();

        // Round 1: fragment j of party i goes to party j.
        let rows: Vec<Vec<k256::Scalar>> = sessions.iter().map(DkgSession::phase1).collect();
        let fragments: Vec<Vec<k256::Scalar>> = (0..n_us)
            .map(|j| {
                rows.iter()
                    .enumerate()
                    .map(|(i, row)| if i == j { row[j] } else { deliver::<_, WIRE>(&row[j]) })
                    .collect()
            })
            .collect();

        // Round 2: broadcast proof + chain-code commitment, zero-share commitments direct.
        let mut proofs = Vec::with_capacity(n_us);
        let mut chains2 = Vec::with_capacity(n_us);
        let mut zero2 = inboxes(n_us);
        for (i, session) in sessions.iter_mut().enumerate() {
            let (proof, zero, chain) = session.phase2(&fragments[i]).unwrap();
            proofs.push(proof);
            chains2.push(chain);
            for m in zero {
                zero2[slot(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        // Round 3: broadcast chain-code opening, zero-share seeds and OT setup direct.
        let mut chains3 = Vec::with_capacity(n_us);
        let mut zero3 = inboxes(n_us);
        let mut mul3 = inboxes(n_us);
        for session in &mut sessions {
            let (zero, mul, chain) = session.phase3().unwrap();
            chains3.push(chain);
            for m in zero {
                zero3[slot(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
            for m in mul {
                mul3[slot(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        sessions
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let proofs = received::<_, WIRE>(&proofs, i);
                let chains2 = received_map::<_, WIRE>(&chains2, i);
                let chains3 = received_map::<_, WIRE>(&chains3, i);
                s.phase4(&proofs, &zero2[i], &zero3[i], &mul3[i], &chains2, &chains3, |_| String::new()).unwrap()
            })
            .collect()
    }

    /// Signs with exactly the given (threshold many) parties; each runs `sign_phase4`, which
    /// assembles and verifies the signature. Returns party 1's `(r, s, recovery id)`.
    pub fn sign<const WIRE: bool>(parties: &[&Party<K>], hash: [u8; 32]) -> (String, String, u8) {
        let sid = session_id();
        let signers: Vec<PartyIndex> = parties.iter().map(|p| p.party_index).collect();
        let pos = |p: PartyIndex| signers.iter().position(|s| *s == p).unwrap();
        let data: Vec<SignData> = signers
            .iter()
            .map(|me| SignData {
                sign_id: sid.to_vec(),
                counterparties: signers.iter().copied().filter(|p| p != me).collect(),
                message_hash: hash,
            })
            .collect();

        let mut state1 = Vec::new();
        let mut in1 = inboxes(parties.len());
        for (party, d) in parties.iter().zip(&data) {
            let (unique, kept, transmit) = party.sign_phase1(d).unwrap();
            state1.push((unique, kept));
            for m in transmit {
                in1[pos(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        let mut state2 = Vec::new();
        let mut in2 = inboxes(parties.len());
        for (i, (party, (unique, kept))) in parties.iter().zip(state1).enumerate() {
            let (unique, kept, transmit) = party.sign_phase2(&data[i], unique, kept, &in1[i]).unwrap();
            state2.push((unique, kept));
            for m in transmit {
                in2[pos(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        let mut x_coords = Vec::new();
        let mut broadcasts = Vec::new();
        for (i, (party, (unique, kept))) in parties.iter().zip(state2).enumerate() {
            let (x, broadcast) = party.sign_phase3(&data[i], unique, kept, &in2[i]).unwrap();
            x_coords.push(x);
            broadcasts.push(broadcast);
        }

        let mut out = None;
        for (i, party) in parties.iter().enumerate() {
            let received = received::<_, WIRE>(&broadcasts, i);
            let (s, v) = party.sign_phase4(&data[i], &x_coords[i], &received, true).unwrap();
            out.get_or_insert((x_coords[i].clone(), s, v));
        }
        out.unwrap()
    }

    /// Fast refresh for every party, plus each party's refreshed public package.
    pub fn refresh<const WIRE: bool>(keys: &[(Party<K>, PublicKeyPackage<K>)]) -> Vec<(Party<K>, PublicKeyPackage<K>)> {
        let sid = session_id();
        let n = keys.len();
        let rows: Vec<Vec<k256::Scalar>> = keys.iter().map(|(p, _)| p.refresh_phase1()).collect();
        let fragments: Vec<Vec<k256::Scalar>> = (0..n)
            .map(|j| {
                rows.iter()
                    .enumerate()
                    .map(|(i, row)| if i == j { row[j] } else { deliver::<_, WIRE>(&row[j]) })
                    .collect()
            })
            .collect();

        let mut corrections = Vec::new();
        let mut proofs = Vec::new();
        let mut kept2 = Vec::new();
        let mut in2 = inboxes(n);
        for (i, (party, _)) in keys.iter().enumerate() {
            let (correction, proof, kept, transmit) = party.refresh_phase2(&sid, &fragments[i]);
            corrections.push(correction);
            proofs.push(proof);
            kept2.push(kept);
            for m in transmit {
                in2[slot(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        let mut kept3 = Vec::new();
        let mut in3 = inboxes(n);
        for (i, (party, _)) in keys.iter().enumerate() {
            let (kept, transmit) = party.refresh_phase3(&kept2[i]);
            kept3.push(kept);
            for m in transmit {
                in3[slot(m.parties.receiver)].push(deliver_owned::<_, WIRE>(m));
            }
        }

        keys.iter()
            .enumerate()
            .map(|(i, (party, public))| {
                let proofs = received::<_, WIRE>(&proofs, i);
                let new = party.refresh_phase4(&sid, &corrections[i], &proofs, &kept3[i], &in2[i], &in3[i]).unwrap();
                (new, public.refresh(&sid, &proofs).unwrap())
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// FROST (Ed25519 and BIP-340)
// ---------------------------------------------------------------------------------------

fn bench_frost<C: frost_core::Ciphersuite + 'static, M: Measurement>(c: &mut Criterion<M>, scheme: Scheme) {
    let req = request(scheme);
    let mut ours_keys = Vec::new();
    let mut raw_keys = Vec::new();
    for (t, n) in SHAPES {
        ours_keys.push(testing::dkg(scheme, t, n).unwrap());
        raw_keys.push(raw_frost::dkg::<C, false>(t, n));
    }

    let mut g = fast_group(c, &format!("{scheme}/dkg"), 30, 2);
    for (t, n) in SHAPES {
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| testing::dkg_with_stats(scheme, t, n).unwrap()));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_frost::dkg::<C, false>(t, n)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_frost::dkg::<C, true>(t, n)));
    }
    g.finish();

    let mut g = fast_group(c, &format!("{scheme}/sign"), 50, 2);
    for (i, (t, n)) in SHAPES.into_iter().enumerate() {
        let ours = &ours_keys[i];
        let raw = &raw_keys[i][..usize::from(t)];
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| ours_sign(ours, t, &req)));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_frost::sign::<C, false>(raw, &MESSAGE)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_frost::sign::<C, true>(raw, &MESSAGE)));
    }
    g.finish();

    let mut g = fast_group(c, &format!("{scheme}/refresh"), 30, 2);
    for (i, (t, n)) in SHAPES.into_iter().enumerate() {
        let ours = &ours_keys[i];
        let raw = &raw_keys[i];
        g.bench_function(format!("ours/{t}-of-{n}"), |b| b.iter(|| testing::refresh(ours).unwrap()));
        g.bench_function(format!("raw/{t}-of-{n}"), |b| b.iter(|| raw_frost::refresh::<C, false>(raw)));
        g.bench_function(format!("raw+postcard/{t}-of-{n}"), |b| b.iter(|| raw_frost::refresh::<C, true>(raw)));
    }
    g.finish();

    let mut g = fast_group(c, &format!("{scheme}/reshare"), 30, 2);
    g.bench_function("ours/2-of-2 to 2-of-3", |b| b.iter(|| ours_reshare_up(&ours_keys[0])));
    g.bench_function("ours/2-of-3 to 2-of-2", |b| b.iter(|| ours_reshare_down(&ours_keys[1])));
    g.finish();
}

/// FROST driven directly: `keys::dkg::part1..3`, `round1::commit`, `round2::sign`,
/// `aggregate`, `keys::refresh::refresh_dkg_*`.
mod raw_frost {
    use std::collections::BTreeMap;

    use frost_core::keys::dkg::{self, round1, round2};
    use frost_core::keys::{KeyPackage, PublicKeyPackage, refresh};
    use frost_core::{Ciphersuite, Identifier, Signature, SigningPackage};
    use rand_core::OsRng;

    use super::wire::{deliver, deliver_owned};

    type Keys<C> = (KeyPackage<C>, PublicKeyPackage<C>);
    type Inbox<C, T> = BTreeMap<Identifier<C>, BTreeMap<Identifier<C>, T>>;

    fn ids<C: Ciphersuite>(n: u16) -> Vec<Identifier<C>> {
        (1..=n).map(|i| Identifier::try_from(i).unwrap()).collect()
    }

    /// What `me` receives of everybody's broadcast: the others' (its own kept if `keep_own`).
    fn received<C, T, const WIRE: bool>(
        all: &BTreeMap<Identifier<C>, T>,
        me: &Identifier<C>,
        keep_own: bool,
    ) -> BTreeMap<Identifier<C>, T>
    where
        C: Ciphersuite,
        T: serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        all.iter()
            .filter_map(|(id, m)| match id == me {
                true if keep_own => Some((*id, m.clone())),
                true => None,
                false => Some((*id, deliver::<T, WIRE>(m))),
            })
            .collect()
    }

    pub fn dkg<C: Ciphersuite, const WIRE: bool>(t: u16, n: u16) -> Vec<Keys<C>> {
        let ids = ids::<C>(n);
        let mut secrets = Vec::new();
        let mut broadcasts = BTreeMap::new();
        for id in &ids {
            let (secret, package) = dkg::part1::<C, _>(*id, n, t, OsRng).unwrap();
            secrets.push(secret);
            broadcasts.insert(*id, package);
        }
        let mut round2 = Vec::new();
        let mut direct: Inbox<C, round2::Package<C>> = BTreeMap::new();
        for (id, secret) in ids.iter().zip(secrets) {
            let received: BTreeMap<_, round1::Package<C>> = received::<C, _, WIRE>(&broadcasts, id, false);
            let (secret, packages) = dkg::part2(secret, &received).unwrap();
            for (to, package) in packages {
                direct.entry(to).or_default().insert(*id, deliver_owned::<_, WIRE>(package));
            }
            round2.push((secret, received));
        }
        ids.iter()
            .zip(&round2)
            .map(|(id, (secret, received))| dkg::part3(secret, received, &direct[id]).unwrap())
            .collect()
    }

    /// Signs with the given keys; every signer builds the signing package, signs, and
    /// aggregates (which verifies) itself. Returns the first signer's signature.
    pub fn sign<C: Ciphersuite, const WIRE: bool>(keys: &[Keys<C>], message: &[u8]) -> Signature<C> {
        let mut nonces = Vec::new();
        let mut commitments = BTreeMap::new();
        for (key, _) in keys {
            let (n, c) = frost_core::round1::commit(key.signing_share(), &mut OsRng);
            nonces.push(n);
            commitments.insert(*key.identifier(), c);
        }
        let mut packages = Vec::new();
        let mut shares = BTreeMap::new();
        for ((key, _), nonce) in keys.iter().zip(&nonces) {
            let package = SigningPackage::new(received::<C, _, WIRE>(&commitments, key.identifier(), true), message);
            shares.insert(*key.identifier(), frost_core::round2::sign(&package, nonce, key).unwrap());
            packages.push(package);
        }
        let mut out = None;
        for ((key, public), package) in keys.iter().zip(&packages) {
            let shares = received::<C, _, WIRE>(&shares, key.identifier(), true);
            let signature = frost_core::aggregate(package, &shares, public).unwrap();
            out.get_or_insert(signature);
        }
        out.unwrap()
    }

    pub fn refresh<C: Ciphersuite, const WIRE: bool>(keys: &[Keys<C>]) -> Vec<Keys<C>> {
        let n = u16::try_from(keys.len()).unwrap();
        let mut secrets = Vec::new();
        let mut broadcasts = BTreeMap::new();
        for (key, _) in keys {
            let (secret, package) =
                refresh::refresh_dkg_part1::<C, _>(*key.identifier(), n, *key.min_signers(), OsRng).unwrap();
            secrets.push(secret);
            broadcasts.insert(*key.identifier(), package);
        }
        let mut round2 = Vec::new();
        let mut direct: Inbox<C, round2::Package<C>> = BTreeMap::new();
        for ((key, _), secret) in keys.iter().zip(secrets) {
            let id = key.identifier();
            let received: BTreeMap<_, round1::Package<C>> = received::<C, _, WIRE>(&broadcasts, id, false);
            let (secret, packages) = refresh::refresh_dkg_part2(secret, &received).unwrap();
            for (to, package) in packages {
                direct.entry(to).or_default().insert(*id, deliver_owned::<_, WIRE>(package));
            }
            round2.push((secret, received));
        }
        keys.iter()
            .zip(&round2)
            .map(|((key, public), (secret, received))| {
                let id = key.identifier();
                refresh::refresh_dkg_shares(secret, received, &direct[id], public.clone(), key.clone()).unwrap()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Single-party baselines
// ---------------------------------------------------------------------------------------

fn bench_baselines<M: Measurement>(c: &mut Criterion<M>) {
    let secret = [0x42u8; 32];
    let mut g = fast_group(c, "single-party/sign", 50, 2);

    let k256_key = k256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    g.bench_function("ecdsa k256 sign_prehash_recoverable", |b| {
        b.iter(|| k256_key.sign_prehash_recoverable(std::hint::black_box(&MESSAGE)))
    });

    let secp = secp256k1::Secp256k1::new();
    let sk = secp256k1::SecretKey::from_slice(&secret).unwrap();
    let msg = secp256k1::Message::from_digest(MESSAGE);
    g.bench_function("ecdsa libsecp256k1 sign_ecdsa_recoverable", |b| {
        b.iter(|| secp.sign_ecdsa_recoverable(std::hint::black_box(&msg), &sk))
    });

    let dalek = ed25519_dalek::SigningKey::from_bytes(&secret);
    g.bench_function("ed25519 ed25519-dalek sign", |b| {
        b.iter(|| ed25519_dalek::Signer::sign(&dalek, std::hint::black_box(&MESSAGE)))
    });

    let keypair = secp256k1::Keypair::from_secret_key(&secp, &sk);
    g.bench_function("bip340 libsecp256k1 sign_schnorr", |b| {
        b.iter(|| secp.sign_schnorr_with_aux_rand(std::hint::black_box(&msg), &keypair, &secret))
    });
    g.finish();
}
