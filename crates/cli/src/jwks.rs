//! An identity provider's keys for `tssw server` and `tssw eps`: a JWKS file read once, or
//! the provider's JWKS URL fetched at start (the service refuses to start without it) and
//! again every refresh interval, so a key rotation at the provider reaches running
//! services. A failed re-fetch keeps the keys already held and is logged.

use std::path::PathBuf;
use std::time::Duration;

use tssw_auth::{Authenticator, IssuerConfig, MAX_JWKS_BYTES};

/// Where a provider's keys come from.
#[derive(Clone, Debug)]
pub(crate) struct Provider {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) file: Option<PathBuf>,
    pub(crate) url: Option<String>,
    pub(crate) refresh: Duration,
}

impl Provider {
    /// The provider's configuration with its current keys.
    pub(crate) async fn load(&self) -> Result<IssuerConfig, String> {
        match (&self.file, &self.url) {
            (Some(path), _) => IssuerConfig::from_jwks_file(&self.issuer, &self.audience, path),
            (None, Some(url)) => {
                let body = fetch(url).await?;
                IssuerConfig::from_jwks_json(&self.issuer, &self.audience, &body)
                    .map_err(|e| format!("JWKS at {url}: {e}"))
            }
            (None, None) => Err("the identity provider needs --jwks-file or --jwks-url".into()),
        }
    }

    /// With a URL: re-fetches the keys into `auth` every refresh interval, for as long as
    /// the runtime runs.
    pub(crate) fn keep_fresh(&self, auth: &Authenticator) {
        let Some(url) = self.url.clone() else { return };
        let (auth, issuer, audience, every) = (auth.clone(), self.issuer.clone(), self.audience.clone(), self.refresh);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let fetched = fetch(&url).await.and_then(|body| {
                    IssuerConfig::from_jwks_json(&issuer, &audience, &body).map_err(|e| e.to_string())
                });
                match fetched {
                    Ok(config) => {
                        auth.replace_keys(&issuer, config.keys);
                    }
                    Err(e) => tracing::warn!("keeping the JWKS of {issuer} held: re-fetching {url} failed: {e}"),
                }
            }
        });
    }
}

/// GETs a JWK set: https, or http to a loopback address only; at most [`MAX_JWKS_BYTES`].
async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("--jwks-url {url}: {e}"))?;
    let loopback = parsed.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(format!("--jwks-url {url}: keys must come over https (plain http only from loopback)"));
    }
    let client = tssw_client::api::http_client()?;
    let mut response = client
        .get(parsed)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("cannot fetch the JWKS at {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the JWKS at {url} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the JWKS at {url}: {e}"))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWKS at {url} is over {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
