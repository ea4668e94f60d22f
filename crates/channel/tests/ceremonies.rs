//! Every scheme's DKG, sign, refresh and reshare through verified setups and sessions over
//! the in-memory transport, 2-of-2 and 2-of-3, with every signature checked by an
//! independent verifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Wallet, dkg, outputs, p, run, sign_and_verify};
use sha2::{Digest, Sha256};
use tssw_channel::{MemoryNetwork, Operation};
use tssw_protocol::{KeyShare, Member, ReshareOutput, ResharePlan, Scheme};

fn refresh(wallet: &Wallet, shares: &[KeyShare]) -> Vec<KeyShare> {
    let scheme = shares[0].scheme();
    let members: Vec<_> = shares.iter().map(|s| (s.index(), usize::from(s.index().get() - 1))).collect();
    let (setup, sessions) = wallet.sessions(&members, Operation::Refresh, scheme, shares[0].threshold(), None);
    let parties = shares
        .iter()
        .zip(sessions)
        .map(|(share, s)| (tssw_protocol::refresh(setup.ceremony_id(), share).unwrap(), s))
        .collect();
    let mut out = outputs(run(&MemoryNetwork::new(), parties));
    out.sort_by_key(KeyShare::index);
    out
}

/// Reshares; `old[i]` is member i + 1's old share and member i + 1 uses identity i.
fn reshare(wallet: &Wallet, plan: &ResharePlan, old: &[Option<&KeyShare>], package: &KeyShare) -> Vec<KeyShare> {
    let members: Vec<_> = (1..=plan.members().len() as u16).map(|i| (p(i), usize::from(i - 1))).collect();
    let digest: [u8; 32] = Sha256::digest(format!("{plan:?}")).into();
    let (setup, sessions) =
        wallet.sessions(&members, Operation::Reshare, package.scheme(), plan.new_threshold(), Some(digest));
    let parties = sessions
        .into_iter()
        .map(|s| {
            let me = s.me();
            let share = old[usize::from(me.get() - 1)];
            (tssw_protocol::reshare(setup.ceremony_id(), plan, me, share, package.public_package()).unwrap(), s)
        })
        .collect();
    let mut shares: Vec<KeyShare> = outputs(run(&MemoryNetwork::new(), parties))
        .into_iter()
        .filter_map(|o| match o {
            ReshareOutput::Share(s) => Some(s),
            ReshareOutput::Retired => None,
        })
        .collect();
    shares.sort_by_key(KeyShare::index);
    shares
}

fn member(old: Option<u16>, new: Option<u16>) -> Member {
    Member { old: old.map(p), new: new.map(p) }
}

/// DKG 2-of-2 → sign → refresh → sign → reshare to 2-of-3 → sign with every pair.
fn two_of_two(scheme: Scheme) {
    let wallet = Wallet::new(3);
    let shares = dkg(&wallet, scheme, 2, 2);
    let key = shares[0].public_key();
    sign_and_verify(&wallet, &[&shares[0], &shares[1]]);
    let refreshed = refresh(&wallet, &shares);
    assert!(refreshed.iter().all(|s| s.public_key() == key && s.epoch() == 2));
    sign_and_verify(&wallet, &[&refreshed[0], &refreshed[1]]);
    let plan = ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), Some(2)), member(None, Some(3))])
        .unwrap();
    let three = reshare(&wallet, &plan, &[Some(&refreshed[0]), Some(&refreshed[1]), None], &refreshed[0]);
    assert_eq!(three.len(), 3);
    assert!(three.iter().all(|s| s.public_key() == key && s.parties() == 3));
    for pair in [[0, 1], [0, 2], [1, 2]] {
        sign_and_verify(&wallet, &[&three[pair[0]], &three[pair[1]]]);
    }
}

/// DKG 2-of-3 → sign with every pair → refresh → sign → reshare to 2-of-2 (old #2 retires,
/// old #3 becomes new #2) → sign.
fn two_of_three(scheme: Scheme) {
    let wallet = Wallet::new(3);
    let shares = dkg(&wallet, scheme, 2, 3);
    let key = shares[0].public_key();
    for pair in [[0, 1], [0, 2], [1, 2]] {
        sign_and_verify(&wallet, &[&shares[pair[0]], &shares[pair[1]]]);
    }
    let refreshed = refresh(&wallet, &shares);
    assert!(refreshed.iter().all(|s| s.public_key() == key && s.epoch() == 2));
    sign_and_verify(&wallet, &[&refreshed[1], &refreshed[2]]);
    let plan = ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), None), member(Some(3), Some(2))])
        .unwrap();
    let two = reshare(&wallet, &plan, &[Some(&refreshed[0]), Some(&refreshed[1]), Some(&refreshed[2])], &refreshed[0]);
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|s| s.public_key() == key && s.parties() == 2));
    // New #2 is held by identity 3 now; the sign helper maps share index i to identity i,
    // which is fine: identities are only channel keys here, the shares carry the key.
    sign_and_verify(&wallet, &[&two[0], &two[1]]);
}

#[test]
fn ecdsa_2_of_2() {
    two_of_two(Scheme::Ecdsa);
}

#[test]
fn ecdsa_2_of_3() {
    two_of_three(Scheme::Ecdsa);
}

#[test]
fn ed25519_2_of_2() {
    two_of_two(Scheme::Ed25519);
}

#[test]
fn ed25519_2_of_3() {
    two_of_three(Scheme::Ed25519);
}

#[test]
fn bip340_2_of_2() {
    two_of_two(Scheme::Bip340);
}

#[test]
fn bip340_2_of_3() {
    two_of_three(Scheme::Bip340);
}

#[test]
fn frost_sign_with_all_three() {
    // FROST takes more than the threshold: three signers, three-way broadcasts.
    for scheme in [Scheme::Ed25519, Scheme::Bip340] {
        let wallet = Wallet::new(3);
        let shares = dkg(&wallet, scheme, 2, 3);
        sign_and_verify(&wallet, &[&shares[0], &shares[1], &shares[2]]);
    }
}
