//! The file keystore through its public API: passphrases, permissions, the lock, the epoch
//! life cycle, refusals that write nothing, tampering, and no secret on disk in the clear.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tssw_api::WalletId;
use tssw_channel::IdentityKey;
use tssw_client::keystore::format::{KdfParams, WalletMeta};
use tssw_client::{EpochState, Keystore, KeystoreError};
use tssw_protocol::{KeyShare, Scheme, testing};

const PASS: &[u8] = b"a long enough passphrase";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tssw-keystore-it-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir` with its bytes and mode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            if path.is_dir() {
                out.insert(path.clone(), (Vec::new(), mode));
                stack.push(path);
            } else {
                out.insert(path.clone(), (fs::read(&path).unwrap(), mode));
            }
        }
    }
    out
}

fn same(a: &KeyShare, b: &KeyShare) -> bool {
    *a.to_bytes().unwrap() == *b.to_bytes().unwrap()
}

fn meta(share: &KeyShare) -> WalletMeta {
    WalletMeta { key: share.public_package().wallet_key(), server_record: br#"{"id":"w1"}"#.to_vec() }
}

#[test]
fn epochs_move_through_pending_to_active_and_old_ones_are_destroyed() {
    let dir = temp_dir("lifecycle");
    let wallet = WalletId::new("w1").unwrap();
    let dkg = testing::dkg(Scheme::Bip340, 2, 2).unwrap();
    let (refreshed, _) = testing::refresh(&dkg).unwrap();
    let (third, _) = testing::refresh(&refreshed).unwrap();
    let (e1, e2, e3) = (&dkg[0], &refreshed[0], &third[0]);

    let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
    assert_eq!(store.wallets().unwrap(), Vec::<WalletId>::new());
    assert_eq!(store.epochs(&wallet).unwrap(), EpochState::default());
    assert!(store.active(&wallet).unwrap().is_none());

    store.put_meta(&wallet, &meta(e1)).unwrap();
    store.put_pending(&wallet, e1).unwrap();
    assert_eq!(store.epochs(&wallet).unwrap(), EpochState { active: None, pending: Some(1) });
    assert!(matches!(store.put_pending(&wallet, e2), Err(KeystoreError::PendingExists { epoch: 1, .. })));
    assert!(matches!(store.promote(&wallet, 2), Err(KeystoreError::NoPending { epoch: 2, .. })));
    store.promote(&wallet, 1).unwrap();
    store.promote(&wallet, 1).unwrap(); // again: fine
    assert!(same(&store.active(&wallet).unwrap().unwrap(), e1));
    assert!(matches!(store.put_pending(&wallet, e1), Err(KeystoreError::StaleEpoch { epoch: 1, active: 1, .. })));

    store.put_pending(&wallet, e2).unwrap();
    assert_eq!(store.epochs(&wallet).unwrap(), EpochState { active: Some(1), pending: Some(2) });
    // Until promoted, the old share is the one that signs.
    assert!(same(&store.active(&wallet).unwrap().unwrap(), e1));
    assert!(same(&store.pending(&wallet).unwrap().unwrap(), e2));
    store.discard_pending(&wallet, 2).unwrap();
    assert!(matches!(store.discard_pending(&wallet, 2), Err(KeystoreError::NoPending { .. })));
    assert_eq!(store.epochs(&wallet).unwrap(), EpochState { active: Some(1), pending: None });

    store.put_pending(&wallet, e2).unwrap();
    store.promote(&wallet, 2).unwrap();
    store.put_pending(&wallet, e3).unwrap();
    drop(store);

    // Reopened (as after a restart): the same state, epoch 1 gone from disk.
    let mut store = Keystore::open(&dir, PASS).unwrap();
    assert_eq!(store.wallets().unwrap(), vec![wallet.clone()]);
    assert_eq!(store.epochs(&wallet).unwrap(), EpochState { active: Some(2), pending: Some(3) });
    assert!(same(&store.active(&wallet).unwrap().unwrap(), e2));
    assert_eq!(store.meta(&wallet).unwrap().unwrap(), meta(e1));
    store.promote(&wallet, 3).unwrap();
    let files: Vec<String> = snapshot(&dir).keys().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert!(files.contains(&"3.active".to_string()), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("1.") || f.starts_with("2.")), "{files:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_passphrase_is_a_typed_error_and_writes_nothing() {
    let dir = temp_dir("passphrase");
    let wallet = WalletId::new("w1").unwrap();
    let share = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
    store.put_pending(&wallet, share).unwrap();
    drop(store);
    // Leftovers a crash would leave: the right passphrase cleans them, a wrong one must not.
    let torn = dir.join("wallets").join(hex::encode("w1")).join(".tmp-2.pending");
    fs::write(&torn, b"torn").unwrap();
    fs::remove_file(dir.join("lock")).unwrap();
    let before = snapshot(&dir);

    assert!(matches!(Keystore::open(&dir, b"a long enough passphrasE"), Err(KeystoreError::WrongPassphrase)));
    assert!(matches!(Keystore::open(&dir, b""), Err(KeystoreError::WrongPassphrase)));
    assert_eq!(snapshot(&dir), before, "a failed open changed the store");

    assert!(matches!(Keystore::open(temp_dir("nothing-here"), PASS), Err(KeystoreError::NotFound { .. })));
    assert!(matches!(Keystore::create(&dir, PASS, KdfParams::DEFAULT), Err(KeystoreError::AlreadyExists { .. })));
    assert!(matches!(
        Keystore::create(temp_dir("empty-pass"), b"", KdfParams::DEFAULT),
        Err(KeystoreError::EmptyPassphrase)
    ));
    let weak = KdfParams { memory_kib: 1024, ..KdfParams::DEFAULT };
    assert!(matches!(Keystore::create(temp_dir("weak"), PASS, weak), Err(KeystoreError::BadParameters(_))));
    assert!(!temp_dir("weak").exists());

    let store = Keystore::open(&dir, PASS).unwrap();
    assert!(!torn.exists());
    assert!(same(&store.pending(&wallet).unwrap().unwrap(), share));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_are_private_and_the_store_is_locked_while_open() {
    let dir = temp_dir("perms");
    let wallet = WalletId::new(".").unwrap(); // a legal wallet id that is no safe file name
    let share = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
    store.put_meta(&wallet, &meta(share)).unwrap();
    store.put_pending(&wallet, share).unwrap();
    store.set_identity(&IdentityKey::random()).unwrap();
    for (path, (_, mode)) in snapshot(&dir) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{}", path.display());
    }
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::Locked { .. })));
    assert_eq!(store.wallets().unwrap(), vec![wallet.clone()]);
    drop(store);

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::InsecurePermissions { mode: 0o755, .. })));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let share_file = dir.join("wallets").join(hex::encode(".")).join("1.pending");
    fs::set_permissions(&share_file, fs::Permissions::from_mode(0o644)).unwrap();
    let store = Keystore::open(&dir, PASS).unwrap();
    assert!(matches!(store.pending(&wallet), Err(KeystoreError::InsecurePermissions { mode: 0o644, .. })));
    drop(store);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_identity_key_and_metadata_round_trip_and_are_never_replaced_by_another_key() {
    let dir = temp_dir("identity");
    let wallet = WalletId::new("w1").unwrap();
    let share = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let other = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let identity = IdentityKey::random();
    let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
    assert!(store.identity().unwrap().is_none());
    store.set_identity(&identity).unwrap();
    assert!(matches!(store.set_identity(&IdentityKey::random()), Err(KeystoreError::IdentityExists)));

    store.put_pending(&wallet, share).unwrap();
    // Metadata or a share of another key is refused, and nothing is written.
    let before = snapshot(&dir);
    assert!(matches!(store.put_meta(&wallet, &meta(other)), Err(KeystoreError::KeyMismatch { .. })));
    assert_eq!(snapshot(&dir), before);
    store.promote(&wallet, 1).unwrap();
    let (other_refreshed, _) = testing::refresh(&testing::dkg(Scheme::Ed25519, 2, 2).unwrap()).unwrap();
    let before_put = snapshot(&dir);
    assert!(matches!(store.put_pending(&wallet, &other_refreshed[0]), Err(KeystoreError::KeyMismatch { .. })));
    assert_eq!(snapshot(&dir), before_put);

    let mut record = meta(share);
    store.put_meta(&wallet, &record).unwrap();
    record.server_record = br#"{"id":"w1","epoch":1}"#.to_vec();
    store.put_meta(&wallet, &record).unwrap(); // a new server record for the same key
    record.server_record = vec![b' '; 64 * 1024 + 1];
    assert!(matches!(store.put_meta(&wallet, &record), Err(KeystoreError::TooLarge { .. })));
    drop(store);

    let store = Keystore::open(&dir, PASS).unwrap();
    assert_eq!(store.identity().unwrap().unwrap().party_id(), identity.party_id());
    assert_eq!(store.meta(&wallet).unwrap().unwrap().server_record, br#"{"id":"w1","epoch":1}"#);
    assert!(store.meta(&WalletId::new("w2").unwrap()).unwrap().is_none());

    // No secret is on disk in the clear: not the share, not the identity seed.
    let secrets = [share.to_bytes().unwrap().to_vec(), identity.to_seed().to_vec()];
    for (path, (bytes, _)) in snapshot(&dir) {
        for secret in &secrets {
            let probe = &secret[secret.len() - 32..];
            assert!(!bytes.windows(32).any(|w| w == probe), "secret bytes in {}", path.display());
        }
    }
    drop(store);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_share_moved_to_another_wallet_or_epoch_is_refused_as_tampered() {
    let dir = temp_dir("tamper");
    let (a, b) = (WalletId::new("a").unwrap(), WalletId::new("b").unwrap());
    let share_a = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let share_b = &testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0];
    let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
    store.put_pending(&a, share_a).unwrap();
    store.put_pending(&b, share_b).unwrap();
    drop(store);
    let (dir_a, dir_b) = (dir.join("wallets").join(hex::encode("a")), dir.join("wallets").join(hex::encode("b")));
    fs::copy(dir_a.join("1.pending"), dir_b.join("1.pending")).unwrap();
    fs::rename(dir_a.join("1.pending"), dir_a.join("2.pending")).unwrap();

    let store = Keystore::open(&dir, PASS).unwrap();
    assert!(matches!(store.pending(&b), Err(KeystoreError::Tampered { .. })));
    assert!(matches!(store.pending(&a), Err(KeystoreError::Tampered { .. })));
    drop(store);

    // A flipped byte in the header's passphrase check reads as a wrong passphrase; a
    // truncated or oversized header is malformed.
    let header = fs::read(dir.join("header")).unwrap();
    let mut flipped = header.clone();
    *flipped.last_mut().unwrap() ^= 1;
    fs::write(dir.join("header"), &flipped).unwrap();
    assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::WrongPassphrase)));
    fs::write(dir.join("header"), &header[..header.len() / 2]).unwrap();
    assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::Malformed { .. })));
    fs::write(dir.join("header"), vec![1u8; 4096]).unwrap();
    assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::TooLarge { .. })));
    fs::remove_dir_all(&dir).unwrap();
}
