//! Storage: one `sqlx` `Any` pool over SQLite (the embedded default, a file in the data
//! dir) or PostgreSQL (production), with the migrations of each embedded in the binary.
//!
//! **Two kinds of commit.** Writes that carry key material or decide who can sign — sealed
//! shares, epoch commits, devices, accounts, policy, backups — are *durable*: their commit
//! reaches the disk before it returns (SQLite `synchronous=FULL` for that transaction,
//! PostgreSQL's default). Bookkeeping — idempotency records, ceremony rows, audit entries —
//! is committed without waiting for the disk (SQLite `synchronous=NORMAL` in WAL mode,
//! PostgreSQL `synchronous_commit=off`): still atomic and crash-safe against a killed
//! process, but a power loss may roll back the last moments of it. A durable commit also
//! flushes every earlier write (one WAL), so bookkeeping is never lost *before* key
//! material that followed it. This is what keeps a signature from waiting on six fsyncs.
//!
//! Only the runtime query API is used (the `query!` macros need a database at build time).
//! Queries are written once in the dialect both accept (`$n` placeholders, BIGINT, bytes
//! as BLOB/BYTEA); the two migration folders differ only in the bytes type.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row};

use crate::audit::{self, AuditEntry};

mod ceremonies;
mod wallets;

pub use ceremonies::{CeremonyRecord, CeremonyState, Outcome};
pub use wallets::{StoredShare, Wallet};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database url (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode (corrupt or tampered data).
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// Another writer appended to the audit log at the same time, too many times in a row.
    #[error("audit log contention")]
    Contention,
}

/// A registered device: its identity key signs its part of ceremony setups.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    /// Random id.
    pub id: String,
    /// The device's Ed25519 identity key, hex.
    pub identity_key: String,
    /// A label the user chose.
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// A stored response for an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotent {
    /// First use: the caller reserved the key and must [`Store::finish_idempotent`] it.
    Reserved,
    /// A request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// Done before: the stored status and body.
    Done(u16, Vec<u8>),
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Plain reads. On SQLite, read-only connections beside the one writer (WAL lets them
    /// run while it writes): with one connection for everything, every query of every
    /// request queued behind every other. On PostgreSQL, the same pool.
    read: AnyPool,
    sqlite: bool,
}

/// A transaction.
pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Attempts at appending to the audit log when concurrent writers race for a sequence
/// number (PostgreSQL with several server instances).
pub(crate) const AUDIT_ATTEMPTS: usize = 16;

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
        let max = if sqlite { 1 } else { 16 };
        // sqlx pings a pooled connection before handing it out, by default: a round trip
        // to the connection's thread (SQLite) or the server (PostgreSQL) on every query.
        // A SQLite connection is a file handle in this process, with no far end to lose,
        // so its pools skip the ping; PostgreSQL's keeps it.
        let ping = !sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .test_before_acquire(ping)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL: readers do not block the writer; NORMAL: see the module docs.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if sqlite {
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        } else {
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        }
        let read = if sqlite {
            AnyPoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA query_only = ON").execute(&mut *conn).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?
        } else {
            pool.clone()
        };
        Ok(Store { pool, read, sqlite })
    }

    /// A connection for a durable transaction: begin it with `sqlx::Connection::begin`,
    /// and hand the connection to [`Store::relax`] after the commit.
    pub(crate) async fn durable(&self) -> Result<PoolConnection<Any>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if self.sqlite {
            // Only outside a transaction may SQLite's safety level change.
            sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
        }
        Ok(conn)
    }

    /// Back to bookkeeping speed. A connection that missed this (an error on the way) stays
    /// at FULL: slower, never less safe.
    pub(crate) async fn relax(&self, mut conn: PoolConnection<Any>) -> Result<(), StoreError> {
        if self.sqlite {
            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// A bookkeeping transaction (see the module docs).
    pub(crate) async fn bookkeeping(&self) -> Result<Tx<'static>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !self.sqlite {
            sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Runs one bookkeeping statement as a transaction of its own; the rows it affected.
    /// SQLite commits a lone statement atomically, at the connection's NORMAL level, so
    /// there it is one trip to the connection's thread instead of three (BEGIN, the
    /// statement, COMMIT): a sign request makes two such writes before it answers.
    /// PostgreSQL needs the transaction for `SET LOCAL synchronous_commit`.
    async fn bookkeep(
        &self,
        statement: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> Result<u64, StoreError> {
        if self.sqlite {
            return Ok(statement.execute(&self.pool).await?.rows_affected());
        }
        let mut tx = self.bookkeeping().await?;
        let affected = statement.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(affected)
    }

    /// The pool, for maintenance and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The account for an identity provider's (issuer, subject), created on first sight.
    pub async fn account(&self, issuer: &str, subject: &str, now: i64) -> Result<String, StoreError> {
        let known = sqlx::query("SELECT id FROM accounts WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.read)
            .await?;
        if let Some(row) = known {
            return Ok(row.try_get("id")?);
        }
        let mut conn = self.durable().await?;
        sqlx::query(
            "INSERT INTO accounts (id, issuer, subject, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, subject) DO NOTHING",
        )
        .bind(random_id())
        .bind(issuer)
        .bind(subject)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.relax(conn).await?;
        let row = sqlx::query("SELECT id FROM accounts WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// Registers a device key for an account (the same key twice is the same device).
    pub async fn add_device(
        &self,
        account: &str,
        identity_key: &[u8; 32],
        name: &str,
        now: i64,
    ) -> Result<Device, StoreError> {
        let mut conn = self.durable().await?;
        sqlx::query(
            "INSERT INTO devices (id, account_id, identity_key, name, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, identity_key) DO NOTHING",
        )
        .bind(random_id())
        .bind(account)
        .bind(identity_key.to_vec())
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.relax(conn).await?;
        let row = sqlx::query(
            "SELECT id, identity_key, name, created_at FROM devices WHERE account_id = $1 AND identity_key = $2",
        )
        .bind(account)
        .bind(identity_key.to_vec())
        .fetch_one(&self.read)
        .await?;
        device(&row)
    }

    /// The account's devices, oldest first.
    pub async fn devices(&self, account: &str) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, identity_key, name, created_at FROM devices WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(device).collect()
    }

    /// Whether `identity_key` is one of the account's devices.
    pub async fn has_device(&self, account: &str, identity_key: &[u8; 32]) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM devices WHERE account_id = $1 AND identity_key = $2")
            .bind(account)
            .bind(identity_key.to_vec())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    /// One of the account's devices (`None` for another account's).
    pub async fn device(&self, account: &str, id: &str) -> Result<Option<Device>, StoreError> {
        let row =
            sqlx::query("SELECT id, identity_key, name, created_at FROM devices WHERE account_id = $1 AND id = $2")
                .bind(account)
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        row.as_ref().map(device).transpose()
    }

    /// Reserves `key` for a request with hash `request_hash`, or reports what happened to
    /// an earlier request with the same key.
    pub async fn begin_idempotent(
        &self,
        account: &str,
        key: &str,
        request_hash: &[u8; 32],
        now: i64,
    ) -> Result<Idempotent, StoreError> {
        let inserted = self
            .bookkeep(
                sqlx::query(
                    "INSERT INTO idempotency (account_id, key, request_hash, status, body, created_at) \
                     VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT (account_id, key) DO NOTHING",
                )
                .bind(account)
                .bind(key)
                .bind(request_hash.to_vec())
                .bind(Vec::<u8>::new())
                .bind(now),
            )
            .await?;
        if inserted == 1 {
            return Ok(Idempotent::Reserved);
        }
        let row = sqlx::query("SELECT request_hash, status, body FROM idempotency WHERE account_id = $1 AND key = $2")
            .bind(account)
            .bind(key)
            .fetch_one(&self.read)
            .await?;
        let stored: Vec<u8> = row.try_get("request_hash")?;
        if stored != request_hash {
            return Ok(Idempotent::Mismatch);
        }
        let status: i64 = row.try_get("status")?;
        if status == 0 {
            return Ok(Idempotent::InProgress);
        }
        let status = u16::try_from(status).map_err(|_| StoreError::Corrupt("status"))?;
        Ok(Idempotent::Done(status, row.try_get("body")?))
    }

    /// Stores the response of a reserved request.
    pub async fn finish_idempotent(
        &self,
        account: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.bookkeep(
            sqlx::query("UPDATE idempotency SET status = $1, body = $2 WHERE account_id = $3 AND key = $4")
                .bind(i64::from(status))
                .bind(body.to_vec())
                .bind(account)
                .bind(key),
        )
        .await?;
        Ok(())
    }

    /// Releases a reserved key whose request failed before it had a response to keep, so a
    /// retry with the same key runs again.
    pub async fn abandon_idempotent(&self, account: &str, key: &str) -> Result<(), StoreError> {
        self.bookkeep(
            sqlx::query("DELETE FROM idempotency WHERE account_id = $1 AND key = $2 AND status = 0")
                .bind(account)
                .bind(key),
        )
        .await?;
        Ok(())
    }

    /// Appends an entry to the hash-chained audit log. Concurrent writers race for the
    /// next sequence number; the loser's insert violates the primary key and retries on
    /// the new tail.
    pub async fn audit(
        &self,
        account: Option<&str>,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<AuditEntry, StoreError> {
        let note = AuditNote { account, kind, detail, now };
        for _ in 0..AUDIT_ATTEMPTS {
            let mut tx = self.bookkeeping().await?;
            let appended = append_audit(&mut tx, &note).await?;
            tx.commit().await?;
            if let Some(entry) = appended {
                return Ok(entry);
            }
        }
        Err(StoreError::Contention)
    }

    /// Audit entries in order: all of them (`None`), or one account's.
    pub async fn audit_entries(&self, account: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = match account {
            None => {
                sqlx::query("SELECT seq, at, account_id, kind, detail, prev_hash, hash FROM audit_log ORDER BY seq")
                    .fetch_all(&self.read)
                    .await?
            }
            Some(a) => {
                sqlx::query(
                    "SELECT seq, at, account_id, kind, detail, prev_hash, hash FROM audit_log \
                     WHERE account_id = $1 ORDER BY seq",
                )
                .bind(a)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    account: r.try_get("account_id")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                    prev_hash: to_hash(r.try_get("prev_hash")?)?,
                    hash: to_hash(r.try_get("hash")?)?,
                })
            })
            .collect()
    }

    /// Checks the whole audit chain; the number of entries when it holds.
    pub async fn verify_audit(&self) -> Result<Result<usize, audit::ChainError>, StoreError> {
        let entries = self.audit_entries(None).await?;
        Ok(audit::verify_chain(&entries).map(|()| entries.len()))
    }
}

fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt("hash is not 32 bytes"))
}

fn device(row: &AnyRow) -> Result<Device, StoreError> {
    let key: Vec<u8> = row.try_get("identity_key")?;
    Ok(Device {
        id: row.try_get("id")?,
        identity_key: hex::encode(key),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// 128 random bits, hex: ids that reveal nothing and cannot be guessed.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// An audit entry to append.
#[derive(Clone, Copy, Debug)]
pub struct AuditNote<'a> {
    /// The account it is about (`None`: the service's own).
    pub account: Option<&'a str>,
    /// What happened, e.g. `ceremony.started`.
    pub kind: &'a str,
    /// The details.
    pub detail: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// Appends `note` to the audit chain inside `tx`; `None` when another writer took the next
/// sequence number first (roll back — or commit what else `tx` holds only if it may stand
/// without its entry — and retry on the new tail).
pub(crate) async fn append_audit(tx: &mut Tx<'_>, note: &AuditNote<'_>) -> Result<Option<AuditEntry>, StoreError> {
    let tail =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut **tx).await?;
    let (seq, prev_hash) = match tail {
        Some(row) => (row.try_get::<i64, _>("seq")? + 1, to_hash(row.try_get("hash")?)?),
        None => (1, [0u8; 32]),
    };
    let entry = AuditEntry::new(
        seq,
        note.now,
        note.account.map(str::to_owned),
        note.kind.into(),
        note.detail.into(),
        prev_hash,
    );
    let inserted = sqlx::query(
        "INSERT INTO audit_log (seq, at, account_id, kind, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seq) DO NOTHING",
    )
    .bind(entry.seq)
    .bind(entry.at)
    .bind(entry.account.clone())
    .bind(&entry.kind)
    .bind(&entry.detail)
    .bind(entry.prev_hash.to_vec())
    .bind(entry.hash.to_vec())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(entry))
}
