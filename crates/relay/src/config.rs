//! Relay configuration (the `tssw relay` subcommand will fill it from flags and env).

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

/// The relay's clock: seconds since the Unix epoch. Injected so tests can expire tokens
/// and ceremonies without sleeping.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// Everything the relay needs to run.
#[derive(Clone)]
pub struct Config {
    /// The wallet server's token key.
    pub trusted_issuer: VerifyingKey,
    /// The clock.
    pub clock: Clock,
    /// Largest frame accepted (default: [`tssw_channel::MAX_FRAME_BYTES`], ≈ 1 MiB).
    pub max_frame_bytes: usize,
    /// Highest party index accepted in a token (default 16).
    pub max_parties_per_ceremony: u16,
    /// Open WebSocket connections, over all ceremonies (default 10,000).
    pub max_connections: usize,
    /// How long a ceremony's mailboxes live after first use (default 10 min).
    pub ceremony_ttl: Duration,
    /// Unacknowledged frames per mailbox (default 256).
    pub max_mailbox_frames: usize,
    /// Unacknowledged bytes per mailbox (default 16 MiB).
    pub max_mailbox_bytes: usize,
    /// Open ceremonies per account, over all relay nodes sharing a backend (default 32).
    pub max_open_ceremonies_per_account: usize,
    /// Messages per second an account may send, over all its connections to this node
    /// (default 200, bursts of 1,000). Beyond it the connection is cut off.
    pub account_rate: Rate,
    /// WebSocket upgrades and result requests per second from one IP address to this
    /// node (default 20, bursts of 100). Beyond it: 429.
    pub ip_rate: Rate,
    /// A connection from which nothing (not even a pong) arrives for this long is closed
    /// (default 60 s). The relay pings at half this interval.
    pub idle_timeout: Duration,
}

/// A token-bucket rate: `per_second` sustained, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained rate.
    pub per_second: u32,
    /// Bucket size.
    pub burst: u32,
}

impl Config {
    /// Defaults with this issuer and the system clock.
    pub fn new(trusted_issuer: VerifyingKey) -> Config {
        Config {
            trusted_issuer,
            clock: system_clock(),
            max_frame_bytes: tssw_channel::MAX_FRAME_BYTES,
            max_parties_per_ceremony: 16,
            max_connections: 10_000,
            ceremony_ttl: Duration::from_secs(600),
            max_mailbox_frames: 256,
            max_mailbox_bytes: 16 << 20,
            max_open_ceremonies_per_account: 32,
            account_rate: Rate { per_second: 200, burst: 1_000 },
            ip_rate: Rate { per_second: 20, burst: 100 },
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_parties_per_ceremony", &self.max_parties_per_ceremony)
            .field("max_connections", &self.max_connections)
            .field("ceremony_ttl", &self.ceremony_ttl)
            .field("max_mailbox_frames", &self.max_mailbox_frames)
            .field("max_mailbox_bytes", &self.max_mailbox_bytes)
            .field("max_open_ceremonies_per_account", &self.max_open_ceremonies_per_account)
            .field("account_rate", &self.account_rate)
            .field("ip_rate", &self.ip_rate)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}
