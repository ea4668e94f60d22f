//! [`WebRelay`]: the relay client in the browser (wasm32), a [`Transport`] over the
//! browser's own `WebSocket`, speaking the relay's wire format (`tssw_relay::wire`).
//!
//! - **Authentication.** A browser cannot set `Authorization` on a WebSocket, so the relay
//!   token travels as an offered subprotocol (`tssw.bearer.<token>`, next to
//!   `tssw.relay.v1`, which the relay selects; see `tssw_relay::wire::SUBPROTOCOL`).
//! - **Delivery.** Every delivery is acked at once and a sequence number already seen is
//!   dropped, as in the native client. Receipts are counted so that [`Transport::flush`]
//!   waits until the relay has stored every frame this party sent.
//! - **Time limits.** A stall timeout bounds every wait; the setup's expiry bounds the run.
//!   When either fires, `recv` returns `Ok(None)` (reported as a stall by `drive`).
//! - **No resume.** Unlike the native client, a dropped connection is not resumed: the
//!   ceremony fails with [`WebRelayError::Closed`] and a retry is a new ceremony. (The
//!   browser reconnects cleanly only at page level; a half-run ceremony is never resumed
//!   by either client anyway.)

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use tssw_channel::{MAX_FRAME_BYTES, Outbound, Transport};
use tssw_protocol::CeremonyId;
use tssw_relay::wire::{self, RelayMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// Why the browser relay connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRelayError {
    /// The browser refused to open the socket (bad URL, blocked by policy).
    #[error("cannot open a WebSocket to {url}: {reason}")]
    Open {
        /// The URL.
        url: String,
        /// What the browser said.
        reason: String,
    },
    /// The relay closed the connection, or refused it (the browser hides HTTP refusals
    /// behind a close with code 1006).
    #[error("the relay closed the connection (code {code}{}): the ceremony cannot resume; retry it",
        if reason.is_empty() { String::new() } else { format!(", {reason}") })]
    Closed {
        /// The WebSocket close code.
        code: u16,
        /// The close reason the relay gave.
        reason: String,
    },
    /// The relay sent something that is not its wire format.
    #[error("malformed message from the relay: {0}")]
    Wire(String),
    /// A send did not go out.
    #[error("cannot send to the relay: {0}")]
    Send(String),
    /// No answer within the stall timeout or before the deadline.
    #[error("the relay did not answer in time")]
    TimedOut,
}

enum Event {
    Open,
    Message(Vec<u8>),
    Closed(u16, String),
}

type Handlers = (Closure<dyn FnMut(MessageEvent)>, Closure<dyn FnMut(CloseEvent)>, Closure<dyn FnMut()>);

/// One party's connection to the relay for one ceremony.
pub struct WebRelay {
    ws: WebSocket,
    events: mpsc::UnboundedReceiver<Event>,
    _handlers: Handlers,
    /// Deliveries read while waiting for receipts, returned by the next `recv`.
    inbox: VecDeque<Vec<u8>>,
    last_seq: u64,
    sent: u64,
    receipted: u64,
    stall: Duration,
    /// Milliseconds since the Unix epoch after which nothing is waited for.
    deadline_ms: f64,
    stopped: bool,
}

impl std::fmt::Debug for WebRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRelay")
            .field("url", &self.ws.url())
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Drop for WebRelay {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onopen(None);
        let _ = self.ws.close();
    }
}

impl WebRelay {
    /// Opens the first of `bases` that accepts, for `ceremony`, with the party's relay
    /// `token`; waits at most `stall` for each and never past `deadline_ms`.
    pub async fn connect_any(
        bases: &[String],
        ceremony: CeremonyId,
        token: &str,
        stall: Duration,
        deadline_ms: f64,
    ) -> Result<WebRelay, WebRelayError> {
        let path = format!("/v1/ceremonies/{}/ws", hex::encode(ceremony.0));
        let mut last = WebRelayError::Open { url: String::new(), reason: "no relay URL".into() };
        for base in bases {
            let url = format!("{}{path}", base.trim_end_matches('/'));
            match WebRelay::open(&url, token, stall, deadline_ms).await {
                Ok(relay) => return Ok(relay),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn open(url: &str, token: &str, stall: Duration, deadline_ms: f64) -> Result<WebRelay, WebRelayError> {
        let protocols =
            js_sys::Array::of2(&wire::SUBPROTOCOL.into(), &format!("{}{token}", wire::BEARER_PROTOCOL_PREFIX).into());
        let ws = WebSocket::new_with_str_sequence(url, &protocols)
            .map_err(|e| WebRelayError::Open { url: url.to_string(), reason: js_text(&e) })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let (tx, events) = mpsc::unbounded();
        let tx = Rc::new(RefCell::new(tx));
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                // Text messages are not the relay's; an empty binary one is refused later.
                let bytes = e.data().dyn_into::<js_sys::ArrayBuffer>().map(|b| js_sys::Uint8Array::new(&b).to_vec());
                let _ = tx.borrow().unbounded_send(Event::Message(bytes.unwrap_or_default()));
            })
        };
        let on_close = {
            let tx = tx.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
                let _ = tx.borrow().unbounded_send(Event::Closed(e.code(), e.reason()));
            })
        };
        let on_open = Closure::<dyn FnMut()>::new(move || {
            let _ = tx.borrow().unbounded_send(Event::Open);
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let mut relay = WebRelay {
            ws,
            events,
            _handlers: (on_message, on_close, on_open),
            inbox: VecDeque::new(),
            last_seq: 0,
            sent: 0,
            receipted: 0,
            stall,
            deadline_ms,
            stopped: false,
        };
        match relay.next_event().await? {
            Some(Event::Open) => Ok(relay),
            Some(Event::Closed(code, reason)) => Err(WebRelayError::Closed { code, reason }),
            Some(Event::Message(_)) => Err(WebRelayError::Wire("a message before the connection opened".into())),
            None => Err(WebRelayError::TimedOut),
        }
    }

    /// The next socket event, or `None` when the stall timeout or the deadline fires first
    /// (sticky: once stopped, always `None`).
    async fn next_event(&mut self) -> Result<Option<Event>, WebRelayError> {
        let left = self.deadline_ms - js_sys::Date::now();
        if self.stopped || left <= 0.0 {
            self.stopped = true;
            return Ok(None);
        }
        let wait = (self.stall.as_millis() as f64).min(left);
        match select(self.events.next(), Box::pin(crate::clock::sleep(Duration::from_millis(wait as u64)))).await {
            Either::Left((Some(event), _)) => Ok(Some(event)),
            Either::Left((None, _)) => Err(WebRelayError::Closed { code: 1006, reason: String::new() }),
            Either::Right(_) => {
                self.stopped = true;
                Ok(None)
            }
        }
    }

    /// Reads one message: a new delivery is acked and returned, a receipt counted.
    async fn read_one(&mut self) -> Result<Option<Option<Vec<u8>>>, WebRelayError> {
        let Some(event) = self.next_event().await? else { return Ok(None) };
        let bytes = match event {
            Event::Message(bytes) => bytes,
            Event::Closed(code, reason) => return Err(WebRelayError::Closed { code, reason }),
            Event::Open => return Ok(Some(None)),
        };
        if bytes.len() > MAX_FRAME_BYTES + 8 {
            return Err(WebRelayError::Wire(format!("a message of {} bytes", bytes.len())));
        }
        match wire::decode_relay(&bytes).map_err(|e| WebRelayError::Wire(e.to_string()))? {
            RelayMessage::Receipt(count) => {
                self.receipted = self.receipted.max(count);
                Ok(Some(None))
            }
            RelayMessage::Delivery(seq, frame) => {
                self.ws.send_with_u8_array(&wire::encode_ack(seq)).map_err(|e| WebRelayError::Send(js_text(&e)))?;
                if seq <= self.last_seq {
                    return Ok(Some(None));
                }
                self.last_seq = seq;
                Ok(Some(Some(frame.to_vec())))
            }
        }
    }
}

impl Transport for WebRelay {
    type Error = WebRelayError;

    async fn send(&mut self, frame: Outbound) -> Result<(), WebRelayError> {
        if self.stopped {
            return Err(WebRelayError::TimedOut);
        }
        self.ws.send_with_u8_array(&wire::encode_frame(&frame.bytes)).map_err(|e| WebRelayError::Send(js_text(&e)))?;
        self.sent += 1;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WebRelayError> {
        if let Some(frame) = self.inbox.pop_front() {
            return Ok(Some(frame));
        }
        loop {
            match self.read_one().await? {
                None => return Ok(None),
                Some(Some(frame)) => return Ok(Some(frame)),
                Some(None) => {}
            }
        }
    }

    async fn flush(&mut self) -> Result<(), WebRelayError> {
        while self.receipted < self.sent {
            match self.read_one().await? {
                None => return Err(WebRelayError::TimedOut),
                Some(Some(frame)) => self.inbox.push_back(frame),
                Some(None) => {}
            }
        }
        Ok(())
    }
}

fn js_text(value: &wasm_bindgen::JsValue) -> String {
    value.as_string().or_else(|| js_sys::JSON::stringify(value).ok().and_then(|s| s.as_string())).unwrap_or_default()
}
