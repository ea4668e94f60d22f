//! Shared by the server's integration tests: real storage (SQLite in a temp dir, and
//! PostgreSQL from `TSSW_TEST_POSTGRES_URL` in a schema of its own), and for ceremony tests
//! the whole service side on loopback — the enclave serving its real socket protocol from
//! a task of this process, a real relay, and the API on a real HTTP port — with the client
//! SDK as the user's device.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tssw_channel::IdentityKey;
use tssw_client::ApiClient;
use tssw_client::ceremony::{Attested, TrustPolicy, attest};
use tssw_enclave::backend::Backend;
use tssw_enclave::backend::dev::DevBackend;
use tssw_enclave::{Enclave, EnclaveClient, Limits};
use tssw_server::store::{Store, random_id};
use tssw_server::{AppState, Authenticator, Ceremonies, CeremonyLimits, DevIssuer, RelayIssuer, router};

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tssw-server-{label}-{}", random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A database for one test; a PostgreSQL schema is dropped when this is.
pub struct Db {
    pub store: Store,
    pub label: &'static str,
    schema: Option<String>,
    _dir: Option<TempDir>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = TempDir::new("db");
        let store = Store::connect(&format!("sqlite://{}", dir.0.join("tssw.db").display())).await.unwrap();
        Db { store, label: "sqlite", schema: None, _dir: Some(dir) }
    }

    /// A fresh schema in the configured PostgreSQL; `None` (with a note) when the variable
    /// is unset. Set but unreachable fails the test.
    pub async fn postgres() -> Option<Db> {
        let Ok(url) = std::env::var("TSSW_TEST_POSTGRES_URL") else {
            eprintln!("TSSW_TEST_POSTGRES_URL is not set: PostgreSQL half of this test skipped");
            return None;
        };
        let (store, schema) = postgres_schema(&url).await;
        Some(Db { store, label: "postgres", schema: Some(schema), _dir: None })
    }

    /// SQLite, then PostgreSQL if configured.
    pub async fn all() -> Vec<Db> {
        let mut dbs = vec![Db::sqlite().await];
        dbs.extend(Db::postgres().await);
        dbs
    }
}

/// A new schema in the PostgreSQL at `url`, and a store whose connections use it.
pub async fn postgres_schema(url: &str) -> (Store, String) {
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", random_id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("TSSW_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await.unwrap();
    (store, schema)
}

impl Drop for Db {
    fn drop(&mut self) {
        // The schema goes with the test (the database is shared with other runs).
        if let (Some(schema), Ok(url)) = (self.schema.take(), std::env::var("TSSW_TEST_POSTGRES_URL")) {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            })
            .join()
            .unwrap();
        }
    }
}

/// The service side on loopback: enclave (real socket protocol, dev backend), relay and API.
pub struct Service {
    pub base: String,
    pub dev: DevIssuer,
    pub trust: TrustPolicy,
    pub db: Db,
    pub dir: TempDir,
    stops: Vec<oneshot::Sender<()>>,
}

impl Service {
    pub async fn start(db: Db) -> Service {
        Service::start_with(db, CeremonyLimits::default()).await
    }

    pub async fn start_with(db: Db, limits: CeremonyLimits) -> Service {
        let dir = TempDir::new("service");
        let mut stops = Vec::new();

        let backend = DevBackend::open(&dir.0.join("enclave")).unwrap();
        let tssw_api::Measurement::Sha256(measured) = backend.measurement() else { unreachable!("dev backend") };
        let trust = TrustPolicy::dev(backend.attestation_public_key(), vec![measured]);
        let enclave = Arc::new(Enclave::new(Box::new(backend), Limits::default()));
        let socket = dir.0.join("enclave.sock");
        let listener = tssw_enclave::bind(&socket).await.unwrap();
        stops.push(spawn_until_stopped(|stop| tssw_enclave::serve(listener, enclave, stop)));

        let issuer = SigningKey::generate(&mut rand_core::OsRng);
        let mut config = tssw_relay::Config::new(issuer.verifying_key());
        config.ip_rate = tssw_relay::Rate { per_second: 100_000, burst: 100_000 };
        config.account_rate = tssw_relay::Rate { per_second: 100_000, burst: 100_000 };
        config.max_open_ceremonies_per_account = 100_000;
        let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_url = format!("ws://{}", relay.local_addr().unwrap());
        stops.push(spawn_until_stopped(|stop| tssw_relay::run(relay, config, stop)));

        let ceremonies = Ceremonies::new(
            EnclaveClient::new(&socket),
            RelayIssuer::new(issuer, vec![relay_url.clone()], relay_url),
            limits,
        );
        let dev = DevIssuer::random();
        let state = Arc::new(AppState {
            store: db.store.clone(),
            auth: Authenticator::new(vec![dev.config()]),
            ceremonies: Some(Arc::new(ceremonies)),
        });
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", api.local_addr().unwrap());
        let app = router(state);
        stops.push(spawn_until_stopped(|stop| async move {
            let _ = axum::serve(api, app).with_graceful_shutdown(stop).await;
        }));
        Service { base, dev, trust, db, dir, stops }
    }

    /// A signed-in user with a registered device key and the enclave attested.
    pub async fn user(&self, subject: &str) -> User {
        let token = self.dev.mint(subject, now(), 3_600).unwrap();
        let api = ApiClient::new(&self.base, &token).unwrap();
        let identity = IdentityKey::random();
        api.register_device(&identity.party_id(), "phone").await.unwrap();
        let enclave = attest(&api, &self.trust).await.unwrap();
        User { api, identity, enclave }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

fn spawn_until_stopped<F, Fut>(f: F) -> oneshot::Sender<()>
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let signal: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(async move {
        let _ = stopped.await;
    });
    tokio::spawn(f(signal));
    stop
}

/// A user's device.
pub struct User {
    pub api: ApiClient,
    pub identity: IdentityKey,
    pub enclave: Attested,
}

pub const STALL: Duration = Duration::from_secs(30);
pub const WAIT: Duration = Duration::from_secs(30);
