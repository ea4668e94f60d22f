//! The web wallet's page, served under `/wallet/` on the server's own origin: the iframe
//! that holds the user's share in the browser (`web/wallet/`, with the wasm module that
//! `scripts/build-web` puts in `pkg/`), and `/wallet/config.json`, which tells it where the
//! API, the encryption proxy and the trusted enclave measurements are, and which embedding
//! origins it answers.
//!
//! Every response carries a Content Security Policy: scripts only from this origin (and
//! wasm compilation), connections only to this origin, the relay and the EPS, and
//! `frame-ancestors` limited to the allowed embedding origins — so no other site can frame
//! the wallet (clickjacking its confirmation screen) and no injected script can run.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// What the wallet page is served with.
#[derive(Clone, Debug)]
pub struct WalletPage {
    /// The page's files (`web/wallet`), with the built wasm module in `pkg/`.
    pub dir: PathBuf,
    /// The EPS's base URL, for backups (`None`: the page offers none).
    pub eps_url: Option<String>,
    /// The relay URLs ceremonies use (`ws://…`), which the page's WebSockets reach.
    pub relay_urls: Vec<String>,
    /// Origins allowed to embed the page and to talk to it (`https://app.example`).
    pub allowed_origins: Vec<String>,
    /// The trust policy the page's client applies to the enclave, as the client
    /// configuration writes it (`{measurements, dev_attestation_key}`).
    pub trust: serde_json::Value,
}

/// The routes under `/wallet/` for `page`, served by the server at `server_url` (its own
/// public base URL, which the page calls the API at). Refuses a directory without the
/// built module, naming the command that builds it.
pub fn router(page: &WalletPage, server_url: &str) -> Result<Router, String> {
    for file in ["index.html", "pkg/tssw_web.js", "pkg/tssw_web_bg.wasm"] {
        if !page.dir.join(file).is_file() {
            return Err(format!(
                "the web wallet directory {} has no {file}: build it with scripts/build-web",
                page.dir.display()
            ));
        }
    }
    if let Some(bad) = page.allowed_origins.iter().find(|o| !is_origin(o)) {
        return Err(format!("{bad:?} is not a web origin (scheme://host[:port], no path)"));
    }
    let config = serde_json::json!({
        "serverUrl": server_url.trim_end_matches('/'),
        "epsUrl": page.eps_url,
        "trust": page.trust,
        "allowedOrigins": page.allowed_origins,
    });
    let csp = HeaderValue::from_str(&policy(page)).map_err(|_| "the page's URLs do not fit in a header".to_string())?;
    Ok(Router::new()
        .route("/wallet/config.json", get(move || std::future::ready(axum::Json(config.clone()))))
        .nest_service("/wallet", ServeDir::new(Path::new(&page.dir)))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, csp))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        // A new build must never meet a cached old page or module.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))))
}

fn policy(page: &WalletPage) -> String {
    let mut connect = vec!["'self'".to_string()];
    connect.extend(page.relay_urls.iter().map(|u| u.trim_end_matches('/').to_string()));
    connect.extend(page.eps_url.iter().map(|u| u.trim_end_matches('/').to_string()));
    let ancestors = if page.allowed_origins.is_empty() { "'none'".to_string() } else { page.allowed_origins.join(" ") };
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         connect-src {}; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'",
        connect.join(" ")
    )
}

/// `scheme://host[:port]` and nothing else: what `event.origin` and CSP sources compare.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else { return false };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn origins_and_policy() {
        assert!(is_origin("http://127.0.0.1:7801"));
        assert!(is_origin("https://app.example"));
        assert!(!is_origin("https://app.example/"));
        assert!(!is_origin("app.example"));
        assert!(!is_origin("javascript://x"));
        assert!(!is_origin("https://a b"));
        let page = WalletPage {
            dir: PathBuf::from("/nonexistent"),
            eps_url: Some("http://127.0.0.1:7900/".into()),
            relay_urls: vec!["ws://127.0.0.1:7700".into()],
            allowed_origins: vec![],
            trust: serde_json::json!({}),
        };
        let csp = policy(&page);
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:7700 http://127.0.0.1:7900;"));
        assert!(router(&page, "http://x").unwrap_err().contains("scripts/build-web"));
    }
}
