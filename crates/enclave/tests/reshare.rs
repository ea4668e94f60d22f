//! Reshare through the enclave, per scheme: 2-of-2 (user, enclave) → 2-of-3 (user, enclave,
//! a new cloud party) with the same key; then every pair signs, the two with the enclave
//! through it, and the old epoch's blob is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Local, World, p};
use tssw_channel::{IdentityKey, Operation};
use tssw_enclave::{CeremonyOp, ChainPayload, ErrorCode, Response, WalletId};
use tssw_protocol::{KeyShare, Member, ReshareOutput, ResharePlan, Scheme};

fn raw_request(scheme: Scheme) -> tssw_protocol::SignRequest {
    match scheme {
        Scheme::Ecdsa => tssw_protocol::SignRequest::Ecdsa { prehash: [0x33; 32], derivation_path: None },
        Scheme::Ed25519 => tssw_protocol::SignRequest::Ed25519 { message: vec![0x33; 32] },
        Scheme::Bip340 => tssw_protocol::SignRequest::Bip340 { sighash: [0x33; 32], merkle_root: None },
    }
}

async fn reshare_to_2_of_3(scheme: Scheme) {
    let world = World::start(&format!("reshare-{scheme}")).await;
    let wallet = WalletId::new(format!("reshare-{scheme}")).unwrap();
    let (user, sealed) = world.dkg(&wallet, scheme).await;
    let cloud = IdentityKey::random();
    let plan = ResharePlan::new(
        2,
        2,
        vec![
            Member { old: Some(p(1)), new: Some(p(1)) },
            Member { old: Some(p(2)), new: Some(p(2)) },
            Member { old: None, new: Some(p(3)) },
        ],
    )
    .unwrap();
    let old = user.public_package().clone();
    let digest = tssw_api::reshare_digest(&wallet, &old, &plan).unwrap();
    let op = CeremonyOp::Reshare {
        share: Some(sealed.sealed.clone()),
        epoch: 1,
        old_public: old.to_bytes().unwrap(),
        plan: plan.clone(),
    };
    let (plan_u, plan_c, old_u, old_c) = (plan.clone(), plan.clone(), old.clone(), old.clone());
    let user_ref = &user;
    let locals: Vec<Local<'_, ReshareOutput>> = vec![
        (
            p(1),
            &world.user,
            Box::new(move |id| tssw_protocol::reshare(id, &plan_u, p(1), Some(user_ref), &old_u).unwrap()),
        ),
        (p(3), &cloud, Box::new(move |id| tssw_protocol::reshare(id, &plan_c, p(3), None, &old_c).unwrap())),
    ];
    let (outs, response) =
        world.ceremony_with(&wallet, op, p(2), (Operation::Reshare, scheme, 2, digest), locals).await;
    let shares: Vec<KeyShare> = outs
        .into_iter()
        .map(|o| match o {
            ReshareOutput::Share(s) => s,
            ReshareOutput::Retired => panic!("a member of the new set retired"),
        })
        .collect();
    let Response::Reshared(Some(new)) = response else { panic!("enclave kept no share: {response:?}") };
    let (user2, cloud2) = (&shares[0], &shares[1]);
    assert_eq!(new.public_key, user.public_key(), "same key after the reshare");
    assert_eq!((new.epoch, user2.epoch(), cloud2.epoch()), (2, 2, 2));
    assert_eq!((user2.threshold(), user2.parties(), cloud2.index()), (2, 3, p(3)));

    // User + enclave, through the enclave.
    let raw = ChainPayload::RawDigest { digest: [0x33; 32] };
    let request = raw_request(scheme);
    let sign_digest = tssw_api::sign_digest(&wallet, &request).unwrap();
    let sign = |sealed: &tssw_enclave::NewShare| CeremonyOp::Sign {
        share: sealed.sealed.clone(),
        epoch: sealed.epoch,
        payload: raw.clone(),
        allow_raw_digest: true,
        expected_digest: Some(sign_digest),
    };
    for (who, share) in [(&world.user, user2), (&cloud, cloud2)] {
        let r = request.clone();
        let signers = [share.index(), p(2)];
        let locals: Vec<Local<'_, tssw_protocol::Signature>> =
            vec![(share.index(), who, Box::new(move |id| tssw_protocol::sign(id, share, &signers, r).unwrap()))];
        let (sigs, response) =
            world.ceremony_with(&wallet, sign(&new), p(2), (Operation::Sign, scheme, 2, sign_digest), locals).await;
        assert!(matches!(response, Response::Signed(_)));
        tssw_verify::verify(&user.public_key(), &request, &sigs[0]).unwrap();
    }
    // User + cloud, without the enclave.
    let sig = tssw_protocol::testing::sign(&[user2, cloud2], &request).unwrap();
    tssw_verify::verify(&user.public_key(), &request, &sig).unwrap();

    // The epoch-1 blob is stale now.
    let stale = world.enclave.client.begin(tssw_enclave::Begin {
        wallet_id: wallet.clone(),
        operation: CeremonyOp::Sign {
            share: sealed.sealed.clone(),
            epoch: 2,
            payload: raw.clone(),
            allow_raw_digest: true,
            expected_digest: None,
        },
        enclave_index: p(2),
        others: vec![tssw_channel::SetupParty {
            index: p(1),
            contribution: tssw_channel::Contribution::new(&world.user, &mut rand_core::OsRng).0,
        }],
        expires_at: common::now() + 60,
    });
    assert_eq!(stale.await.unwrap_err().code(), Some(ErrorCode::StaleEpoch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa() {
    reshare_to_2_of_3(Scheme::Ecdsa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519() {
    reshare_to_2_of_3(Scheme::Ed25519).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bip340() {
    reshare_to_2_of_3(Scheme::Bip340).await;
}
