//! Ceremonies through the API, for every scheme, on SQLite and PostgreSQL: the enclave's
//! real socket protocol (dev backend), a real relay, the API on a real HTTP port, and the
//! client SDK as the device. Every signature is checked by `tssw-verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, STALL, Service, User};
use sha2::{Digest, Sha256};
use tssw_api::ChainPayload;
use tssw_api::http::{Holder, PayloadJson, ReshareMember, SignBatch, WalletPolicy};
use tssw_client::{Device, Holding, SignQueue};
use tssw_protocol::{KeyShare, Scheme, max_batch};

fn device(user: &User) -> Device<'_> {
    Device { api: &user.api, identity: &user.identity, enclave: user.enclave.clone(), stall: STALL }
}

/// A payload each scheme's chains sign.
fn payload(scheme: Scheme) -> ChainPayload {
    match scheme {
        Scheme::Ecdsa => {
            ChainPayload::EvmPersonalMessage { message: b"hello from the api".to_vec(), derivation_path: None }
        }
        Scheme::Ed25519 => ChainPayload::SolanaOffchainMessage { message: b"hello from the api".to_vec() },
        Scheme::Bip340 => ChainPayload::RawDigest { digest: [0x42; 32] },
    }
}

async fn create(d: &Device<'_>, scheme: Scheme) -> (String, KeyShare) {
    let (start, share) = d.create_wallet(scheme).await.unwrap();
    let status = d.outcome(&start).await.unwrap();
    assert_eq!(status.epoch, Some(1));
    let view = d.wallet(&start.wallet_id).await.unwrap();
    assert_eq!(view.status, "active");
    assert_eq!(view.epoch, 1);
    assert_eq!(view.public_key.as_deref(), Some(hex::encode(share.public_key().to_bytes()).as_str()));
    let addresses = view.addresses.unwrap();
    match scheme {
        Scheme::Ecdsa => assert!(addresses.evm.unwrap().starts_with("0x")),
        Scheme::Ed25519 => assert!(addresses.solana.is_some()),
        Scheme::Bip340 => assert!(addresses.bitcoin.unwrap().starts_with("bc1p")),
    }
    if scheme == Scheme::Bip340 {
        d.api.set_policy(&start.wallet_id, WalletPolicy { allow_raw_digest: true }).await.unwrap();
    }
    (start.wallet_id, share)
}

async fn sign_and_verify(d: &Device<'_>, wallet: &str, share: &KeyShare) {
    let raw = share.scheme() == Scheme::Bip340;
    let (request, signature) = d.sign(wallet, share, &payload(share.scheme()), raw).await.unwrap();
    tssw_verify::verify(&share.public_key(), &request, &signature).unwrap();
}

/// DKG → sign → refresh (pending, the old share still signs) → confirm (committed, the
/// old share no longer signs) → sign → reshare to 2-of-3 → confirm by both new holders →
/// every pair with the enclave signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ceremony_for_every_scheme() {
    for db in Db::all().await {
        let label = db.label;
        let service = Service::start(db).await;
        let user = service.user("alice").await;
        let d = device(&user);
        for scheme in Scheme::ALL {
            eprintln!("{label} {scheme}");
            let (wallet, share) = create(&d, scheme).await;
            sign_and_verify(&d, &wallet, &share).await;

            let me = Holding { identity: &user.identity, share: Some(&share), holder: Holder::Device };
            let refreshed = d.refresh(&wallet, &[me]).await.unwrap().remove(0);
            assert_eq!(refreshed.epoch(), 2);
            let view = d.wallet(&wallet).await.unwrap();
            assert_eq!((view.epoch, view.pending_epoch), (1, Some(2)));
            // Until every holder confirms, epoch 1 is the wallet's and still signs.
            sign_and_verify(&d, &wallet, &share).await;
            let me = Holding { identity: &user.identity, share: Some(&refreshed), holder: Holder::Device };
            assert!(d.confirm(&wallet, &me).await.unwrap());
            let view = d.wallet(&wallet).await.unwrap();
            assert_eq!((view.epoch, view.pending_epoch), (2, None));
            sign_and_verify(&d, &wallet, &refreshed).await;
            // The epoch-1 share was destroyed on the server: it signs nothing any more.
            assert!(d.sign(&wallet, &share, &payload(scheme), scheme == Scheme::Bip340).await.is_err());

            // 2-of-2 → 2-of-3: device keeps 1, enclave keeps 2, the cloud share is new (3).
            let cloud = tssw_channel::IdentityKey::random();
            user.api.register_device(&cloud.party_id(), "cloud share").await.unwrap();
            let members = [
                ReshareMember { holder: Holder::Device, old_index: Some(1), new_index: Some(1) },
                ReshareMember { holder: Holder::Enclave, old_index: Some(2), new_index: Some(2) },
                ReshareMember { holder: Holder::Cloud, old_index: None, new_index: Some(3) },
            ];
            let holdings = [
                Holding { identity: &user.identity, share: Some(&refreshed), holder: Holder::Device },
                Holding { identity: &cloud, share: None, holder: Holder::Cloud },
            ];
            let mut new = d.reshare(&wallet, refreshed.public_package(), 2, &members, &holdings).await.unwrap();
            let (dev3, cloud3) = (new.remove(0).unwrap(), new.remove(0).unwrap());
            assert_eq!((dev3.epoch(), cloud3.epoch(), dev3.parties()), (3, 3, 3));
            assert_eq!(dev3.public_key(), share.public_key());
            let dev_holding = Holding { identity: &user.identity, share: Some(&dev3), holder: Holder::Device };
            assert!(!d.confirm(&wallet, &dev_holding).await.unwrap(), "the cloud share has not confirmed yet");
            let cloud_holding = Holding { identity: &cloud, share: Some(&cloud3), holder: Holder::Cloud };
            let cloud_device = Device { api: &user.api, identity: &cloud, enclave: user.enclave.clone(), stall: STALL };
            assert!(cloud_device.confirm(&wallet, &cloud_holding).await.unwrap());
            let view = d.wallet(&wallet).await.unwrap();
            assert_eq!((view.epoch, view.threshold, view.parties), (3, 2, 3));
            assert_eq!(view.members.len(), 3);
            sign_and_verify(&d, &wallet, &dev3).await;
            sign_and_verify(&cloud_device, &wallet, &cloud3).await;
        }
        // The audit chain holds and names every ceremony.
        assert!(service.db.store.verify_audit().await.unwrap().is_ok());
    }
}

/// The `i`-th of several distinct payloads.
fn numbered(scheme: Scheme, i: usize) -> ChainPayload {
    let message = format!("batch item {i}").into_bytes();
    match scheme {
        Scheme::Ecdsa => ChainPayload::EvmPersonalMessage { message, derivation_path: None },
        Scheme::Ed25519 => ChainPayload::SolanaOffchainMessage { message },
        Scheme::Bip340 => ChainPayload::RawDigest { digest: Sha256::digest(&message).into() },
    }
}

/// A batch signs each payload (a full one at the scheme's limit too); one over the limit,
/// an empty one, one with a malformed payload and one whose digest the client did not
/// compute are refused before any protocol runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_sign_every_payload_and_bad_batches_are_refused() {
    let service = Service::start(Db::sqlite().await).await;
    let user = service.user("carol").await;
    let d = device(&user);
    for scheme in Scheme::ALL {
        let (wallet, share) = create(&d, scheme).await;
        let raw = scheme == Scheme::Bip340;
        let max = max_batch(scheme);
        for n in [3, max] {
            let payloads: Vec<ChainPayload> = (0..n).map(|i| numbered(scheme, i)).collect();
            let signed = d.sign_batch(&wallet, &share, &payloads, raw).await.unwrap();
            assert_eq!(signed.len(), n, "{scheme}");
            for (i, (request, signature)) in signed.iter().enumerate() {
                let alone = payloads[i].sign_request(&share.public_package().wallet_key(), raw).unwrap();
                assert_eq!(*request, alone, "{scheme}: item {i} signed another request");
                tssw_verify::verify(&share.public_key(), request, signature).unwrap();
            }
        }
        let over: Vec<ChainPayload> = (0..=max).map(|i| numbered(scheme, i)).collect();
        let err = d.sign_batch(&wallet, &share, &over, raw).await.unwrap_err().to_string();
        assert!(err.contains(&format!("signs 1 to {max} payloads")), "{scheme}: {err}");
        // sign_all splits what one batch cannot hold.
        let signed = d.sign_all(&wallet, &share, &over, raw).await.unwrap();
        assert_eq!(signed.len(), over.len(), "{scheme}");
        for (payload, (request, signature)) in over.iter().zip(&signed) {
            assert_eq!(*request, payload.sign_request(&share.public_package().wallet_key(), raw).unwrap());
            tssw_verify::verify(&share.public_key(), request, signature).unwrap();
        }
        // The batch still signs after the refusals.
        sign_and_verify(&d, &wallet, &share).await;

        let json = |p: &ChainPayload| PayloadJson::from_payload(p).unwrap().unwrap();
        let body = |payloads: Vec<PayloadJson>, digest: Option<String>| SignBatch {
            payloads,
            contributions: Vec::new(),
            expected_digest: digest,
            epoch: None,
        };
        let empty = user.api.sign_batch(&wallet, &body(Vec::new(), None)).await.unwrap_err();
        assert_eq!(empty.status(), Some(400), "{empty}");
        let too_many = (0..=tssw_protocol::MAX_BATCH).map(|i| json(&numbered(scheme, i))).collect();
        let too_many = user.api.sign_batch(&wallet, &body(too_many, None)).await.unwrap_err();
        assert_eq!(too_many.status(), Some(400), "{too_many}");
        let bad = PayloadJson::RawDigest { digest_hex: "not hex".into() };
        let bad = user.api.sign_batch(&wallet, &body(vec![json(&numbered(scheme, 0)), bad], None)).await.unwrap_err();
        assert!(bad.to_string().contains("payloads[1]"), "{bad}");
    }
    // A client that asked for these two payloads one at a time does not get them as a batch:
    // the enclave computes the batch digest itself and refuses the single one.
    let (wallet, share) = create(&d, Scheme::Ed25519).await;
    let payloads = [numbered(Scheme::Ed25519, 0), numbered(Scheme::Ed25519, 1)];
    let key = share.public_package().wallet_key();
    let single = payloads[0].sign_request(&key, false).unwrap();
    let wid = tssw_api::WalletId::new(wallet.clone()).unwrap();
    let digest = tssw_api::sign_digest(&wid, &single).unwrap();
    let (contribution, _ephemeral) = tssw_channel::Contribution::new(&user.identity, &mut rand_core::OsRng);
    let contribution = tssw_api::http::PartyContribution::new(share.index(), &contribution).unwrap();
    let body = SignBatch {
        payloads: payloads.iter().map(|p| PayloadJson::from_payload(p).unwrap().unwrap()).collect(),
        contributions: vec![contribution],
        expected_digest: Some(hex::encode(digest)),
        epoch: Some(share.epoch()),
    };
    let err = user.api.sign_batch(&wallet, &body).await.unwrap_err();
    assert!(err.to_string().contains("digest"), "{err}");
}

/// Sign ceremonies the server started for `wallet`, by its audit log.
async fn sign_ceremonies(service: &Service, wallet: &str) -> usize {
    let entries = service.db.store.audit_entries(None).await.unwrap();
    let wallet = format!("wallet {wallet} ");
    entries
        .iter()
        .filter(|e| e.kind == "ceremony.started" && e.detail.starts_with("sign") && e.detail.contains(&wallet))
        .count()
}

/// Concurrent single-payload requests through a `SignQueue` share ceremonies: each caller
/// gets its own request and signature (checked by tssw-verify), and the server's audit log
/// counts fewer sign ceremonies than payloads. A payload the server refuses (a raw digest,
/// which these wallets do not allow) fails its own caller only; the rest of its batch signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_queue_coalesces_concurrent_requests() {
    let service = Service::start(Db::sqlite().await).await;
    let user = service.user("erin").await;
    let d = device(&user);
    for scheme in [Scheme::Ecdsa, Scheme::Ed25519] {
        let (wallet, share) = create(&d, scheme).await;
        let key = share.public_package().wallet_key();
        // Raw digests are allowed on the device's side, so it is the server that refuses one.
        let queue = SignQueue::new(&wallet, share.clone(), true, SignQueue::CEREMONIES);
        let n = max_batch(scheme) + 8;
        let payloads: Vec<ChainPayload> = (0..n).map(|i| numbered(scheme, i)).collect();
        let before = sign_ceremonies(&service, &wallet).await;
        let signed = futures_util::future::join_all(payloads.iter().map(|p| queue.sign(&d, p))).await;
        for (payload, signed) in payloads.iter().zip(signed) {
            let (request, signature) = signed.unwrap();
            assert_eq!(request, payload.sign_request(&key, true).unwrap(), "{scheme}");
            tssw_verify::verify(&share.public_key(), &request, &signature).unwrap();
        }
        let ran = sign_ceremonies(&service, &wallet).await - before;
        assert!(ran < n / 2, "{scheme}: {ran} ceremonies for {n} payloads");
        assert_eq!(ran, queue.ceremonies(), "{scheme}");

        let bad = 3;
        let mut payloads: Vec<ChainPayload> = (0..8).map(|i| numbered(scheme, 100 + i)).collect();
        payloads[bad] = ChainPayload::RawDigest { digest: [0x42; 32] };
        let signed = futures_util::future::join_all(payloads.iter().map(|p| queue.sign(&d, p))).await;
        for (i, (payload, signed)) in payloads.iter().zip(signed).enumerate() {
            if i == bad {
                let err = signed.unwrap_err().to_string();
                assert!(err.contains("raw digest signing is disabled"), "{scheme}: {err}");
            } else {
                let (request, signature) = signed.unwrap();
                assert_eq!(request, payload.sign_request(&key, true).unwrap(), "{scheme}");
                tssw_verify::verify(&share.public_key(), &request, &signature).unwrap();
            }
        }
        // The refused batch started no ceremony; the queue counts what the server started.
        assert_eq!(sign_ceremonies(&service, &wallet).await - before, queue.ceremonies(), "{scheme}");
    }
}

/// A queue with more ceremony slots than the account may run at once still answers every
/// caller: the API client asks again after a 429 (the account's limit; nothing started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_queue_waits_out_the_account_ceremony_limit() {
    let limits = tssw_server::CeremonyLimits { per_account: 1, ..Default::default() };
    let service = Service::start_with(Db::sqlite().await, limits).await;
    let user = service.user("frank").await;
    let d = device(&user);
    let (wallet, share) = create(&d, Scheme::Ed25519).await;
    let queue = SignQueue::new(&wallet, share.clone(), false, 3);
    let payloads: Vec<ChainPayload> = (0..12).map(|i| numbered(Scheme::Ed25519, i)).collect();
    let signed = futures_util::future::join_all(payloads.iter().map(|p| queue.sign(&d, p))).await;
    let key = share.public_package().wallet_key();
    for (payload, signed) in payloads.iter().zip(signed) {
        let (request, signature) = signed.unwrap();
        assert_eq!(request, payload.sign_request(&key, false).unwrap());
        tssw_verify::verify(&share.public_key(), &request, &signature).unwrap();
    }
    assert_eq!(sign_ceremonies(&service, &wallet).await, queue.ceremonies());
}

/// A pending epoch a holder lost can be aborted: the old one stays active and signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_a_pending_epoch() {
    let service = Service::start(Db::sqlite().await).await;
    let user = service.user("bob").await;
    let d = device(&user);
    let (wallet, share) = create(&d, Scheme::Ed25519).await;
    let me = Holding { identity: &user.identity, share: Some(&share), holder: Holder::Device };
    let lost = d.refresh(&wallet, &[me]).await.unwrap();
    drop(lost);
    assert!(user.api.abort(&wallet, 2).await.unwrap());
    assert!(!user.api.abort(&wallet, 2).await.unwrap());
    let view = d.wallet(&wallet).await.unwrap();
    assert_eq!((view.epoch, view.pending_epoch), (1, None));
    sign_and_verify(&d, &wallet, &share).await;
    let err = user.api.confirm(&wallet, 2, &tssw_api::http::ConfirmEpoch { contributions: vec![] }).await.unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
}
