//! The EPS store on SQLite always and on PostgreSQL when `TSSW_TEST_POSTGRES_URL` is set
//! (`.ci/run` sets it; each run gets its own schema, dropped afterwards): the lockout count
//! never passes its bound under concurrent evaluations, verifiers are set once, activation
//! keeps one registration, and a wallet server's database is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tssw_backup::eps::store::{Account, Attempt, Check, SetVerifier, Store, StoreError};

async fn exercise(store: Store) {
    let alice = Account { issuer: "iss".into(), subject: "alice".into() };
    let bob = Account { issuer: "iss".into(), subject: "bob".into() };
    let (a, b) = ([1u8; 16], [2u8; 16]);
    store.create(&alice, "w", &a, 1, 4).await.unwrap();
    assert_eq!(store.count_attempt(&alice, "w", &a, 10).await.unwrap(), Attempt::Incomplete);
    assert_eq!(store.set_verifier(&alice, "w", &a, &[9; 32]).await.unwrap(), SetVerifier::Set);
    assert_eq!(store.set_verifier(&alice, "w", &a, &[9; 32]).await.unwrap(), SetVerifier::Set, "idempotent");
    assert_eq!(store.set_verifier(&alice, "w", &a, &[8; 32]).await.unwrap(), SetVerifier::Conflict);
    assert_eq!(store.set_verifier(&bob, "w", &a, &[9; 32]).await.unwrap(), SetVerifier::NotFound);

    // 40 concurrent evaluations against a bound of 10: exactly 10 are counted.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (store, alice) = (store.clone(), alice.clone());
        tasks.push(tokio::spawn(async move { store.count_attempt(&alice, "w", &a, 10).await.unwrap() }));
    }
    let mut counted = Vec::new();
    for t in tasks {
        if let Attempt::Counted { failures } = t.await.unwrap() {
            counted.push(failures);
        }
    }
    counted.sort();
    assert_eq!(counted, (1..=10).collect::<Vec<_>>());
    assert_eq!(store.count_attempt(&alice, "w", &a, 10).await.unwrap(), Attempt::Locked);
    assert_eq!(store.count_attempt(&bob, "w", &a, 10).await.unwrap(), Attempt::NotFound);
    assert_eq!(store.check(&alice, "w", &a, &[8; 32], false).await.unwrap().0, Check::Wrong { failures: 10 });
    assert_eq!(store.check(&alice, "w", &a, &[9; 32], false).await.unwrap().0, Check::Matched);
    assert_eq!(store.count_attempt(&alice, "w", &a, 10).await.unwrap(), Attempt::Counted { failures: 1 });

    // Activation keeps one registration; the per-wallet cap evicts the oldest inactive one.
    store.create(&alice, "w", &b, 2, 4).await.unwrap();
    store.set_verifier(&alice, "w", &b, &[7; 32]).await.unwrap();
    assert_eq!(store.check(&alice, "w", &b, &[7; 32], true).await.unwrap(), (Check::Matched, 1));
    let left = store.registrations(&alice, "w").await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].active && left[0].id == b);
    for i in 0..5u8 {
        store.create(&alice, "w", &[10 + i; 16], 3 + i64::from(i), 3).await.unwrap();
    }
    let ids: Vec<[u8; 16]> = store.registrations(&alice, "w").await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, [b, [13; 16], [14; 16]], "the active one stays, the oldest inactive ones go");

    // Operator unlock resets only registrations with failures, of the named account.
    store.create(&bob, "w", &[30; 16], 9, 4).await.unwrap();
    store.set_verifier(&bob, "w", &[30; 16], &[1; 32]).await.unwrap();
    store.count_attempt(&bob, "w", &[30; 16], 10).await.unwrap();
    let reset = store.unlock("w", Some(&bob)).await.unwrap();
    assert_eq!(reset, vec![(bob.clone(), [30; 16], 1)]);
    store.audit("registration.unlocked", "test", 1).await.unwrap();
    assert_eq!(store.audit_entries().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_on_sqlite() {
    let dir = common::temp_dir("store");
    std::fs::create_dir_all(&dir).unwrap();
    exercise(Store::connect(&format!("sqlite://{}", dir.join("eps.db").display())).await.unwrap()).await;

    // A database that holds the wallet server's tables is refused.
    let shared = format!("sqlite://{}", dir.join("server.db").display());
    {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("{shared}?mode=rwc")).await.unwrap();
        sqlx::query("CREATE TABLE wallets (id TEXT PRIMARY KEY)").execute(&mut conn).await.unwrap();
    }
    assert!(matches!(Store::connect(&shared).await, Err(StoreError::SharedWithWalletServer)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_on_postgres() {
    let Ok(url) = std::env::var("TSSW_TEST_POSTGRES_URL") else {
        eprintln!("TSSW_TEST_POSTGRES_URL is not set: PostgreSQL half of the store test skipped");
        return;
    };
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}"));
    let mut r = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
    let schema = format!("eps_{}", hex::encode(r));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await.unwrap();
    exercise(store).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut conn).await.unwrap();
}
