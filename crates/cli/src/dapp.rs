//! `tssw dev`'s demo dApp: a second origin (its own port) that embeds the web wallet's
//! iframe the way a customer's site would. It serves `web/dapp/` at `/`, the embedding SDK
//! `web/sdk/` at `/sdk/`, `/config.json` (where the wallet page is), and — dev only —
//! `POST /dev-token`, which mints a token of the dev issuer for any user name: what a real
//! site's own login and identity provider do.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::services::ServeDir;
use tssw_server::DevIssuer;

/// How long a dev token lives.
const TOKEN_SECONDS: u64 = 24 * 3_600;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user: String,
}

/// The dApp's routes, embedding the wallet page at `wallet_url`; its EIP-1193 provider sends
/// transactions to `rpc_url` when given.
pub(crate) fn router(web_dir: &Path, wallet_url: &str, rpc_url: Option<&str>, dev: Arc<DevIssuer>) -> Router {
    let config = serde_json::json!({ "walletUrl": wallet_url, "rpcUrl": rpc_url });
    let mint = move |axum::Json(request): axum::Json<TokenRequest>| {
        let dev = dev.clone();
        async move {
            let user = request.user;
            let valid = (1..=64).contains(&user.len())
                && user.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !valid {
                return Err((StatusCode::BAD_REQUEST, "user must be 1 to 64 characters of [A-Za-z0-9._-]".to_string()));
            }
            let token = dev
                .mint(&user, crate::dev::now(), TOKEN_SECONDS)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot mint a dev token: {e}")))?;
            Ok(axum::Json(serde_json::json!({ "token": token })))
        }
    };
    Router::new()
        .route("/config.json", get(move || std::future::ready(axum::Json(config.clone()))))
        .route("/dev-token", post(mint))
        .nest_service("/sdk", ServeDir::new(web_dir.join("sdk")))
        .fallback_service(ServeDir::new(web_dir.join("dapp")))
}
