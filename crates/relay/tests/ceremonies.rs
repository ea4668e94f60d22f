//! Refresh and reshare over the relay, for every scheme: DKG 2-of-2 → refresh (same key,
//! next epoch, new shares that sign, and that do not sign together with old ones) →
//! reshare to 2-of-3 (same key, next epoch; every pair of the three signs, and no new
//! share signs with a pre-reshare one). Each party runs its own channel session over its
//! own WebSocket, and every signature is checked by an independent verifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    Relay, bounded, dkg, member_sessions, no_wrong_signature, over_relay, p, request_for, run_each, sign_parties,
    verify,
};
use tssw_channel::{DriveError, IdentityKey, Operation};
use tssw_protocol::{KeyShare, Member, PartyIndex, ReshareOutput, ResharePlan, Scheme};

/// The wallet: identity `ids[i]` holds share index i + 1 in every key of these tests.
struct Wallet {
    relay: Relay,
    ids: [IdentityKey; 3],
    coordinator: IdentityKey,
}

impl Wallet {
    fn members(&self, indices: impl IntoIterator<Item = PartyIndex>) -> Vec<(PartyIndex, &IdentityKey)> {
        indices.into_iter().map(|i| (i, &self.ids[usize::from(i.get() - 1)])).collect()
    }

    async fn refresh(&self, shares: &[KeyShare]) -> Vec<KeyShare> {
        let scheme = shares[0].scheme();
        let members = self.members(shares.iter().map(KeyShare::index));
        let (id, sessions) =
            member_sessions(&members, &self.coordinator, Operation::Refresh, scheme, shares[0].threshold(), None);
        let parties =
            shares.iter().zip(sessions).map(|(share, s)| (tssw_protocol::refresh(id, share).unwrap(), s)).collect();
        let (mut out, _) = over_relay(&self.relay, parties, None).await;
        out.sort_by_key(KeyShare::index);
        out
    }

    /// Reshares under `plan`; member i + 1 (identity i) deals `old[i]` if it holds one.
    async fn reshare(&self, plan: &ResharePlan, old: &[Option<&KeyShare>], package: &KeyShare) -> Vec<KeyShare> {
        let members = self.members((1..=plan.members().len() as u16).map(p));
        // The setup binds the plan, so no party can be talked into another one.
        let digest = common::setup_digest(plan);
        let (id, sessions) = member_sessions(
            &members,
            &self.coordinator,
            Operation::Reshare,
            package.scheme(),
            plan.new_threshold(),
            Some(digest),
        );
        let parties = sessions
            .into_iter()
            .map(|s| {
                let me = s.me();
                let share = old[usize::from(me.get() - 1)];
                (tssw_protocol::reshare(id, plan, me, share, package.public_package()).unwrap(), s)
            })
            .collect();
        let (outputs, _) = over_relay(&self.relay, parties, None).await;
        let mut shares: Vec<KeyShare> = outputs
            .into_iter()
            .map(|o| match o {
                ReshareOutput::Share(s) => s,
                ReshareOutput::Retired => panic!("nobody retires in this plan"),
            })
            .collect();
        shares.sort_by_key(KeyShare::index);
        shares
    }

    /// Signs with exactly these shares and checks every signer's signature.
    async fn sign_and_verify(&self, shares: &[&KeyShare]) {
        let request = request_for(shares[0].scheme());
        let parties = sign_parties(&self.ids, &self.coordinator, shares, &request);
        let (sigs, _) = over_relay(&self.relay, parties, None).await;
        assert_eq!(sigs.len(), shares.len());
        for sig in sigs {
            verify(&shares[0].public_key(), &request, &sig).unwrap();
        }
    }

    /// Signs with shares of two epochs: no party comes out with a signature.
    async fn mixed_epochs_do_not_sign(&self, shares: &[&KeyShare]) {
        let request = request_for(shares[0].scheme());
        let parties = sign_parties(&self.ids, &self.coordinator, shares, &request);
        let out = run_each(&self.relay, parties, |t| t.with_stall_timeout(Duration::from_secs(2))).await;
        assert_eq!(no_wrong_signature(&out, &shares[0].public_key(), &request), 0);
        for (party, result, _, _) in &out {
            // Each side finds the other's contribution invalid and blames it (the stall
            // timeout only bounds the run should that ever change).
            assert!(matches!(result, Err(DriveError::Protocol(_))), "party {party}: {result:?}");
        }
    }
}

fn member(old: Option<u16>, new: Option<u16>) -> Member {
    Member { old: old.map(p), new: new.map(p) }
}

async fn refresh_then_reshare(scheme: Scheme, relay: Relay) {
    let wallet = Wallet {
        relay,
        ids: [IdentityKey::random(), IdentityKey::random(), IdentityKey::random()],
        coordinator: IdentityKey::random(),
    };
    let shares = dkg(&wallet.relay, &wallet.ids[..2], &wallet.coordinator, scheme).await;
    let key = shares[0].public_key();
    assert!(shares.iter().all(|s| s.public_key() == key && s.epoch() == 1));

    let refreshed = wallet.refresh(&shares).await;
    assert_eq!(refreshed.len(), 2);
    for (old, new) in shares.iter().zip(&refreshed) {
        assert_eq!((new.public_key(), new.epoch(), new.index()), (key.clone(), 2, old.index()), "{scheme}");
        assert_eq!((new.threshold(), new.parties()), (2, 2));
    }
    wallet.sign_and_verify(&[&refreshed[0], &refreshed[1]]).await;
    wallet.mixed_epochs_do_not_sign(&[&shares[0], &refreshed[1]]).await;

    let plan = ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), Some(2)), member(None, Some(3))])
        .unwrap();
    let three = wallet.reshare(&plan, &[Some(&refreshed[0]), Some(&refreshed[1]), None], &refreshed[0]).await;
    assert_eq!(three.len(), 3);
    for (i, share) in three.iter().enumerate() {
        assert_eq!(share.public_key(), key, "{scheme}");
        assert_eq!((share.index(), share.epoch(), share.threshold(), share.parties()), (p(i as u16 + 1), 3, 2, 3));
    }
    for pair in [[0, 1], [0, 2], [1, 2]] {
        wallet.sign_and_verify(&[&three[pair[0]], &three[pair[1]]]).await;
    }
    wallet.mixed_epochs_do_not_sign(&[&refreshed[0], &three[1]]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_refresh_and_reshare_over_the_relay() {
    bounded(refresh_then_reshare(Scheme::Ecdsa, Relay::start(|_| {}).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_refresh_and_reshare_over_the_relay() {
    bounded(refresh_then_reshare(Scheme::Ed25519, Relay::start(|_| {}).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bip340_refresh_and_reshare_over_the_relay() {
    bounded(refresh_then_reshare(Scheme::Bip340, Relay::start(|_| {}).await)).await;
}

/// The same over two relay nodes sharing Redis: party i starts on node (i - 1) mod 2, so
/// every ceremony has parties on both nodes.
async fn over_two_redis_nodes(test: &str, scheme: Scheme) {
    if let Some(relay) = Relay::redis_pair(test).await {
        bounded(refresh_then_reshare(scheme, relay)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_refresh_and_reshare_over_two_redis_nodes() {
    over_two_redis_nodes("ecdsa_refresh_and_reshare_over_two_redis_nodes", Scheme::Ecdsa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_refresh_and_reshare_over_two_redis_nodes() {
    over_two_redis_nodes("ed25519_refresh_and_reshare_over_two_redis_nodes", Scheme::Ed25519).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bip340_refresh_and_reshare_over_two_redis_nodes() {
    over_two_redis_nodes("bip340_refresh_and_reshare_over_two_redis_nodes", Scheme::Bip340).await;
}
