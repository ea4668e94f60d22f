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
            .finish_non_exhaustive()
    }
}
