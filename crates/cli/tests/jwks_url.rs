//! `tssw server --jwks-url`: the identity provider's keys are fetched at start and again
//! every refresh interval, so a key rotation at the provider reaches the running server;
//! a URL that does not answer, or plain http to a non-loopback host, stops it from starting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use common::{Proc, TempDir};
use tssw_auth::DevIssuer;

fn jwks(issuer: &DevIssuer) -> String {
    serde_json::to_string(&issuer.config().keys).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn status(url: &str, token: &str) -> u16 {
    let client = tssw_client::api::http_client().unwrap();
    client.get(format!("{url}/v1/wallets")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_provider_keys_reach_the_running_server() {
    let dir = TempDir::new("jwks-url");
    let (old, new) = (DevIssuer::random(), DevIssuer::random());
    let served = Arc::new(Mutex::new(jwks(&old)));
    let body = served.clone();
    let app = axum::Router::new().route("/jwks.json", get(move || async move { body.lock().unwrap().clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let db = format!("sqlite://{}", dir.path("server.db").display());
    let args = |url: &str| -> Vec<String> {
        ["server", "--bind", "127.0.0.1:0", "--database-url", &db, "--issuer", tssw_auth::DEV_ISSUER, "--jwks-url", url]
            .iter()
            .map(|s| s.to_string())
            .chain(["--jwks-refresh-secs".to_string(), "1".to_string()])
            .collect()
    };
    let start = |name: &str, url: &str| {
        let args = args(url);
        Proc::start(&dir.0, name, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    let mut server = start("server", &idp);
    let url = server.wait_line("server listening on");
    let (old_token, new_token) = (old.mint("alice", now(), 600).unwrap(), new.mint("alice", now(), 600).unwrap());
    assert_eq!(status(&url, &old_token).await, 200);
    assert_eq!(status(&url, &new_token).await, 401);

    // The provider rotates its key; within a few refresh intervals the server follows.
    *served.lock().unwrap() = jwks(&new);
    let mut rotated = false;
    for _ in 0..100 {
        if status(&url, &new_token).await == 200 {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rotated, "the server never took the provider's new key; log:\n{}", server.log_text());
    assert_eq!(status(&url, &old_token).await, 401);

    // The provider answers garbage: the keys held are kept.
    *served.lock().unwrap() = "not a JWK set".into();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(status(&url, &new_token).await, 200);
    assert!(server.log_text().contains("keeping the JWKS"), "{}", server.log_text());

    // No server starts without its provider's keys.
    for (name, bad) in [("unreachable", "http://127.0.0.1:9/jwks.json"), ("plain-http", "http://idp.example/jwks.json")]
    {
        let mut refused = start(name, bad);
        let exit = refused.wait_exit(Duration::from_secs(30)).expect("the server started without its keys");
        assert!(!exit.success());
        let log = refused.log_text();
        assert!(log.contains("tssw server:") && log.contains("JWKS") || log.contains("jwks-url"), "{log}");
    }
}
