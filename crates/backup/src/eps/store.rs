//! The EPS's own database: registrations (verifier hashes and lockout counters) and an
//! audit table. One `sqlx` `Any` pool over SQLite (default: a file in the EPS data dir) or
//! PostgreSQL (several EPS instances), with each dialect's migrations embedded.
//!
//! The lockout counter is incremented by one `UPDATE … WHERE failures < max RETURNING`,
//! so concurrent evaluations (or several EPS instances on one PostgreSQL) can never get
//! more than `max` evaluations past it.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use subtle::ConstantTimeEq;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Neither `sqlite://` nor `postgres://`.
    #[error("unsupported database url (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// The database holds the wallet server's tables.
    #[error("this database holds the wallet server's tables: the encryption proxy needs its own database")]
    SharedWithWalletServer,
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

/// The account a verified token names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
}

/// One registration's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Its id.
    pub id: [u8; 16],
    /// Kept by the last activation.
    pub active: bool,
    /// The verifier is registered.
    pub verifier_set: bool,
    /// Evaluations since the last confirmation.
    pub failures: u32,
    /// Microseconds since the Unix epoch.
    pub created_us: i64,
}

/// What counting an evaluation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: `failures` unconfirmed evaluations now, this one included.
    Counted {
        /// The new count.
        failures: u32,
    },
    /// The count is at the limit: refused, not counted.
    Locked,
    /// No such registration for this account and wallet.
    NotFound,
    /// The registration has no verifier yet.
    Incomplete,
}

/// What checking a verifier found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// It matched (the count is reset).
    Matched,
    /// It did not.
    Wrong {
        /// The current count.
        failures: u32,
    },
    /// No such registration.
    NotFound,
    /// No verifier registered yet.
    Incomplete,
}

/// What setting a verifier found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetVerifier {
    /// Set now, or the same one was set before.
    Set,
    /// Another verifier is already set.
    Conflict,
    /// No such registration.
    NotFound,
}

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Order.
    pub seq: i64,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// `registration.created`, `registration.activated`, `registration.locked`, `registration.unlocked`.
    pub kind: String,
    /// Who and what.
    pub detail: String,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, active, verifier_hash, failures, created_us";

fn registration(row: &AnyRow) -> Result<Registration, StoreError> {
    let id: Vec<u8> = row.try_get("id")?;
    let hash: Option<Vec<u8>> = row.try_get("verifier_hash")?;
    let failures: i64 = row.try_get("failures")?;
    Ok(Registration {
        id: id.try_into().map_err(|_| StoreError::Corrupt("registration id"))?,
        active: row.try_get::<i64, _>("active")? == 1,
        verifier_set: hash.is_some(),
        failures: u32::try_from(failures).map_err(|_| StoreError::Corrupt("failures"))?,
        created_us: row.try_get("created_us")?,
    })
}

fn hashes_equal(stored: &[u8], given: &[u8; 32]) -> bool {
    stored.len() == 32 && bool::from(stored.ct_eq(given))
}

impl Store {
    /// Connects and applies the embedded migrations. `sqlite://PATH` creates the file.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, sqlite) = if let Some(path) = url.strip_prefix("sqlite://") {
            let sep = if path.contains('?') { '&' } else { '?' };
            (format!("sqlite://{path}{sep}mode=rwc"), true)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), false)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        // SQLite allows one writer at a time; more connections only queue on its lock.
        let pool = AnyPoolOptions::new().max_connections(if sqlite { 1 } else { 16 }).connect(&url).await?;
        // The wallet server's `wallets` table: refuse to mix the two key domains.
        if sqlx::query("SELECT 1 FROM wallets LIMIT 1").fetch_optional(&pool).await.is_ok() {
            return Err(StoreError::SharedWithWalletServer);
        }
        if sqlite {
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        } else {
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        }
        Ok(Store { pool })
    }

    /// The pool, for maintenance and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records a new registration. When the wallet already has `max` of them, the oldest
    /// ones that are not active are deleted to make room (the active one never is);
    /// returns how many were.
    pub async fn create(
        &self,
        account: &Account,
        wallet: &str,
        id: &[u8; 16],
        now_us: i64,
        max: usize,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM eps_registrations WHERE issuer = $1 AND subject = $2 AND wallet_id = $3 \
             ORDER BY created_us, id"
        )))
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .fetch_all(&mut *tx)
        .await?;
        let existing = rows.iter().map(registration).collect::<Result<Vec<_>, _>>()?;
        let excess = (existing.len() + 1).saturating_sub(max.max(1));
        let evict: Vec<_> = existing.iter().filter(|r| !r.active).take(excess).collect();
        for r in &evict {
            sqlx::query("DELETE FROM eps_registrations WHERE id = $1").bind(r.id.to_vec()).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO eps_registrations (id, issuer, subject, wallet_id, verifier_hash, active, failures, created_us) \
             VALUES ($1, $2, $3, $4, NULL, 0, 0, $5)",
        )
        .bind(id.to_vec())
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(evict.len())
    }

    async fn verifier_hash(
        &self,
        account: &Account,
        wallet: &str,
        id: &[u8; 16],
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let row = sqlx::query(
            "SELECT verifier_hash FROM eps_registrations WHERE id = $1 AND issuer = $2 AND subject = $3 AND wallet_id = $4",
        )
        .bind(id.to_vec())
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<Option<Vec<u8>>, _>("verifier_hash")).transpose().map_err(Into::into)
    }

    /// Sets a registration's verifier hash, once.
    pub async fn set_verifier(
        &self,
        account: &Account,
        wallet: &str,
        id: &[u8; 16],
        hash: &[u8; 32],
    ) -> Result<SetVerifier, StoreError> {
        let updated = sqlx::query(
            "UPDATE eps_registrations SET verifier_hash = $1 \
             WHERE id = $2 AND issuer = $3 AND subject = $4 AND wallet_id = $5 AND verifier_hash IS NULL",
        )
        .bind(hash.to_vec())
        .bind(id.to_vec())
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 1 {
            return Ok(SetVerifier::Set);
        }
        Ok(match self.verifier_hash(account, wallet, id).await? {
            None => SetVerifier::NotFound,
            Some(Some(stored)) if hashes_equal(&stored, hash) => SetVerifier::Set,
            Some(_) => SetVerifier::Conflict,
        })
    }

    /// Counts one evaluation, unless the registration is at `max` already.
    pub async fn count_attempt(
        &self,
        account: &Account,
        wallet: &str,
        id: &[u8; 16],
        max: u32,
    ) -> Result<Attempt, StoreError> {
        let row = sqlx::query(
            "UPDATE eps_registrations SET failures = failures + 1 \
             WHERE id = $1 AND issuer = $2 AND subject = $3 AND wallet_id = $4 \
             AND verifier_hash IS NOT NULL AND failures < $5 RETURNING failures",
        )
        .bind(id.to_vec())
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .bind(i64::from(max))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            let failures: i64 = row.try_get("failures")?;
            return Ok(Attempt::Counted {
                failures: u32::try_from(failures).map_err(|_| StoreError::Corrupt("failures"))?,
            });
        }
        Ok(match self.verifier_hash(account, wallet, id).await? {
            None => Attempt::NotFound,
            Some(None) => Attempt::Incomplete,
            Some(Some(_)) => Attempt::Locked,
        })
    }

    /// Checks a verifier; a match resets the count (and unlocks: it proves the caller
    /// derived the key, which is what the lockout protects). With `activate`, a match also
    /// makes this the wallet's only registration.
    pub async fn check(
        &self,
        account: &Account,
        wallet: &str,
        id: &[u8; 16],
        hash: &[u8; 32],
        activate: bool,
    ) -> Result<(Check, usize), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT verifier_hash, failures FROM eps_registrations \
             WHERE id = $1 AND issuer = $2 AND subject = $3 AND wallet_id = $4",
        )
        .bind(id.to_vec())
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok((Check::NotFound, 0)) };
        let Some(stored) = row.try_get::<Option<Vec<u8>>, _>("verifier_hash")? else {
            return Ok((Check::Incomplete, 0));
        };
        if !hashes_equal(&stored, hash) {
            let failures: i64 = row.try_get("failures")?;
            return Ok((Check::Wrong { failures: u32::try_from(failures).unwrap_or(u32::MAX) }, 0));
        }
        let mut deleted = 0;
        if activate {
            deleted = sqlx::query(
                "DELETE FROM eps_registrations WHERE issuer = $1 AND subject = $2 AND wallet_id = $3 AND id <> $4",
            )
            .bind(&account.issuer)
            .bind(&account.subject)
            .bind(wallet)
            .bind(id.to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE eps_registrations SET failures = 0{} WHERE id = $1",
            if activate { ", active = 1" } else { "" }
        )))
        .bind(id.to_vec())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((Check::Matched, usize::try_from(deleted).unwrap_or(usize::MAX)))
    }

    /// The account's registrations for a wallet, oldest first.
    pub async fn registrations(&self, account: &Account, wallet: &str) -> Result<Vec<Registration>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM eps_registrations WHERE issuer = $1 AND subject = $2 AND wallet_id = $3 \
             ORDER BY created_us, id"
        )))
        .bind(&account.issuer)
        .bind(&account.subject)
        .bind(wallet)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(registration).collect()
    }

    /// Operator unlock: resets the count of every registration of `wallet` (of one
    /// account's, when given) that has any failures; returns what it reset.
    pub async fn unlock(
        &self,
        wallet: &str,
        account: Option<&Account>,
    ) -> Result<Vec<(Account, [u8; 16], u32)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id, issuer, subject, failures FROM eps_registrations WHERE wallet_id = $1 AND failures > 0 ORDER BY created_us, id")
            .bind(wallet)
            .fetch_all(&mut *tx)
            .await?;
        let mut reset = Vec::new();
        for row in rows {
            let who = Account { issuer: row.try_get("issuer")?, subject: row.try_get("subject")? };
            if account.is_some_and(|a| *a != who) {
                continue;
            }
            let id: Vec<u8> = row.try_get("id")?;
            let id: [u8; 16] = id.try_into().map_err(|_| StoreError::Corrupt("registration id"))?;
            let failures: i64 = row.try_get("failures")?;
            sqlx::query("UPDATE eps_registrations SET failures = 0 WHERE id = $1")
                .bind(id.to_vec())
                .execute(&mut *tx)
                .await?;
            reset.push((who, id, u32::try_from(failures).unwrap_or(u32::MAX)));
        }
        tx.commit().await?;
        Ok(reset)
    }

    /// Appends an audit entry.
    pub async fn audit(&self, kind: &str, detail: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO eps_audit (at, kind, detail) VALUES ($1, $2, $3)")
            .bind(now)
            .bind(kind)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The audit log in order.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, at, kind, detail FROM eps_audit ORDER BY seq").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
