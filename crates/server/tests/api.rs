//! The API over real storage: SQLite (a file in a temp dir) always, and PostgreSQL when
//! `TSSW_TEST_POSTGRES_URL` is set (`.ci/run` sets it; each test gets its own schema).
//! Requests go through the real router (`tower::ServiceExt::oneshot`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tssw_api::http::Holder;
use tssw_server::store::{Store, random_id};
use tssw_server::{AppState, Authenticator, DevIssuer, router};

struct Api {
    app: axum::Router,
    store: Store,
    dev: DevIssuer,
    _dir: Option<TempDir>,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn sqlite() -> (Store, Option<TempDir>) {
    let dir = std::env::temp_dir().join(format!("tssw-server-test-{}", random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.join("tssw.db").display())).await.unwrap();
    (store, Some(TempDir(dir)))
}

/// A fresh schema in the configured PostgreSQL, and its name; `None` (with a note) when
/// the variable is unset. Set but unreachable fails the test.
async fn postgres() -> Option<(Store, String)> {
    let Ok(url) = std::env::var("TSSW_TEST_POSTGRES_URL") else {
        eprintln!("TSSW_TEST_POSTGRES_URL is not set: PostgreSQL half of this test skipped");
        return None;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", random_id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await.unwrap();
    Some((store, schema))
}

impl Api {
    fn new(store: Store, dir: Option<TempDir>) -> Api {
        let dev = DevIssuer::random();
        let state =
            Arc::new(AppState { store: store.clone(), auth: Authenticator::new(vec![dev.config()]), ceremonies: None });
        Api { app: router(state), store, dev, _dir: dir }
    }

    fn token(&self, subject: &str) -> String {
        self.dev.mint(subject, now(), 300).unwrap()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let response = self.app.clone().oneshot(req.body(Body::from(body.to_vec())).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// Runs `test` on SQLite, then on PostgreSQL if configured.
async fn on_both<F, Fut>(test: F)
where
    F: Fn(Api) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (store, dir) = sqlite().await;
    test(Api::new(store, dir)).await;
    if let Some((store, schema)) = postgres().await {
        test(Api::new(store.clone(), None)).await;
        // The schema goes with the test (the database is shared with other runs).
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(store.pool()).await.unwrap();
    }
}

fn device_body(seed: u8, name: &str) -> Vec<u8> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
    serde_json::to_vec(&json!({"identity_key": hex::encode(key.as_bytes()), "name": name})).unwrap()
}

async fn a_wallet(api: &Api, account: &str) -> String {
    let id = random_id();
    let members = [(1, Holder::Device), (2, Holder::Enclave)];
    api.store.create_wallet(account, &id, "ed25519", 2, &members, 1).await.unwrap();
    // A real key package (the API shows its addresses) but no real sealed share: these
    // tests never reach the enclave.
    let shares = tssw_protocol::testing::dkg(tssw_protocol::Scheme::Ed25519, 2, 2).unwrap();
    let package = shares[0].public_package().to_bytes().unwrap();
    let key = shares[0].public_key().to_bytes();
    api.store.finish_dkg(&id, &key, b"sealed", &package, 2).await.unwrap();
    id
}

/// Every endpoint, called by another account with the first account's ids, answers 404 (or
/// an empty list), never the first account's data.
#[tokio::test]
async fn another_account_sees_nothing() {
    on_both(|api| async move {
        let alice = api.token("alice");
        let bob = api.token("bob");
        let (status, device) =
            api.call("POST", "/v1/devices", Some(&alice), Some("k1"), &device_body(1, "phone")).await;
        assert_eq!(status, 201, "{device}");
        let device_id = device["id"].as_str().unwrap().to_string();
        let (_, me) = api.call("GET", "/v1/me", Some(&alice), None, b"").await;
        let wallet_id = a_wallet(&api, me["account_id"].as_str().unwrap()).await;
        // Alice sees her own.
        assert_eq!(api.call("GET", &format!("/v1/devices/{device_id}"), Some(&alice), None, b"").await.0, 200);
        assert_eq!(api.call("GET", &format!("/v1/wallets/{wallet_id}"), Some(&alice), None, b"").await.0, 200);
        let ceremony = random_id();
        let alice_account = me["account_id"].as_str().unwrap();
        let note = tssw_server::store::AuditNote {
            account: Some(alice_account),
            kind: "ceremony.started",
            detail: "a test ceremony",
            now: 1,
        };
        api.store
            .start_ceremony(&ceremony, alice_account, &wallet_id, "sign", 1, 4_000_000_000, 8, &note)
            .await
            .unwrap();
        assert_eq!(api.call("GET", &format!("/v1/ceremonies/{ceremony}"), Some(&alice), None, b"").await.0, 200);
        // Bob, with Alice's ids, on every endpoint that takes one: nothing.
        let (_, doc) = api.call("GET", "/v1/openapi.json", None, None, b"").await;
        let mut walked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.contains('{') {
                continue;
            }
            let id = if path.starts_with("/v1/devices") {
                &device_id
            } else if path.starts_with("/v1/ceremonies") {
                &ceremony
            } else {
                &wallet_id
            };
            let concrete = path.replace("{id}", id).replace("{epoch}", "2");
            for method in item.as_object().unwrap().keys() {
                let (status, body) =
                    api.call(&method.to_uppercase(), &concrete, Some(&bob), Some(&random_id()), b"{}").await;
                assert_eq!(status, 404, "{method} {concrete}: {body}");
                walked += 1;
            }
        }
        assert!(walked >= 11, "walked {walked} endpoints");
        for (path, field) in [("/v1/devices", "devices"), ("/v1/wallets", "wallets"), ("/v1/audit", "entries")] {
            let (status, body) = api.call("GET", path, Some(&bob), None, b"").await;
            assert_eq!(status, 200);
            assert_eq!(body[field], json!([]), "{path}");
        }
        // Bob reusing Alice's idempotency key gets his own request run, not her response.
        let (status, his) = api.call("POST", "/v1/devices", Some(&bob), Some("k1"), &device_body(1, "phone")).await;
        assert_eq!(status, 201);
        assert_ne!(his["id"], device["id"]);
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_requests_get_401_with_a_reason() {
    on_both(|api| async move {
        let other_issuer = DevIssuer::random();
        let expired = api.dev.mint("alice", now() - 7_200, 60).unwrap();
        let good = api.token("alice");
        let claims = good.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIn0.{claims}.");
        for (token, reason) in [
            (None, "missing bearer token"),
            (Some(expired.as_str()), "expired"),
            (Some(none.as_str()), "algorithm not allowed"),
            (Some("x.y.z"), "malformed"),
        ] {
            let (status, body) = api.call("GET", "/v1/wallets", token, None, b"").await;
            assert_eq!(status, 401, "{reason}");
            assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
        }
        let forged = other_issuer.mint("alice", now(), 60).unwrap();
        assert_eq!(api.call("GET", "/v1/me", Some(&forged), None, b"").await.0, 401);
        assert_eq!(api.call("GET", "/v1/health", None, None, b"").await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_replay_conflict_and_are_required() {
    on_both(|api| async move {
        let t = api.token("carol");
        let body = device_body(3, "laptop");
        let (s1, first) = api.call("POST", "/v1/devices", Some(&t), Some("same"), &body).await;
        let (s2, again) = api.call("POST", "/v1/devices", Some(&t), Some("same"), &body).await;
        assert_eq!((s1, s2), (201, 201));
        assert_eq!(first, again);
        let (status, err) = api.call("POST", "/v1/devices", Some(&t), Some("same"), &device_body(4, "x")).await;
        assert_eq!(status, 409, "{err}");
        let (status, err) = api.call("POST", "/v1/devices", Some(&t), None, &body).await;
        assert_eq!(status, 400);
        assert!(err["message"].as_str().unwrap().contains("Idempotency-Key"));
        // A failed request is not stored: the same key works once the body is fixed.
        let (status, _) = api.call("POST", "/v1/devices", Some(&t), Some("retry"), b"{\"name\": 1}").await;
        assert_eq!(status, 400);
        assert_eq!(api.call("POST", "/v1/devices", Some(&t), Some("retry"), &device_body(5, "tab")).await.0, 201);
        // Only this key's first request was audited, once.
        let (_, audit) = api.call("GET", "/v1/audit", Some(&t), None, b"").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_refused_clearly() {
    on_both(|api| async move {
        let t = api.token("dave");
        for (body, says) in [
            (&b"not json"[..], "invalid JSON"),
            (b"{\"identity_key\": \"zz\", \"name\": \"a\"}", "64 hex digits"),
            (b"{\"identity_key\": \"00\", \"name\": \"a\", \"extra\": 1}", "unknown field"),
        ] {
            let (status, err) = api.call("POST", "/v1/devices", Some(&t), Some(&random_id()), body).await;
            assert_eq!(status, 400);
            assert!(err["message"].as_str().unwrap().contains(says), "{err}");
        }
        let long_name = device_body(6, &"n".repeat(65));
        assert_eq!(api.call("POST", "/v1/devices", Some(&t), Some("long"), &long_name).await.0, 400);
        let huge = vec![b' '; tssw_server::api::MAX_BODY_BYTES + 1];
        assert_eq!(api.call("POST", "/v1/devices", Some(&t), Some("huge"), &huge).await.0, 413);
    })
    .await;
}

/// The audit chain verifies, and a row changed behind the server's back is found.
#[tokio::test]
async fn audit_chain_verifies_and_detects_tampering() {
    on_both(|api| async move {
        for (i, who) in ["erin", "frank", "erin"].iter().enumerate() {
            let t = api.token(who);
            let key = format!("a{i}");
            let seed = 10 + u8::try_from(i).unwrap();
            assert_eq!(api.call("POST", "/v1/devices", Some(&t), Some(&key), &device_body(seed, "d")).await.0, 201);
        }
        api.store.audit(None, "config.changed", "max_wallets=5", 7).await.unwrap();
        assert_eq!(api.store.verify_audit().await.unwrap(), Ok(4));
        let pool = api.store.pool();
        sqlx::query("UPDATE audit_log SET detail = 'forged' WHERE seq = 2").execute(pool).await.unwrap();
        assert!(api.store.verify_audit().await.unwrap().is_err());
    })
    .await;
}

/// Every path and method in the OpenAPI document is routed (no 404/405), and the document
/// parses as JSON.
#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let (store, dir) = sqlite().await;
    let api = Api::new(store, dir);
    let (status, doc) = api.call("GET", "/v1/openapi.json", None, None, b"").await;
    assert_eq!(status, 200);
    let t = api.token("gina");
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "nope").replace("{epoch}", "2");
            let (status, _) =
                api.call(&method.to_uppercase(), &concrete, Some(&t), Some(&random_id()), &device_body(20, "x")).await;
            let routed = status != 405 && (status != 404 || concrete.contains("nope"));
            assert!(routed, "{method} {path} answered {status}");
            count += 1;
        }
    }
    assert_eq!(count, 21);
    assert_eq!(StatusCode::OK.as_u16(), 200);
}
