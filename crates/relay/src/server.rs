//! The relay server: an axum router with the WebSocket route, the result record and the
//! metrics endpoint. Authentication and rate limits come before the upgrade; then one task
//! per connection forwards frames into mailboxes and pushes the connection's own mailbox
//! to it.
//!
//! Routes:
//! - `GET /v1/ceremonies/{id}/ws` (bearer token): the ceremony's WebSocket.
//! - `PUT /v1/ceremonies/{id}/result` (bearer token, ≤ [`MAX_RESULT_BYTES`]): records the
//!   ceremony's outcome, first write wins (204; 409 for a different one).
//! - `GET /v1/ceremonies/{id}/result` (bearer token): the record (200) or 404.
//! - `GET /metrics`: Prometheus metrics.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tssw_channel::Frame;

use crate::config::Config;
use crate::limits::Limits;
use crate::mailbox::{CeremonyKey, Mailbox, MailboxError, MemoryLimits, MemoryMailbox};
use crate::metrics::Metrics;
use crate::token::{Claims, Token, TokenError};
use crate::wire::{self, ClientMessage};

/// WebSocket close codes the relay sends. 1xxx are standard; 4xxx are the relay's own.
pub mod close {
    /// The relay is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A message larger than the configured frame bound.
    pub const TOO_BIG: u16 = 1009;
    /// A backend failure.
    pub const INTERNAL: u16 = 1011;
    /// Not a relay message (text, unknown tag, undecodable frame).
    pub const BAD_MESSAGE: u16 = 4000;
    /// A frame whose header names another ceremony or another sender than the token, or
    /// a recipient out of range. The frame is dropped.
    pub const FORBIDDEN_FRAME: u16 = 4003;
    /// The ceremony's TTL has passed.
    pub const EXPIRED: u16 = 4008;
    /// A newer connection for the same (ceremony, party) took over.
    pub const REPLACED: u16 = 4009;
    /// The recipient's mailbox is full.
    pub const MAILBOX_FULL: u16 = 4029;
    /// The account or address sends faster than its rate limit allows; cut off.
    pub const RATE_LIMITED: u16 = 4030;
    /// Nothing received from the client (not even a pong) within the idle timeout.
    pub const IDLE: u16 = 4031;
}

/// Slack above `max_frame_bytes` for the WebSocket layer's own limit: messages between the
/// two get a clean 1009 close from the relay; larger ones are cut by the WebSocket layer.
const WS_SLACK: usize = 64 * 1024;

/// How long [`run`] waits for connections to close after the shutdown signal (each is
/// sent a 1001 close at once; this bounds a peer that does not read it).
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Read chunk of a connection (see `upgrade`).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Deliveries fetched from the mailbox per batch.
const FETCH_BATCH: usize = 64;

/// Largest result record: a signature, a public key or a transcript digest fits many
/// times over.
pub const MAX_RESULT_BYTES: usize = 4_096;

/// Runs the relay with the in-memory backend on `listener` until `shutdown` completes;
/// then every connection is closed with 1001 and the server drains (at most
/// [`DRAIN_TIMEOUT`]).
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()> + Send + 'static) {
    let mailbox = MemoryMailbox::new(MemoryLimits {
        ttl_secs: config.ceremony_ttl.as_secs(),
        max_frames: config.max_mailbox_frames,
        max_bytes: config.max_mailbox_bytes,
    });
    run_with(listener, config, mailbox, shutdown).await;
}

/// [`run`] with any [`Mailbox`] backend.
pub async fn run_with<M: Mailbox>(
    listener: TcpListener,
    config: Config,
    mailbox: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_rx_for_drain = stop_rx.clone();
    let app = router(config, mailbox, stop_rx);
    let signal = async move {
        shutdown.await;
        tracing::info!("relay shutting down");
        stop_tx.send_replace(true);
    };
    let mut stopped = stop_rx_for_drain;
    let drain_deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // Small messages (acks, receipts, short rounds) must not wait for Nagle's algorithm to
    // meet the peer's delayed ACK: that costs ≈ 40 ms per exchange on loopback.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let serve = std::future::IntoFuture::into_future(axum::serve(listener, service).with_graceful_shutdown(signal));
    tokio::select! {
        result = serve => if let Err(e) = result {
            tracing::error!(error = %e, "relay server failed");
        },
        () = drain_deadline => tracing::warn!("connections still open after the drain timeout; stopping anyway"),
    }
}

/// The router (no listener). Per-IP limits need the peer address: serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`, as [`run_with`] does.
pub fn router<M: Mailbox>(config: Config, mailbox: M, stop: watch::Receiver<bool>) -> Router {
    let shared = Arc::new(Shared {
        connections: Arc::new(Semaphore::new(config.max_connections)),
        limits: Limits::new(config.account_rate, config.ip_rate),
        metrics: Metrics::new(),
        config,
        mailbox,
        sessions: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        stop,
    });
    Router::new()
        .route("/v1/ceremonies/{ceremony}/ws", get(upgrade::<M>))
        .route("/v1/ceremonies/{ceremony}/result", get(get_result::<M>).put(put_result::<M>))
        .route("/metrics", get(metrics::<M>))
        .layer(DefaultBodyLimit::max(MAX_RESULT_BYTES))
        .with_state(shared)
}

/// (ceremony, party): at most one live connection each.
type SessionKey = (CeremonyKey, u16);

struct Shared<M> {
    config: Config,
    mailbox: M,
    connections: Arc<Semaphore>,
    limits: Limits,
    metrics: Metrics,
    /// The live connection of each (ceremony, party): its id and its "you are replaced"
    /// signal. `std::sync::Mutex`: only inserts and removes, never held across `.await`.
    sessions: Mutex<HashMap<SessionKey, (u64, Arc<Notify>)>>,
    next_id: AtomicU64,
    stop: watch::Receiver<bool>,
}

/// Why an upgrade request was refused (before the upgrade).
#[derive(Debug)]
enum Reject {
    BadRequest(&'static str),
    Unauthorized(TokenError),
    Forbidden(&'static str),
    Busy,
    RateLimited(&'static str),
    Gone,
    Internal,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Reject::BadRequest(why) => (StatusCode::BAD_REQUEST, why.to_string()),
            Reject::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
            Reject::Forbidden(why) => (StatusCode::FORBIDDEN, why.to_string()),
            Reject::Busy => (StatusCode::SERVICE_UNAVAILABLE, "too many connections".to_string()),
            Reject::RateLimited(why) => (StatusCode::TOO_MANY_REQUESTS, why.to_string()),
            Reject::Gone => (StatusCode::GONE, "ceremony expired".to_string()),
            Reject::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "relay backend error".to_string()),
        };
        (status, text).into_response()
    }
}

impl From<MailboxError> for Reject {
    fn from(e: MailboxError) -> Reject {
        match e {
            MailboxError::Expired => Reject::Gone,
            MailboxError::TooManyCeremonies => Reject::RateLimited("too many open ceremonies for this account"),
            MailboxError::OtherAccount => Reject::Forbidden("ceremony belongs to another account"),
            MailboxError::ResultConflict => Reject::Forbidden("a different result is already recorded"),
            MailboxError::Full | MailboxError::Backend(_) => Reject::Internal,
        }
    }
}

/// What an authorized connection is allowed to do.
#[derive(Clone)]
struct Grant {
    ceremony: CeremonyKey,
    party: u16,
    account: String,
    resume_from: u64,
}

/// Checks the per-IP limit (when the peer address is known), the ceremony id and the
/// token, in that order.
fn authenticate<M>(
    shared: &Shared<M>,
    peer: Option<SocketAddr>,
    ceremony_hex: &str,
    headers: &HeaderMap,
) -> Result<(CeremonyKey, Claims), Reject> {
    if let Some(peer) = peer
        && !shared.limits.ip.allow(&peer.ip())
    {
        return Err(Reject::RateLimited("too many requests from this address"));
    }
    if ceremony_hex.len() != 64 {
        return Err(Reject::BadRequest("ceremony id must be 64 hex digits"));
    }
    let mut ceremony = [0u8; 32];
    hex::decode_to_slice(ceremony_hex, &mut ceremony).map_err(|_| Reject::BadRequest("ceremony id is not hex"))?;
    let header_text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let text = header_text(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| header_text(header::SEC_WEBSOCKET_PROTOCOL).and_then(wire::bearer_from_protocols))
        .ok_or(Reject::Unauthorized(TokenError::Missing))?;
    let claims =
        Token::verify(text, &shared.config.trusted_issuer, (shared.config.clock)()).map_err(Reject::Unauthorized)?;
    if claims.ceremony != ceremony {
        return Err(Reject::Forbidden("token is for another ceremony"));
    }
    if claims.party == 0 || claims.party > shared.config.max_parties_per_ceremony {
        return Err(Reject::Forbidden("party index out of range"));
    }
    Ok((ceremony, claims))
}

/// [`authenticate`], then opens the ceremony for the token's account (the per-account
/// cap) and parses `resume_from`.
async fn authorize<M: Mailbox>(
    shared: &Shared<M>,
    peer: Option<SocketAddr>,
    ceremony_hex: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Grant, Reject> {
    let (ceremony, claims) = authenticate(shared, peer, ceremony_hex, headers)?;
    let resume_from = wire::parse_resume_from(query).map_err(|_| Reject::BadRequest("bad resume_from"))?;
    let config = &shared.config;
    let opened = shared
        .mailbox
        .open(ceremony, &claims.account, config.max_open_ceremonies_per_account, (config.clock)())
        .await?;
    if opened {
        shared.metrics.ceremonies.inc();
    }
    Ok(Grant { ceremony, party: claims.party, account: claims.account, resume_from })
}

/// Logs and counts a refusal, then answers it.
fn refuse<M>(shared: &Shared<M>, reject: Reject) -> Response {
    let reason = reject_reason(&reject);
    tracing::info!(reason, "request rejected");
    shared.metrics.reject(reason);
    reject.into_response()
}

async fn upgrade<M: Mailbox>(
    State(shared): State<Arc<Shared<M>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(ceremony_hex): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Authentication first, so an unauthenticated caller learns nothing else.
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let grant = match authorize(&shared, peer, &ceremony_hex, query.as_deref(), &headers).await {
        Ok(g) => g,
        Err(reject) => return refuse(&shared, reject),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
        tracing::warn!("connection cap reached");
        return refuse(&shared, Reject::Busy);
    };
    // Registered before the 101 goes out, so connections of one (ceremony, party) take
    // over in the order their upgrades were answered.
    let registration = Registration::new(shared.clone(), (grant.ceremony, grant.party));
    let limit = shared.config.max_frame_bytes.saturating_add(1 + WS_SLACK);
    // Small buffers: most connections sit idle waiting for a peer, and the 128 KiB
    // defaults would make each one cost ≈ 130 KB. Large frames still arrive whole (the
    // read buffer is a chunk size, not a bound); every send is flushed anyway.
    // A browser that offered the token as a subprotocol needs one protocol chosen back.
    ws.protocols([wire::SUBPROTOCOL])
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            shared.metrics.connections.inc();
            serve_connection(socket, &shared, grant, &registration).await;
            shared.metrics.connections.dec();
        })
}

fn reject_reason(reject: &Reject) -> &'static str {
    match reject {
        Reject::BadRequest(why) | Reject::Forbidden(why) => why,
        Reject::Unauthorized(TokenError::Missing) => "missing token",
        Reject::Unauthorized(TokenError::Expired) => "expired token",
        Reject::Unauthorized(_) => "bad token",
        Reject::Busy => "busy",
        Reject::RateLimited(why) => why,
        Reject::Gone => "ceremony expired",
        Reject::Internal => "backend error",
    }
}

async fn put_result<M: Mailbox>(
    State(shared): State<Arc<Shared<M>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(ceremony_hex): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let ceremony = match authenticate(&shared, peer, &ceremony_hex, &headers) {
        Ok((ceremony, _)) => ceremony,
        Err(reject) => return refuse(&shared, reject),
    };
    if body.is_empty() {
        return refuse(&shared, Reject::BadRequest("empty result"));
    }
    match shared.mailbox.put_result(ceremony, Arc::from(&body[..]), (shared.config.clock)()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(MailboxError::ResultConflict) => {
            shared.metrics.reject("result conflict");
            (StatusCode::CONFLICT, "a different result is already recorded").into_response()
        }
        Err(e) => refuse(&shared, e.into()),
    }
}

async fn get_result<M: Mailbox>(
    State(shared): State<Arc<Shared<M>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(ceremony_hex): Path<String>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let ceremony = match authenticate(&shared, peer, &ceremony_hex, &headers) {
        Ok((ceremony, _)) => ceremony,
        Err(reject) => return refuse(&shared, reject),
    };
    match shared.mailbox.get_result(ceremony, (shared.config.clock)()).await {
        Ok(Some(result)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], Bytes::copy_from_slice(&result)).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no result recorded yet").into_response(),
        Err(e) => refuse(&shared, e.into()),
    }
}

async fn metrics<M>(State(shared): State<Arc<Shared<M>>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.encode())
        .into_response()
}

/// Registration of a connection as the live one for its (ceremony, party); removed on
/// drop unless a newer connection took over.
struct Registration<M> {
    shared: Arc<Shared<M>>,
    key: (CeremonyKey, u16),
    id: u64,
    replaced: Arc<Notify>,
}

impl<M> Registration<M> {
    fn new(shared: Arc<Shared<M>>, key: (CeremonyKey, u16)) -> Registration<M> {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let replaced = Arc::new(Notify::new());
        if let Ok(mut sessions) = shared.sessions.lock()
            && let Some((_, old)) = sessions.insert(key, (id, replaced.clone()))
        {
            // `notify_one` stores a permit, so the old connection sees it even if it is
            // not waiting right now.
            old.notify_one();
        }
        Registration { shared, key, id, replaced }
    }
}

impl<M> Drop for Registration<M> {
    fn drop(&mut self) {
        if let Ok(mut sessions) = self.shared.sessions.lock()
            && sessions.get(&self.key).is_some_and(|(id, _)| *id == self.id)
        {
            sessions.remove(&self.key);
        }
    }
}

/// How a connection ended (for the log and the close frame).
type Ending = (u16, &'static str);

/// One connection: generic over the socket (`Sink` + `Stream` of axum messages) so it can
/// be driven by channels in unit tests.
async fn serve_connection<S, E, M>(mut socket: S, shared: &Shared<M>, grant: Grant, registration: &Registration<M>)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
    M: Mailbox,
{
    let short = hex::encode(&grant.ceremony[..4]);
    tracing::info!(ceremony = %short, party = grant.party, resume_from = grant.resume_from, "connected");
    let party = grant.party;
    let ending = session_loop(&mut socket, shared, grant, &registration.replaced).await;
    if let Some((code, reason)) = ending {
        tracing::info!(ceremony = %short, party, code, reason, "closing");
        if code != close::GOING_AWAY && code != close::REPLACED {
            shared.metrics.reject(reason);
        }
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = socket.send(Message::Close(Some(frame))).await;
    } else {
        tracing::info!(ceremony = %short, party, "disconnected");
    }
}

async fn session_loop<S, E, M>(socket: &mut S, shared: &Shared<M>, grant: Grant, replaced: &Notify) -> Option<Ending>
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
    M: Mailbox,
{
    let Grant { ceremony, party, resume_from, .. } = grant;
    let now = || (shared.config.clock)();
    let mailbox = &shared.mailbox;
    if resume_from > 0
        && let Err(e) = mailbox.ack(ceremony, party, resume_from, now()).await
    {
        return Some(mailbox_ending(&e));
    }
    let mut arrivals = match mailbox.watch(ceremony, party, now()).await {
        Ok(rx) => rx,
        Err(e) => return Some(mailbox_ending(&e)),
    };
    let mut stop = shared.stop.clone();
    let mut delivered = resume_from;
    // Idle detection: anything from the client (a pong included) proves it alive; the
    // relay pings at half the timeout so a live but quiet client always has something to
    // answer.
    let idle = shared.config.idle_timeout;
    let mut heard = tokio::time::Instant::now();
    // Frames stored from this connection, for receipts.
    let mut stored: u64 = 0;
    let mut ping = tokio::time::interval(idle / 2);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    loop {
        // Push everything pending, then wait for the next event.
        loop {
            let batch = match mailbox.fetch(ceremony, party, delivered, FETCH_BATCH, now()).await {
                Ok(b) => b,
                Err(e) => return Some(mailbox_ending(&e)),
            };
            let full = batch.len() == FETCH_BATCH;
            for stored in batch {
                let msg = Message::Binary(wire::encode_delivery(stored.seq, &stored.frame).into());
                if socket.send(msg).await.is_err() {
                    return None;
                }
                shared.metrics.frames_out.inc();
                delivered = stored.seq;
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            biased;
            () = replaced.notified() => return Some((close::REPLACED, "replaced by a newer connection")),
            _ = stop.changed() => return Some((close::GOING_AWAY, "relay shutting down")),
            changed = arrivals.changed() => {
                if changed.is_err() {
                    return Some((close::EXPIRED, "ceremony expired"));
                }
            }
            () = tokio::time::sleep_until(heard + idle) => return Some((close::IDLE, "idle timeout")),
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return None;
                }
            }
            msg = socket.next() => match msg {
                None => return None,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "socket error");
                    return None;
                }
                Some(Ok(Message::Binary(bytes))) => {
                    heard = tokio::time::Instant::now();
                    match handle_client(shared, &grant, &bytes).await {
                        Handled::Ack => {}
                        Handled::Stored => {
                            stored += 1;
                            // The client keeps each frame until this receipt: a frame sent
                            // into a node that dies before storing it is sent again.
                            if socket.send(Message::Binary(wire::encode_receipt(stored).into())).await.is_err() {
                                return None;
                            }
                        }
                        Handled::End(ending) => return Some(ending),
                    }
                }
                Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => heard = tokio::time::Instant::now(),
                Some(Ok(Message::Text(_))) => return Some((close::BAD_MESSAGE, "text messages are not accepted")),
            },
        }
    }
}

/// What one client message led to.
enum Handled {
    /// An ack was applied.
    Ack,
    /// A frame was stored: send a receipt.
    Stored,
    /// The connection ends.
    End(Ending),
}

async fn handle_client<M: Mailbox>(shared: &Shared<M>, grant: &Grant, bytes: &[u8]) -> Handled {
    let config = &shared.config;
    if !shared.limits.account.allow(&grant.account) {
        return Handled::End((close::RATE_LIMITED, "account rate limit exceeded"));
    }
    let now = (config.clock)();
    let msg = match wire::decode_client(bytes, config.max_frame_bytes) {
        Ok(m) => m,
        Err(wire::WireError::TooLarge { .. }) => return Handled::End((close::TOO_BIG, "frame too large")),
        Err(_) => return Handled::End((close::BAD_MESSAGE, "malformed relay message")),
    };
    match msg {
        ClientMessage::Ack(seq) => match shared.mailbox.ack(grant.ceremony, grant.party, seq, now).await {
            Ok(()) => Handled::Ack,
            Err(e) => Handled::End(mailbox_ending(&e)),
        },
        ClientMessage::Frame(bytes) => {
            // Only the public header is read; the body stays opaque ciphertext.
            let Ok((h, _)) = Frame::parse(bytes) else {
                return Handled::End((close::BAD_MESSAGE, "malformed frame"));
            };
            if h.ceremony.0 != grant.ceremony {
                return Handled::End((close::FORBIDDEN_FRAME, "frame for another ceremony"));
            }
            if h.from.get() != grant.party {
                return Handled::End((close::FORBIDDEN_FRAME, "frame sender is not the token's party"));
            }
            if h.to.get() > config.max_parties_per_ceremony {
                return Handled::End((close::FORBIDDEN_FRAME, "recipient out of range"));
            }
            let started = Instant::now();
            match shared.mailbox.append(grant.ceremony, h.to.get(), Arc::from(bytes), now).await {
                Ok(_) => {
                    // Crash tests: a relay dying with frames stored but not yet receipted.
                    tssw_fault::point("relay.frame.stored");
                    shared.metrics.store_seconds.observe(started.elapsed().as_secs_f64());
                    shared.metrics.frames_in.inc();
                    shared.metrics.bytes_in.inc_by(bytes.len() as u64);
                    Handled::Stored
                }
                Err(e) => Handled::End(mailbox_ending(&e)),
            }
        }
    }
}

fn mailbox_ending(e: &MailboxError) -> Ending {
    match e {
        MailboxError::Expired => (close::EXPIRED, "ceremony expired"),
        MailboxError::Full => (close::MAILBOX_FULL, "recipient mailbox full"),
        MailboxError::TooManyCeremonies => (close::RATE_LIMITED, "too many open ceremonies for this account"),
        MailboxError::OtherAccount | MailboxError::ResultConflict => (close::FORBIDDEN_FRAME, "forbidden"),
        MailboxError::Backend(_) => (close::INTERNAL, "relay backend error"),
    }
}
