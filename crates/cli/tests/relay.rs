//! `tssw relay` as a process: it prints its URL, serves metrics, refuses a bad token with
//! 401, stops on SIGTERM, and refuses a bad issuer key with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer junk\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn relay_serves_until_terminated() {
    let key = hex::encode(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tssw"))
        .args(["relay", "--bind", "127.0.0.1:0", "--issuer-key", &key])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("relay listening on ws://").unwrap().to_string();
    let metrics = get(&addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("tssw_relay_connections 0"), "{metrics}");
    let refused = get(&addr, &format!("/v1/ceremonies/{}/result", "00".repeat(32)));
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn bad_issuer_key_is_explained() {
    let out = assert_cmd::Command::cargo_bin("tssw").unwrap().args(["relay", "--issuer-key", "xyz"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--issuer-key must be 64 hex digits"), "{err}");
}

/// Two `tssw relay` processes on one Redis prefix serve the same ceremony: a frame sent
/// through one is delivered through the other. Skipped (with a note) when
/// `TSSW_TEST_REDIS_URL` is unset; fails when it is set and Redis is unreachable.
#[test]
fn two_relay_processes_share_ceremonies_through_redis() {
    let Ok(redis) = std::env::var("TSSW_TEST_REDIS_URL") else {
        eprintln!("TSSW_TEST_REDIS_URL is not set: two-process Redis test skipped");
        return;
    };
    let issuer = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let key = hex::encode(issuer.verifying_key().as_bytes());
    let prefix = format!("tssw-cli-test:{}:", std::process::id());
    let start = || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("tssw"))
            .args(["relay", "--bind", "127.0.0.1:0", "--issuer-key", &key, "--redis-url", &redis])
            .args(["--redis-prefix", &prefix])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("relay listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
        (child, base)
    };
    let (mut a, base_a) = start();
    let (mut b, base_b) = start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use tssw_channel::{Frame, FrameHeader, MessageId, Outbound, Transport};
        use tssw_protocol::{CeremonyId, PartyIndex};
        let c = CeremonyId::random();
        let token = |party| {
            let claims = tssw_relay::Claims { ceremony: c.0, party, account: "cli".into(), expires_at: u64::MAX };
            tssw_relay::Token::issue(&issuer, &claims).unwrap()
        };
        let mut one = tssw_relay::RelayTransport::connect(&base_a, c, token(1)).await.unwrap();
        let mut two = tssw_relay::RelayTransport::connect(&base_b, c, token(2)).await.unwrap();
        let p = |i| PartyIndex::new(i).unwrap();
        let header =
            FrameHeader { ceremony: c, round: 1, from: p(1), to: p(2), broadcast: false, id: MessageId([0; 32]) };
        let frame = Frame { header, body: b"across nodes".to_vec() }.encode();
        one.send(Outbound { to: p(2), bytes: frame.clone() }).await.unwrap();
        one.flush().await.unwrap();
        assert_eq!(two.recv().await.unwrap().unwrap(), frame);
    });
    for child in [&mut a, &mut b] {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(child.wait().unwrap().success());
    }
}
