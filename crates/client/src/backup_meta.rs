//! What a holder's backup must be, read from the server's record of the wallet: the backup
//! is opened only if it is of this wallet, scheme, epoch, share index and public package.

use tssw_api::WalletId;
use tssw_api::http::{Holder, WalletView, unb64};
use tssw_backup::WalletMeta;
use tssw_protocol::PublicPackage;

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
