//! `tssw demo`: every ceremony of every scheme, in this process, each signature checked by
//! an independent verifier, with rounds, bytes and time per step. The parties talk through
//! the protocol crate's in-memory pump; later the same command drives the real stack.

use std::time::Instant;

use serde::Serialize;
use tssw_protocol::testing::{self, Stats};
use tssw_protocol::{KeyShare, Member, PartyIndex, ReshareOutput, ResharePlan, Scheme, SignRequest};

#[derive(Serialize)]
struct Row {
    scheme: Scheme,
    operation: String,
    parties: String,
    ok: bool,
    detail: String,
    rounds: u8,
    bytes: usize,
    millis: f64,
}

#[derive(Serialize)]
struct Wallet {
    scheme: Scheme,
    public_key: String,
    address: String,
}

struct Demo {
    rows: Vec<Row>,
    wallets: Vec<Wallet>,
}

impl Demo {
    fn row(
        &mut self,
        scheme: Scheme,
        operation: &str,
        parties: &str,
        stats: Stats,
        started: Instant,
        result: Result<String, String>,
    ) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(e) => (false, e),
        };
        self.rows.push(Row {
            scheme,
            operation: operation.into(),
            parties: parties.into(),
            ok,
            detail,
            rounds: stats.rounds,
            bytes: stats.bytes,
            millis: started.elapsed().as_secs_f64() * 1e3,
        });
    }

    fn sign(&mut self, shares: &[&KeyShare], label: &str) {
        let Some(first) = shares.first() else { return };
        let scheme = first.scheme();
        let request = request(scheme, label);
        let names: Vec<String> = shares.iter().map(|s| s.index().get().to_string()).collect();
        let parties = format!("{{{}}} of {}-of-{}", names.join(","), first.threshold(), first.parties());
        let started = Instant::now();
        match testing::sign_with_stats(shares, &request) {
            Ok((signature, stats)) => {
                let checked = tssw_verify::verify(&first.public_key(), &request, &signature)
                    .map(|v| format!("{} by {v}", short(&hex::encode(signature.to_bytes()))));
                self.row(scheme, label, &parties, stats, started, checked);
            }
            Err(e) => self.row(scheme, label, &parties, Stats::default(), started, Err(e.to_string())),
        }
    }
}

fn request(scheme: Scheme, label: &str) -> SignRequest {
    let digest: [u8; 32] = secp256k1::hashes::sha256::Hash::hash(label.as_bytes()).to_byte_array();
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: digest, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: format!("tssw demo: {label}").into_bytes() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: digest, merkle_root: None },
    }
}

use secp256k1::hashes::Hash;

fn short(hex: &str) -> String {
    match (hex.get(..10), hex.get(hex.len().saturating_sub(6)..)) {
        (Some(a), Some(b)) => format!("{a}…{b}"),
        _ => hex.to_string(),
    }
}

fn address(share: &KeyShare) -> Result<String, String> {
    let key = share.public_key();
    match share.scheme() {
        Scheme::Ecdsa => {
            let root = tssw_chains::address::evm_address_checksummed(key.as_bytes()).map_err(|e| e.to_string())?;
            Ok(root)
        }
        Scheme::Ed25519 => tssw_chains::address::solana_address(key.as_bytes()).map_err(|e| e.to_string()),
        Scheme::Bip340 => {
            let internal = share.taproot_internal_key().ok_or("taproot share without internal key")?;
            tssw_chains::address::taproot_address(&internal, key.as_bytes(), bitcoin::Network::Bitcoin)
                .map_err(|e| e.to_string())
        }
    }
}

fn member(old: Option<u16>, new: Option<u16>) -> Result<Member, tssw_protocol::Error> {
    Ok(Member { old: old.map(PartyIndex::new).transpose()?, new: new.map(PartyIndex::new).transpose()? })
}

fn scheme_flow(demo: &mut Demo, scheme: Scheme) -> Result<(), tssw_protocol::Error> {
    let started = Instant::now();
    let (shares, stats) = testing::dkg_with_stats(scheme, 2, 2)?;
    let key = shares.first().map(|s| s.public_key()).ok_or(tssw_protocol::Error::Aborted("no shares".into()))?;
    let address = shares.first().map(address).unwrap_or_else(|| Err("no share".into()));
    demo.row(scheme, "dkg", "2-of-2", stats, started, address.clone().map(|a| format!("address {a}")));
    demo.wallets.push(Wallet { scheme, public_key: hex::encode(key.as_bytes()), address: address.unwrap_or_default() });

    let refs: Vec<&KeyShare> = shares.iter().collect();
    demo.sign(&refs, "sign");

    let started = Instant::now();
    let (refreshed, stats) = testing::refresh(&shares)?;
    let same = refreshed.iter().all(|s| s.public_key() == key);
    demo.row(scheme, "refresh", "2-of-2", stats, started, ok_if(same, "same public key, epoch 2"));
    let refs: Vec<&KeyShare> = refreshed.iter().collect();
    demo.sign(&refs, "sign after refresh");

    let started = Instant::now();
    let plan =
        ResharePlan::new(2, 2, vec![member(Some(1), Some(1))?, member(Some(2), Some(2))?, member(None, Some(3))?])?;
    let old = refreshed
        .first()
        .map(|s| s.public_package().clone())
        .ok_or(tssw_protocol::Error::Aborted("no shares".into()))?;
    let (outputs, stats) = testing::reshare(&plan, &[refreshed.first(), refreshed.get(1), None], &old)?;
    let three: Vec<KeyShare> =
        outputs.into_iter().filter_map(|o| if let ReshareOutput::Share(s) = o { Some(s) } else { None }).collect();
    let same = three.len() == 3 && three.iter().all(|s| s.public_key() == key);
    demo.row(scheme, "reshare", "2-of-2 → 2-of-3", stats, started, ok_if(same, "same public key, epoch 3"));
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let refs: Vec<&KeyShare> = pair.iter().filter_map(|i| three.get(*i)).collect();
        demo.sign(&refs, "sign after reshare");
    }
    Ok(())
}

fn ok_if(ok: bool, detail: &str) -> Result<String, String> {
    if ok { Ok(detail.to_string()) } else { Err(format!("expected {detail}")) }
}

/// Runs the demo; returns whether every step passed.
pub fn run(json: bool) -> Result<bool, tssw_protocol::Error> {
    let mut demo = Demo { rows: Vec::new(), wallets: Vec::new() };
    for scheme in Scheme::ALL {
        if let Err(e) = scheme_flow(&mut demo, scheme) {
            demo.row(scheme, "ceremony", "", Stats::default(), Instant::now(), Err(e.to_string()));
        }
    }
    let passed = demo.rows.iter().all(|r| r.ok);
    if json {
        let out = serde_json::json!({ "passed": passed, "wallets": demo.wallets, "steps": demo.rows });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_table(&demo);
        println!("\n{}", if passed { "all steps passed" } else { "SOME STEPS FAILED" });
    }
    Ok(passed)
}

fn print_table(demo: &Demo) {
    println!("tss-wallet demo: all parties in this process, in-memory transport\n");
    for w in &demo.wallets {
        println!("{:<8} public key {}\n         address    {}", w.scheme.name(), w.public_key, w.address);
    }
    println!(
        "\n{:<8} {:<19} {:<18} {:>6} {:>10} {:>9}  result",
        "scheme", "operation", "parties", "rounds", "bytes", "ms"
    );
    for r in &demo.rows {
        println!(
            "{:<8} {:<19} {:<18} {:>6} {:>10} {:>9.1}  {} {}",
            r.scheme.name(),
            r.operation,
            r.parties,
            r.rounds,
            r.bytes,
            r.millis,
            if r.ok { "ok" } else { "FAILED" },
            r.detail
        );
    }
}
