//! The device share's backup with the wallet server, sealed through the encryption proxy:
//! storing it ([`store`]) and opening it again ([`restore_device_share`]), shared by the
//! CLI's `Wallets` and the web wallet. A backup is opened only if it is of the wallet,
//! scheme, epoch, share index and public package the server records ([`expected`]).

use tssw_api::WalletId;
use tssw_api::http::{Holder, WalletView, unb64};
use tssw_backup::{BackupError, EpsClient, Passcode, WalletMeta, create_backup, restore};
use tssw_protocol::{KeyShare, PublicPackage};

use crate::api::{ApiClient, ApiError};

/// Why storing or opening a backup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerBackupError {
    /// The server refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Sealing or opening failed (a wrong passcode, a locked or altered backup…).
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The server has no backup that can restore the wallet; the text says why.
    #[error("{0}")]
    Unavailable(String),
    /// The server's record of the wallet does not fit.
    #[error("{0}")]
    Record(String),
}

/// Seals `share` of `wallet` through the EPS (behind `passcode` if given), reads it back,
/// stores the envelope with the server, then makes it the wallet's only backup. Returns
/// the epoch backed up.
pub async fn store(
    api: &ApiClient,
    eps: &EpsClient,
    wallet: &WalletId,
    share: &KeyShare,
    passcode: Option<&Passcode>,
) -> Result<u64, ServerBackupError> {
    let meta = WalletMeta::of_share(wallet.clone(), share)?;
    let prepared = create_backup(share, &meta, eps, passcode).await?;
    api.put_backup(wallet.as_str(), share.epoch(), prepared.envelope()).await?;
    prepared.activate(eps).await?;
    Ok(share.epoch())
}

/// Opens the server's backup of the device share of `view`'s wallet through the EPS. The
/// backup must be of the wallet's active epoch and of exactly the key the server records.
pub async fn restore_device_share(
    api: &ApiClient,
    eps: &EpsClient,
    view: &WalletView,
    passcode: Option<&Passcode>,
) -> Result<KeyShare, ServerBackupError> {
    let expected = expected(view, Holder::Device).map_err(ServerBackupError::Record)?;
    let (epoch, envelope) = api
        .backup(&view.id)
        .await?
        .ok_or_else(|| ServerBackupError::Unavailable(format!("the server holds no backup of wallet {}", view.id)))?;
    if epoch != view.epoch {
        return Err(ServerBackupError::Unavailable(format!(
            "the stored backup is of epoch {epoch} but the wallet is at epoch {}: it was refreshed without a new \
             backup, and only its other shares can restore it",
            view.epoch
        )));
    }
    Ok(restore(&envelope, &expected, eps, passcode).await?)
}

/// The metadata the backup of `holder`'s share of `view` must carry.
pub fn expected(view: &WalletView, holder: Holder) -> Result<WalletMeta, String> {
    let bad = |why: &str| format!("wallet {}: {why}", view.id);
    let package_bytes =
        unb64(view.public_package.as_deref().ok_or_else(|| bad("no key yet"))?, "public_package", 1 << 20)
            .map_err(|e| bad(&e.0))?;
    let package = PublicPackage::from_bytes(&package_bytes).map_err(|e| bad(&e.to_string()))?;
    let index = view.members.iter().find(|m| m.holder == holder).ok_or_else(|| bad("no such holder"))?.index;
    Ok(WalletMeta {
        wallet_id: WalletId::new(&view.id).map_err(|e| bad(&format!("id: {e}")))?,
        scheme: package.scheme(),
        epoch: view.epoch,
        share_index: index,
        public_key: package.public_key().to_bytes(),
        package_digest: package.digest().map_err(|e| bad(&e.to_string()))?,
    })
}
