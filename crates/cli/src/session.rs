//! What every client command shares: the configuration, the keystore (unlocked by a
//! passphrase from `TSSW_PASSPHRASE` or the terminal), the signed-in device
//! (`tssw_client::Wallets`), secrets asked for on the terminal, wallet selection, and the
//! progress spinner shown during ceremonies on a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tssw_api::http::WalletView;
use tssw_backup::{EpsClient, Passcode};
use tssw_client::keystore::format::KdfParams;
use tssw_client::{ApiClient, Keystore, KeystoreError, Wallets};
use tssw_protocol::Scheme;

use crate::config::ClientConfig;

/// Flags every client command takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// The client configuration file (default: ~/.config/tssw/client.toml).
    #[arg(long, env = "TSSW_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A secret from an environment variable, or asked on the terminal (twice when new).
pub(crate) fn secret(var: &str, prompt: &str, confirm: bool) -> Result<String, String> {
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!("{prompt} needed: set {var} or run on a terminal"));
    }
    let first = rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| format!("cannot read {prompt}: {e}"))?;
    if confirm {
        let again = rpassword::prompt_password(format!("{prompt} again: ")).map_err(|e| e.to_string())?;
        if again != first {
            return Err(format!("the two {prompt}s differ; nothing was changed"));
        }
    }
    Ok(first)
}

/// The backup passcode, when the command was asked to use one.
pub(crate) fn passcode(wanted: bool, new: bool) -> Result<Option<Passcode>, String> {
    if !wanted {
        return Ok(None);
    }
    let text = secret("TSSW_PASSCODE", "backup passcode", new)?;
    Passcode::new(text).map(Some).map_err(|e| format!("passcode: {e}"))
}

fn keystore_dir(config: &ClientConfig) -> Result<PathBuf, String> {
    if let Some(dir) = &config.keystore {
        return Ok(dir.clone());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or("no keystore directory: set keystore in the config or TSSW_KEYSTORE")?;
    Ok(data.join("tssw"))
}

/// Opens the keystore (creating it, with a new passphrase, on first use).
fn open_keystore(config: &ClientConfig) -> Result<Keystore, String> {
    let dir = keystore_dir(config)?;
    let exists = dir.join("header").exists();
    let passphrase = secret("TSSW_PASSPHRASE", "keystore passphrase", !exists)?;
    let opened = if exists {
        Keystore::open(&dir, passphrase.as_bytes())
    } else {
        Keystore::create(&dir, passphrase.as_bytes(), KdfParams::DEFAULT)
    };
    opened.map_err(|e| match e {
        KeystoreError::WrongPassphrase => {
            format!("the passphrase does not open the keystore at {}; nothing was changed", dir.display())
        }
        other => format!("keystore at {}: {other}", dir.display()),
    })
}

/// The signed-in device: configuration, keystore, server, attested enclave, EPS.
pub(crate) async fn open(common: &Common) -> Result<Wallets, String> {
    let config = ClientConfig::load(common.config.as_deref())?;
    let token = config.token.clone().ok_or("no token configured: run `tssw login` or set TSSW_TOKEN")?;
    let trust = config.trust.policy()?;
    let keystore = open_keystore(&config)?;
    let api = ApiClient::new(&config.server_url, &token).map_err(|e| e.to_string())?;
    let mut wallets = Wallets::open(api, keystore, &trust).await.map_err(|e| e.to_string())?;
    if let Some(url) = &config.eps_url {
        wallets.set_eps(EpsClient::new(url, &token).map_err(|e| format!("encryption proxy: {e}"))?);
    }
    if wallets.enclave().tee_mode == tssw_api::TeeMode::Dev {
        eprintln!("warning: the service's enclave is the dev backend — not a hardware TEE (trusted by configuration)");
    }
    Ok(wallets)
}

/// The wallet a command acts on: the one named, or the only one of the wanted schemes.
pub(crate) async fn pick(wallets: &Wallets, named: Option<&str>, schemes: &[Scheme]) -> Result<String, String> {
    if let Some(id) = named {
        return Ok(id.to_string());
    }
    let listed = wallets.list().await.map_err(|e| e.to_string())?;
    let fits = |v: &Option<WalletView>| {
        v.as_ref().is_some_and(|v| schemes.is_empty() || schemes.iter().any(|s| s.name() == v.scheme))
    };
    let candidates: Vec<String> = listed.iter().filter(|(_, v)| fits(v)).map(|(id, _)| id.to_string()).collect();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no wallet in this device's keystore fits; create one with `tssw wallet create`".into()),
        many => Err(format!("several wallets fit ({}); pick one with --wallet", many.join(", "))),
    }
}

/// A spinner on stderr while `what` runs, when stderr is a terminal and output is not JSON.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub(crate) fn start(what: &str, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(Some(bar))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// Prints `value` as JSON, or `text` for people.
pub(crate) fn print(json: bool, value: &serde_json::Value, text: &str) -> Result<(), String> {
    if json {
        println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    } else {
        println!("{text}");
    }
    Ok(())
}
