//! Wallets, the enclave's sealed shares per epoch, share holders, epoch confirmations and
//! the user-share backup. Every change of epoch state is one transaction, so a crash
//! leaves either the old state or the new one (invariant 6).

use sqlx::Row;
use sqlx::any::AnyRow;
use tssw_api::http::Holder;

use super::{Store, StoreError, Tx};
use sqlx::Connection;

/// A wallet's record (the server share itself is sealed, in `server_shares`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Wallet {
    /// Random id.
    pub id: String,
    /// `ecdsa`, `ed25519` or `bip340`.
    pub scheme: String,
    /// `creating`, `active` or `failed`.
    pub status: String,
    /// Signers needed.
    pub threshold: i64,
    /// Share holders.
    pub parties: i64,
    /// The group public key, hex (empty while creating).
    pub public_key: String,
    /// The active epoch (0 while creating).
    pub epoch: i64,
    /// The enclave signs bare digests for this wallet.
    pub allow_raw_digest: bool,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// One of the enclave's sealed shares as the host keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredShare {
    /// Its epoch.
    pub epoch: i64,
    /// `pending` or `active`.
    pub state: String,
    /// `SealedShare::to_bytes`.
    pub sealed: Vec<u8>,
    /// `PublicPackage::to_bytes` of the epoch.
    pub public_package: Vec<u8>,
}

const WALLET_COLUMNS: &str = "id, scheme, status, threshold, parties, public_key, epoch, allow_raw_digest, created_at";

impl Store {
    /// Records a wallet whose DKG is about to start, with its holders at epoch 1.
    pub async fn create_wallet(
        &self,
        account: &str,
        id: &str,
        scheme: &str,
        threshold: i64,
        members: &[(i64, Holder)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.durable().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO wallets (id, account_id, scheme, threshold, parties, public_key, epoch, created_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'creating')",
        )
        .bind(id)
        .bind(account)
        .bind(scheme)
        .bind(threshold)
        .bind(i64::try_from(members.len()).unwrap_or(i64::MAX))
        .bind(Vec::<u8>::new())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_members(&mut tx, id, 1, members).await?;
        tx.commit().await?;
        self.relax(conn).await?;
        Ok(())
    }

    /// The account's wallets, oldest first.
    pub async fn wallets(&self, account: &str) -> Result<Vec<Wallet>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WALLET_COLUMNS} FROM wallets WHERE account_id = $1 ORDER BY created_at, id"
        )))
        .bind(account)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(wallet).collect()
    }

    /// One of the account's wallets (`None` for another account's).
    pub async fn wallet(&self, account: &str, id: &str) -> Result<Option<Wallet>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WALLET_COLUMNS} FROM wallets WHERE account_id = $1 AND id = $2"
        )))
        .bind(account)
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(wallet).transpose()
    }

    /// The enclave's sealed share of `epoch`.
    pub async fn share(&self, wallet: &str, epoch: i64) -> Result<Option<StoredShare>, StoreError> {
        let row = sqlx::query(
            "SELECT epoch, state, sealed, public_package FROM server_shares WHERE wallet_id = $1 AND epoch = $2",
        )
        .bind(wallet)
        .bind(epoch)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(stored_share).transpose()
    }

    /// The pending epoch's share, if a refresh or reshare left one.
    pub async fn pending_share(&self, wallet: &str) -> Result<Option<StoredShare>, StoreError> {
        let row = sqlx::query(
            "SELECT epoch, state, sealed, public_package FROM server_shares \
             WHERE wallet_id = $1 AND state = 'pending' ORDER BY epoch DESC LIMIT 1",
        )
        .bind(wallet)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(stored_share).transpose()
    }

    /// Who holds which share index at `epoch`, by index.
    pub async fn members(&self, wallet: &str, epoch: i64) -> Result<Vec<(i64, Holder)>, StoreError> {
        let rows = sqlx::query(
            "SELECT share_index, holder FROM members WHERE wallet_id = $1 AND epoch = $2 ORDER BY share_index",
        )
        .bind(wallet)
        .bind(epoch)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let holder: String = r.try_get("holder")?;
                let holder = Holder::from_name(&holder).ok_or(StoreError::Corrupt("unknown holder"))?;
                Ok((r.try_get("share_index")?, holder))
            })
            .collect()
    }

    /// The DKG finished: the enclave's share becomes the active epoch 1.
    pub async fn finish_dkg(
        &self,
        wallet: &str,
        public_key: &[u8],
        sealed: &[u8],
        public_package: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.durable().await?;
        let mut tx = conn.begin().await?;
        insert_share(&mut tx, wallet, 1, "active", sealed, public_package, now).await?;
        sqlx::query("UPDATE wallets SET status = 'active', public_key = $1, epoch = 1 WHERE id = $2")
            .bind(public_key.to_vec())
            .bind(wallet)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.relax(conn).await?;
        Ok(())
    }

    /// The DKG failed: the wallet will never have a key.
    pub async fn fail_wallet(&self, wallet: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE wallets SET status = 'failed' WHERE id = $1 AND status = 'creating'")
            .bind(wallet)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A refresh or reshare produced the enclave's share of a new epoch: it is kept pending,
    /// with its holders, until they all confirm. Any other pending epoch is dropped (a
    /// newer ceremony supersedes it; its holders never confirmed it).
    pub async fn store_pending(
        &self,
        wallet: &str,
        epoch: i64,
        sealed: &[u8],
        public_package: &[u8],
        members: &[(i64, Holder)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.durable().await?;
        let mut tx = conn.begin().await?;
        delete_pending(&mut tx, wallet).await?;
        insert_share(&mut tx, wallet, epoch, "pending", sealed, public_package, now).await?;
        insert_members(&mut tx, wallet, epoch, members).await?;
        tx.commit().await?;
        self.relax(conn).await?;
        Ok(())
    }

    /// Records that `holders` proved they hold the pending `epoch`. When every holder of
    /// the epoch has, commits it: the epoch becomes active, the wallet's threshold and
    /// party count follow it, and every other epoch is destroyed. Returns whether it
    /// committed; `None` if `epoch` is not pending (aborted, superseded or already active).
    pub async fn confirm_epoch(
        &self,
        wallet: &str,
        epoch: i64,
        holders: &[Holder],
        ceremony: &str,
        threshold: i64,
    ) -> Result<Option<bool>, StoreError> {
        let mut conn = self.durable().await?;
        let mut tx = conn.begin().await?;
        let pending = sqlx::query("SELECT state FROM server_shares WHERE wallet_id = $1 AND epoch = $2")
            .bind(wallet)
            .bind(epoch)
            .fetch_optional(&mut *tx)
            .await?;
        let state: Option<String> = pending.map(|r| r.try_get("state")).transpose()?;
        match state.as_deref() {
            Some("pending") => {}
            Some("active") => {
                drop(tx);
                self.relax(conn).await?;
                return Ok(Some(true));
            }
            _ => {
                drop(tx);
                self.relax(conn).await?;
                return Ok(None);
            }
        }
        for holder in holders {
            sqlx::query(
                "INSERT INTO confirmations (wallet_id, epoch, holder, ceremony_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (wallet_id, epoch, holder) DO NOTHING",
            )
            .bind(wallet)
            .bind(epoch)
            .bind(holder.name())
            .bind(ceremony)
            .execute(&mut *tx)
            .await?;
        }
        let missing: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM members m WHERE m.wallet_id = $1 AND m.epoch = $2 AND NOT EXISTS \
             (SELECT 1 FROM confirmations c WHERE c.wallet_id = m.wallet_id AND c.epoch = m.epoch \
              AND c.holder = m.holder)",
        )
        .bind(wallet)
        .bind(epoch)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if missing > 0 {
            tx.commit().await?;
            self.relax(conn).await?;
            return Ok(Some(false));
        }
        let parties: i64 = sqlx::query("SELECT COUNT(*) AS n FROM members WHERE wallet_id = $1 AND epoch = $2")
            .bind(wallet)
            .bind(epoch)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        sqlx::query("UPDATE server_shares SET state = 'active' WHERE wallet_id = $1 AND epoch = $2")
            .bind(wallet)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
        for table in ["server_shares", "members", "confirmations"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE wallet_id = $1 AND epoch <> $2")))
                .bind(wallet)
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE wallets SET epoch = $1, threshold = $2, parties = $3 WHERE id = $4")
            .bind(epoch)
            .bind(threshold)
            .bind(parties)
            .bind(wallet)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.relax(conn).await?;
        Ok(Some(true))
    }

    /// Drops a pending epoch (a holder lost its new share before confirming). Returns
    /// whether there was one.
    pub async fn abort_pending(&self, wallet: &str, epoch: i64) -> Result<bool, StoreError> {
        let mut conn = self.durable().await?;
        let mut tx = conn.begin().await?;
        let deleted =
            sqlx::query("DELETE FROM server_shares WHERE wallet_id = $1 AND epoch = $2 AND state = 'pending'")
                .bind(wallet)
                .bind(epoch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted > 0 {
            for table in ["members", "confirmations"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE wallet_id = $1 AND epoch = $2")))
                    .bind(wallet)
                    .bind(epoch)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.relax(conn).await?;
        Ok(deleted > 0)
    }

    /// Sets whether the enclave signs bare digests for the wallet.
    pub async fn set_allow_raw_digest(&self, wallet: &str, allow: bool) -> Result<(), StoreError> {
        let mut conn = self.durable().await?;
        sqlx::query("UPDATE wallets SET allow_raw_digest = $1 WHERE id = $2")
            .bind(i64::from(allow))
            .bind(wallet)
            .execute(&mut *conn)
            .await?;
        self.relax(conn).await?;
        Ok(())
    }

    /// Stores (replaces) the wallet's encrypted user-share backup.
    pub async fn put_backup(&self, wallet: &str, epoch: i64, envelope: &[u8], now: i64) -> Result<(), StoreError> {
        let mut conn = self.durable().await?;
        sqlx::query(
            "INSERT INTO backups (wallet_id, epoch, envelope, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (wallet_id) DO UPDATE SET epoch = $2, envelope = $3, updated_at = $4",
        )
        .bind(wallet)
        .bind(epoch)
        .bind(envelope.to_vec())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.relax(conn).await?;
        Ok(())
    }

    /// The wallet's backup: its epoch, the envelope and when it was stored.
    pub async fn backup(&self, wallet: &str) -> Result<Option<(i64, Vec<u8>, i64)>, StoreError> {
        let row = sqlx::query("SELECT epoch, envelope, updated_at FROM backups WHERE wallet_id = $1")
            .bind(wallet)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok((r.try_get("epoch")?, r.try_get("envelope")?, r.try_get("updated_at")?))).transpose()
    }
}

async fn insert_members(
    tx: &mut Tx<'_>,
    wallet: &str,
    epoch: i64,
    members: &[(i64, Holder)],
) -> Result<(), StoreError> {
    for (index, holder) in members {
        sqlx::query("INSERT INTO members (wallet_id, epoch, share_index, holder) VALUES ($1, $2, $3, $4)")
            .bind(wallet)
            .bind(epoch)
            .bind(*index)
            .bind(holder.name())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_share(
    tx: &mut Tx<'_>,
    wallet: &str,
    epoch: i64,
    state: &str,
    sealed: &[u8],
    public_package: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO server_shares (wallet_id, epoch, state, sealed, public_package, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(wallet)
    .bind(epoch)
    .bind(state)
    .bind(sealed.to_vec())
    .bind(public_package.to_vec())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn delete_pending(tx: &mut Tx<'_>, wallet: &str) -> Result<(), StoreError> {
    let epochs = sqlx::query("SELECT epoch FROM server_shares WHERE wallet_id = $1 AND state = 'pending'")
        .bind(wallet)
        .fetch_all(&mut **tx)
        .await?;
    for row in epochs {
        let epoch: i64 = row.try_get("epoch")?;
        for table in ["server_shares", "members", "confirmations"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE wallet_id = $1 AND epoch = $2")))
                .bind(wallet)
                .bind(epoch)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

fn stored_share(row: &AnyRow) -> Result<StoredShare, StoreError> {
    Ok(StoredShare {
        epoch: row.try_get("epoch")?,
        state: row.try_get("state")?,
        sealed: row.try_get("sealed")?,
        public_package: row.try_get("public_package")?,
    })
}

fn wallet(row: &AnyRow) -> Result<Wallet, StoreError> {
    let key: Vec<u8> = row.try_get("public_key")?;
    let raw: i64 = row.try_get("allow_raw_digest")?;
    Ok(Wallet {
        id: row.try_get("id")?,
        scheme: row.try_get("scheme")?,
        status: row.try_get("status")?,
        threshold: row.try_get("threshold")?,
        parties: row.try_get("parties")?,
        public_key: hex::encode(key),
        epoch: row.try_get("epoch")?,
        allow_raw_digest: raw != 0,
        created_at: row.try_get("created_at")?,
    })
}
