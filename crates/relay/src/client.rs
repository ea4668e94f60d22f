//! [`RelayTransport`]: a [`tssw_channel::Transport`] over a relay WebSocket
//! (tokio-tungstenite, plain `ws://`: no TLS features yet, loopback only).
//!
//! Delivery: every frame the relay pushes is `seq ‖ frame`; the transport acks it at once
//! (`0x01 ‖ seq`), drops any `seq` it has already seen, and remembers the last one.
//!
//! Reconnect policy (simple and bounded): when the connection drops (EOF, I/O error, or
//! a send that fails), the transport reconnects with `?resume_from=<last seq>` and tries at
//! most [`RECONNECT_DELAYS_MS`]`.len()` times, waiting 50, 100 then 200 ms before the
//! attempts. A deliberate close by the relay (bad frame, replaced, expired…) or an HTTP
//! refusal (401/403/503) is not retried: it is returned as [`ClientError`]. A frame whose
//! send failed is sent again after the reconnect; if the first copy did reach the relay,
//! the receiver's session drops the duplicate.
//!
//! Time limits: a **stall timeout** ([`DEFAULT_STALL_TIMEOUT`], 30 s) bounds every wait for
//! the next frame and every send, reconnects included; a **deadline** bounds the whole
//! ceremony (by default [`DEFAULT_CEREMONY_LIMIT`] after the first send or receive; set the
//! setup's expiry with [`RelayTransport::with_deadline`] when you know it). The stall timer
//! restarts at every frame, so only the deadline bounds a hostile relay that drips junk
//! frames. When either fires, `recv` returns `Ok(None)`, which [`tssw_channel::drive`]
//! reports as `DriveError::Stalled` naming the round and the parties it waited for, and a
//! send fails with [`ClientError::TimedOut`]; [`RelayTransport::stopped_by`] says which
//! limit fired. Stopping is sticky: afterwards every `recv` is `Ok(None)` and every send
//! fails at once.
//!
//! Retries: a failed ceremony is never resumed. `drive` closes the channel session when it
//! returns, so nothing of the half-run ceremony can be accepted any more; a retry is a new
//! ceremony, with a new setup (hence a new ceremony id and new keys) and a new transport.
//! Reconnect-and-resume above happens only inside one run.
//!
//! Cancellation is dropping the future, and it is clean: the transport spawns no tasks and
//! its timers live inside the `send`/`recv` futures, so nothing outlives them. A frame
//! taken off the socket but not yet returned (its ack was being sent) is kept and returned
//! by the next `recv`. A dropped `send` may or may not have delivered its frame; sending
//! it again is harmless (the receiver drops byte-identical copies). Dropping the transport
//! closes the TCP connection; the relay keeps what was not delivered until its TTL.
//!
//! Failover ([`RelayTransport::connect_any`]): several relay nodes sharing one backend
//! (Redis) serve the same mailboxes, so a party may resume on any of them. The first
//! connection tries the bases in order and keeps the first that accepts. Each reconnect
//! attempt (same bounded delays) moves to the next base in rotation, since the node just
//! lost is the least likely to answer; with one base that is the same base again. With
//! several bases, a 1001 close (the node is shutting down) is a reason to fail over too,
//! and an HTTP 503 (that node is full) moves on to the next base instead of failing.
//!
//! Resend after a reconnect: the relay does not acknowledge the frames it receives, and a
//! frame written into a connection whose node is already gone (it sent its 1001 and
//! dropped the socket, or crashed) is lost although the write succeeded. So after every
//! reconnect the transport sends its most recent frames again (at most
//! [`RESEND_MAX_FRAMES`] frames and about [`RESEND_MAX_BYTES`] bytes; resends are
//! byte-identical and the receiver's session drops the copies it already has).

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tssw_channel::{Outbound, Transport};
use tssw_protocol::CeremonyId;

use crate::token::Token;
use crate::wire;

/// Delays before each reconnect attempt, in milliseconds.
pub const RECONNECT_DELAYS_MS: [u64; 3] = [50, 100, 200];

/// How long a [`RelayTransport`] waits for the next frame, or for a send, by default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a ceremony may run, from the transport's first send or receive, when no
/// deadline is set: the relay's default ceremony TTL, after which an honest relay has
/// dropped the ceremony's mailboxes and the ceremony cannot finish anyway.
pub const DEFAULT_CEREMONY_LIMIT: Duration = Duration::from_secs(600);

/// Which time limit stopped a [`RelayTransport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Nothing arrived, or a send did not complete, within the stall timeout.
    Stall,
    /// The ceremony's deadline passed.
    Deadline,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Stall => "stall timeout",
            Stop::Deadline => "deadline",
        })
    }
}
/// At most this many recent frames are sent again after a reconnect.
pub const RESEND_MAX_FRAMES: usize = 32;
/// Bytes of recent frames kept for resending (the latest frame is kept whatever its size).
pub const RESEND_MAX_BYTES: usize = 4 << 20;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The frames most recently sent, as relay messages, for resending after a reconnect.
#[derive(Default)]
struct Recent {
    messages: std::collections::VecDeque<Message>,
    bytes: usize,
}

impl Recent {
    fn remember(&mut self, msg: &Message) {
        self.bytes += msg.len();
        self.messages.push_back(msg.clone());
        // The oldest are the likeliest to have been stored already.
        while self.messages.len() > RESEND_MAX_FRAMES || (self.bytes > RESEND_MAX_BYTES && self.messages.len() > 1) {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= old.len();
            }
        }
    }
}

/// Why the relay client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay refused the upgrade with this HTTP status (401, 403, 503…).
    #[error("relay refused the connection: HTTP {0}")]
    Refused(u16),
    /// The relay closed the connection on purpose (see [`crate::close`]).
    #[error("relay closed the connection: {code} {reason}")]
    Closed {
        /// The close code.
        code: u16,
        /// The relay's reason.
        reason: String,
    },
    /// The relay sent something that is not a relay message.
    #[error("bad message from relay: {0}")]
    Protocol(&'static str),
    /// Connecting failed (after the retries, if any).
    #[error("websocket: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// The base URL or token cannot make a request.
    #[error("bad relay url or token")]
    Request,
    /// A send did not complete before this limit, or the transport had already stopped.
    #[error("relay send stopped by the {0}")]
    TimedOut(Stop),
}

/// One party's connection to the relay for one ceremony.
pub struct RelayTransport {
    /// One ceremony URL per relay node, in the caller's order.
    urls: Vec<String>,
    /// The node in use (or last tried).
    current: usize,
    token: Token,
    max_message: usize,
    ws: Option<Ws>,
    last_seq: u64,
    reconnects: u32,
    drop_after_receives: Option<u32>,
    progress: Progress,
    recent: Recent,
}

/// What bounds a ceremony's progress on this transport: the time limits, the one that
/// fired, and a received frame not yet handed to the caller.
#[derive(Debug)]
struct Progress {
    stall: Duration,
    deadline: Option<Instant>,
    /// The first send or receive, from which the default deadline runs.
    started: Option<Instant>,
    stopped: Option<Stop>,
    /// Taken off the socket and counted in `last_seq`, but its `recv` was cut short (by the
    /// caller dropping the future, or a timeout while acking): the next `recv` returns it.
    parked: Option<Vec<u8>>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress { stall: DEFAULT_STALL_TIMEOUT, deadline: None, started: None, stopped: None, parked: None }
    }
}

impl Progress {
    /// When the operation starting now must end and which limit that is (`None`: no limit
    /// can be represented), or the limit that already stopped the transport.
    fn next_limit(&mut self) -> Result<Option<(Instant, Stop)>, Stop> {
        if let Some(stop) = self.stopped {
            return Err(stop);
        }
        let now = Instant::now();
        let deadline = match self.deadline {
            Some(at) => Some(at),
            None => self.started.get_or_insert(now).checked_add(DEFAULT_CEREMONY_LIMIT),
        };
        if deadline.is_some_and(|at| at <= now) {
            self.stopped = Some(Stop::Deadline);
            return Err(Stop::Deadline);
        }
        Ok(match (now.checked_add(self.stall), deadline) {
            (Some(stall), Some(at)) if at <= stall => Some((at, Stop::Deadline)),
            (Some(stall), _) => Some((stall, Stop::Stall)),
            (None, Some(at)) => Some((at, Stop::Deadline)),
            (None, None) => None,
        })
    }
}

/// Runs `f` until `limit`: `Err(stop)` if the limit came first.
async fn within<F: Future>(limit: Option<(Instant, Stop)>, f: F) -> Result<F::Output, Stop> {
    match limit {
        Some((at, stop)) => tokio::time::timeout_at(at, f).await.map_err(|_| stop),
        None => Ok(f.await),
    }
}

impl std::fmt::Debug for RelayTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayTransport")
            .field("url", &self.urls.get(self.current))
            .field("last_seq", &self.last_seq)
            .field("reconnects", &self.reconnects)
            .finish_non_exhaustive()
    }
}

impl RelayTransport {
    /// Connects to the relay at `base` (e.g. `ws://127.0.0.1:7000`) for `ceremony`, with
    /// the token the wallet server issued for this party.
    pub async fn connect(base: &str, ceremony: CeremonyId, token: Token) -> Result<RelayTransport, ClientError> {
        RelayTransport::connect_any(&[base.to_owned()], ceremony, token).await
    }

    /// Connects to the first of `bases` (relay nodes sharing one backend) that accepts;
    /// reconnects rotate through them (see the module doc).
    pub async fn connect_any(
        bases: &[String],
        ceremony: CeremonyId,
        token: Token,
    ) -> Result<RelayTransport, ClientError> {
        let path = format!("/v1/ceremonies/{}/ws", hex::encode(ceremony.0));
        let urls: Vec<String> = bases.iter().map(|base| format!("{}{path}", base.trim_end_matches('/'))).collect();
        let mut t = RelayTransport {
            urls,
            current: 0,
            token,
            max_message: tssw_channel::MAX_FRAME_BYTES + 8,
            ws: None,
            last_seq: 0,
            reconnects: 0,
            drop_after_receives: None,
            progress: Progress::default(),
            recent: Recent::default(),
        };
        let mut last = ClientError::Request;
        for i in 0..t.urls.len() {
            t.current = i;
            match t.open().await {
                Ok(ws) => {
                    t.ws = Some(ws);
                    return Ok(t);
                }
                Err(e) if t.urls.len() > 1 && is_node_failure(&e, true) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Index in `bases` of the node in use (or last tried).
    pub fn current_base(&self) -> usize {
        self.current
    }

    /// The last sequence number received (what a reconnect resumes from).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// How many times the connection was re-established.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// Sets the stall timeout: the longest wait for the next frame, and for one send.
    pub fn with_stall_timeout(mut self, stall: Duration) -> RelayTransport {
        self.progress.stall = stall;
        self
    }

    /// Sets the deadline of the whole ceremony (e.g. the setup's expiry), instead of
    /// [`DEFAULT_CEREMONY_LIMIT`] after the first send or receive.
    pub fn with_deadline(mut self, deadline: Instant) -> RelayTransport {
        self.progress.deadline = Some(deadline);
        self
    }

    /// The limit that stopped the transport, if one did: after `drive` fails with
    /// `Stalled` or a [`ClientError::TimedOut`] send, whether the peers were too slow
    /// ([`Stop::Stall`]) or the ceremony ran out of time ([`Stop::Deadline`]).
    pub fn stopped_by(&self) -> Option<Stop> {
        self.progress.stopped
    }

    /// Test hook: after `n` more frames are received, drop the TCP connection without a
    /// close handshake (as a network failure would).
    #[doc(hidden)]
    pub fn drop_connection_after_receives(&mut self, n: u32) {
        self.drop_after_receives = Some(n);
    }

    /// Sends raw bytes as one binary message (tests: oversized or malformed input).
    #[doc(hidden)]
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        let ws = self.ws.as_mut().ok_or(ClientError::Protocol("not connected"))?;
        ws.send(Message::Binary(bytes.into())).await.map_err(|e| ClientError::WebSocket(Box::new(e)))
    }

    async fn open(&self) -> Result<Ws, ClientError> {
        let base = self.urls.get(self.current).ok_or(ClientError::Request)?;
        let url = if self.last_seq > 0 { format!("{base}?resume_from={}", self.last_seq) } else { base.clone() };
        let mut request = url.into_client_request().map_err(|_| ClientError::Request)?;
        let bearer =
            HeaderValue::from_str(&format!("Bearer {}", self.token.as_str())).map_err(|_| ClientError::Request)?;
        request.headers_mut().insert(tungstenite::http::header::AUTHORIZATION, bearer);
        let config =
            WebSocketConfig::default().max_message_size(Some(self.max_message)).max_frame_size(Some(self.max_message));
        match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(response)) => Err(ClientError::Refused(response.status().as_u16())),
            Err(e) => Err(ClientError::WebSocket(Box::new(e))),
        }
    }

    /// Reconnects with `resume_from`, bounded by [`RECONNECT_DELAYS_MS`], each attempt on
    /// the next base in rotation.
    async fn reconnect(&mut self) -> Result<(), ClientError> {
        self.ws = None;
        let mut last = ClientError::Protocol("no reconnect attempt");
        for delay in RECONNECT_DELAYS_MS {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            self.current = (self.current + 1) % self.urls.len().max(1);
            let attempt = match self.open().await {
                Ok(mut ws) => self.resend(&mut ws).await.map(|()| ws),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(ws) => {
                    tracing::info!(resume_from = self.last_seq, node = self.current, "reconnected to relay");
                    self.ws = Some(ws);
                    self.reconnects += 1;
                    return Ok(());
                }
                Err(e) if is_node_failure(&e, self.urls.len() > 1) => last = e,
                // The relay answered and said no: retrying will not help.
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Sends the recent frames again on a new connection (see the module doc).
    async fn resend(&self, ws: &mut Ws) -> Result<(), ClientError> {
        for msg in &self.recent.messages {
            ws.feed(msg.clone()).await.map_err(|e| ClientError::WebSocket(Box::new(e)))?;
        }
        ws.flush().await.map_err(|e| ClientError::WebSocket(Box::new(e)))
    }

    /// Whether a deliberate close from the relay is a node going away that another node
    /// can stand in for.
    fn fails_over_on(&self, code: u16) -> bool {
        code == crate::close::GOING_AWAY && self.urls.len() > 1
    }

    async fn connected(&mut self) -> Result<&mut Ws, ClientError> {
        if self.ws.is_none() {
            self.reconnect().await?;
        }
        self.ws.as_mut().ok_or(ClientError::Protocol("not connected"))
    }
}

/// A failure of one node rather than a refusal of this party: worth another attempt, on
/// the next node. With several nodes, one that is full (503) counts too.
fn is_node_failure(e: &ClientError, several_nodes: bool) -> bool {
    match e {
        ClientError::Refused(status) => several_nodes && *status == 503,
        _ => true,
    }
}

impl Transport for RelayTransport {
    type Error = ClientError;

    async fn send(&mut self, frame: Outbound) -> Result<(), ClientError> {
        let limit = self.progress.next_limit().map_err(ClientError::TimedOut)?;
        match within(limit, self.send_frame(frame)).await {
            Ok(result) => result,
            Err(stop) => {
                self.progress.stopped = Some(stop);
                Err(ClientError::TimedOut(stop))
            }
        }
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        if let Some(frame) = self.progress.parked.take() {
            return Ok(Some(frame));
        }
        let Ok(limit) = self.progress.next_limit() else { return Ok(None) };
        match within(limit, self.next_frame()).await {
            Ok(result) => result,
            // A frame did arrive; only its ack hung. Keep the frame, drop the connection:
            // the next operation reconnects and resumes after it.
            Err(_) if self.progress.parked.is_some() => {
                self.ws = None;
                Ok(self.progress.parked.take())
            }
            Err(stop) => {
                self.progress.stopped = Some(stop);
                Ok(None)
            }
        }
    }
}

impl RelayTransport {
    /// [`Transport::send`] without the time limit.
    async fn send_frame(&mut self, frame: Outbound) -> Result<(), ClientError> {
        let msg = Message::Binary(wire::encode_frame(&frame.bytes).into());
        self.recent.remember(&msg);
        let ws = self.connected().await?;
        if ws.send(msg.clone()).await.is_ok() {
            return Ok(());
        }
        self.reconnect().await?;
        let ws = self.connected().await?;
        ws.send(msg).await.map_err(|e| ClientError::WebSocket(Box::new(e)))
    }

    /// [`Transport::recv`] without the time limit. The frame is parked from the moment
    /// `last_seq` counts it until it is returned, so a cut-short call loses nothing.
    async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            let ws = self.connected().await?;
            let msg = match ws.next().await {
                Some(Ok(msg)) => msg,
                // Dropped without a close frame: a network failure, so resume.
                None | Some(Err(_)) => {
                    self.reconnect().await?;
                    continue;
                }
            };
            let bytes = match msg {
                Message::Binary(bytes) => bytes,
                // The node is shutting down; another node serves the same mailboxes.
                Message::Close(Some(frame)) if self.fails_over_on(u16::from(frame.code)) => {
                    self.reconnect().await?;
                    continue;
                }
                Message::Close(Some(frame)) => {
                    return Err(ClientError::Closed { code: u16::from(frame.code), reason: frame.reason.to_string() });
                }
                Message::Close(None) => return Err(ClientError::Closed { code: 1005, reason: String::new() }),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Text(_) => return Err(ClientError::Protocol("text message")),
            };
            let (seq, frame) = wire::decode_delivery(&bytes).map_err(|_| ClientError::Protocol("short delivery"))?;
            if seq <= self.last_seq {
                continue; // Already received before a reconnect.
            }
            self.last_seq = seq;
            self.progress.parked = Some(frame.to_vec());
            let ack = Message::Binary(wire::encode_ack(seq).into());
            if let Some(ws) = self.ws.as_mut()
                && ws.send(ack).await.is_err()
            {
                // The frame is ours; the next operation reconnects and resumes after it.
                self.ws = None;
            }
            if let Some(n) = self.drop_after_receives.as_mut() {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.drop_after_receives = None;
                    self.ws = None; // Dropping the stream closes the TCP connection, no close frame.
                }
            }
            return Ok(self.progress.parked.take());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_nearer_limit_wins_and_stopping_is_sticky() {
        let mut p = Progress::default();
        let (at, stop) = p.next_limit().unwrap().unwrap();
        assert_eq!(stop, Stop::Stall);
        assert!(at <= Instant::now() + DEFAULT_STALL_TIMEOUT);
        // The default deadline runs from the first use: far beyond one stall timeout.
        assert!(p.started.is_some());

        p.deadline = Some(Instant::now() + Duration::from_secs(1));
        assert_eq!(p.next_limit().unwrap().unwrap().1, Stop::Deadline);

        // A stall timeout too large for the clock falls back to the deadline.
        p.stall = Duration::MAX;
        assert_eq!(p.next_limit().unwrap().unwrap().1, Stop::Deadline);

        p.deadline = Some(Instant::now());
        assert_eq!(p.next_limit(), Err(Stop::Deadline));
        p.deadline = None;
        assert_eq!(p.next_limit(), Err(Stop::Deadline), "stopped stays stopped");
    }
}
