//! Cost of verifying an attestation document on the client, per ceremony: the recorded real
//! Nitro document (five P-384 signatures: four certificates and the COSE_Sign1) at a time
//! inside its validity, and a dev document (one Ed25519 signature).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use tssw_api::attest::nitro::{AWS_NITRO_ROOT_G1, verify_nitro_document};
use tssw_api::attest::{TrustPolicy, sign_dev_attestation, verify_attestation};
use tssw_channel::PartyId;

const REAL_B64: &str = include_str!("../src/attest/testdata/nitrite-2024-09-07.b64");
const REAL_NOW: u64 = 1_725_719_900;

fn bench(c: &mut Criterion) {
    let real = base64::engine::general_purpose::STANDARD.decode(REAL_B64.trim()).unwrap();
    let mut g = c.benchmark_group("attestation");
    g.bench_function("nitro_verify_recorded_document", |b| {
        b.iter(|| verify_nitro_document(black_box(&real), AWS_NITRO_ROOT_G1, REAL_NOW).unwrap())
    });
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let dev = sign_dev_attestation(&key, &PartyId([5; 32]), [6; 32], REAL_NOW, &[7; 32]).unwrap();
    let policy = TrustPolicy::dev(key.verifying_key().to_bytes(), vec![[6; 32]]);
    g.bench_function("dev_verify", |b| {
        b.iter(|| verify_attestation(black_box(&dev), &policy, &[7; 32], REAL_NOW).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
