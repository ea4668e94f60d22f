//! Prometheus metrics (served at `GET /metrics` in the OpenMetrics text format). Counts
//! and sizes only: never ceremony ids, accounts, tokens or payloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label of a rejection: why the relay refused a request or cut a connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: &'static str,
}

/// The relay's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub(crate) connections: Gauge,
    /// Ceremonies opened on this node (first connection of a ceremony's account).
    pub(crate) ceremonies: Counter,
    /// Frames accepted from clients.
    pub(crate) frames_in: Counter,
    /// Frame bytes accepted from clients.
    pub(crate) bytes_in: Counter,
    /// Frames pushed to clients.
    pub(crate) frames_out: Counter,
    /// Refused upgrades and requests, and connections closed for misbehaviour.
    pub(crate) rejections: Family<Reason, Counter>,
    /// Time to store a frame in the backend (the relay's own share of a hop's latency).
    pub(crate) store_seconds: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tssw_relay");
        let connections = Gauge::default();
        let ceremonies = Counter::default();
        let frames_in = Counter::default();
        let bytes_in = Counter::default();
        let frames_out = Counter::default();
        let rejections = Family::<Reason, Counter>::default();
        // 10 µs … ≈ 0.33 s.
        let store_seconds = Histogram::new(exponential_buckets(1e-5, 2.0, 16));
        registry.register("connections", "Open WebSocket connections", connections.clone());
        registry.register("ceremonies_opened", "Ceremonies opened on this node", ceremonies.clone());
        registry.register("frames_received", "Frames accepted from clients", frames_in.clone());
        registry.register("frame_bytes_received", "Frame bytes accepted from clients", bytes_in.clone());
        registry.register("frames_delivered", "Frames pushed to clients", frames_out.clone());
        registry.register("rejections", "Refused requests and connections cut off, by reason", rejections.clone());
        registry.register("store_seconds", "Time to store one frame in the backend", store_seconds.clone());
        Metrics { registry, connections, ceremonies, frames_in, bytes_in, frames_out, rejections, store_seconds }
    }

    pub(crate) fn reject(&self, reason: &'static str) {
        self.rejections.get_or_create(&Reason { reason }).inc();
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
