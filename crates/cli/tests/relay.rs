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
