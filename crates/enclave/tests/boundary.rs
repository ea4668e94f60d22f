//! The enclave's boundary, over its real socket: sealed blobs that are swapped, stale,
//! tampered or of another version; raw-digest policy; attestation checks; a kill -9 and
//! restart; malformed frames; client timeouts. Prints the round-trip latency of a small
//! request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{World, now, p, rand_nonce};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tssw_channel::{Contribution, Operation, SetupParty};
use tssw_enclave::frame::{MAX_FRAME_BYTES, WIRE_VERSION, read_frame, write_frame};
use tssw_enclave::{
    AttestationError, Begin, CeremonyOp, ChainPayload, ClientError, DEV_NOTICE, EnclaveClient, ErrorCode, Measurement,
    NewShare, Request, Response, TeeMode, TrustPolicy, WalletId, verify_attestation,
};
use tssw_protocol::{CeremonyId, Scheme, SignRequest};

fn wallet(id: &str) -> WalletId {
    WalletId::new(id).unwrap()
}

fn solana_payload(pk: &[u8]) -> ChainPayload {
    let tx = tssw_chains::solana::SolanaTransaction::transfer(
        pk,
        &[9; 32],
        5,
        [1; 32],
        tssw_chains::solana::MessageVersion::V0,
    )
    .unwrap();
    ChainPayload::SolanaMessage { message: tx.message_bytes().to_vec() }
}

fn sign_op(
    sealed: &NewShare,
    epoch: u64,
    payload: ChainPayload,
    allow_raw: bool,
    expected: Option<[u8; 32]>,
) -> CeremonyOp {
    CeremonyOp::Sign {
        share: sealed.sealed.clone(),
        epoch,
        payload,
        allow_raw_digest: allow_raw,
        expected_digest: expected,
    }
}

async fn begin(world: &World, wallet: &WalletId, operation: CeremonyOp) -> Result<tssw_enclave::Began, ClientError> {
    let (contribution, _) = Contribution::new(&world.user, &mut rand_core::OsRng);
    world
        .enclave
        .client
        .begin(Begin {
            wallet_id: wallet.clone(),
            operation,
            enclave_index: p(2),
            others: vec![SetupParty { index: p(1), contribution }],
            expires_at: now() + 60,
        })
        .await
}

async fn code(world: &World, wallet: &WalletId, operation: CeremonyOp) -> ErrorCode {
    let e = begin(world, wallet, operation).await.unwrap_err();
    e.code().unwrap_or_else(|| panic!("not an enclave error: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_blobs_are_bound_to_wallet_epoch_and_version() {
    let world = World::start("sealing").await;
    let (a, b) = (wallet("wallet-a"), wallet("wallet-b"));
    let (user_a, sealed_a) = world.dkg(&a, Scheme::Ed25519).await;
    let (_, sealed_b) = world.dkg(&b, Scheme::Ed25519).await;
    let pay = solana_payload(user_a.public_key().as_bytes());

    // The good case prepares a ceremony (abandoned here).
    let began = begin(&world, &a, sign_op(&sealed_a, 1, pay.clone(), false, None)).await.unwrap();
    world.enclave.client.abandon(began.ceremony).await.unwrap();

    // Swapped: wallet b's blob presented as wallet a's, as is and relabelled.
    assert_eq!(code(&world, &a, sign_op(&sealed_b, 1, pay.clone(), false, None)).await, ErrorCode::WrongWallet);
    let relabelled = NewShare { sealed: sealed_b.sealed.relabel(a.clone(), 1, 1), ..sealed_b.clone() };
    assert_eq!(code(&world, &a, sign_op(&relabelled, 1, pay.clone(), false, None)).await, ErrorCode::SealTampered);
    // Wrong epoch (replayed or stale).
    assert_eq!(code(&world, &a, sign_op(&sealed_a, 3, pay.clone(), false, None)).await, ErrorCode::StaleEpoch);
    // A flipped byte in the ciphertext.
    let mut bytes = sealed_a.sealed.to_bytes().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let flipped = NewShare { sealed: tssw_enclave::SealedShare::from_bytes(&bytes).unwrap(), ..sealed_a.clone() };
    assert_eq!(code(&world, &a, sign_op(&flipped, 1, pay.clone(), false, None)).await, ErrorCode::SealTampered);
    // Another format version.
    let v2 = NewShare { sealed: sealed_a.sealed.relabel(a.clone(), 1, 2), ..sealed_a.clone() };
    assert_eq!(code(&world, &a, sign_op(&v2, 1, pay.clone(), false, None)).await, ErrorCode::SealVersion);
    // A refresh with any of them fails the same way.
    let refresh = CeremonyOp::Refresh { share: sealed_b.sealed.clone(), epoch: 1 };
    assert_eq!(code(&world, &a, refresh).await, ErrorCode::WrongWallet);

    // Policy: a payload of another chain, a digest the client did not ask for, raw digests.
    let evm = ChainPayload::EvmPersonalMessage { message: b"hi".to_vec(), derivation_path: None };
    assert_eq!(code(&world, &a, sign_op(&sealed_a, 1, evm, false, None)).await, ErrorCode::WrongScheme);
    assert_eq!(
        code(&world, &a, sign_op(&sealed_a, 1, pay.clone(), false, Some([0; 32]))).await,
        ErrorCode::DigestMismatch
    );
    let raw = ChainPayload::RawDigest { digest: [0x5a; 32] };
    assert_eq!(code(&world, &a, sign_op(&sealed_a, 1, raw.clone(), false, None)).await, ErrorCode::RawDigestDisabled);

    // Enabled by the wallet's policy, a raw digest signs.
    let request = SignRequest::Ed25519 { message: vec![0x5a; 32] };
    let digest = tssw_api::sign_digest(&a, &request).unwrap();
    let r = request.clone();
    let (sig, response) = world
        .ceremony(
            &a,
            sign_op(&sealed_a, 1, raw, true, Some(digest)),
            (Operation::Sign, Scheme::Ed25519, 2, digest),
            |id| tssw_protocol::sign(id, &user_a, &[p(1), p(2)], r).unwrap(),
        )
        .await;
    assert!(matches!(response, Response::Signed(_)));
    tssw_verify::verify(&user_a.public_key(), &request, &sig).unwrap();
}

/// A batch is checked item by item with the same policy as a single signature, holds to
/// the scheme's limit, never carries an epoch check, and binds the batch digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_checked_item_by_item() {
    let world = World::start("batch").await;
    let a = wallet("wallet-batch");
    let (user, sealed) = world.dkg(&a, Scheme::Ed25519).await;
    let pay = solana_payload(user.public_key().as_bytes());
    let batch = |payloads: Vec<ChainPayload>, allow_raw: bool, expected: Option<[u8; 32]>| CeremonyOp::SignBatch {
        share: sealed.sealed.clone(),
        epoch: 1,
        payloads,
        allow_raw_digest: allow_raw,
        expected_digest: expected,
    };
    let raw = ChainPayload::RawDigest { digest: [0x5a; 32] };
    let evm = ChainPayload::EvmPersonalMessage { message: b"hi".to_vec(), derivation_path: None };
    let check = ChainPayload::EpochCheck { epoch: 1 };
    assert_eq!(
        code(&world, &a, batch(vec![pay.clone(), raw.clone()], false, None)).await,
        ErrorCode::RawDigestDisabled
    );
    assert_eq!(code(&world, &a, batch(vec![pay.clone(), evm], false, None)).await, ErrorCode::WrongScheme);
    assert_eq!(code(&world, &a, batch(vec![pay.clone(), check], false, None)).await, ErrorCode::BadRequest);
    assert_eq!(code(&world, &a, batch(Vec::new(), false, None)).await, ErrorCode::BadRequest);
    let over = vec![pay.clone(); tssw_protocol::max_batch(Scheme::Ed25519) + 1];
    assert_eq!(code(&world, &a, batch(over, false, None)).await, ErrorCode::BadRequest);
    // The single-signature digest of the first item is not the batch's.
    let single = pay.sign_request(&user.public_package().wallet_key(), false).unwrap();
    let digest = tssw_api::sign_digest(&a, &single).unwrap();
    let both = vec![pay.clone(), raw.clone()];
    assert_eq!(code(&world, &a, batch(both.clone(), true, Some(digest))).await, ErrorCode::DigestMismatch);

    // The right digest: both items signed, in order, each verified independently.
    let requests = vec![single, SignRequest::Ed25519 { message: vec![0x5a; 32] }];
    let digest = tssw_api::sign_batch_digest(&a, &requests).unwrap();
    let r = requests.clone();
    let (signatures, response) = world
        .ceremony(&a, batch(both, true, Some(digest)), (Operation::Sign, Scheme::Ed25519, 2, digest), |id| {
            tssw_protocol::sign_batch(id, &user, &[p(1), p(2)], r).unwrap()
        })
        .await;
    let Response::SignedBatch(signed) = response else { panic!("not a batch result: {response:?}") };
    assert_eq!(signed.iter().map(|s| s.request.clone()).collect::<Vec<_>>(), requests);
    for ((s, request), mine) in signed.iter().zip(&requests).zip(&signatures) {
        assert_eq!(s.signature, *mine);
        tssw_verify::verify(&user.public_key(), request, &s.signature).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_binds_identity_measurement_and_nonce() {
    let world = World::start("attest").await;
    let health = world.enclave.client.health().await.unwrap();
    assert_eq!(health.tee_mode, TeeMode::Dev);
    assert_eq!(health.notice, DEV_NOTICE);
    assert_eq!(health.identity, world.enclave_id);
    assert!(common::log_of(&world.dir).contains(DEV_NOTICE), "the log says what the backend is");

    let (policy, measurement) = world.enclave.trust();
    assert_eq!(health.measurement, Measurement::Sha256(measurement));
    let nonce = rand_nonce();
    let doc = world.enclave.client.attest(nonce).await.unwrap();
    let key = policy.dev.as_ref().unwrap().key;
    let two = TrustPolicy::dev(key, vec![[0; 32], measurement]);
    let ok = verify_attestation(&doc, &two, &nonce, now()).unwrap();
    assert_eq!((ok.identity, ok.tee_mode, ok.notice.as_str()), (world.enclave_id, TeeMode::Dev, DEV_NOTICE));
    assert!(ok.timestamp.abs_diff(now()) < 60);

    assert_eq!(verify_attestation(&doc, &policy, &rand_nonce(), now()), Err(AttestationError::WrongNonce));
    assert!(matches!(
        verify_attestation(&doc, &TrustPolicy::dev(key, vec![[0; 32]]), &nonce, now()),
        Err(AttestationError::UnknownMeasurement(_))
    ));
    assert_eq!(verify_attestation(&doc, &TrustPolicy::default(), &nonce, now()), Err(AttestationError::DevNotAccepted));
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes();
    assert_eq!(
        verify_attestation(&doc, &TrustPolicy::dev(stranger, vec![measurement]), &nonce, now()),
        Err(AttestationError::BadSignature)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_sealed_shares_and_makes_a_new_identity() {
    let mut world = World::start("restart").await;
    let w = wallet("wallet-restart");
    let (user, sealed) = world.dkg(&w, Scheme::Ed25519).await;
    let pay = solana_payload(user.public_key().as_bytes());
    let pending = begin(&world, &w, sign_op(&sealed, 1, pay.clone(), false, None)).await.unwrap();
    let (identity, health) = (world.enclave_id, world.enclave.client.health().await.unwrap());

    world.restart_enclave().await;
    assert_ne!(world.enclave_id, identity, "a new process generates a new identity");
    let after = world.enclave.client.health().await.unwrap();
    assert_eq!(after.measurement, health.measurement);
    assert_eq!(after.pending, 0);
    // What was prepared in the dead process is gone.
    let gone = world.enclave.client.run(pending.ceremony, &world.relay.base, "x").await.unwrap_err();
    assert_eq!(gone.code(), Some(ErrorCode::UnknownCeremony));
    // The blob sealed before the crash opens (same dev sealing key) and signs.
    let (request, sig) = world.sign(&w, &user, &sealed, &pay).await;
    tssw_verify::verify(&user.public_key(), &request, &sig).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_typed_errors_and_the_enclave_survives() {
    let world = World::start("malformed").await;
    let client = &world.enclave.client;
    let error = |reply: Vec<u8>| match Response::decode(&reply).unwrap() {
        Response::Error(e) => e.code,
        other => panic!("not an error: {other:?}"),
    };
    let good = Request::Attest { nonce: [1; 32] }.encode().unwrap();
    assert!(matches!(Response::decode(&client.call_raw(&good).await.unwrap()).unwrap(), Response::Attestation { .. }));
    assert_eq!(error(client.call_raw(&[WIRE_VERSION, 0xff, 0xff]).await.unwrap()), ErrorCode::BadRequest);
    let mut v9 = good.clone();
    v9[0] = 9;
    assert_eq!(error(client.call_raw(&v9).await.unwrap()), ErrorCode::UnsupportedVersion);
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(error(client.call_raw(&trailing).await.unwrap()), ErrorCode::BadRequest);
    for cut in 1..good.len() {
        assert_eq!(error(client.call_raw(&good[..cut]).await.unwrap()), ErrorCode::BadRequest, "cut at {cut}");
    }
    // An over-long varint for the variant tag: same value, non-canonical bytes.
    let noncanonical = [&[WIRE_VERSION, 0x81, 0x00][..], &good[2..]].concat();
    assert_eq!(error(client.call_raw(&noncanonical).await.unwrap()), ErrorCode::BadRequest);

    // An oversized length announcement: answered with TooLarge, then the connection closes.
    let mut raw = tokio::net::UnixStream::connect(&world.enclave.socket).await.unwrap();
    raw.write_all(&((MAX_FRAME_BYTES as u32) + 1).to_be_bytes()).await.unwrap();
    assert_eq!(error(read_frame(&mut raw).await.unwrap().unwrap()), ErrorCode::TooLarge);
    assert_eq!(raw.read(&mut [0u8; 1]).await.unwrap(), 0);
    // A frame cut short: the enclave just drops the connection.
    let mut raw = tokio::net::UnixStream::connect(&world.enclave.socket).await.unwrap();
    raw.write_all(&[0, 0, 0, 50, 1, 2, 3]).await.unwrap();
    drop(raw);

    // Unknown, repeated and abandoned ceremonies.
    let unknown = client.run(CeremonyId([7; 32]), &world.relay.base, "x").await.unwrap_err();
    assert_eq!(unknown.code(), Some(ErrorCode::UnknownCeremony));
    assert_eq!(client.abandon(CeremonyId([7; 32])).await.unwrap_err().code(), Some(ErrorCode::UnknownCeremony));
    let expired = Begin {
        wallet_id: wallet("w"),
        operation: CeremonyOp::Dkg { scheme: Scheme::Ed25519, threshold: 2 },
        enclave_index: p(2),
        others: vec![SetupParty { index: p(1), contribution: Contribution::new(&world.user, &mut rand_core::OsRng).0 }],
        expires_at: now() - 1,
    };
    assert_eq!(client.begin(expired.clone()).await.unwrap_err().code(), Some(ErrorCode::Expired));
    let far = Begin { expires_at: now() + 100_000, ..expired.clone() };
    assert_eq!(client.begin(far).await.unwrap_err().code(), Some(ErrorCode::BadRequest));
    let bad_t = Begin {
        operation: CeremonyOp::Dkg { scheme: Scheme::Ed25519, threshold: 3 },
        expires_at: now() + 60,
        ..expired.clone()
    };
    assert_eq!(client.begin(bad_t).await.unwrap_err().code(), Some(ErrorCode::BadRequest));
    let gap = Begin {
        others: vec![SetupParty { index: p(3), contribution: Contribution::new(&world.user, &mut rand_core::OsRng).0 }],
        expires_at: now() + 60,
        ..expired.clone()
    };
    assert_eq!(client.begin(gap).await.unwrap_err().code(), Some(ErrorCode::BadRequest), "DKG parties must be 1..=n");
    // A relay that is not there: the run fails as a relay error, and the prepared
    // ceremony is spent either way.
    let began = client.begin(Begin { expires_at: now() + 60, ..expired }).await.unwrap();
    let token = world.relay.token(began.ceremony, 2);
    let nowhere = client.run(began.ceremony, "ws://127.0.0.1:1", token.as_str()).await.unwrap_err();
    assert_eq!(nowhere.code(), Some(ErrorCode::Relay), "{nowhere}");
    let again = client.run(began.ceremony, &world.relay.base, "x").await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::UnknownCeremony), "a prepared ceremony runs at most once");

    assert!(client.health().await.is_ok(), "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_times_out_and_round_trip_latency() {
    // A socket that accepts and never answers.
    let dir = tssw_enclave::backend::dev::temp_dir("mute").unwrap();
    let path = dir.join("mute.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mute = EnclaveClient::new(&path).with_timeouts(Duration::from_millis(200), Duration::from_millis(300));
    let t = Instant::now();
    assert!(matches!(mute.health().await, Err(ClientError::Timeout(_))));
    assert!(t.elapsed() < Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(&dir);
    let missing = EnclaveClient::new(dir.join("nothing.sock"));
    assert!(matches!(missing.health().await, Err(ClientError::Connect { .. })));

    let world = World::start("latency").await;
    let client = &world.enclave.client;
    client.health().await.unwrap();
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        client.health().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    eprintln!(
        "enclave round trip (Health, pooled connection): p50 {:.0} µs, p99 {:.0} µs over {} requests",
        us(times[times.len() / 2]),
        us(times[times.len() * 99 / 100]),
        times.len()
    );

    // A stale pooled connection (enclave restarted) is replaced transparently.
    let mut world = world;
    world.restart_enclave().await;
    let reused = EnclaveClient::new(&world.enclave.socket);
    reused.health().await.unwrap();
    world.restart_enclave().await;
    reused.health().await.unwrap();

    // A frame written with the library's framing reaches the enclave the same way.
    let mut raw = tokio::net::UnixStream::connect(&world.enclave.socket).await.unwrap();
    write_frame(&mut raw, &Request::Health.encode().unwrap()).await.unwrap();
    assert!(matches!(Response::decode(&read_frame(&mut raw).await.unwrap().unwrap()).unwrap(), Response::Health(_)));
}

#[test]
fn nitro_backend_refuses_to_start_and_says_why() {
    let dir = tssw_enclave::backend::dev::temp_dir("nitro").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tssw-enclave"))
        .args(["--backend", "nitro", "--socket"])
        .arg(dir.join("s.sock"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = if cfg!(feature = "nitro") {
        "Nitro backend not implemented yet: NSM attestation"
    } else {
        "no `nitro` backend"
    };
    assert!(stderr.contains(why), "{stderr}");
}
