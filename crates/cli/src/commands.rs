//! The client commands: `tssw login`, `tssw wallet create|list|reconcile`, `tssw address`,
//! `tssw sign`, `tssw refresh`, `tssw backup`, `tssw recover`, `tssw upgrade`. Each parses
//! its flags and calls `tssw-client`; no protocol or HTTP logic lives here.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use tssw_backup::cloud::{FileProvider, GoogleDrive, GoogleDriveConfig};
use tssw_backup::{RecoveryCode, RecoverySecret};
use tssw_chains::bitcoin::Network;
use tssw_client::input::{InputKind, InputOptions};
use tssw_client::{Wallets, assemble};
use tssw_protocol::{KeyShare, Scheme, Signature};

use crate::config::{ClientConfig, TrustConfig};
use crate::digest::{Kind, read_input};
use crate::session::{Common, Progress, open, passcode, pick, print, secret};

/// Flags of `tssw login`.
#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    common: Common,
    /// The wallet server's base URL.
    #[arg(long)]
    server: String,
    /// The JWT from your identity provider (or set TSSW_TOKEN when running commands).
    #[arg(long)]
    token: Option<String>,
    /// The encryption proxy's base URL, for backups.
    #[arg(long)]
    eps: Option<String>,
    /// An enclave measurement this device trusts (64 hex digits for a dev enclave's
    /// binary, 96 for a Nitro PCR0); repeatable.
    #[arg(long = "measurement")]
    measurements: Vec<String>,
    /// Trust the dev backend (NOT a hardware TEE) under this attestation key, hex.
    #[arg(long)]
    dev_attestation_key: Option<String>,
    /// Where this device keeps its encrypted shares.
    #[arg(long)]
    keystore: Option<PathBuf>,
}

/// Writes the client configuration.
pub(crate) fn login(args: &LoginArgs) -> Result<(), String> {
    let path = args.common.config.clone().or_else(ClientConfig::default_path).ok_or("no config path: pass --config")?;
    let config = ClientConfig {
        server_url: args.server.clone(),
        eps_url: args.eps.clone(),
        token: args.token.clone(),
        keystore: args.keystore.clone(),
        trust: TrustConfig {
            measurements: args.measurements.clone(),
            dev_attestation_key: args.dev_attestation_key.clone(),
        },
    };
    // Refuse a trust configuration that could never verify an enclave before writing it.
    config.trust.policy()?;
    config.save(&path)?;
    print(
        args.common.json,
        &json!({"config": path, "server_url": config.server_url}),
        &format!("signed in to {}; configuration written to {}", config.server_url, path.display()),
    )
}

/// `tssw wallet …`.
#[derive(Subcommand, Debug)]
pub(crate) enum WalletCommand {
    /// Create a wallet: a DKG between this device and the service's enclave; its share is
    /// backed up through the encryption proxy when one is configured.
    Create(CreateArgs),
    /// The wallets this device holds a share of.
    List(ListArgs),
    /// Finish an epoch change a crash or lost connection interrupted.
    Reconcile(WalletArg),
}

#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// ecdsa (EVM), ed25519 (Solana) or bip340 (Bitcoin Taproot).
    #[arg(long)]
    scheme: Scheme,
    /// Protect the backup with a passcode (from TSSW_PASSCODE or the terminal).
    #[arg(long)]
    passcode: bool,
    /// Make no backup now.
    #[arg(long)]
    no_backup: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub(crate) struct WalletArg {
    #[command(flatten)]
    common: Common,
    /// The wallet (default: the only one of the right scheme).
    #[arg(long)]
    wallet: Option<String>,
}

/// Runs a `tssw wallet` command.
pub(crate) async fn wallet(command: &WalletCommand) -> Result<(), String> {
    match command {
        WalletCommand::Create(args) => create(args).await,
        WalletCommand::List(args) => list(args).await,
        WalletCommand::Reconcile(args) => {
            let mut wallets = open(&args.common).await?;
            let id = pick(&wallets, args.wallet.as_deref(), &[]).await?;
            let outcome = wallets.reconcile(&id).await.map_err(|e| e.to_string())?;
            print(
                args.common.json,
                &json!({"wallet": id, "outcome": format!("{outcome:?}")}),
                &format!("{id}: {outcome:?}"),
            )
        }
    }
}

async fn create(args: &CreateArgs) -> Result<(), String> {
    let passcode = passcode(args.passcode, true)?;
    let mut wallets = open(&args.common).await?;
    let view = {
        let _p =
            Progress::start(&format!("creating a {} wallet (DKG with the enclave)", args.scheme), args.common.json);
        wallets.create(args.scheme).await.map_err(|e| e.to_string())?
    };
    let backup = if args.no_backup {
        None
    } else if let Err(e) = wallets.backup(&view.id, passcode.as_ref()).await {
        return Err(format!(
            "wallet {} was created, but its backup failed: {e} (retry with `tssw backup create`)",
            view.id
        ));
    } else {
        Some(view.epoch)
    };
    let address = view.addresses.as_ref().and_then(|a| a.evm.clone().or(a.solana.clone()).or(a.bitcoin.clone()));
    let text = format!(
        "created wallet {} ({} {}-of-{}, epoch {})\n  address     {}\n  public key  {}\n  backup      {}",
        view.id,
        view.scheme,
        view.threshold,
        view.parties,
        view.epoch,
        address.as_deref().unwrap_or("-"),
        view.public_key.as_deref().unwrap_or("-"),
        match backup {
            Some(_) if passcode.is_some() => "stored with the server, behind a passcode",
            Some(_) => "stored with the server (no passcode)",
            None => "none",
        }
    );
    print(args.common.json, &json!({"wallet": view, "backed_up": backup.is_some()}), &text)
}

async fn list(args: &ListArgs) -> Result<(), String> {
    let wallets = open(&args.common).await?;
    let listed = wallets.list().await.map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut text = format!("{:<34} {:<8} {:<8} {:>6} {:>6}  address", "wallet", "scheme", "status", "t-of-n", "epoch");
    for (id, view) in &listed {
        let local = wallets.keystore().epochs(id).map_err(|e| e.to_string())?;
        let (scheme, status, shape, epoch, address) = match view {
            Some(v) => (
                v.scheme.clone(),
                v.status.clone(),
                format!("{}-of-{}", v.threshold, v.parties),
                v.epoch.to_string(),
                v.addresses.as_ref().and_then(|a| a.evm.clone().or(a.solana.clone()).or(a.bitcoin.clone())),
            ),
            None => ("?".into(), "unknown to the server".into(), "-".into(), "-".into(), None),
        };
        text.push_str(&format!(
            "\n{:<34} {scheme:<8} {status:<8} {shape:>6} {epoch:>6}  {}",
            id.as_str(),
            address.as_deref().unwrap_or("-")
        ));
        rows.push(json!({"wallet": id.as_str(), "server": view, "device_epoch": local.active, "device_pending": local.pending}));
    }
    print(args.common.json, &json!({"wallets": rows}), &text)
}

/// Flags of `tssw address`.
#[derive(Args, Debug)]
pub(crate) struct AddressArgs {
    #[command(flatten)]
    wallet: WalletArg,
    /// ECDSA: a non-hardened BIP-32 path, e.g. m/44/60/0/0/0 (default: the root key).
    #[arg(long)]
    path: Option<String>,
    /// Bitcoin: bitcoin, testnet, signet or regtest.
    #[arg(long, default_value = "bitcoin")]
    network: String,
}

/// Prints a wallet's address (and key).
pub(crate) async fn address(args: &AddressArgs) -> Result<(), String> {
    let mut wallets = open(&args.wallet.common).await?;
    let id = pick(&wallets, args.wallet.wallet.as_deref(), &[]).await?;
    let share = wallets.share(&id).await.map_err(|e| e.to_string())?;
    let key = share.public_package().wallet_key();
    let network = Network::from_str(&args.network).map_err(|e| format!("--network {}: {e}", args.network))?;
    let (address, public_key) = tssw_client::address(&key, args.path.as_deref(), network)?;
    let public_key = hex::encode(public_key.to_bytes());
    print(
        args.wallet.common.json,
        &json!({"wallet": id, "scheme": key.scheme(), "address": address, "public_key": public_key, "path": args.path}),
        &address,
    )
}

/// Flags of `tssw sign`.
#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// What the input is.
    #[arg(value_enum)]
    kind: Kind,
    #[command(flatten)]
    wallet: WalletArg,
    /// Read the input from this file instead of standard input.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// EVM: the chain id when the request carries none.
    #[arg(long)]
    chain_id: Option<u64>,
    /// EVM: the signing account's non-hardened BIP-32 path, e.g. m/44/60/0/0/0.
    #[arg(long)]
    path: Option<String>,
    /// Bitcoin: the network of the wallet's address.
    #[arg(long, default_value = "bitcoin")]
    network: String,
    /// Sign with the wallet's cloud share (a 2-of-3 wallet, after losing this device's
    /// share): the directory it was exported to; the recovery code comes from
    /// TSSW_RECOVERY_CODE or the terminal.
    #[arg(long)]
    cloud_dir: Option<PathBuf>,
}

/// Signs an input and prints the signed artifact.
pub(crate) async fn sign(args: &SignArgs) -> Result<(), String> {
    let kind = InputKind::from(args.kind);
    let bytes = read_input(args.file.as_deref())?;
    let network = Network::from_str(&args.network).map_err(|e| format!("--network {}: {e}", args.network))?;
    let mut wallets = open(&args.wallet.common).await?;
    let id = pick(&wallets, args.wallet.wallet.as_deref(), kind.schemes()).await?;
    let share: KeyShare = match &args.cloud_dir {
        Some(dir) => {
            let provider = FileProvider::new(dir).map_err(|e| format!("--cloud-dir {}: {e}", dir.display()))?;
            wallets.cloud_share(&id, &provider, &recovery_code()?).await.map_err(|e| e.to_string())?
        }
        None => wallets.share(&id).await.map_err(|e| e.to_string())?,
    };
    let options = InputOptions { chain_id: args.chain_id, derivation_path: args.path.clone(), network };
    let input = tssw_client::parse(kind, &bytes, &share.public_package().wallet_key(), &options)
        .map_err(|e| format!("the {} input was refused: {e}", kind.name()))?;
    let signed = {
        let _p = Progress::start("signing with the enclave", args.wallet.common.json);
        // Every input of a PSBT in one ceremony (or as few as the batch limit allows).
        wallets.sign_all(&id, &share, input.payloads()).await.map_err(|e| e.to_string())?
    };
    let (requests, signatures): (Vec<_>, Vec<Signature>) = signed.into_iter().unzip();
    if requests != input.requests() {
        return Err("the signed requests are not the ones this device computed; nothing was output".into());
    }
    let artifact = assemble(&input, &signatures).map_err(|e| e.to_string())?;
    let value = json!({"wallet": id, "artifact": artifact});
    let text = serde_json::to_string_pretty(&artifact).map_err(|e| e.to_string())?;
    print(args.wallet.common.json, &value, &format!("signed by {}\n{text}", artifact.address))
}

fn recovery_code() -> Result<RecoverySecret, String> {
    let text = secret("TSSW_RECOVERY_CODE", "recovery code", false)?;
    RecoveryCode::parse(&text).map(RecoverySecret::Code).map_err(|e| format!("recovery code: {e}"))
}

/// Flags of `tssw refresh`.
#[derive(Args, Debug)]
pub(crate) struct RefreshArgs {
    #[command(flatten)]
    wallet: WalletArg,
}

/// Refreshes a wallet's shares, then its backup (same passcode).
pub(crate) async fn refresh(args: &RefreshArgs) -> Result<(), String> {
    let mut wallets = open(&args.wallet.common).await?;
    let id = pick(&wallets, args.wallet.wallet.as_deref(), &[]).await?;
    let had = wallets.backup_info(&id).await.map_err(|e| e.to_string())?;
    let epoch = {
        let _p = Progress::start("refreshing the shares", args.wallet.common.json);
        wallets.refresh(&id).await.map_err(|e| e.to_string())?
    };
    let backed_up = match had {
        Some((_, needs_passcode)) => {
            let passcode = passcode(needs_passcode, false)?;
            wallets
                .backup(&id, passcode.as_ref())
                .await
                .map_err(|e| format!("refreshed to epoch {epoch}, but the new backup failed: {e}"))?;
            true
        }
        None => false,
    };
    print(
        args.wallet.common.json,
        &json!({"wallet": id, "epoch": epoch, "backed_up": backed_up}),
        &format!(
            "wallet {id} refreshed: epoch {epoch} (the old shares are destroyed){}",
            if backed_up { "; backup renewed" } else { "" }
        ),
    )
}

/// `tssw backup …`.
#[derive(Subcommand, Debug)]
pub(crate) enum BackupCommand {
    /// Back up this device's share through the encryption proxy.
    Create(BackupArgs),
    /// Re-wrap the backup under a new passcode (or none), without a new DKG.
    ChangePasscode(ChangePasscodeArgs),
    /// Whether a backup is stored, of which epoch, and whether it needs a passcode.
    Status(WalletArg),
}

#[derive(Args, Debug)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    wallet: WalletArg,
    /// Protect it with a passcode (from TSSW_PASSCODE or the terminal).
    #[arg(long)]
    passcode: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ChangePasscodeArgs {
    #[command(flatten)]
    wallet: WalletArg,
    /// The new passcode: from TSSW_NEW_PASSCODE or the terminal; without it, none.
    #[arg(long)]
    new_passcode: bool,
}

/// Runs a `tssw backup` command.
pub(crate) async fn backup(command: &BackupCommand) -> Result<(), String> {
    match command {
        BackupCommand::Create(args) => {
            let passcode = passcode(args.passcode, true)?;
            let mut wallets = open(&args.wallet.common).await?;
            let id = pick(&wallets, args.wallet.wallet.as_deref(), &[]).await?;
            let epoch = wallets.backup(&id, passcode.as_ref()).await.map_err(|e| e.to_string())?;
            print(
                args.wallet.common.json,
                &json!({"wallet": id, "epoch": epoch}),
                &format!("wallet {id}: epoch {epoch} backed up"),
            )
        }
        BackupCommand::ChangePasscode(args) => {
            let mut wallets = open(&args.wallet.common).await?;
            let id = pick(&wallets, args.wallet.wallet.as_deref(), &[]).await?;
            let (_, had) = wallets.backup_info(&id).await.map_err(|e| e.to_string())?.ok_or("no backup is stored")?;
            let old = passcode(had, false)?;
            let new = if args.new_passcode {
                let text = secret("TSSW_NEW_PASSCODE", "new backup passcode", true)?;
                Some(tssw_backup::Passcode::new(text).map_err(|e| format!("passcode: {e}"))?)
            } else {
                None
            };
            wallets.change_passcode(&id, old.as_ref(), new.as_ref()).await.map_err(|e| e.to_string())?;
            print(
                args.wallet.common.json,
                &json!({"wallet": id, "passcode": new.is_some()}),
                &format!("wallet {id}: backup re-wrapped"),
            )
        }
        BackupCommand::Status(args) => {
            let wallets = open(&args.common).await?;
            let id = pick(&wallets, args.wallet.as_deref(), &[]).await?;
            let info = wallets.backup_info(&id).await.map_err(|e| e.to_string())?;
            let text = match info {
                Some((epoch, p)) => {
                    format!("wallet {id}: backup of epoch {epoch}{}", if p { ", behind a passcode" } else { "" })
                }
                None => format!("wallet {id}: no backup stored"),
            };
            print(
                args.common.json,
                &json!({"wallet": id, "epoch": info.map(|i| i.0), "passcode": info.map(|i| i.1)}),
                &text,
            )
        }
    }
}

/// Flags of `tssw recover`.
#[derive(Args, Debug)]
pub(crate) struct RecoverArgs {
    #[command(flatten)]
    common: Common,
    /// The wallet to recover onto this device.
    #[arg(long)]
    wallet: String,
    /// The backup has a passcode (from TSSW_PASSCODE or the terminal).
    #[arg(long)]
    passcode: bool,
}

/// Recovers a wallet on a new device from the server's backup, then refreshes it.
pub(crate) async fn recover(args: &RecoverArgs) -> Result<(), String> {
    let passcode = passcode(args.passcode, false)?;
    let mut wallets = open(&args.common).await?;
    let epoch = {
        let _p = Progress::start("restoring the backup and refreshing", args.common.json);
        wallets.recover(&args.wallet, passcode.as_ref()).await.map_err(|e| e.to_string())?
    };
    print(
        args.common.json,
        &json!({"wallet": args.wallet, "epoch": epoch}),
        &format!(
            "wallet {} recovered on this device and refreshed to epoch {epoch}: the lost device's share no longer signs",
            args.wallet
        ),
    )
}

/// The shape `tssw upgrade --to` moves a wallet to.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Shape {
    /// Add a cloud share: any two of device, service and cloud sign.
    #[value(name = "2of3")]
    TwoOfThree,
    /// Drop the cloud share: device and service again.
    #[value(name = "2of2")]
    TwoOfTwo,
}

/// Flags of `tssw upgrade`.
#[derive(Args, Debug)]
pub(crate) struct UpgradeArgs {
    #[command(flatten)]
    wallet: WalletArg,
    /// The new shape.
    #[arg(long)]
    to: Shape,
    /// 2of3: export the cloud share to this directory (a synced folder, a USB key).
    #[arg(long, conflicts_with = "gdrive_token")]
    cloud_dir: Option<PathBuf>,
    /// 2of3: store the cloud share in Google Drive's appDataFolder with this OAuth access token.
    #[arg(long, env = "TSSW_GDRIVE_TOKEN")]
    gdrive_token: Option<String>,
    /// The device backup has a passcode (from TSSW_PASSCODE or the terminal).
    #[arg(long)]
    passcode: bool,
}

/// Reshares a wallet to 2-of-3 (new cloud share) or back to 2-of-2.
pub(crate) async fn upgrade(args: &UpgradeArgs) -> Result<(), String> {
    let passcode = passcode(args.passcode, false)?;
    let mut wallets = open(&args.wallet.common).await?;
    let id = pick(&wallets, args.wallet.wallet.as_deref(), &[]).await?;
    match args.to {
        Shape::TwoOfThree => {
            // The code is settled, and a new one shown, before the reshare starts: a crash
            // after the cloud share is sealed must not leave it under a code nobody saw.
            let (code, generated) = match std::env::var("TSSW_RECOVERY_CODE") {
                Ok(text) => (RecoveryCode::parse(&text).map_err(|e| format!("TSSW_RECOVERY_CODE: {e}"))?, false),
                Err(_) => {
                    let code = RecoveryCode::generate();
                    eprintln!(
                        "recovery code of the new cloud share (write it down now; the cloud share opens only with \
                         it): {}",
                        code.display().as_str()
                    );
                    (code, true)
                }
            };
            let secret = RecoverySecret::Code(code.clone());
            let _p = Progress::start("adding the cloud share (reshare to 2-of-3)", args.wallet.common.json);
            let epoch = match (&args.cloud_dir, &args.gdrive_token) {
                (Some(dir), _) => {
                    let provider = FileProvider::new(dir).map_err(|e| format!("--cloud-dir {}: {e}", dir.display()))?;
                    upgrade_with(&mut wallets, &id, &provider, &secret, passcode.as_ref()).await?
                }
                (None, Some(token)) => {
                    let provider = GoogleDrive::new(GoogleDriveConfig::new(token)).map_err(|e| e.to_string())?;
                    upgrade_with(&mut wallets, &id, &provider, &secret, passcode.as_ref()).await?
                }
                (None, None) => {
                    return Err("--to 2of3 needs a cloud provider: --cloud-dir DIR or --gdrive-token".into());
                }
            };
            drop(_p);
            let shown = code.display();
            let shown = generated.then_some(shown.as_str());
            print(
                args.wallet.common.json,
                &json!({"wallet": id, "epoch": epoch, "recovery_code": shown}),
                &format!(
                    "wallet {id} is 2-of-3 at epoch {epoch}: any two of this device, the service and the cloud share \
                     sign; the cloud share opens with {}",
                    if generated { "the recovery code shown above" } else { "the code in TSSW_RECOVERY_CODE" }
                ),
            )
        }
        Shape::TwoOfTwo => {
            let epoch = wallets.remove_cloud_share(&id, passcode.as_ref()).await.map_err(|e| e.to_string())?;
            print(
                args.wallet.common.json,
                &json!({"wallet": id, "epoch": epoch}),
                &format!("wallet {id} is 2-of-2 again at epoch {epoch}; the cloud share's epoch is destroyed"),
            )
        }
    }
}

async fn upgrade_with(
    wallets: &mut Wallets,
    id: &str,
    provider: &impl tssw_backup::cloud::CloudProvider,
    secret: &RecoverySecret,
    passcode: Option<&tssw_backup::Passcode>,
) -> Result<u64, String> {
    wallets.upgrade_to_2of3(id, provider, secret, passcode).await.map_err(|e| e.to_string())
}
