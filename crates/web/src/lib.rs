//! The web wallet's device side: what the wallet iframe (`web/wallet/`) runs, as
//! `WalletCore`, compiled to wasm32 with wasm-bindgen. It is `tssw-client` — the same
//! ceremonies, setup and attestation checks, input parsing, digests and artifact assembly
//! as the CLI — with the relay reached over the browser's WebSocket and HTTP over fetch.
//!
//! Storage is the page's: this module hands the iframe the device share and identity seed
//! as bytes, and the page keeps them in IndexedDB encrypted under a non-extractable
//! WebCrypto key. Nothing here persists anything, and nothing here is reachable from the
//! embedding page: the iframe's postMessage API never carries a share.
//!
//! Every method throws a JS `Error` whose message says what failed.

#![cfg(target_arch = "wasm32")]
#![warn(missing_docs, unreachable_pub)]

mod convert;

use std::time::Duration;

use js_sys::Uint8Array;
use tssw_api::http::Holder;
use tssw_backup::{EpsClient, Passcode};
use tssw_chains::bitcoin::Network;
use tssw_channel::IdentityKey;
use tssw_client::ceremony::{Attested, attest};
use tssw_client::server_backup;
use tssw_client::{ApiClient, Device, Holding, InputKind, InputOptions, TrustConfig, assemble, describe_input, parse};
use tssw_protocol::{KeyShare, Scheme, Signature};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::convert::{error, from_js, object, to_js};

/// How long a ceremony may wait for the next frame.
const STALL: Duration = Duration::from_secs(30);

/// What `WalletCore.open` takes.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenConfig {
    server_url: String,
    eps_url: Option<String>,
    token: String,
    trust: TrustConfig,
}

/// What the sign options may say.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignOptions {
    chain_id: Option<u64>,
    network: Option<String>,
    path: Option<String>,
}

impl SignOptions {
    fn input_options(self) -> Result<InputOptions, JsError> {
        let network = network(self.network.as_deref())?;
        Ok(InputOptions { chain_id: self.chain_id, derivation_path: self.path, network })
    }
}

fn network(name: Option<&str>) -> Result<Network, JsError> {
    name.unwrap_or("bitcoin").parse::<Network>().map_err(|e| error(format!("network: {e}")))
}

/// A signed-in device: the server API, the encryption proxy, the device identity (registered
/// with the server) and the enclave it attested.
#[wasm_bindgen]
pub struct WalletCore {
    api: ApiClient,
    eps: Option<EpsClient>,
    identity: IdentityKey,
    enclave: Attested,
}

#[wasm_bindgen]
impl WalletCore {
    /// Signs in: `{serverUrl, epsUrl, token, trust}` and the stored identity seed (32
    /// bytes), or `undefined` to make a new identity. Registers the identity and attests
    /// the enclave under `trust` before anything else.
    pub async fn open(config: JsValue, identity: Option<Vec<u8>>) -> Result<WalletCore, JsError> {
        let config: OpenConfig = from_js(&config, "config")?;
        let identity = Zeroizing::new(identity);
        let identity = match identity.as_deref() {
            Some(seed) => {
                let seed: &[u8; 32] =
                    seed.try_into().map_err(|_| error("the stored identity seed is not 32 bytes".to_string()))?;
                IdentityKey::from_seed(seed)
            }
            None => IdentityKey::random(),
        };
        let policy = config.trust.policy().map_err(error)?;
        let api = ApiClient::new(&config.server_url, &config.token).map_err(JsError::from)?;
        api.register_device(&identity.party_id(), "web wallet").await.map_err(JsError::from)?;
        let enclave = attest(&api, &policy).await.map_err(JsError::from)?;
        let eps = match &config.eps_url {
            Some(url) => Some(EpsClient::new(url, &config.token).map_err(JsError::from)?),
            None => None,
        };
        Ok(WalletCore { api, eps, identity, enclave })
    }

    /// The device identity seed, to store (encrypted) and pass to the next `open`.
    #[wasm_bindgen(js_name = identitySeed)]
    pub fn identity_seed(&self) -> Vec<u8> {
        self.identity.to_seed().to_vec()
    }

    /// What the enclave's attestation said (`{teeMode, notice}`): the dev backend says it
    /// is not a hardware TEE, and the wallet shows that.
    pub fn enclave(&self) -> Result<JsValue, JsError> {
        object(&[
            ("teeMode", format!("{:?}", self.enclave.tee_mode).to_lowercase().into()),
            ("notice", self.enclave.notice.clone().into()),
        ])
    }

    fn device(&self) -> Device<'_> {
        Device { api: &self.api, identity: &self.identity, enclave: self.enclave.clone(), stall: STALL }
    }

    /// A new wallet of `scheme` (`ecdsa`, `ed25519`, `bip340`): the DKG with the enclave.
    /// Returns `{id, scheme, epoch, addresses, share}` once the server has it active.
    #[wasm_bindgen(js_name = createWallet)]
    pub async fn create_wallet(&self, scheme: String) -> Result<JsValue, JsError> {
        let scheme: Scheme = scheme.parse().map_err(|e| error(format!("scheme {scheme:?}: {e}")))?;
        let device = self.device();
        let (start, share) = device.create_wallet(scheme).await.map_err(JsError::from)?;
        device.outcome(&start).await.map_err(JsError::from)?;
        held(&start.wallet_id, &share)
    }

    /// The account's wallets as the server lists them: `[{id, scheme, epoch, pendingEpoch,
    /// parties, status}]` (to find what to recover after the browser's storage was
    /// cleared, and to finish an epoch change a closed tab interrupted).
    #[wasm_bindgen(js_name = listWallets)]
    pub async fn list_wallets(&self) -> Result<JsValue, JsError> {
        let views = self.api.wallets().await.map_err(JsError::from)?;
        let list: Vec<serde_json::Value> = views
            .iter()
            .map(|v| {
                serde_json::json!({
                    "id": v.id, "scheme": v.scheme, "epoch": v.epoch, "pendingEpoch": v.pending_epoch,
                    "parties": v.parties, "status": v.status,
                })
            })
            .collect();
        to_js(&list)
    }

    /// `{scheme, epoch, addresses}` of a share, computed here from its public key.
    pub fn info(share: &[u8]) -> Result<JsValue, JsError> {
        let share = decode_share(share)?;
        to_js(&serde_json::json!({
            "scheme": share.scheme().to_string(),
            "epoch": share.epoch(),
            "addresses": addresses(&share)?,
        }))
    }

    /// Exactly what signing `input` (of `kind`: `evm-tx`, `eip712`, `message`,
    /// `solana-tx`, `psbt`) commits to, one entry per signature: what the confirmation
    /// screen shows.
    pub fn describe(share: &[u8], kind: String, input: String, options: JsValue) -> Result<JsValue, JsError> {
        let share = decode_share(share)?;
        let input = parse_input(&share, &kind, &input, options)?;
        to_js(&describe_input(&input).map_err(JsError::from)?)
    }

    /// Signs `input` with the enclave — one ceremony, or for several payloads (a PSBT's
    /// inputs) one batch ceremony per `max_batch` of them — and returns the signed artifact
    /// in its chain's encoding (checked against the wallet's key before it is returned).
    pub async fn sign(
        &self,
        wallet: String,
        share: Vec<u8>,
        kind: String,
        input: String,
        options: JsValue,
    ) -> Result<JsValue, JsError> {
        let share = decode_share(&Zeroizing::new(share))?;
        let input = parse_input(&share, &kind, &input, options)?;
        let signed = self.device().sign_all(&wallet, &share, input.payloads(), false).await.map_err(JsError::from)?;
        let (requests, signatures): (Vec<_>, Vec<Signature>) = signed.into_iter().unzip();
        if requests != input.requests() {
            return Err(error("the signed request is not the one this device computed; nothing was output".into()));
        }
        to_js(&assemble(&input, &signatures).map_err(JsError::from)?)
    }

    /// Backs up the device share through the encryption proxy (behind `passcode` when
    /// given), stores it with the server and makes it the wallet's backup. Returns the
    /// epoch backed up. The service alone cannot open it.
    pub async fn backup(&self, wallet: String, share: Vec<u8>, passcode: Option<String>) -> Result<f64, JsError> {
        let share = decode_share(&Zeroizing::new(share))?;
        let passcode = passcode.map(Passcode::new).transpose().map_err(JsError::from)?;
        let wid = tssw_api::WalletId::new(&wallet).map_err(|e| error(format!("wallet id: {e}")))?;
        let epoch = server_backup::store(&self.api, self.eps()?, &wid, &share, passcode.as_ref())
            .await
            .map_err(JsError::from)?;
        // A JS number (a u64 would arrive as a BigInt, which JSON cannot carry).
        Ok(epoch as f64)
    }

    /// Restores this device's share of a 2-of-2 `wallet` from the server's backup (with
    /// `passcode` if it has one): `{id, scheme, epoch, addresses, share}`. The backup must
    /// be of the wallet's active epoch, and of exactly the key the server records.
    pub async fn recover(&self, wallet: String, passcode: Option<String>) -> Result<JsValue, JsError> {
        let passcode = passcode.map(Passcode::new).transpose().map_err(JsError::from)?;
        let view = self.api.wallet(&wallet).await.map_err(JsError::from)?;
        if view.parties != 2 {
            return Err(error(format!(
                "wallet {wallet} has {} share holders: the web wallet recovers 2-of-2 wallets only",
                view.parties
            )));
        }
        let share = server_backup::restore_device_share(&self.api, self.eps()?, &view, passcode.as_ref())
            .await
            .map_err(JsError::from)?;
        held(&wallet, &share)
    }

    /// Refreshes a 2-of-2 wallet with the enclave: new shares of the same key at the next
    /// epoch. Returns `{id, scheme, epoch, addresses, share}` of the device's new share,
    /// which is **pending**: store it as such, then `confirm` it; until the server commits
    /// it, the old share is the one that signs.
    pub async fn refresh(&self, wallet: String, share: Vec<u8>) -> Result<JsValue, JsError> {
        let share = decode_share(&Zeroizing::new(share))?;
        let me = Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device };
        let mut new = self.device().refresh(&wallet, &[me]).await.map_err(JsError::from)?;
        let new = new.pop().ok_or_else(|| error("the refresh gave this device no share".into()))?;
        held(&wallet, &new)
    }

    /// Confirms a pending share with a test signature between it and the enclave; true
    /// once the server has committed its epoch (the old epoch is then destroyed there).
    pub async fn confirm(&self, wallet: String, share: Vec<u8>) -> Result<bool, JsError> {
        let share = decode_share(&Zeroizing::new(share))?;
        let me = Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device };
        self.device().confirm(&wallet, &me).await.map_err(JsError::from)
    }

    /// Drops the server's pending `epoch` of `wallet` (this device never stored its share
    /// of it); the active epoch stays.
    pub async fn abort(&self, wallet: String, epoch: f64) -> Result<bool, JsError> {
        self.api.abort(&wallet, epoch as u64).await.map_err(JsError::from)
    }

    fn eps(&self) -> Result<&EpsClient, JsError> {
        self.eps.as_ref().ok_or_else(|| error("no encryption proxy is configured (epsUrl)".into()))
    }
}

fn decode_share(bytes: &[u8]) -> Result<KeyShare, JsError> {
    KeyShare::from_bytes(bytes).map_err(|e| error(format!("the stored key share does not decode: {e}")))
}

fn parse_input(share: &KeyShare, kind: &str, input: &str, options: JsValue) -> Result<tssw_client::SignInput, JsError> {
    let kind: InputKind = kind.parse().map_err(JsError::from)?;
    let options: SignOptions = if options.is_undefined() || options.is_null() {
        SignOptions::default()
    } else {
        from_js(&options, "options")?
    };
    parse(kind, input.as_bytes(), &share.public_package().wallet_key(), &options.input_options()?)
        .map_err(|e| error(format!("the {kind} input was refused: {e}")))
}

/// The addresses of a share's key, by the device's own computation.
fn addresses(share: &KeyShare) -> Result<serde_json::Value, JsError> {
    let key = share.public_package().wallet_key();
    let at = |network| tssw_client::address(&key, None, network).map(|(a, _)| a).map_err(error);
    Ok(match share.scheme() {
        Scheme::Ecdsa => serde_json::json!({ "evm": at(Network::Bitcoin)? }),
        Scheme::Ed25519 => serde_json::json!({ "solana": at(Network::Bitcoin)? }),
        Scheme::Bip340 => serde_json::json!({
            "bitcoin": at(Network::Bitcoin)?,
            "bitcoinTestnet": at(Network::Testnet)?,
            "bitcoinRegtest": at(Network::Regtest)?,
        }),
    })
}

/// `{id, scheme, epoch, addresses, share}`: a share the page is to store.
fn held(wallet: &str, share: &KeyShare) -> Result<JsValue, JsError> {
    let bytes = share.to_bytes().map_err(|e| error(format!("encoding the share: {e}")))?;
    let out = object(&[
        ("id", wallet.into()),
        ("scheme", share.scheme().to_string().into()),
        ("epoch", JsValue::from_f64(share.epoch() as f64)),
        ("addresses", to_js(&addresses(share)?)?),
        ("share", Uint8Array::from(bytes.as_slice()).into()),
    ])?;
    Ok(out)
}
