//! Backups through a real EPS on loopback (HTTP, SQLite in its own data dir, JWTs from a
//! dev issuer): create and restore with and without a passcode, wrong passcodes, the
//! lockout and its unlock, passcode changes, accounts kept apart, and every malformed or
//! mismatched backup refused with its own error without touching the EPS's counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestEps, bytes, share};
use tssw_backup::eps::{self, DEFAULT_MAX_ATTEMPTS};
use tssw_backup::{
    BackupError, Envelope, EpsClient, EpsClientError, Passcode, WalletId, Wrapping, change_passcode, create_backup,
    restore,
};
use tssw_protocol::Scheme;

fn pass(p: &str) -> Passcode {
    Passcode::new(p).unwrap()
}

async fn failures(eps: &EpsClient, wallet: &WalletId) -> Vec<u32> {
    eps.status(wallet).await.unwrap().registrations.iter().map(|r| r.failures).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_restores_with_and_without_a_passcode() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    for scheme in Scheme::ALL {
        for passcode in [None, Some(pass("482913"))] {
            let (share, meta) = share(scheme, &format!("w-{scheme}-{}", passcode.is_some()));
            let prepared = create_backup(&share, &meta, &alice, passcode.as_ref()).await.unwrap();
            prepared.activate(&alice).await.unwrap();
            let envelope = Envelope::decode(prepared.envelope()).unwrap();
            assert_eq!(envelope.info().needs_passcode, passcode.is_some());
            let restored = restore(prepared.envelope(), &meta, &alice, passcode.as_ref()).await.unwrap();
            assert_eq!(bytes(&restored), bytes(&share), "{scheme}: the restored share is the backed-up one");
            // The successful restore confirmed: the count is back to zero.
            assert_eq!(failures(&alice, &meta.wallet_id).await, vec![0]);
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passcodes_count_lock_after_n_and_the_operator_unlocks() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Ed25519, "w-lock");
    let prepared = create_backup(&share, &meta, &alice, Some(&pass("1234"))).await.unwrap();
    prepared.activate(&alice).await.unwrap();
    let envelope = prepared.envelope().to_vec();

    // A wrong passcode is a clear error with the attempts left; a right one resets the count.
    for left in [9, 8] {
        let err = restore(&envelope, &meta, &alice, Some(&pass("0000"))).await.unwrap_err();
        assert!(matches!(err, BackupError::WrongSecret { attempts_left: Some(n) } if n == left), "{err}");
    }
    assert_eq!(failures(&alice, &meta.wallet_id).await, vec![2]);
    restore(&envelope, &meta, &alice, Some(&pass("1234"))).await.unwrap();
    assert_eq!(failures(&alice, &meta.wallet_id).await, vec![0]);

    // N wrong guesses in a row: the N-th still answers (0 left), then the backup is locked,
    // for the right passcode too.
    for left in (0..DEFAULT_MAX_ATTEMPTS).rev() {
        let err = restore(&envelope, &meta, &alice, Some(&pass("9999"))).await.unwrap_err();
        assert!(matches!(err, BackupError::WrongSecret { attempts_left: Some(n) } if n == left), "{err}");
    }
    let err = restore(&envelope, &meta, &alice, Some(&pass("1234"))).await.unwrap_err();
    let BackupError::Locked(message) = &err else { panic!("expected Locked, got {err}") };
    assert!(message.contains("tssw eps unlock --wallet w-lock"), "{message}");
    let status = alice.status(&meta.wallet_id).await.unwrap();
    assert!(status.registrations[0].locked && status.registrations[0].attempts_left == 0);

    // The operator's unlock resets it and leaves an audit entry; the right passcode works.
    let reset = eps::unlock(&server.config, "w-lock", None, "identity checked by support ticket 42").await.unwrap();
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].2, DEFAULT_MAX_ATTEMPTS);
    let store = eps::store::Store::connect(&format!("sqlite://{}", server.dir.join(eps::DATABASE_FILE).display()))
        .await
        .unwrap();
    let audit = store.audit_entries().await.unwrap();
    let kinds: Vec<_> = audit.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"registration.locked") && kinds.contains(&"registration.unlocked"), "{kinds:?}");
    assert!(audit.iter().any(|e| e.detail.contains("support ticket 42")));
    let restored = restore(&envelope, &meta, &alice, Some(&pass("1234"))).await.unwrap();
    assert_eq!(bytes(&restored), bytes(&share));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_lockout_bound_holds() {
    let server = TestEps::start_with(|c| c.max_attempts = 3).await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Bip340, "w-three");
    let prepared = create_backup(&share, &meta, &alice, Some(&pass("pin"))).await.unwrap();
    for left in [2, 1, 0] {
        let err = restore(prepared.envelope(), &meta, &alice, Some(&pass("nip"))).await.unwrap_err();
        assert!(matches!(err, BackupError::WrongSecret { attempts_left: Some(n) } if n == left), "{err}");
    }
    assert!(matches!(
        restore(prepared.envelope(), &meta, &alice, Some(&pass("pin"))).await,
        Err(BackupError::Locked(_))
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_passcode_rewraps_and_the_old_one_stops_working() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Ed25519, "w-change");
    let first = create_backup(&share, &meta, &alice, Some(&pass("1111"))).await.unwrap();
    first.activate(&alice).await.unwrap();

    let second =
        change_passcode(first.envelope(), &meta, &alice, Some(&pass("1111")), Some(&pass("2222"))).await.unwrap();
    // Until the new envelope is stored and activated, the old one still opens: nothing is lost.
    restore(first.envelope(), &meta, &alice, Some(&pass("1111"))).await.unwrap();
    second.activate(&alice).await.unwrap();

    // Same share ciphertext (re-wrapped, no new DKG), same share.
    let (a, b) = (Envelope::decode(first.envelope()).unwrap(), Envelope::decode(second.envelope()).unwrap());
    assert_eq!(a.ciphertext(), b.ciphertext());
    assert_ne!(first.envelope(), second.envelope());
    let restored = restore(second.envelope(), &meta, &alice, Some(&pass("2222"))).await.unwrap();
    assert_eq!(bytes(&restored), bytes(&share));
    // The old passcode fails on the new envelope, and the old envelope (a copy the server
    // kept) no longer opens at all: its registration is gone.
    assert!(matches!(
        restore(second.envelope(), &meta, &alice, Some(&pass("1111"))).await,
        Err(BackupError::WrongSecret { .. })
    ));
    assert!(matches!(
        restore(first.envelope(), &meta, &alice, Some(&pass("1111"))).await,
        Err(BackupError::Superseded)
    ));
    assert_eq!(alice.status(&meta.wallet_id).await.unwrap().registrations.len(), 1);

    // A change with the wrong old passcode changes nothing (and counts as an attempt).
    let err = change_passcode(second.envelope(), &meta, &alice, Some(&pass("9999")), Some(&pass("3333"))).await;
    assert!(matches!(err, Err(BackupError::WrongSecret { .. })));
    assert_eq!(alice.status(&meta.wallet_id).await.unwrap().registrations.len(), 1);
    // Dropping the passcode is a change too.
    let third = change_passcode(second.envelope(), &meta, &alice, Some(&pass("2222")), None).await.unwrap();
    third.activate(&alice).await.unwrap();
    assert_eq!(bytes(&restore(third.envelope(), &meta, &alice, None).await.unwrap()), bytes(&share));
    assert!(matches!(
        restore(third.envelope(), &meta, &alice, Some(&pass("2222"))).await,
        Err(BackupError::PasscodeNotSet)
    ));
    let err = change_passcode(second.envelope(), &meta, &alice, Some(&pass("2222")), None).await.unwrap_err();
    assert!(matches!(err, BackupError::Superseded), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_backups_get_typed_errors_and_touch_nothing() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let (share, meta) = share(Scheme::Ed25519, "w-bad");
    let prepared = create_backup(&share, &meta, &alice, Some(&pass("1234"))).await.unwrap();
    prepared.activate(&alice).await.unwrap();
    let good = prepared.envelope().to_vec();
    let p = Some(pass("1234"));

    // Corrupt, truncated, old and unknown formats: refused before the EPS is asked.
    let mut trailing = good.clone();
    trailing.push(7);
    assert!(matches!(restore(&trailing, &meta, &alice, p.as_ref()).await, Err(BackupError::Corrupt(_))));
    assert!(matches!(restore(&good[..good.len() - 10], &meta, &alice, p.as_ref()).await, Err(BackupError::Truncated)));
    let mut old = good.clone();
    old[0] = 0;
    assert!(matches!(restore(&old, &meta, &alice, p.as_ref()).await, Err(BackupError::OldFormat { version: 0, .. })));
    let mut newer = good.clone();
    newer[0] = 9;
    assert!(matches!(
        restore(&newer, &meta, &alice, p.as_ref()).await,
        Err(BackupError::UnknownFormat { version: 9, .. })
    ));
    // Another wallet's backup, a stale epoch, another share of the same wallet.
    let (_, other_meta) = common::share(Scheme::Ed25519, "w-other");
    assert!(matches!(restore(&good, &other_meta, &alice, p.as_ref()).await, Err(BackupError::WrongWallet { .. })));
    let mut later = meta.clone();
    later.epoch = 2;
    assert!(matches!(
        restore(&good, &later, &alice, p.as_ref()).await,
        Err(BackupError::WrongEpoch { expected: 2, found: 1 })
    ));
    let mut other_share = meta.clone();
    other_share.share_index = 2;
    assert!(matches!(restore(&good, &other_share, &alice, p.as_ref()).await, Err(BackupError::WrongShare(_))));
    // Passcode given or missing where it should not be: no attempt used.
    assert!(matches!(restore(&good, &meta, &alice, None).await, Err(BackupError::PasscodeRequired)));
    assert_eq!(failures(&alice, &meta.wallet_id).await, vec![0], "none of the above reached the EPS's counter");

    // Edited after it was made, with the right passcode: tampering, not a wrong passcode.
    let envelope = Envelope::decode(&good).unwrap();
    let relabelled = envelope.relabel(later.clone()).encode().unwrap();
    assert!(matches!(restore(&relabelled, &later, &alice, p.as_ref()).await, Err(BackupError::Tampered)));
    let Wrapping::Eps { eps_key, issuer, subject, registration, passcode, mut salt } = envelope.wrapping().clone()
    else {
        panic!("an EPS backup");
    };
    salt[0] ^= 1;
    let edited = envelope.with_wrapping(Wrapping::Eps { eps_key, issuer, subject, registration, passcode, salt });
    assert!(matches!(restore(&edited.encode().unwrap(), &meta, &alice, p.as_ref()).await, Err(BackupError::Tampered)));
    // A flipped bit in the share ciphertext.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    assert!(matches!(restore(&flipped, &meta, &alice, p.as_ref()).await, Err(BackupError::Tampered)));
    // A backup whose recorded EPS key is not the EPS's: the proof does not verify.
    let other_key = tssw_backup::oprf::OprfKey::from_seed(&[3; 32]).unwrap().public_key().0;
    let Wrapping::Eps { issuer, subject, registration, passcode, salt, .. } = envelope.wrapping().clone() else {
        panic!("an EPS backup");
    };
    let rekeyed =
        envelope.with_wrapping(Wrapping::Eps { eps_key: other_key, issuer, subject, registration, passcode, salt });
    assert!(matches!(
        restore(&rekeyed.encode().unwrap(), &meta, &alice, p.as_ref()).await,
        Err(BackupError::EpsKeyMismatch)
    ));

    // The good backup still restores: nothing above changed it or the EPS's record.
    assert_eq!(bytes(&restore(&good, &meta, &alice, p.as_ref()).await.unwrap()), bytes(&share));
    // A share that does not match the wallet is not backed up at all.
    assert!(matches!(create_backup(&share, &other_share, &alice, None).await, Err(BackupError::ShareMismatch(_))));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_tokens_are_checked_by_the_eps_itself() {
    let server = TestEps::start().await;
    let alice = server.client("alice");
    let bob = server.client("bob");
    let (share, meta) = share(Scheme::Ed25519, "w-alice");
    let prepared = create_backup(&share, &meta, &alice, Some(&pass("1234"))).await.unwrap();
    prepared.activate(&alice).await.unwrap();

    // Bob with Alice's envelope and passcode: the EPS has no such registration for him, and
    // Alice's counter does not move.
    assert!(matches!(
        restore(prepared.envelope(), &meta, &bob, Some(&pass("1234"))).await,
        Err(BackupError::Superseded)
    ));
    assert!(bob.status(&meta.wallet_id).await.unwrap().registrations.is_empty());
    assert_eq!(failures(&alice, &meta.wallet_id).await, vec![0]);

    // No token, a garbage token, a token from another issuer: 401 from the EPS.
    for token in ["", "garbage", &tssw_auth::DevIssuer::random().mint("alice", common::now(), 60).unwrap()] {
        let client = EpsClient::new(&server.url, token).unwrap();
        let err = restore(prepared.envelope(), &meta, &client, Some(&pass("1234"))).await.unwrap_err();
        assert!(matches!(err, BackupError::Eps(EpsClientError::Unauthorized(_))), "{err}");
    }
    // A client pinned to another key refuses to back up to this EPS.
    let pinned =
        server.client("alice").pin_public_key(tssw_backup::oprf::OprfKey::from_seed(&[1; 32]).unwrap().public_key());
    assert!(matches!(
        create_backup(&share, &meta, &pinned, None).await,
        Err(BackupError::Eps(EpsClientError::KeyNotPinned { .. }))
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eps_survives_a_restart_and_rate_limits() {
    let server = TestEps::start().await;
    let (share, meta) = share(Scheme::Ed25519, "w-restart");
    let prepared = create_backup(&share, &meta, &server.client("alice"), None).await.unwrap();
    let (config, dev_token) = (server.config.clone(), server.token("alice"));
    let envelope = prepared.envelope().to_vec();
    // Keep the data dir: stop the task but not the TestEps drop.
    let dir = server.dir.clone();
    let url = server.url.clone();
    let mut server = server;
    server.dir = common::temp_dir("unused");
    server.stop().await;

    // Same data dir, new process state and port: the key and the registrations are kept.
    let mut config = config;
    config.account_rate = eps::Rate { per_second: 1, burst: 3 };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let new_url = format!("http://{}", listener.local_addr().unwrap());
    assert_ne!(new_url, url);
    let task = tokio::spawn(eps::run(listener, config, std::future::pending()));
    let client = EpsClient::new(&new_url, &dev_token).unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if client.public_key().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ready);
    assert_eq!(bytes(&restore(&envelope, &meta, &client, None).await.unwrap()), bytes(&share));
    // That restore used 2 of the burst of 3 (evaluate, confirm); the account is now limited.
    let mut limited = false;
    for _ in 0..3 {
        if let Err(EpsClientError::RateLimited) = client.status(&meta.wallet_id).await {
            limited = true;
        }
    }
    assert!(limited, "the per-account rate limit never answered 429");
    task.abort();
    let _ = std::fs::remove_dir_all(dir);
}
