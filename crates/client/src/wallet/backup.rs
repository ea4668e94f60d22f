//! Backup and recovery on top of [`Wallets`] (issue 7): the server-stored backup of the
//! device share (through the encryption proxy, optionally behind a passcode), recovery on a
//! new device followed by a refresh (so the lost device's share stops signing), and the
//! 2-of-3 upgrade whose third share goes, sealed under a recovery secret, to a cloud
//! provider.

use tssw_api::http::{Holder, ReshareMember, WalletView};
use tssw_api::{ChainPayload, WalletId};
use tssw_backup::cloud::CloudProvider;
use tssw_backup::{EpsClient, Passcode, RecoverySecret, WalletMeta as BackupMeta, recovery};
use tssw_channel::IdentityKey;
use tssw_protocol::{KeyShare, SignRequest, Signature};

use super::{WalletError, Wallets, wallet_id};
use crate::ceremony::CeremonyError;
use crate::keystore::format::WalletMeta;
use crate::ops::{Device, Holding};
use crate::server_backup::{self, ServerBackupError};

/// The name of a wallet's cloud share at the provider.
pub fn cloud_blob_name(wallet: &str) -> String {
    format!("tssw-{wallet}-cloud-share")
}

fn backup_error(e: tssw_backup::BackupError) -> WalletError {
    WalletError::Backup(e.to_string())
}

/// What the backup of a holder's share must be, from the server's record.
fn expected_meta(view: &WalletView, holder: Holder) -> Result<BackupMeta, WalletError> {
    server_backup::expected(view, holder).map_err(WalletError::Record)
}

fn stored_error(e: ServerBackupError) -> WalletError {
    match e {
        ServerBackupError::Api(e) => WalletError::Ceremony(CeremonyError::from(e)),
        ServerBackupError::Backup(e) => backup_error(e),
        ServerBackupError::Unavailable(why) => WalletError::Backup(why),
        ServerBackupError::Record(why) => WalletError::Record(why),
    }
}

impl Wallets {
    /// Uses `eps` for server backups.
    pub fn set_eps(&mut self, eps: EpsClient) {
        self.eps = Some(eps);
    }

    fn eps(&self) -> Result<&EpsClient, WalletError> {
        self.eps.as_ref().ok_or_else(|| {
            WalletError::Backup("no encryption proxy is configured (set eps_url in the client config)".into())
        })
    }

    /// Backs up the active device share: sealed through the EPS (behind `passcode` if
    /// given), read back and checked, stored with the server, then made the wallet's only
    /// backup. Returns the epoch backed up.
    pub async fn backup(&mut self, wallet: &str, passcode: Option<&Passcode>) -> Result<u64, WalletError> {
        let share = self.share(wallet).await?;
        server_backup::store(&self.api, self.eps()?, &wallet_id(wallet)?, &share, passcode).await.map_err(stored_error)
    }

    /// Re-wraps the stored backup under `new` (or no passcode), opening it with `old`: the
    /// same share ciphertext, no new DKG; afterwards `old` and the old envelope open nothing.
    pub async fn change_passcode(
        &mut self,
        wallet: &str,
        old: Option<&Passcode>,
        new: Option<&Passcode>,
    ) -> Result<(), WalletError> {
        let view = self.api.wallet(wallet).await.map_err(CeremonyError::from)?;
        let expected = expected_meta(&view, Holder::Device)?;
        let (epoch, envelope) = self
            .api
            .backup(wallet)
            .await
            .map_err(CeremonyError::from)?
            .ok_or_else(|| WalletError::Backup(format!("the server holds no backup of wallet {wallet}")))?;
        let prepared =
            tssw_backup::change_passcode(&envelope, &expected, self.eps()?, old, new).await.map_err(backup_error)?;
        self.api.put_backup(wallet, epoch, prepared.envelope()).await.map_err(CeremonyError::from)?;
        prepared.activate(self.eps()?).await.map_err(backup_error)
    }

    /// Whether the stored backup needs a passcode, and its epoch; `None` without a backup.
    pub async fn backup_info(&self, wallet: &str) -> Result<Option<(u64, bool)>, WalletError> {
        let Some((epoch, envelope)) = self.api.backup(wallet).await.map_err(CeremonyError::from)? else {
            return Ok(None);
        };
        let info = tssw_backup::Envelope::decode(&envelope).map_err(backup_error)?.info();
        Ok(Some((epoch, info.needs_passcode)))
    }

    /// Recovers a 2-of-2 wallet on this (new) device from the server's backup, then
    /// refreshes it — after which the lost device's share signs nothing — and backs up the
    /// new epoch under the same passcode. Returns the new epoch.
    pub async fn recover(&mut self, wallet: &str, passcode: Option<&Passcode>) -> Result<u64, WalletError> {
        let wid = wallet_id(wallet)?;
        let view = self.api.wallet(wallet).await.map_err(CeremonyError::from)?;
        if view.parties != 2 {
            return Err(WalletError::Record(format!(
                "wallet {wallet} has {} share holders: recover it with its cloud share (tssw recover --cloud …)",
                view.parties
            )));
        }
        let share =
            server_backup::restore_device_share(&self.api, self.eps()?, &view, passcode).await.map_err(stored_error)?;
        self.adopt(&wid, &share)?;
        tssw_fault::point("client.recover.restored");
        let new_epoch = self.refresh(wallet).await?;
        self.backup(wallet, passcode).await?;
        Ok(new_epoch)
    }

    /// Takes a restored share as this device's active one.
    fn adopt(&mut self, wid: &WalletId, share: &KeyShare) -> Result<(), WalletError> {
        if self.keystore.epochs(wid)?.active == Some(share.epoch()) {
            return Ok(());
        }
        let meta = WalletMeta { key: share.public_package().wallet_key(), server_record: Vec::new() };
        self.keystore.put_meta(wid, &meta)?;
        self.keystore.put_pending(wid, share)?;
        self.keystore.promote(wid, share.epoch())?;
        Ok(())
    }

    /// 2-of-2 → 2-of-3: a third share of the same key (same addresses), sealed under
    /// `secret` and stored at `provider`; the device's new share is backed up through the
    /// EPS. Returns the new epoch.
    pub async fn upgrade_to_2of3(
        &mut self,
        wallet: &str,
        provider: &impl CloudProvider,
        secret: &RecoverySecret,
        passcode: Option<&Passcode>,
    ) -> Result<u64, WalletError> {
        let wid = wallet_id(wallet)?;
        let cloud = IdentityKey::random();
        let name = cloud_blob_name(wallet);
        let keep = |share: KeyShare| async move {
            let meta = BackupMeta::of_share(wid, &share).map_err(|e| e.to_string())?;
            let secret = secret.clone();
            let blob = tokio::task::spawn_blocking(move || recovery::seal(&share, &meta, &secret))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            provider.put(&name, &blob).await.map_err(|e| e.to_string())
        };
        let epoch = self.add_cloud_share(wallet, &cloud, keep).await?;
        if self.eps.is_some() {
            self.backup(wallet, passcode).await?;
        }
        Ok(epoch)
    }

    /// The cloud share of a 2-of-3 wallet, fetched from `provider` and opened with `secret`.
    pub async fn cloud_share(
        &self,
        wallet: &str,
        provider: &impl CloudProvider,
        secret: &RecoverySecret,
    ) -> Result<KeyShare, WalletError> {
        let view = self.api.wallet(wallet).await.map_err(CeremonyError::from)?;
        if !view.members.iter().any(|m| m.holder == Holder::Cloud) {
            return Err(WalletError::Record(format!(
                "wallet {wallet} has no cloud share in its active epoch ({}-of-{}): a cloud copy from before \
                 was destroyed with its epoch and signs nothing",
                view.threshold, view.parties
            )));
        }
        let expected = expected_meta(&view, Holder::Cloud)?;
        let blob = provider.get(&cloud_blob_name(wallet)).await.map_err(|e| WalletError::Backup(e.to_string()))?;
        let secret = secret.clone();
        let opened = tokio::task::spawn_blocking(move || recovery::open(&blob, &expected, &secret))
            .await
            .map_err(|e| WalletError::Backup(e.to_string()))?;
        opened.map_err(|e| match e {
            tssw_backup::BackupError::WrongSecret { .. } => WalletError::Backup(format!(
                "the recovery code does not open the cloud share of wallet {wallet}: check it (it was shown \
                 once, at the upgrade to 2-of-3)"
            )),
            other => backup_error(other),
        })
    }

    /// Signs with the cloud share and the enclave: a user who lost the device signs from a
    /// new one with the cloud copy.
    pub async fn sign_with(
        &self,
        wallet: &str,
        share: &KeyShare,
        payload: &ChainPayload,
    ) -> Result<(SignRequest, Signature), WalletError> {
        let allow_raw = matches!(payload, ChainPayload::RawDigest { .. });
        Ok(self.device().sign(wallet, share, payload, allow_raw).await?)
    }

    /// Signs every payload with `share` (this device's, from [`Wallets::share`], or the
    /// cloud share) and the enclave, batched as [`Device::sign_all`] does; returns what was
    /// signed and each signature, in payload order.
    pub async fn sign_all(
        &self,
        wallet: &str,
        share: &KeyShare,
        payloads: &[ChainPayload],
    ) -> Result<Vec<(SignRequest, Signature)>, WalletError> {
        let allow_raw = payloads.iter().any(|p| matches!(p, ChainPayload::RawDigest { .. }));
        Ok(self.device().sign_all(wallet, share, payloads, allow_raw).await?)
    }

    /// 2-of-3 → 2-of-2: the cloud share is dropped (the device and the enclave deal; the
    /// cloud share takes no part, so it may be lost) and its epoch destroyed once both
    /// confirm. Returns the new epoch.
    pub async fn remove_cloud_share(&mut self, wallet: &str, passcode: Option<&Passcode>) -> Result<u64, WalletError> {
        let share = self.share(wallet).await?;
        let wid = wallet_id(wallet)?;
        let view = self.api.wallet(wallet).await.map_err(CeremonyError::from)?;
        let index_of = |holder| view.members.iter().find(|m| m.holder == holder).map(|m| m.index);
        let (Some(enclave), Some(_)) = (index_of(Holder::Enclave), index_of(Holder::Cloud)) else {
            return Err(WalletError::Record(format!("wallet {wallet} has no cloud share to remove")));
        };
        let members = [
            ReshareMember { holder: Holder::Device, old_index: Some(share.index().get()), new_index: Some(1) },
            ReshareMember { holder: Holder::Enclave, old_index: Some(enclave), new_index: Some(2) },
        ];
        let me = Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device };
        let mut out = self.device().reshare(wallet, share.public_package(), 2, &members, &[me]).await?.into_iter();
        let Some(Some(mine)) = out.next() else {
            return Err(WalletError::Record("the reshare gave no new share".into()));
        };
        self.keystore.put_pending(&wid, &mine)?;
        let me = Holding { identity: &self.identity, share: Some(&mine), holder: Holder::Device };
        if !self.device().confirm(wallet, &me).await? {
            return Err(WalletError::Record("the server did not commit a reshare every holder confirmed".into()));
        }
        self.keystore.promote(&wid, mine.epoch())?;
        if self.eps.is_some() {
            self.backup(wallet, passcode).await?;
        }
        Ok(mine.epoch())
    }
}

/// Signs with two shares this device holds — its own and the cloud share of a 2-of-3 — with
/// no service at all ("independent recovery"): both run the threshold ceremony here, each
/// with its own share; the key is never assembled. The trade-off (SECURITY.md): whoever
/// holds the device and the cloud copy with its recovery secret can sign without the
/// service's policy or audit log.
pub fn sign_without_service(
    device: &KeyShare,
    cloud: &KeyShare,
    request: &SignRequest,
) -> Result<Signature, WalletError> {
    tssw_protocol::local::sign(&[device, cloud], request).map_err(|e| WalletError::Record(e.to_string()))
}

impl Wallets {
    /// The device as the SDK's single-ceremony operations see it (and as a [`crate::SignQueue`]
    /// signs through it).
    pub fn device(&self) -> Device<'_> {
        Device { api: &self.api, identity: &self.identity, enclave: self.enclave.clone(), stall: self.stall }
    }
}
