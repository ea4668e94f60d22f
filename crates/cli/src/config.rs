//! The client commands' configuration: a TOML file (`--config`, `TSSW_CONFIG`, default
//! `~/.config/tssw/client.toml`) with environment variables over it.
//!
//! ```toml
//! server_url = "http://127.0.0.1:7800"
//! eps_url = "http://127.0.0.1:7900"  # the encryption proxy, for backups
//! token = "eyJ…"                 # the JWT from your identity provider (or `tssw login`)
//! keystore = "/home/me/.local/share/tssw"   # where this device keeps its encrypted shares
//!
//! [trust]
//! measurements = ["<64 hex digits>"]        # enclave programs this device accepts
//! dev_attestation_key = "<64 hex digits>"   # only to accept a dev backend (not a TEE)
//! ```
//!
//! Environment: `TSSW_SERVER_URL`, `TSSW_EPS_URL`, `TSSW_TOKEN`, `TSSW_KEYSTORE`, `TSSW_PASSPHRASE` (the
//! keystore passphrase; asked on the terminal when unset).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
pub(crate) use tssw_client::TrustConfig;

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// What the client commands need to reach the service and trust its enclave.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientConfig {
    /// The wallet server's base URL.
    pub(crate) server_url: String,
    /// The encryption proxy's base URL (server backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) eps_url: Option<String>,
    /// The bearer JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// The keystore directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keystore: Option<PathBuf>,
    /// Which enclaves to trust.
    #[serde(default)]
    pub(crate) trust: TrustConfig,
}

impl ClientConfig {
    /// The default file: `$XDG_CONFIG_HOME/tssw/client.toml` or `~/.config/tssw/client.toml`.
    pub(crate) fn default_path() -> Option<PathBuf> {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("tssw").join("client.toml"))
    }

    /// Reads `path` (if it exists) and applies the environment over it.
    pub(crate) fn load(path: Option<&Path>) -> Result<ClientConfig, String> {
        let path = path.map(Path::to_path_buf).or_else(ClientConfig::default_path);
        let mut config = match &path {
            Some(p) if p.exists() => ClientConfig::read(p)?,
            _ => ClientConfig::default(),
        };
        if let Ok(url) = std::env::var("TSSW_SERVER_URL") {
            config.server_url = url;
        }
        if let Ok(url) = std::env::var("TSSW_EPS_URL") {
            config.eps_url = Some(url);
        }
        if let Ok(token) = std::env::var("TSSW_TOKEN") {
            config.token = Some(token);
        }
        if let Some(dir) = std::env::var_os("TSSW_KEYSTORE") {
            config.keystore = Some(dir.into());
        }
        if config.server_url.is_empty() {
            return Err(format!(
                "no wallet server configured: set server_url in {} or TSSW_SERVER_URL (tssw dev prints a client \
                 config to use)",
                path.map_or_else(|| "the config file".to_string(), |p| p.display().to_string())
            ));
        }
        Ok(config)
    }

    fn read(path: &Path) -> Result<ClientConfig, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(format!("config {} is larger than {MAX_CONFIG_BYTES} bytes", path.display()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {} is not valid: {e}", path.display()))
    }

    /// Writes the configuration (it may hold a token: mode 0600, replaced atomically).
    pub(crate) fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let text = toml::to_string(self).map_err(|e| format!("config does not encode: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("config dir {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("toml.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("config {}: {e}", tmp.display()))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| format!("config: {e}"))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("config {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_files() {
        let dir = std::env::temp_dir().join(format!("tssw-config-{}", std::process::id()));
        let path = dir.join("client.toml");
        let config = ClientConfig {
            server_url: "http://127.0.0.1:1".into(),
            eps_url: None,
            token: Some("t".into()),
            keystore: Some("/k".into()),
            trust: TrustConfig { measurements: vec!["ab".repeat(32)], dev_attestation_key: None },
        };
        config.save(&path).unwrap();
        assert_eq!(ClientConfig::read(&path).unwrap(), config);
        std::fs::write(&path, "server_url = 1").unwrap();
        assert!(ClientConfig::read(&path).unwrap_err().contains("not valid"));
        std::fs::write(&path, "server_url = \"x\"\nsurprise = true").unwrap();
        assert!(ClientConfig::read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
