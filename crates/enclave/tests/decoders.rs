//! Every decoder of bytes from outside the enclave (host requests, stored sealed shares,
//! attestation documents) on arbitrary and mutated input: typed errors, never a panic, and
//! whatever decodes re-encodes to the same bytes. Also writes the fuzz seeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tssw_api::attest::decode_attestation;
use tssw_channel::{Contribution, IdentityKey, SetupParty};
use tssw_enclave::backend::Backend;
use tssw_enclave::backend::dev::{DevBackend, temp_dir};
use tssw_enclave::frame::split_frame;
use tssw_enclave::seal::{Sealer, SealingKey};
use tssw_enclave::wire::RelayToken;
use tssw_enclave::{Begin, CeremonyOp, ChainPayload, Request, Response, SealedShare, WalletId};
use tssw_protocol::{CeremonyId, PartyIndex, Scheme};
use zeroize::Zeroizing;

struct Samples {
    requests: Vec<Vec<u8>>,
    responses: Vec<Vec<u8>>,
    sealed: Vec<Vec<u8>>,
    attestations: Vec<Vec<u8>>,
}

fn samples() -> &'static Samples {
    static SAMPLES: std::sync::OnceLock<Samples> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(make_samples)
}

fn make_samples() -> Samples {
    let wallet = WalletId::new("wallet-seed").unwrap();
    let sealer = Sealer::new(&SealingKey::new(Zeroizing::new([0x11; 32])));
    let share = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
    let sealed = sealer.seal(&wallet, &share).unwrap();
    let user = IdentityKey::from_seed(&[1; 32]);
    let others = vec![SetupParty {
        index: PartyIndex::new(1).unwrap(),
        contribution: Contribution::new(&user, &mut rand_core::OsRng).0,
    }];
    let begin = |operation| {
        Request::Begin(Begin {
            wallet_id: wallet.clone(),
            operation,
            enclave_index: PartyIndex::new(2).unwrap(),
            others: others.clone(),
            expires_at: 1_900_000_000,
        })
    };
    let requests = [
        Request::Health,
        Request::Attest { nonce: [3; 32] },
        begin(CeremonyOp::Dkg { scheme: Scheme::Ecdsa, threshold: 2 }),
        begin(CeremonyOp::Sign {
            share: sealed.clone(),
            epoch: 1,
            payload: ChainPayload::SolanaOffchainMessage { message: b"hello".to_vec() },
            allow_raw_digest: false,
            expected_digest: Some([4; 32]),
        }),
        begin(CeremonyOp::SignBatch {
            share: sealed.clone(),
            epoch: 1,
            payloads: vec![
                ChainPayload::SolanaOffchainMessage { message: b"one".to_vec() },
                ChainPayload::RawDigest { digest: [8; 32] },
            ],
            allow_raw_digest: true,
            expected_digest: None,
        }),
        begin(CeremonyOp::Refresh { share: sealed.clone(), epoch: 1 }),
        Request::Run {
            ceremony: CeremonyId([5; 32]),
            relay_url: "ws://127.0.0.1:7000".into(),
            token: RelayToken("token".into()),
        },
        Request::Abandon { ceremony: CeremonyId([6; 32]) },
    ];
    let dir = temp_dir("seeds").unwrap();
    let backend = DevBackend::open(&dir.join("data")).unwrap();
    let document = backend.attest(&user.party_id(), &[7; 32], 1_700_000_000).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let responses = [
        Response::Attestation { document: document.clone() },
        Response::Error(tssw_enclave::RemoteError { code: tssw_enclave::ErrorCode::StaleEpoch, message: "x".into() }),
        Response::Abandoned,
    ];
    Samples {
        requests: requests.iter().map(|r| r.encode().unwrap()).collect(),
        responses: responses.iter().map(|r| r.encode().unwrap()).collect(),
        sealed: vec![sealed.to_bytes().unwrap()],
        attestations: vec![document],
    }
}

fn never_panics(bytes: &[u8]) {
    if let Ok(r) = Request::decode(bytes) {
        assert_eq!(r.encode().unwrap(), bytes, "request re-encodes differently");
    }
    if let Ok(r) = Response::decode(bytes) {
        assert_eq!(r.encode().unwrap(), bytes, "response re-encodes differently");
    }
    if let Ok(s) = SealedShare::from_bytes(bytes) {
        assert_eq!(s.to_bytes().unwrap(), bytes, "sealed share re-encodes differently");
    }
    let _ = decode_attestation(bytes);
    let _ = split_frame(bytes);
}

#[test]
fn samples_decode_and_truncations_do_not() {
    let s = samples();
    for r in &s.requests {
        assert_eq!(&Request::decode(r).unwrap().encode().unwrap(), r);
        for cut in 0..r.len() {
            assert!(Request::decode(&r[..cut]).is_err());
        }
    }
    for r in &s.responses {
        assert_eq!(&Response::decode(r).unwrap().encode().unwrap(), r);
    }
    for b in &s.sealed {
        assert_eq!(&SealedShare::from_bytes(b).unwrap().to_bytes().unwrap(), b);
    }
    for d in &s.attestations {
        decode_attestation(d).unwrap();
    }
}

#[test]
fn wallet_id_checked_inside_requests() {
    let bytes = samples().requests[2].clone();
    // The wallet id starts after version, variant tag (Begin) and its length byte.
    let mut bad = bytes.clone();
    assert_eq!(bad[3], b'w');
    bad[3] = b' ';
    assert!(Request::decode(&bad).is_err());
}

/// Writes fuzz seeds when `TSSW_FUZZ_SEEDS` names the fuzz corpus directory.
#[test]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("TSSW_FUZZ_SEEDS") else { return };
    let dir = std::path::Path::new(&dir);
    let s = samples();
    let write = |target: &str, name: &str, items: &[Vec<u8>]| {
        std::fs::create_dir_all(dir.join(target)).unwrap();
        for (i, bytes) in items.iter().enumerate() {
            std::fs::write(dir.join(target).join(format!("{name}-{i}")), bytes).unwrap();
        }
    };
    let framed: Vec<Vec<u8>> = s.requests.iter().map(|r| tssw_enclave::frame::frame(r).unwrap()).collect();
    write("enclave_wire", "request", &s.requests);
    write("enclave_wire", "response", &s.responses);
    write("enclave_wire", "frame", &framed);
    write("enclave_sealed", "sealed", &s.sealed);
    write("enclave_sealed", "attestation", &s.attestations);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        never_panics(&bytes);
    }

    #[test]
    fn mutated_samples(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let s = samples();
        let all: Vec<&Vec<u8>> = s
            .requests.iter().chain(&s.responses).chain(&s.sealed).chain(&s.attestations).collect();
        let mut t = all[which.index(all.len())].clone();
        let i = at.index(t.len());
        t[i] = v;
        never_panics(&t);
    }
}
