//! An identity provider's keys for `tssw server` and `tssw eps`: a JWKS file read once, or
//! the provider's JWKS URL fetched at start (the service refuses to start without it) and
//! again every refresh interval, so a key rotation at the provider reaches running
//! services. A failed re-fetch keeps the keys already held and is logged.

use std::path::PathBuf;
use std::time::Duration;

use tssw_auth::{Authenticator, DevIssuer, IssuerConfig, MAX_JWKS_BYTES};

/// The token issuers a service trusts: an identity provider, the dev issuer, or both.
pub(crate) struct Issuers {
    provider: Option<Provider>,
    /// A random dev issuer for this run (`--dev-issuer`), which mints the dev token.
    pub(crate) dev: Option<DevIssuer>,
}

/// The issuer flags `tssw server` and `tssw eps` share (under their own variable names).
pub(crate) struct IssuerFlags<'a> {
    pub(crate) issuer: Option<&'a String>,
    pub(crate) audience: &'a str,
    pub(crate) jwks_file: Option<&'a PathBuf>,
    pub(crate) jwks_url: Option<&'a String>,
    pub(crate) refresh_secs: u64,
    pub(crate) dev_issuer: bool,
}

impl Issuers {
    /// Refuses a service that would trust no issuer at all.
    pub(crate) fn new(flags: IssuerFlags<'_>) -> Result<Issuers, String> {
        let provider = flags.issuer.map(|issuer| Provider {
            issuer: issuer.clone(),
            audience: flags.audience.to_string(),
            file: flags.jwks_file.cloned(),
            url: flags.jwks_url.cloned(),
            refresh: Duration::from_secs(flags.refresh_secs.max(1)),
        });
        let dev = flags.dev_issuer.then(DevIssuer::random);
        if provider.is_none() && dev.is_none() {
            return Err("no token issuer configured: pass --issuer with --jwks-file or --jwks-url, or --dev-issuer \
                        on a developer machine"
                .into());
        }
        Ok(Issuers { provider, dev })
    }

    /// Their configurations, the provider's keys loaded now.
    pub(crate) async fn load(&self) -> Result<Vec<IssuerConfig>, String> {
        let mut issuers = Vec::new();
        if let Some(provider) = &self.provider {
            issuers.push(provider.load().await?);
        }
        if let Some(dev) = &self.dev {
            issuers.push(dev.config());
        }
        Ok(issuers)
    }

    /// Keeps the provider's keys in `auth` fresh (see [`Provider::keep_fresh`]).
    pub(crate) fn keep_fresh(&self, auth: &Authenticator) {
        if let Some(provider) = &self.provider {
            provider.keep_fresh(auth);
        }
    }
}

/// Where a provider's keys come from.
#[derive(Clone, Debug)]
struct Provider {
    issuer: String,
    audience: String,
    file: Option<PathBuf>,
    url: Option<String>,
    refresh: Duration,
}

impl Provider {
    /// The provider's configuration with its current keys.
    async fn load(&self) -> Result<IssuerConfig, String> {
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
    fn keep_fresh(&self, auth: &Authenticator) {
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
