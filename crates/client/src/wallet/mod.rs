//! [`Wallets`]: the device's wallets, keystore and server together, with the two-phase
//! epoch rules (invariant 6) kept at every step:
//!
//! 1. a ceremony's new share is written to the keystore as *pending* before anything else
//!    depends on it;
//! 2. the new epoch is confirmed with a test signature between that pending share and the
//!    enclave; the server commits it once every holder has confirmed;
//! 3. only then is the local share promoted (and the old one destroyed).
//!
//! A crash anywhere leaves a state [`Wallets::reconcile`] finishes: it promotes an epoch
//! the server committed, finishes a confirmation the server still waits for, drops a local
//! pending share the server no longer has, aborts a server pending epoch whose share this
//! device lost, and abandons (on both sides) a reshare whose cloud share never confirmed.
//! Every operation reconciles first when it finds a pending epoch.
//!
//! Named fault points (`client.*`, see `tssw-fault`) let the crash tests kill the process
//! between the steps.

use std::time::Duration;

use tssw_api::http::{Holder, ReshareMember, WalletView};
use tssw_api::{ChainPayload, WalletId};
use tssw_channel::IdentityKey;
use tssw_protocol::{KeyShare, Scheme, SignRequest, Signature};

use crate::api::ApiClient;
use crate::ceremony::{Attested, CeremonyError, TrustPolicy, attest};
use crate::keystore::format::WalletMeta;
use crate::keystore::{Keystore, KeystoreError};
use crate::ops::{Device, Holding};
use crate::queue::SignQueue;

mod backup;

pub use backup::{cloud_blob_name, sign_without_service};

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// A ceremony or API call failed.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// The keystore refused.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The wallet is not in this device's keystore.
    #[error("wallet {0} is not in this device's keystore (tssw wallet list shows the ones that are)")]
    UnknownWallet(String),
    /// This device's share is of another epoch than the wallet's: it was refreshed without
    /// this device (or this device's share was replaced), and only a backup brings it back.
    #[error(
        "this device holds epoch {device} of wallet {wallet}, but the wallet is at epoch {server}: recover the \
         share from the backup (tssw recover)"
    )]
    EpochGap {
        /// The wallet.
        wallet: String,
        /// The device's epoch.
        device: u64,
        /// The server's.
        server: u64,
    },
    /// A backup could not be made or opened; the text says why.
    #[error("backup: {0}")]
    Backup(String),
    /// Something the server said does not fit.
    #[error("unexpected wallet record: {0}")]
    Record(String),
}

/// What [`Wallets::reconcile`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// Nothing to do: one active epoch, the same on both sides.
    InStep,
    /// The server had committed the pending epoch: the local share was promoted.
    Promoted(u64),
    /// The pending epoch was confirmed now and committed.
    Confirmed(u64),
    /// The pending epoch still needed another holder's confirmation, which can no longer
    /// come: the cloud share of an interrupted [`Wallets::add_cloud_share`], whose identity
    /// lived only in that process. It was aborted on the server and dropped here; the old
    /// epoch stays.
    Abandoned(u64),
    /// The server no longer has the pending epoch: the local pending share was dropped.
    DroppedLocal(u64),
    /// This device lost its share of the server's pending epoch: the server's was aborted.
    AbortedServer(u64),
}

/// A device's wallets.
pub struct Wallets {
    api: ApiClient,
    keystore: Keystore,
    identity: IdentityKey,
    enclave: Attested,
    eps: Option<tssw_backup::EpsClient>,
    /// The relay stall timeout of this device's parties.
    pub stall: Duration,
}

impl std::fmt::Debug for Wallets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallets")
            .field("api", &self.api)
            .field("identity", &self.identity.party_id())
            .finish_non_exhaustive()
    }
}

fn wallet_id(id: &str) -> Result<WalletId, WalletError> {
    WalletId::new(id).map_err(|e| WalletError::Record(format!("wallet id {id:?}: {e}")))
}

impl Wallets {
    /// Opens the device: its identity key (created and stored on first use), registered
    /// with the server, and the server's enclave attested under `trust`.
    pub async fn open(api: ApiClient, mut keystore: Keystore, trust: &TrustPolicy) -> Result<Wallets, WalletError> {
        let identity = match keystore.identity()? {
            Some(identity) => identity,
            None => {
                let identity = IdentityKey::random();
                keystore.set_identity(&identity)?;
                identity
            }
        };
        api.register_device(&identity.party_id(), "this device").await.map_err(CeremonyError::from)?;
        let enclave = attest(&api, trust).await?;
        Ok(Wallets { api, keystore, identity, enclave, eps: None, stall: Duration::from_secs(30) })
    }

    /// The attested enclave.
    pub fn enclave(&self) -> &Attested {
        &self.enclave
    }

    /// The server API.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The keystore.
    pub fn keystore(&self) -> &Keystore {
        &self.keystore
    }

    /// The device identity key.
    pub fn identity(&self) -> &IdentityKey {
        &self.identity
    }

    /// A new wallet (DKG with the enclave); returns the server's record once active.
    pub async fn create(&mut self, scheme: Scheme) -> Result<WalletView, WalletError> {
        let (start, share) = self.device().create_wallet(scheme).await?;
        let wid = wallet_id(&start.wallet_id)?;
        let meta = WalletMeta { key: share.public_package().wallet_key(), server_record: Vec::new() };
        self.keystore.put_meta(&wid, &meta)?;
        self.keystore.put_pending(&wid, &share)?;
        tssw_fault::point("client.create.persisted");
        self.device().outcome(&start).await?;
        self.keystore.promote(&wid, share.epoch())?;
        let view = self.api.wallet(wid.as_str()).await.map_err(CeremonyError::from)?;
        self.remember(&wid, &share, &view)?;
        Ok(view)
    }

    fn remember(&mut self, wid: &WalletId, share: &KeyShare, view: &WalletView) -> Result<(), WalletError> {
        let server_record = serde_json::to_vec(view).map_err(|e| WalletError::Record(e.to_string()))?;
        let meta = WalletMeta { key: share.public_package().wallet_key(), server_record };
        Ok(self.keystore.put_meta(wid, &meta)?)
    }

    /// The active share of a wallet, after finishing any epoch change a crash interrupted.
    pub async fn share(&mut self, wallet: &str) -> Result<KeyShare, WalletError> {
        let wid = wallet_id(wallet)?;
        if self.keystore.epochs(&wid)?.pending.is_some() {
            self.reconcile(wallet).await?;
        }
        self.keystore.active(&wid)?.ok_or_else(|| WalletError::UnknownWallet(wallet.into()))
    }

    /// Signs a payload; returns what was signed and the signature.
    pub async fn sign(
        &mut self,
        wallet: &str,
        payload: &ChainPayload,
    ) -> Result<(KeyShare, SignRequest, Signature), WalletError> {
        let share = self.share(wallet).await?;
        let allow_raw = matches!(payload, ChainPayload::RawDigest { .. });
        let (request, signature) = self.device().sign(wallet, &share, payload, allow_raw).await?;
        Ok((share, request, signature))
    }

    /// A queue for signing many payloads with `wallet` from several tasks at once: requests
    /// that arrive while the wallet is busy share batch ceremonies ([`SignQueue`]); sign
    /// through it with [`Wallets::device`]. It holds today's active share: make a new one
    /// after a refresh, reshare or recovery (the server refuses a retired epoch).
    pub async fn sign_queue(&mut self, wallet: &str, allow_raw_digest: bool) -> Result<SignQueue, WalletError> {
        let share = self.share(wallet).await?;
        Ok(SignQueue::new(wallet, share, allow_raw_digest, SignQueue::CEREMONIES))
    }

    /// Refreshes the wallet's shares (same key, next epoch); returns the new epoch.
    pub async fn refresh(&mut self, wallet: &str) -> Result<u64, WalletError> {
        let share = self.share(wallet).await?;
        let wid = wallet_id(wallet)?;
        let me = Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device };
        let new =
            self.device().refresh(wallet, &[me]).await?.pop().ok_or_else(|| WalletError::Record("no share".into()))?;
        tssw_fault::point("client.refresh.ran");
        self.keystore.put_pending(&wid, &new)?;
        tssw_fault::point("client.refresh.persisted");
        let me = Holding { identity: &self.identity, share: Some(&new), holder: Holder::Device };
        let committed = self.device().confirm(wallet, &me).await?;
        tssw_fault::point("client.refresh.confirmed");
        if !committed {
            return Err(WalletError::Record("the server did not commit a refresh every holder confirmed".into()));
        }
        self.keystore.promote(&wid, new.epoch())?;
        tssw_fault::point("client.refresh.promoted");
        Ok(new.epoch())
    }

    /// Adds a third share (2-of-2 → 2-of-3, same key and addresses) held by `cloud`, an
    /// identity this call registers. `keep` must store the new cloud share durably (encrypted,
    /// off this device) before it returns: the epoch commits only after the cloud share has
    /// confirmed too, so a crash before that leaves the old epoch in force ([`Wallets::reconcile`]
    /// abandons the new one). Returns the new epoch.
    pub async fn add_cloud_share<F, Fut>(
        &mut self,
        wallet: &str,
        cloud: &IdentityKey,
        keep: F,
    ) -> Result<u64, WalletError>
    where
        F: FnOnce(KeyShare) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let share = self.share(wallet).await?;
        let wid = wallet_id(wallet)?;
        if share.parties() != 2 {
            return Err(WalletError::Record(format!("the wallet has {} share holders, not 2", share.parties())));
        }
        self.api.register_device(&cloud.party_id(), "cloud share").await.map_err(CeremonyError::from)?;
        let members = [
            ReshareMember { holder: Holder::Device, old_index: Some(share.index().get()), new_index: Some(1) },
            ReshareMember { holder: Holder::Enclave, old_index: Some(3 - share.index().get()), new_index: Some(2) },
            ReshareMember { holder: Holder::Cloud, old_index: None, new_index: Some(3) },
        ];
        let holdings = [
            Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device },
            Holding { identity: cloud, share: None, holder: Holder::Cloud },
        ];
        let mut out = self.device().reshare(wallet, share.public_package(), 2, &members, &holdings).await?.into_iter();
        let (Some(Some(mine)), Some(Some(theirs))) = (out.next(), out.next()) else {
            return Err(WalletError::Record("the reshare gave no new shares".into()));
        };
        tssw_fault::point("client.reshare.ran");
        self.keystore.put_pending(&wid, &mine)?;
        let epoch = mine.epoch();
        let cloud_holding = Holding { identity: cloud, share: Some(&theirs), holder: Holder::Cloud };
        let cloud_device = Device { identity: cloud, ..self.device() };
        keep(theirs.clone()).await.map_err(|e| WalletError::Record(format!("storing the cloud share: {e}")))?;
        tssw_fault::point("client.reshare.persisted");
        let me = Holding { identity: &self.identity, share: Some(&mine), holder: Holder::Device };
        self.device().confirm(wallet, &me).await?;
        tssw_fault::point("client.reshare.device_confirmed");
        if !cloud_device.confirm(wallet, &cloud_holding).await? {
            return Err(WalletError::Record("the server did not commit a reshare every holder confirmed".into()));
        }
        tssw_fault::point("client.reshare.committed");
        self.keystore.promote(&wid, epoch)?;
        Ok(epoch)
    }

    /// Brings the device's epochs in step with the server's after an interruption.
    pub async fn reconcile(&mut self, wallet: &str) -> Result<Reconciled, WalletError> {
        let wid = wallet_id(wallet)?;
        let view = self.api.wallet(wallet).await.map_err(CeremonyError::from)?;
        let local = self.keystore.epochs(&wid)?;
        let server_pending = view.pending_epoch;
        let outcome = match local.pending {
            Some(p) if p == view.epoch => {
                self.keystore.promote(&wid, p)?;
                Reconciled::Promoted(p)
            }
            Some(p) if server_pending == Some(p) => {
                let share = self.keystore.pending(&wid)?.ok_or_else(|| WalletError::Record("pending share".into()))?;
                let me = Holding { identity: &self.identity, share: Some(&share), holder: Holder::Device };
                if self.device().confirm(wallet, &me).await? {
                    self.keystore.promote(&wid, p)?;
                    Reconciled::Confirmed(p)
                } else {
                    // Left waiting, the pending epoch would be replaced on the server by the
                    // next refresh or reshare while this device still held its share: the
                    // two would then never confirm together. The server first, so it can
                    // never commit an epoch this device no longer holds.
                    self.api.abort(wallet, p).await.map_err(CeremonyError::from)?;
                    self.keystore.discard_pending(&wid, p)?;
                    Reconciled::Abandoned(p)
                }
            }
            Some(p) => {
                self.keystore.discard_pending(&wid, p)?;
                Reconciled::DroppedLocal(p)
            }
            None => match server_pending {
                Some(q) if local.active.is_some_and(|a| q > a) => {
                    self.api.abort(wallet, q).await.map_err(CeremonyError::from)?;
                    Reconciled::AbortedServer(q)
                }
                _ => Reconciled::InStep,
            },
        };
        let server_epoch = match outcome {
            Reconciled::Confirmed(p) => p,
            _ => view.epoch,
        };
        let active = self.keystore.epochs(&wid)?.active;
        match active {
            Some(a) if a == server_epoch => Ok(outcome),
            Some(a) => Err(WalletError::EpochGap { wallet: wallet.into(), device: a, server: server_epoch }),
            None => Err(WalletError::UnknownWallet(wallet.into())),
        }
    }

    /// Every wallet this device holds a share of, with its server record.
    pub async fn list(&self) -> Result<Vec<(WalletId, Option<WalletView>)>, WalletError> {
        let mut out = Vec::new();
        let server = self.api.wallets().await.map_err(CeremonyError::from)?;
        for wid in self.keystore.wallets()? {
            let view = server.iter().find(|v| v.id == wid.as_str()).cloned();
            out.push((wid, view));
        }
        Ok(out)
    }
}
