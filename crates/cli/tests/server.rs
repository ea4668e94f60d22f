//! `tssw server` and `tssw audit verify` as processes, on SQLite in a temp dir: the server
//! prints its URL and a dev token, answers with that token, and the audit chain it wrote
//! verifies; a server without any issuer refuses to start and says what to pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn request(addr: &str, method: &str, path: &str, token: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {token}\r\n\
         idempotency-key: k1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn server_serves_with_a_dev_token_and_its_audit_log_verifies() {
    let dir = std::env::temp_dir().join(format!("tssw-cli-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("tssw.db").display());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tssw"))
        .args(["server", "--bind", "127.0.0.1:0", "--database-url", &db, "--dev-issuer"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut url, mut token) = (String::new(), String::new());
    out.read_line(&mut url).unwrap();
    out.read_line(&mut token).unwrap();
    let addr = url.trim().strip_prefix("server listening on http://").unwrap().to_string();
    let token = token.trim().rsplit(' ').next().unwrap().to_string();
    let key = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    let created = request(&addr, "POST", "/v1/devices", &token, &format!(r#"{{"identity_key":"{key}","name":"cli"}}"#));
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert!(request(&addr, "GET", "/v1/devices", "not-a-token", "").starts_with("HTTP/1.1 401"));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    let verify = assert_cmd::Command::cargo_bin("tssw")
        .unwrap()
        .args(["audit", "verify", "--database-url", &db])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("(entries: 1)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_without_an_issuer_says_what_to_pass() {
    let out = assert_cmd::Command::cargo_bin("tssw")
        .unwrap()
        .args(["server", "--database-url", "sqlite:///nonexistent/never-opened.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev-issuer"));
}
