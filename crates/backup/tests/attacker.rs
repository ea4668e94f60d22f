//! The attackers of SECURITY.md, each given everything one side stores.
//!
//! - The wallet server (or whoever steals its database): the envelope alone opens with
//!   no passcode guess and no OPRF key it could make up.
//! - The EPS (or whoever steals its key file and database): holds no ciphertext, salt, key
//!   or share, so it has nothing to decrypt.
//! - Both together, with a passcode set: every guess needs Argon2id of the guess — the code
//!   path gives no way around it — and the EPS's OPRF evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestEps, bytes, share};
use tssw_backup::eps::{DATABASE_FILE, key::KEY_FILE, key::read_seed};
use tssw_backup::kdf::{self, Argon2Profile};
use tssw_backup::oprf::{self, OprfKey};
use tssw_backup::{BackupError, Envelope, Passcode, Wrapping, create_backup, open_with_oprf_output};
use tssw_protocol::Scheme;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the envelope says about its EPS binding (public: the server can read it too).
fn binding(envelope: &[u8]) -> (Vec<u8>, [u8; 16], bool) {
    let e = Envelope::decode(envelope).unwrap();
    let Wrapping::Eps { issuer, subject, registration, passcode, .. } = e.wrapping().clone() else { panic!() };
    (oprf::info(&issuer, &subject, &e.meta().wallet_id, &registration), registration, passcode.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_servers_data_alone_opens_nothing() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Ed25519, "w-server-attack");
    let plain = bytes(&share);
    for passcode in [None, Some(Passcode::new("271828").unwrap())] {
        let envelope = create_backup(&share, &meta, &alice, passcode.as_ref()).await.unwrap().envelope().to_vec();
        // No share bytes in the clear.
        assert!(!contains(&envelope, &plain[plain.len() - 64..]));
        let (info, _, _) = binding(&envelope);
        // The server knows the format and the public info but not the EPS key. Any key it
        // makes up (here: many), with the right passcode even, gives a wrong K.
        for seed in 0..16u8 {
            let fake = OprfKey::from_seed(&[seed; 32]).unwrap();
            let input = kdf::oprf_input(&meta.wallet_id, passcode.as_ref().map(|_| b"271828".as_slice()));
            let out = fake.evaluate_unblinded(&input, &info).unwrap();
            let pw = passcode
                .as_ref()
                .map(|_| kdf::argon2id(b"271828", &kdf::passcode_salt(&info), Argon2Profile::Interactive).unwrap());
            assert!(matches!(
                open_with_oprf_output(&envelope, &meta, &out, pw.as_ref()),
                Err(BackupError::WrongSecret { .. })
            ));
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eps_data_alone_holds_nothing_to_decrypt_and_both_still_need_argon2id_per_guess() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Ed25519, "w-eps-attack");
    let right = b"0042";
    let prepared = create_backup(&share, &meta, &alice, Some(&Passcode::new("0042").unwrap())).await.unwrap();
    prepared.activate(&alice).await.unwrap();
    let envelope = prepared.envelope().to_vec();

    // Everything the EPS stores: its key file and its database file.
    let seed = read_seed(&server.dir.join(KEY_FILE)).unwrap();
    // The database file and its journal/WAL files: the EPS's whole data directory.
    let mut db = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&server.dir).unwrap() {
        let path = entry.unwrap().path();
        files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        db.extend(std::fs::read(&path).unwrap());
    }
    assert!(files.iter().any(|f| f == DATABASE_FILE) && files.iter().any(|f| f == KEY_FILE), "{files:?}");
    let decoded = Envelope::decode(&envelope).unwrap();
    let Wrapping::Eps { salt, .. } = decoded.wrapping() else { panic!() };
    let plain = bytes(&share);
    for (what, needle) in [
        ("share ciphertext", &decoded.ciphertext()[..32]),
        ("envelope salt", &salt[..]),
        ("share bytes", &plain[plain.len() - 64..]),
    ] {
        assert!(!contains(&db, needle), "the EPS database holds the {what}");
        assert!(!contains(seed.as_ref(), needle), "the EPS key file holds the {what}");
    }

    // With the envelope as well (both sides compromised), offline: the stolen key evaluates
    // the OPRF without the EPS and its counter, but each guess still needs Argon2id.
    let key = OprfKey::from_seed(&seed).unwrap();
    let (info, _, has_passcode) = binding(&envelope);
    assert!(has_passcode);
    let argon = |guess: &[u8]| kdf::argon2id(guess, &kdf::passcode_salt(&info), Argon2Profile::Interactive).unwrap();
    let oprf = |guess: &[u8]| key.evaluate_unblinded(&kdf::oprf_input(&meta.wallet_id, Some(guess)), &info).unwrap();
    let mut found = Vec::new();
    for guess in ["0000", "1234", "0042", "9999"] {
        let g = guess.as_bytes();
        if open_with_oprf_output(&envelope, &meta, &oprf(g), Some(&argon(g))).is_ok() {
            found.push(guess);
        }
    }
    assert_eq!(found, ["0042"], "only the right passcode opens, and only through OPRF + Argon2id");
    // The right passcode with the OPRF but without its Argon2id output (nothing, a plain
    // hash, or Argon2id with other parameters) opens nothing: the work cannot be skipped.
    let other_cost = tssw_backup::kdf::argon2id(right, &kdf::passcode_salt(&info), Argon2Profile::Sensitive).unwrap();
    let plain_hash: kdf::Key = zeroize::Zeroizing::new(<sha2::Sha256 as sha2::Digest>::digest(right).into());
    for pw in [None, Some(&plain_hash), Some(&other_cost)] {
        assert!(open_with_oprf_output(&envelope, &meta, &oprf(right), pw).is_err());
    }
    // And the Argon2id output without the OPRF (the EPS key) opens nothing either.
    assert!(open_with_oprf_output(&envelope, &meta, &[0u8; 64], Some(&argon(right))).is_err());
    let opened = open_with_oprf_output(&envelope, &meta, &oprf(right), Some(&argon(right))).unwrap();
    assert_eq!(bytes(&opened), plain);
    server.stop().await;
}
