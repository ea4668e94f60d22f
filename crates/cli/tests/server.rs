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

/// Starts `tssw server` with `extra` flags; its address and the process, whose stdout is
/// drained in the background (a closed pipe would kill it at its next line).
fn start_server(db: &str, extra: &[&str]) -> (String, std::process::Child) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tssw"))
        .args(["server", "--bind", "127.0.0.1:0", "--database-url", db, "--dev-issuer"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    out.read_line(&mut url).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (url.trim().strip_prefix("server listening on http://").unwrap().to_string(), child)
}

#[test]
fn server_serves_the_web_wallet_page_under_its_policy() {
    let dir = std::env::temp_dir().join(format!("tssw-cli-server-web-{}", std::process::id()));
    let page = dir.join("wallet");
    std::fs::create_dir_all(page.join("pkg")).unwrap();
    std::fs::write(page.join("index.html"), "<!doctype html><title>wallet</title>").unwrap();
    std::fs::write(page.join("pkg/tssw_web.js"), "export default 1;").unwrap();
    std::fs::write(page.join("pkg/tssw_web_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside the page").unwrap();
    let db = format!("sqlite://{}", dir.join("tssw.db").display());
    let measurement = "ab".repeat(32);
    let dev_key = "cd".repeat(32);
    let web_flags = [
        "--web-dir",
        page.to_str().unwrap(),
        "--public-url",
        "https://wallet.example",
        "--web-origin",
        "https://app.example,https://shop.example",
        "--web-eps-url",
        "https://eps.example",
        "--web-trust-measurement",
        &measurement,
        "--web-trust-dev-key",
        &dev_key,
    ];
    let (addr, mut child) = start_server(&db, &web_flags);

    let index = request(&addr, "GET", "/wallet/", "", "");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("<title>wallet</title>"));
    let csp = index.lines().find(|l| l.to_ascii_lowercase().starts_with("content-security-policy:")).unwrap();
    assert!(csp.contains("frame-ancestors https://app.example https://shop.example;"), "{csp}");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';")
            && csp.contains("connect-src 'self' https://eps.example;")
    );
    let config = request(&addr, "GET", "/wallet/config.json", "", "");
    let body: serde_json::Value = serde_json::from_str(config.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["serverUrl"], "https://wallet.example");
    assert_eq!(body["allowedOrigins"], serde_json::json!(["https://app.example", "https://shop.example"]));
    assert_eq!(body["trust"]["measurements"][0], measurement.as_str());
    assert!(request(&addr, "GET", "/wallet/pkg/tssw_web_bg.wasm", "", "").contains("application/wasm"));
    // Nothing outside the page's directory, and the API is still there.
    for path in ["/wallet/../secret.txt", "/wallet/%2e%2e/secret.txt", "/secret.txt"] {
        let answer = request(&addr, "GET", path, "", "");
        assert!(!answer.contains("outside the page"), "{path}: {answer}");
    }
    assert!(request(&addr, "GET", "/v1/health", "", "").starts_with("HTTP/1.1 200"));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    // A page without its built module, or a page origin that is not one, stops the start.
    std::fs::remove_file(page.join("pkg/tssw_web_bg.wasm")).unwrap();
    for (flags, says) in [(&web_flags[..], "scripts/build-web"), (&web_flags[..6], "--web-trust-measurement")] {
        let out = assert_cmd::Command::cargo_bin("tssw")
            .unwrap()
            .args(["server", "--bind", "127.0.0.1:0", "--database-url", &db, "--dev-issuer"])
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(says), "{says}: {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
