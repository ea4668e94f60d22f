//! Malformed frames and setups: every truncation, oversized input, trailing bytes and
//! random bytes give a typed error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tssw_channel::testing::{fixed_coordinator, fixed_expectation, fixed_sessions, fixed_setup};
use tssw_channel::{ChannelError, MAX_FRAME_BYTES, Opened, Session, Setup};
use tssw_protocol::{PartyIndex, Recipient, Scheme};

/// A broadcast and a direct frame from party 1 to party 2 of the fixed sessions.
fn frames() -> (Session, Vec<Vec<u8>>) {
    let (mut one, two) = fixed_sessions().unwrap();
    let (_, msgs) = tssw_protocol::dkg(one.ceremony_id(), Scheme::Ed25519, one.me(), 2, 2).unwrap();
    let direct =
        tssw_protocol::testing::forge(&msgs[0], Some(2), None, Some(Recipient::One(PartyIndex::new(2).unwrap())), None);
    let mut out = Vec::new();
    for m in [&msgs[0], &direct] {
        out.extend(one.seal(m).unwrap().into_iter().map(|o| o.bytes));
    }
    (two, out)
}

#[test]
fn every_truncation_is_a_decode_error() {
    let (mut two, frames) = frames();
    for frame in &frames {
        for len in 0..frame.len() {
            let e = two.open(&frame[..len]).unwrap_err();
            assert!(
                matches!(e, ChannelError::Decode(_) | ChannelError::UnsupportedVersion { .. }),
                "truncation to {len}: {e:?}"
            );
        }
        assert!(matches!(two.open(frame).unwrap(), Opened::Message(_)));
    }
}

#[test]
fn trailing_and_oversized() {
    let (mut two, frames) = frames();
    let mut trailing = frames[0].clone();
    trailing.push(0);
    assert_eq!(two.open(&trailing).unwrap_err(), ChannelError::Decode("trailing bytes"));
    let big = vec![1u8; MAX_FRAME_BYTES + 1];
    assert_eq!(
        two.open(&big).unwrap_err(),
        ChannelError::TooLarge { what: "frame", len: MAX_FRAME_BYTES + 1, max: MAX_FRAME_BYTES }
    );
    let mut v2 = frames[0].clone();
    v2[0] = 2;
    assert_eq!(two.open(&v2).unwrap_err(), ChannelError::UnsupportedVersion { what: "frame", version: 2 });
    assert_eq!(two.open(&[]).unwrap_err(), ChannelError::Decode("frame: empty"));
    // The genuine frames still open after all that.
    for f in &frames {
        assert!(matches!(two.open(f).unwrap(), Opened::Message(_)));
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    let (mut two, frames) = frames();
    for frame in &frames {
        for i in 0..frame.len() {
            for bit in [0x01, 0x80] {
                let mut t = frame.clone();
                t[i] ^= bit;
                assert!(two.open(&t).is_err(), "byte {i} bit {bit:#x} accepted");
            }
        }
    }
}

#[test]
fn fixed_setup_verifies() {
    let (bytes, coordinator) = fixed_setup().unwrap();
    assert_eq!(coordinator, fixed_coordinator().party_id());
    Setup::decode(&bytes).unwrap().verify(&coordinator, 0, &fixed_expectation()).unwrap();
}

#[test]
fn non_canonical_varint_rejected() {
    let (mut two, frames) = frames();
    // Byte 34 is the `from` varint (version, 32-byte ceremony id, round): 1 → 0x81 0x00.
    let mut t = frames[0].clone();
    assert_eq!(t[34], 1);
    t.splice(34..35, [0x81, 0x00]);
    assert_eq!(two.open(&t).unwrap_err(), ChannelError::Decode("frame: non-canonical encoding"));
}

/// Writes fuzz seeds when `TSSW_FUZZ_SEEDS` names the fuzz corpus directory.
#[test]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("TSSW_FUZZ_SEEDS") else { return };
    let dir = std::path::Path::new(&dir);
    let (_, frames) = frames();
    std::fs::create_dir_all(dir.join("channel_open")).unwrap();
    for (i, f) in frames.iter().enumerate() {
        std::fs::write(dir.join("channel_open").join(format!("frame-{i}")), f).unwrap();
    }
    std::fs::create_dir_all(dir.join("channel_setup")).unwrap();
    std::fs::write(dir.join("channel_setup").join("setup-0"), fixed_setup().unwrap().0).unwrap();
}

proptest! {
    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (mut two, _) = fixed_sessions().unwrap();
        prop_assert!(two.open(&bytes).is_err());
    }

    #[test]
    fn mutated_frames_never_open(i in any::<prop::sample::Index>(), v in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let (mut two, frames) = frames();
        for frame in &frames {
            let mut t = frame.clone();
            let at = i.index(t.len());
            if t[at] == v { continue; }
            t[at] = v;
            prop_assert!(two.open(&t).is_err());
            let c = cut.index(frame.len());
            prop_assert!(two.open(&frame[..c]).is_err());
        }
    }

    #[test]
    fn setup_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (_, coordinator) = fixed_setup().unwrap();
        if let Ok(s) = Setup::decode(&bytes) {
            prop_assert!(s.verify(&coordinator, 0, &fixed_expectation()).is_err());
        }
    }
}
