//! Stored shares and public packages: round trips, and untrusted bytes that never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tssw_protocol::{Error, KeyShare, PublicPackage, Scheme, testing};

#[test]
fn shares_round_trip_and_stay_usable() {
    for scheme in Scheme::ALL {
        let shares = testing::dkg(scheme, 2, 2).unwrap();
        let restored: Vec<KeyShare> =
            shares.iter().map(|s| KeyShare::from_bytes(&s.to_bytes().unwrap()).unwrap()).collect();
        assert_eq!(restored[0].public_key(), shares[0].public_key());
        assert_eq!(restored[1].epoch(), 1);
        let package = PublicPackage::from_bytes(&shares[0].public_package().to_bytes().unwrap()).unwrap();
        assert_eq!(package.public_key(), shares[0].public_key());
        let request = match scheme {
            Scheme::Ecdsa => tssw_protocol::SignRequest::Ecdsa { prehash: [9; 32], derivation_path: None },
            Scheme::Ed25519 => tssw_protocol::SignRequest::Ed25519 { message: b"m".to_vec() },
            Scheme::Bip340 => tssw_protocol::SignRequest::Bip340 { sighash: [9; 32], merkle_root: None },
        };
        testing::sign(&[&restored[0], &restored[1]], &request).unwrap();
    }
}

#[test]
fn malformed_shares_give_typed_errors() {
    let share = &testing::dkg(Scheme::Bip340, 2, 2).unwrap()[0];
    let bytes = share.to_bytes().unwrap();
    for len in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(KeyShare::from_bytes(&bytes[..len]).is_err(), "prefix {len}");
    }
    let mut versioned = bytes.to_vec();
    versioned[0] = 0;
    assert_eq!(
        KeyShare::from_bytes(&versioned).unwrap_err(),
        Error::UnsupportedVersion { what: "key share", version: 0 }
    );
    let huge = vec![1u8; tssw_protocol::MAX_SHARE_BYTES + 1];
    assert!(matches!(KeyShare::from_bytes(&huge), Err(Error::TooLarge { .. })));
    // A share whose secret was swapped for another party's no longer matches its package.
    let other = &testing::dkg(Scheme::Bip340, 2, 2).unwrap()[1];
    let mut spliced = bytes.to_vec();
    let theirs = other.to_bytes().unwrap();
    spliced.truncate(40);
    spliced.extend_from_slice(&theirs[40..]);
    assert!(KeyShare::from_bytes(&spliced).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = KeyShare::from_bytes(&bytes);
        let _ = PublicPackage::from_bytes(&bytes);
        let mut versioned = bytes.clone();
        versioned.insert(0, tssw_protocol::SHARE_VERSION);
        let _ = KeyShare::from_bytes(&versioned);
        let _ = PublicPackage::from_bytes(&versioned);
    }

    #[test]
    fn bit_flips_in_a_stored_share_never_panic(i in 0usize..100_000, bit in 0u8..8) {
        let bytes = SHARE.with(|b| b.clone());
        let mut flipped = bytes.clone();
        let at = i % flipped.len();
        flipped[at] ^= 1 << bit;
        let _ = KeyShare::from_bytes(&flipped);
    }
}

thread_local! {
    static SHARE: Vec<u8> = testing::dkg(Scheme::Ecdsa, 2, 2).unwrap()[0].to_bytes().unwrap().to_vec();
}
