//! `tssw relay`: runs the relay on its own (split deployments). Flags and environment
//! variables fill a [`tssw_relay::Config`]; the relay crate does the rest.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tssw_relay::{Config, Rate};

/// Flags of `tssw relay`.
#[derive(Args, Debug)]
pub(crate) struct RelayArgs {
    /// Address to listen on. Plain ws:// only: keep it on loopback or behind a TLS proxy.
    #[arg(long, env = "TSSW_RELAY_BIND", default_value = "127.0.0.1:7700")]
    bind: SocketAddr,
    /// The wallet server's token key: 32-byte Ed25519 public key, hex.
    #[arg(long, env = "TSSW_RELAY_ISSUER_KEY")]
    issuer_key: String,
    /// Largest frame accepted, in bytes (DKLs DKG frames reach ≈ 360 KB).
    #[arg(long, env = "TSSW_RELAY_MAX_FRAME_BYTES", default_value_t = tssw_channel::MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Highest party index a token may name.
    #[arg(long, env = "TSSW_RELAY_MAX_PARTIES", default_value_t = 16)]
    max_parties: u16,
    /// Open WebSocket connections, over all ceremonies.
    #[arg(long, env = "TSSW_RELAY_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a ceremony's mailboxes and result live.
    #[arg(long, env = "TSSW_RELAY_CEREMONY_TTL_SECS", default_value_t = 600)]
    ceremony_ttl_secs: u64,
    /// Open ceremonies per account.
    #[arg(long, env = "TSSW_RELAY_MAX_OPEN_CEREMONIES", default_value_t = 32)]
    max_open_ceremonies: usize,
    /// Messages per second per account (token bucket), and its burst.
    #[arg(long, env = "TSSW_RELAY_ACCOUNT_RATE", default_value_t = 200)]
    account_rate: u32,
    #[arg(long, env = "TSSW_RELAY_ACCOUNT_BURST", default_value_t = 1_000)]
    account_burst: u32,
    /// Upgrades and result requests per second per IP address, and its burst.
    #[arg(long, env = "TSSW_RELAY_IP_RATE", default_value_t = 20)]
    ip_rate: u32,
    #[arg(long, env = "TSSW_RELAY_IP_BURST", default_value_t = 100)]
    ip_burst: u32,
    /// Seconds of silence (not even a pong) before a connection is closed.
    #[arg(long, env = "TSSW_RELAY_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Keep ceremonies in Redis (e.g. redis://127.0.0.1:6379) so several relay nodes share
    /// them; without it they live in this process's memory.
    #[arg(long, env = "TSSW_RELAY_REDIS_URL")]
    redis_url: Option<String>,
    /// Key prefix in Redis: relay nodes that serve the same ceremonies use the same one.
    #[arg(long, env = "TSSW_RELAY_REDIS_PREFIX", default_value = "tssw:relay:")]
    redis_prefix: String,
}

impl RelayArgs {
    fn config(&self) -> Result<Config, String> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(self.issuer_key.trim(), &mut key)
            .map_err(|_| "--issuer-key must be 64 hex digits (the wallet server's Ed25519 token key)".to_string())?;
        let issuer = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| "--issuer-key is not a valid Ed25519 public key".to_string())?;
        if self.idle_timeout_secs == 0 || self.ceremony_ttl_secs == 0 {
            return Err("--idle-timeout-secs and --ceremony-ttl-secs must be at least 1".into());
        }
        let mut config = Config::new(issuer);
        config.max_frame_bytes = self.max_frame_bytes;
        config.max_parties_per_ceremony = self.max_parties;
        config.max_connections = self.max_connections;
        config.ceremony_ttl = Duration::from_secs(self.ceremony_ttl_secs);
        config.max_open_ceremonies_per_account = self.max_open_ceremonies;
        config.account_rate = Rate { per_second: self.account_rate, burst: self.account_burst };
        config.ip_rate = Rate { per_second: self.ip_rate, burst: self.ip_burst };
        config.idle_timeout = Duration::from_secs(self.idle_timeout_secs);
        Ok(config)
    }
}

/// Runs until Ctrl-C (or SIGTERM), then drains.
pub(crate) fn run(args: &RelayArgs) -> Result<(), String> {
    let config = args.config()?;
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e} (is another relay running?)", args.bind))?;
        let local = listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
        // The first stdout line is the URL, for scripts and tests that bind port 0; printed
        // once the backend is ready.
        let ready = move || println!("relay listening on ws://{local}");
        match &args.redis_url {
            None => {
                ready();
                tracing::info!(?config, backend = "memory", "relay started");
                tssw_relay::run(listener, config, shutdown_signal()).await;
            }
            Some(url) => {
                let limits = tssw_relay::MemoryLimits {
                    ttl_secs: config.ceremony_ttl.as_secs(),
                    max_frames: config.max_mailbox_frames,
                    max_bytes: config.max_mailbox_bytes,
                };
                let options = tssw_relay::RedisOptions::new(args.redis_prefix.clone(), limits);
                let mailbox = tssw_relay::RedisMailbox::connect(url, options)
                    .await
                    .map_err(|e| format!("cannot use Redis at --redis-url: {e} (is it running and reachable?)"))?;
                ready();
                tracing::info!(?config, backend = "redis", "relay started");
                tssw_relay::run_with(listener, config, mailbox, shutdown_signal()).await;
            }
        }
        Ok(())
    })
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
