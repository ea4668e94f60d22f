//! Server instances are stateless: two `tssw server` processes on one PostgreSQL and two
//! `tssw relay` nodes on one Redis serve one user's requests alternately — every ceremony
//! is started on one server and its outcome read from the other, and each server hands
//! clients one relay while its enclave connection goes to the other, so every ceremony
//! crosses relay nodes. Needs `TSSW_TEST_POSTGRES_URL` and `TSSW_TEST_REDIS_URL`
//! (`.ci/run` sets both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Idp, Proc, TempDir, dev_trust, wait_enclave};
use tssw_api::ChainPayload;
use tssw_api::http::Holder;
use tssw_client::ceremony::attest;
use tssw_client::{ApiClient, Device, Holding};
use tssw_protocol::Scheme;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_two_relays_serve_one_user_alternately() {
    let (Ok(pg), Ok(redis)) = (std::env::var("TSSW_TEST_POSTGRES_URL"), std::env::var("TSSW_TEST_REDIS_URL")) else {
        eprintln!("TSSW_TEST_POSTGRES_URL and TSSW_TEST_REDIS_URL are needed: scale-out test skipped");
        return;
    };
    let dir = TempDir::new("scale-out");
    let schema = format!("t_{}", tssw_server::store::random_id());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&pg)
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    let sep = if pg.contains('?') { '&' } else { '?' };
    let database = format!("{pg}{sep}options=-c%20search_path%3D{schema}");

    let socket = dir.path("enclave.sock");
    let enclave_data = dir.path("enclave");
    let s = |p: &std::path::Path| p.display().to_string();
    let _enclave =
        Proc::start(&dir.0, "enclave", &["enclave", "--socket", &s(&socket), "--data-dir", &s(&enclave_data)], &[]);
    wait_enclave(&socket).await;

    let key_file = dir.path("relay-token.key");
    let seed = tssw_keyfile::load_or_create(&key_file).unwrap();
    let issuer_key = hex::encode(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().as_bytes());
    let prefix = format!("tssw:test:{}:", tssw_server::store::random_id());
    let relay = |name: &str| {
        let mut p = Proc::start(
            &dir.0,
            name,
            &[
                "relay",
                "--bind",
                "127.0.0.1:0",
                "--issuer-key",
                &issuer_key,
                "--redis-url",
                &redis,
                "--redis-prefix",
                &prefix,
            ],
            &[],
        );
        let url = p.wait_line("relay listening on ");
        (p, url)
    };
    let (_r1, relay1) = relay("relay-1");
    let (_r2, relay2) = relay("relay-2");

    let idp = Idp::new(&dir.0);
    let server = |name: &str, client_relay: &str, enclave_relay: &str| {
        let mut p = Proc::start(
            &dir.0,
            name,
            &[
                "server",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                &database,
                "--issuer",
                tssw_auth::DEV_ISSUER,
                "--jwks-file",
                &s(&idp.jwks),
                "--enclave-socket",
                &s(&socket),
                "--relay-url",
                client_relay,
                "--enclave-relay-url",
                enclave_relay,
                "--relay-key-file",
                &s(&key_file),
            ],
            &[],
        );
        let url = p.wait_line("server listening on ");
        (p, url)
    };
    let (_a, server_a) = server("server-a", &relay1, &relay2);
    let (_b, server_b) = server("server-b", &relay2, &relay1);

    let token = idp.token("alice");
    let apis = [ApiClient::new(&server_a, &token).unwrap(), ApiClient::new(&server_b, &token).unwrap()];
    let identity = tssw_channel::IdentityKey::random();
    apis[0].register_device(&identity.party_id(), "phone").await.unwrap();
    let trust = dev_trust(&enclave_data);
    let enclave = attest(&apis[1], &trust).await.unwrap();
    let device = |i: usize| Device {
        api: &apis[i % 2],
        identity: &identity,
        enclave: enclave.clone(),
        stall: Duration::from_secs(30),
    };

    for (n, scheme) in [Scheme::Ed25519, Scheme::Ecdsa].into_iter().enumerate() {
        // Started on one server; its outcome read through the other.
        let (start, share) = device(n).create_wallet(scheme).await.unwrap();
        assert_eq!(device(n + 1).outcome(&start).await.unwrap().epoch, Some(1));
        let wallet = start.wallet_id.clone();
        let payload = match scheme {
            Scheme::Ecdsa => ChainPayload::EvmPersonalMessage { message: b"scale out".to_vec(), derivation_path: None },
            _ => ChainPayload::SolanaOffchainMessage { message: b"scale out".to_vec() },
        };
        for i in 0..4 {
            let (request, signature) = device(n + i).sign(&wallet, &share, &payload, false).await.unwrap();
            tssw_verify::verify(&share.public_key(), &request, &signature).unwrap();
        }
        let me = Holding { identity: &identity, share: Some(&share), holder: Holder::Device };
        let refreshed = device(n).refresh(&wallet, &[me]).await.unwrap().remove(0);
        let me = Holding { identity: &identity, share: Some(&refreshed), holder: Holder::Device };
        assert!(device(n + 1).confirm(&wallet, &me).await.unwrap());
        for i in 0..2 {
            let (request, signature) = device(n + i).sign(&wallet, &refreshed, &payload, false).await.unwrap();
            tssw_verify::verify(&refreshed.public_key(), &request, &signature).unwrap();
        }
        assert_eq!(apis[0].wallet(&wallet).await.unwrap(), apis[1].wallet(&wallet).await.unwrap());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await.unwrap();
}
