//! DKG → sign → refresh → sign → reshare (add, remove, change threshold) → sign with every
//! t-subset, for every scheme; the public key never changes and old and new shares never mix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{request_for, sign_and_verify, sign_with_every_subset};
use tssw_protocol::{KeyShare, Member, PartyIndex, ReshareOutput, ResharePlan, Scheme, testing};

fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

fn member(old: Option<u16>, new: Option<u16>) -> Member {
    Member { old: old.map(p), new: new.map(p) }
}

/// Runs a reshare and returns the new shares (in new-index order) and how many retired.
fn reshare(
    plan: &ResharePlan,
    old: &[Option<&KeyShare>],
    package: &tssw_protocol::PublicPackage,
) -> (Vec<KeyShare>, usize) {
    let (outputs, _) = testing::reshare(plan, old, package).unwrap();
    let mut shares = Vec::new();
    let mut retired = 0;
    for output in outputs {
        match output {
            ReshareOutput::Share(s) => shares.push(s),
            ReshareOutput::Retired => retired += 1,
        }
    }
    shares.sort_by_key(|s| s.index());
    (shares, retired)
}

fn mixing_fails(a: &KeyShare, b: &KeyShare) {
    let request = request_for(a);
    assert!(testing::sign(&[a, b], &request).is_err(), "old and new shares produced a signature");
}

fn lifecycle(scheme: Scheme) {
    let shares = testing::dkg(scheme, 2, 2).unwrap();
    let key = shares[0].public_key();
    assert!(shares.iter().all(|s| s.public_key() == key && s.epoch() == 1));
    sign_with_every_subset(&shares);

    let (refreshed, _) = testing::refresh(&shares).unwrap();
    assert!(refreshed.iter().all(|s| s.public_key() == key && s.epoch() == 2));
    sign_with_every_subset(&refreshed);
    mixing_fails(&shares[0], &refreshed[1]);

    // 2-of-2 → 2-of-3: both old members deal; member 3 is new and holds no old share.
    let plan = ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), Some(2)), member(None, Some(3))])
        .unwrap();
    let (three, retired) =
        reshare(&plan, &[Some(&refreshed[0]), Some(&refreshed[1]), None], refreshed[0].public_package());
    assert_eq!((three.len(), retired), (3, 0));
    assert!(three.iter().all(|s| s.public_key() == key && s.epoch() == 3 && s.threshold() == 2 && s.parties() == 3));
    sign_with_every_subset(&three);
    mixing_fails(&refreshed[0], &three[1]);
    if scheme == Scheme::Ecdsa {
        assert_eq!(three[0].chain_code(), shares[0].chain_code());
        assert_eq!(
            three[2].derive_public_key("m/44/60/0/0/7").unwrap(),
            shares[1].derive_public_key("m/44/60/0/0/7").unwrap()
        );
    }
    if scheme == Scheme::Bip340 {
        assert_eq!(three[2].taproot_internal_key(), shares[0].taproot_internal_key());
    }

    // 2-of-3 → 2-of-2 without old #2: old #3 becomes new #2, old #2 retires.
    let plan = ResharePlan::new(2, 2, vec![member(Some(1), Some(1)), member(Some(2), None), member(Some(3), Some(2))])
        .unwrap();
    let (two, retired) =
        reshare(&plan, &[Some(&three[0]), Some(&three[1]), Some(&three[2])], three[0].public_package());
    assert_eq!((two.len(), retired), (2, 1));
    assert!(two.iter().all(|s| s.public_key() == key && s.epoch() == 4 && s.parties() == 2));
    sign_with_every_subset(&two);
    mixing_fails(&two[0], &three[1]);

    // 2-of-3 → 3-of-5: any two old members suffice as dealers; three new members join.
    let plan = ResharePlan::new(
        2,
        3,
        vec![
            member(Some(1), Some(1)),
            member(Some(3), Some(2)),
            member(None, Some(3)),
            member(None, Some(4)),
            member(None, Some(5)),
        ],
    )
    .unwrap();
    let (five, _) = reshare(&plan, &[Some(&three[0]), Some(&three[2]), None, None, None], three[0].public_package());
    assert_eq!(five.len(), 5);
    assert!(five.iter().all(|s| s.public_key() == key && s.threshold() == 3 && s.epoch() == 4));
    sign_with_every_subset(&five);
    // Below the threshold nothing signs.
    assert!(testing::sign(&[&five[0], &five[1]], &request_for(&five[0])).is_err());
}

#[test]
fn ecdsa_lifecycle() {
    lifecycle(Scheme::Ecdsa);
}

#[test]
fn ed25519_lifecycle() {
    lifecycle(Scheme::Ed25519);
}

#[test]
fn bip340_lifecycle() {
    lifecycle(Scheme::Bip340);
}

fn dkg_shapes(scheme: Scheme) {
    for (t, n) in [(2, 3), (3, 5)] {
        let shares = testing::dkg(scheme, t, n).unwrap();
        assert_eq!(shares.len(), usize::from(n));
        sign_with_every_subset(&shares);
    }
}

#[test]
fn ecdsa_dkg_2of3_and_3of5() {
    dkg_shapes(Scheme::Ecdsa);
}

#[test]
fn ed25519_dkg_2of3_and_3of5() {
    dkg_shapes(Scheme::Ed25519);
}

#[test]
fn bip340_dkg_2of3_and_3of5() {
    dkg_shapes(Scheme::Bip340);
}

#[test]
fn frost_signs_with_more_than_the_threshold() {
    for scheme in [Scheme::Ed25519, Scheme::Bip340] {
        let shares = testing::dkg(scheme, 2, 3).unwrap();
        sign_and_verify(&[&shares[0], &shares[1], &shares[2]]);
    }
}
