//! Ceremonies the server started: one row each, `running` until the enclave's side ends,
//! then `done` or `failed`. A running row past its expiry is reported failed: the server
//! or enclave that ran it stopped before it could say.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AUDIT_ATTEMPTS, AuditNote, Store, StoreError, append_audit};

/// Where a ceremony stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyState {
    /// The enclave is still at it.
    Running,
    /// It finished.
    Done,
    /// It failed, or expired with no word from its runner.
    Failed,
}

impl CeremonyState {
    /// `running`, `done` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            CeremonyState::Running => "running",
            CeremonyState::Done => "done",
            CeremonyState::Failed => "failed",
        }
    }
}

/// A ceremony's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeremonyRecord {
    /// Hex ceremony id.
    pub id: String,
    /// Its wallet.
    pub wallet_id: String,
    /// `dkg`, `sign`, `refresh`, `reshare` or `confirm`.
    pub operation: String,
    /// Where it stands (expiry already applied).
    pub state: CeremonyState,
    /// The epoch it produces (dkg, refresh, reshare), confirms, or signs with.
    pub epoch: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The signature, for sign and confirm.
    pub signature: Option<Vec<u8>>,
    /// For confirm: the epoch became active.
    pub committed: Option<bool>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// How a ceremony ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Finished; what it produced.
    Done {
        /// A signature (sign, confirm).
        signature: Option<Vec<u8>>,
        /// For confirm: whether the epoch committed.
        committed: Option<bool>,
    },
    /// Failed, and why (safe to show the owner: no secrets, no internals).
    Failed(String),
}

impl Store {
    /// Records a new running ceremony, with its audit entry, unless the account already
    /// runs `limit` unexpired ones. Returns whether it was recorded. (Several server
    /// instances may race past the limit by one each: the count and the insert are one
    /// statement, not a lock.)
    #[allow(clippy::too_many_arguments)]
    pub async fn start_ceremony(
        &self,
        id: &str,
        account: &str,
        wallet: &str,
        operation: &str,
        epoch: i64,
        expires_at: i64,
        limit: i64,
        note: &AuditNote<'_>,
    ) -> Result<bool, StoreError> {
        for _ in 0..AUDIT_ATTEMPTS {
            let mut tx = self.bookkeeping().await?;
            let inserted = sqlx::query(
                "INSERT INTO ceremonies (id, account_id, wallet_id, operation, status, epoch, expires_at, created_at) \
                 SELECT $1, $2, $3, $4, 'running', $5, $6, $7 WHERE (SELECT COUNT(*) FROM ceremonies \
                 WHERE account_id = $2 AND status = 'running' AND expires_at > $7) < $8",
            )
            .bind(id)
            .bind(account)
            .bind(wallet)
            .bind(operation)
            .bind(epoch)
            .bind(expires_at)
            .bind(note.now)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            if append_audit(&mut tx, note).await?.is_some() {
                tx.commit().await?;
                return Ok(true);
            }
            tx.rollback().await?;
        }
        Err(StoreError::Contention)
    }

    /// Records how a running ceremony ended (a finished one stays as it is), with its audit
    /// entry.
    pub async fn finish_ceremony(&self, id: &str, outcome: &Outcome, note: &AuditNote<'_>) -> Result<(), StoreError> {
        let (status, error, signature, committed) = match outcome {
            Outcome::Done { signature, committed } => ("done", None, signature.clone(), committed.map(i64::from)),
            Outcome::Failed(why) => ("failed", Some(why.clone()), None, None),
        };
        for _ in 0..AUDIT_ATTEMPTS {
            let mut tx = self.bookkeeping().await?;
            sqlx::query(
                "UPDATE ceremonies SET status = $1, error = $2, signature = $3, committed = $4 \
                 WHERE id = $5 AND status = 'running'",
            )
            .bind(status)
            .bind(error.clone())
            .bind(signature.clone())
            .bind(committed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if append_audit(&mut tx, note).await?.is_some() {
                tx.commit().await?;
                return Ok(());
            }
            tx.rollback().await?;
        }
        Err(StoreError::Contention)
    }

    /// One of the account's ceremonies.
    pub async fn ceremony(&self, account: &str, id: &str, now: i64) -> Result<Option<CeremonyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, wallet_id, operation, status, epoch, error, signature, committed, expires_at \
             FROM ceremonies WHERE account_id = $1 AND id = $2",
        )
        .bind(account)
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(|r| record(r, now)).transpose()
    }
}

fn record(row: &AnyRow, now: i64) -> Result<CeremonyRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let mut error: Option<String> = row.try_get("error")?;
    let state = match status.as_str() {
        "running" if expires_at <= now => {
            error = Some("expired: the ceremony's runner stopped before it finished; start a new one".into());
            CeremonyState::Failed
        }
        "running" => CeremonyState::Running,
        "done" => CeremonyState::Done,
        "failed" => CeremonyState::Failed,
        _ => return Err(StoreError::Corrupt("unknown ceremony status")),
    };
    let committed: Option<i64> = row.try_get("committed")?;
    Ok(CeremonyRecord {
        id: row.try_get("id")?,
        wallet_id: row.try_get("wallet_id")?,
        operation: row.try_get("operation")?,
        state,
        epoch: row.try_get("epoch")?,
        error,
        signature: row.try_get("signature")?,
        committed: committed.map(|c| c != 0),
        expires_at,
    })
}
