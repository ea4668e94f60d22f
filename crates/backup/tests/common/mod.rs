//! A real EPS on loopback (its own data dir, SQLite, a dev issuer) for the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use tokio::sync::oneshot;
use tssw_auth::DevIssuer;
use tssw_backup::eps::{self, Config};
use tssw_backup::{EpsClient, WalletId, WalletMeta};
use tssw_protocol::{KeyShare, Scheme};

pub struct TestEps {
    pub url: String,
    pub config: Config,
    pub dev: DevIssuer,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let mut r = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
    std::env::temp_dir().join(format!("tssw-backup-{tag}-{}", hex::encode(r)))
}

impl TestEps {
    pub async fn start() -> TestEps {
        TestEps::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestEps {
        let dev = DevIssuer::random();
        let dir = temp_dir("eps");
        let mut config = Config::new(dir.clone(), vec![dev.config()]);
        // Tests make many calls in a burst from one account and address.
        config.account_rate = eps::Rate { per_second: 1_000, burst: 1_000 };
        config.ip_rate = eps::Rate { per_second: 1_000, burst: 1_000 };
        tune(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let run_config = config.clone();
        let task = tokio::spawn(async move {
            eps::run(listener, run_config, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        // Ready once it answers.
        for _ in 0..100 {
            if EpsClient::new(&url, "").unwrap().public_key().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        TestEps { url, config, dev, dir, stop: Some(stop), task: Some(task) }
    }

    pub fn token(&self, subject: &str) -> String {
        self.dev.mint(subject, now(), 600).unwrap()
    }

    pub fn client(&self, subject: &str) -> EpsClient {
        EpsClient::new(&self.url, &self.token(subject)).unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestEps {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One share of a fresh 2-of-2 key and its wallet facts.
pub fn share(scheme: Scheme, wallet: &str) -> (KeyShare, WalletMeta) {
    let share = tssw_protocol::testing::dkg(scheme, 2, 2).unwrap().remove(0);
    let meta = WalletMeta::of_share(WalletId::new(wallet).unwrap(), &share).unwrap();
    (share, meta)
}

pub fn bytes(share: &KeyShare) -> Vec<u8> {
    share.to_bytes().unwrap().to_vec()
}
