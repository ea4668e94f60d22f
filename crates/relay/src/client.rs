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
//! Receipts and resend: a frame written into a connection whose node is already gone (it
//! sent its 1001 and dropped the socket, or crashed) is lost although the write succeeded.
//! So the relay answers every stored frame with a receipt (`0 ‖ count`: the first `count`
//! frames of this connection are stored), and the transport keeps each frame until its
//! receipt. After a reconnect it sends every unreceipted frame again, in order (resends are
//! byte-identical; the receiver's session drops copies it already has). At most
//! [`RESEND_MAX_FRAMES`] frames or [`RESEND_MAX_BYTES`] bytes are in flight: beyond that a
//! send waits for receipts (within the stall timeout). [`Transport::flush`], which `drive`
//! calls when the ceremony is done, waits until every frame is receipted, so a party that
//! finishes cannot take its last frames down with a dying node.

use std::collections::VecDeque;
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
/// At most this many frames are in flight (sent, not receipted by the relay).
pub const RESEND_MAX_FRAMES: usize = 256;
/// At most this many bytes of frames are in flight (one frame may exceed it on its own).
pub const RESEND_MAX_BYTES: usize = 16 << 20;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames sent but not yet receipted by the relay, oldest first: exactly the frames sent on
/// the current connection after its last receipt (a new connection starts by resending
/// all of them), so a receipt's count says how many to forget.
#[derive(Default)]
struct Unacked {
    messages: VecDeque<Message>,
    bytes: usize,
    /// The last receipt's count on the current connection.
    receipted: u64,
}

impl Unacked {
    fn push(&mut self, msg: Message) {
        self.bytes += msg.len();
        self.messages.push_back(msg);
    }

    fn full(&self) -> bool {
        self.messages.len() >= RESEND_MAX_FRAMES || self.bytes >= RESEND_MAX_BYTES
    }

    fn receipt(&mut self, count: u64) -> Result<(), ClientError> {
        let newly = count.checked_sub(self.receipted).ok_or(ClientError::Protocol("receipt went backwards"))?;
        let newly = usize::try_from(newly).unwrap_or(usize::MAX);
        if newly > self.messages.len() {
            return Err(ClientError::Protocol("receipt for frames never sent"));
        }
        for msg in self.messages.drain(..newly) {
            self.bytes -= msg.len();
        }
        self.receipted = count;
        Ok(())
    }
}

/// A connection [`RelayTransport::connect_in_background`] is opening. Dropped before it
/// finishes, it stops the task (and closes the connection if it had opened).
pub struct Connecting(tokio::task::JoinHandle<Result<RelayTransport, ClientError>>);

impl Connecting {
    /// The connection, once open.
    pub async fn finish(mut self) -> Result<RelayTransport, ClientError> {
        (&mut self.0).await.unwrap_or(Err(ClientError::Interrupted))
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        self.0.abort();
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
    /// The task opening the connection ([`Connecting`]) ended without an answer.
    #[error("the relay connection task stopped before it connected")]
    Interrupted,
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
    unacked: Unacked,
    /// Frames taken off the socket (and acked) but not yet returned by `recv`: read while
    /// sending or flushing, or while a `recv` was cut short.
    inbox: VecDeque<Vec<u8>>,
}

/// What bounds a ceremony's progress on this transport: the time limits and the one that
/// fired.
#[derive(Debug)]
struct Progress {
    stall: Duration,
    deadline: Option<Instant>,
    /// The first send or receive, from which the default deadline runs.
    started: Option<Instant>,
    stopped: Option<Stop>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress { stall: DEFAULT_STALL_TIMEOUT, deadline: None, started: None, stopped: None }
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
            unacked: Unacked::default(),
            inbox: VecDeque::new(),
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

    /// Starts [`RelayTransport::connect_any`] in a task of its own, so that the caller can
    /// compute meanwhile: a party's first round is CPU, opening the connection is round trips.
    pub fn connect_in_background(bases: Vec<String>, ceremony: CeremonyId, token: Token) -> Connecting {
        Connecting(tokio::spawn(async move { RelayTransport::connect_any(&bases, ceremony, token).await }))
    }

    /// Index in `bases` of the node in use (or last tried).
    pub fn current_base(&self) -> usize {
        self.current
    }

    /// The last sequence number received (what a reconnect resumes from).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Frames sent but not yet receipted by the relay (they are resent after a reconnect).
    pub fn in_flight(&self) -> usize {
        self.unacked.messages.len()
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

    /// Sends every unreceipted frame again on a new connection (see the module doc).
    async fn resend(&mut self, ws: &mut Ws) -> Result<(), ClientError> {
        self.unacked.receipted = 0;
        for msg in &self.unacked.messages {
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
        if let Some(frame) = self.inbox.pop_front() {
            return Ok(Some(frame));
        }
        let Ok(limit) = self.progress.next_limit() else { return Ok(None) };
        match within(limit, self.next_frame()).await {
            Ok(result) => result,
            // A frame did arrive; only its ack hung. Return it and drop the connection:
            // the next operation reconnects and resumes after it.
            Err(_) if !self.inbox.is_empty() => {
                self.ws = None;
                Ok(self.inbox.pop_front())
            }
            Err(stop) => {
                self.progress.stopped = Some(stop);
                Ok(None)
            }
        }
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        if self.unacked.messages.is_empty() {
            return Ok(());
        }
        let limit = self.progress.next_limit().map_err(ClientError::TimedOut)?;
        let receipts = async {
            while !self.unacked.messages.is_empty() {
                self.read_one().await?;
            }
            Ok(())
        };
        match within(limit, receipts).await {
            Ok(result) => result,
            Err(stop) => {
                self.progress.stopped = Some(stop);
                Err(ClientError::TimedOut(stop))
            }
        }
    }
}

impl RelayTransport {
    /// [`Transport::send`] without the time limit.
    async fn send_frame(&mut self, frame: Outbound) -> Result<(), ClientError> {
        let msg = Message::Binary(wire::encode_frame(&frame.bytes).into());
        // Backpressure: no more than the resend bound in flight.
        while self.unacked.full() {
            self.read_one().await?;
        }
        // Queued first: a reconnect from here on resends it with the others, in order.
        self.unacked.push(msg.clone());
        let Some(ws) = self.ws.as_mut() else { return self.reconnect().await };
        if ws.send(msg).await.is_ok() {
            return Ok(());
        }
        self.reconnect().await
    }

    /// [`Transport::recv`] without the time limit.
    async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            self.read_one().await?;
            if let Some(frame) = self.inbox.pop_front() {
                return Ok(Some(frame));
            }
        }
    }

    /// Reads one message from the relay (reconnecting if the connection is gone) and
    /// applies it: a receipt releases sent frames; a new delivery goes to the inbox first,
    /// then is acked, so a cut-short call loses nothing.
    async fn read_one(&mut self) -> Result<(), ClientError> {
        let ws = self.connected().await?;
        let msg = match ws.next().await {
            Some(Ok(msg)) => msg,
            // Dropped without a close frame: a network failure, so resume.
            None | Some(Err(_)) => return self.reconnect().await,
        };
        let bytes = match msg {
            Message::Binary(bytes) => bytes,
            // The node is shutting down; another node serves the same mailboxes.
            Message::Close(Some(frame)) if self.fails_over_on(u16::from(frame.code)) => return self.reconnect().await,
            Message::Close(Some(frame)) => {
                return Err(ClientError::Closed { code: u16::from(frame.code), reason: frame.reason.to_string() });
            }
            Message::Close(None) => return Err(ClientError::Closed { code: 1005, reason: String::new() }),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(()),
            Message::Text(_) => return Err(ClientError::Protocol("text message")),
        };
        let (seq, frame) = match wire::decode_relay(&bytes).map_err(|_| ClientError::Protocol("short delivery"))? {
            wire::RelayMessage::Receipt(count) => return self.unacked.receipt(count),
            wire::RelayMessage::Delivery(seq, frame) => (seq, frame),
        };
        if seq <= self.last_seq {
            return Ok(()); // Already received before a reconnect.
        }
        self.last_seq = seq;
        self.inbox.push_back(frame.to_vec());
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
        Ok(())
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
