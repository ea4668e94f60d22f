//! Abuse prevention and the relay's HTTP side, on real loopback sockets: rate limits per
//! account and per address, the per-account cap on open ceremonies, idle timeouts, the
//! result record and the metrics endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Relay, bounded, dkg, p, raw_frame, sign_and_verify};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;
use tssw_channel::{IdentityKey, Outbound, Transport};
use tssw_protocol::{CeremonyId, Scheme};
use tssw_relay::{Claims, ClientError, Rate, RelayTransport, Token, close};

fn token_for(relay: &Relay, c: CeremonyId, party: u16, account: &str) -> Token {
    Token::issue(&relay.issuer, &Claims { account: account.into(), ..relay.claims(c, party) }).unwrap()
}

fn frame(c: CeremonyId, from: u16, to: u16) -> Vec<u8> {
    raw_frame(c, 1, from, to, &[7; 16])
}

/// A minimal HTTP/1.1 exchange (the relay's result and metrics routes): status and body.
async fn http(relay: &Relay, method: &str, path: &str, token: Option<&Token>, body: &[u8]) -> (u16, Vec<u8>) {
    let addr = relay.base.trim_start_matches("ws://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {}\r\n", t.as_str())).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n{auth}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&response[9..12]).unwrap().parse().unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&b[..line]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + len]);
        b = &b[line + 4 + len..];
    }
}

fn result_path(c: CeremonyId) -> String {
    format!("/v1/ceremonies/{}/result", hex::encode(c.0))
}

/// One account floods: its connection is cut off with RATE_LIMITED, while another
/// account's ceremony on the same relay completes and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_account_is_cut_off_while_others_complete() {
    bounded(async {
        let relay = Relay::start(|c| c.account_rate = Rate { per_second: 5, burst: 20 }).await;
        let c = CeremonyId::random();
        let mut flooder = RelayTransport::connect(&relay.base, c, token_for(&relay, c, 1, "flooder")).await.unwrap();
        let closed = async {
            for _ in 0..200 {
                if flooder.send(Outbound { to: p(2), bytes: frame(c, 1, 2) }).await.is_err() {
                    break;
                }
            }
            match flooder.recv().await {
                Err(ClientError::Closed { code, .. }) => code,
                other => panic!("expected a close, got {other:?}"),
            }
        };
        // The honest account ("acct-1", the helpers' default) runs a whole DKG and sign.
        let honest = async {
            let ids = [IdentityKey::random(), IdentityKey::random()];
            let coordinator = IdentityKey::random();
            let shares = dkg(&relay, &ids, &coordinator, Scheme::Ed25519).await;
            sign_and_verify(&relay, &ids, &coordinator, &shares, None).await;
        };
        let (code, ()) = tokio::join!(closed, honest);
        assert_eq!(code, close::RATE_LIMITED);
        let (_, metrics) = http(&relay, "GET", "/metrics", None, b"").await;
        let metrics = String::from_utf8(metrics).unwrap();
        // At least once: the flooder's transport may reconnect after a failed send and be
        // cut off again.
        let cut = metrics
            .lines()
            .find_map(|l| l.strip_prefix(r#"tssw_relay_rejections_total{reason="account rate limit exceeded"} "#))
            .map(|n| n.parse::<u64>().unwrap());
        assert!(cut >= Some(1), "{metrics}");
    })
    .await;
}

/// Too many upgrades from one address in a burst get 429 before any token is looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_rate_limit_gives_429() {
    bounded(async {
        let relay = Relay::start(|c| c.ip_rate = Rate { per_second: 1, burst: 3 }).await;
        let c = CeremonyId::random();
        let mut kept = Vec::new();
        for party in 1..=3 {
            kept.push(relay.connect(c, party).await);
        }
        assert_eq!(relay.refused(c, relay.token(c, 4)).await, 429);
        // The result route counts against the same budget.
        assert_eq!(http(&relay, "GET", &result_path(c), Some(&relay.token(c, 1)), b"").await.0, 429);
    })
    .await;
}

/// An account holds at most `max_open_ceremonies_per_account` open ceremonies, across its
/// connections; a ceremony with a recorded result no longer counts; a ceremony opened by
/// one account cannot be joined with another account's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_ceremonies_are_capped_per_account() {
    bounded(async {
        let relay = Relay::start(|c| c.max_open_ceremonies_per_account = 2).await;
        let (a, b, third) = (CeremonyId::random(), CeremonyId::random(), CeremonyId::random());
        let _a = relay.connect(a, 1).await;
        let _a2 = relay.connect(a, 2).await; // Same ceremony: not a second one.
        let _b = relay.connect(b, 1).await;
        assert_eq!(relay.refused(third, relay.token(third, 1)).await, 429);
        // Another account is not affected, but cannot enter this account's ceremony.
        let _other = RelayTransport::connect(&relay.base, third, token_for(&relay, third, 1, "acct-2")).await.unwrap();
        assert_eq!(relay.refused(a, token_for(&relay, a, 3, "acct-2")).await, 403);
        // Recording a's result closes it for the count.
        assert_eq!(http(&relay, "PUT", &result_path(a), Some(&relay.token(a, 1)), b"done").await.0, 204);
        let fresh = CeremonyId::random();
        let _fresh = relay.connect(fresh, 1).await;
    })
    .await;
}

/// A client that sends nothing, not even a pong, is closed after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connection_is_closed_as_idle() {
    bounded(async {
        let relay = Relay::start(|c| c.idle_timeout = Duration::from_millis(300)).await;
        let c = CeremonyId::random();
        let url = format!("{}/v1/ceremonies/{}/ws", relay.base, hex::encode(c.0));
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
        let bearer = format!("Bearer {}", relay.token(c, 1).as_str());
        request.headers_mut().insert("authorization", bearer.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        // Not polled (so no pong goes back) until well after the timeout.
        tokio::time::sleep(Duration::from_millis(900)).await;
        let (_, mut read) = ws.split();
        let code = loop {
            match read.next().await {
                Some(Ok(tungstenite::Message::Ping(_))) => continue,
                Some(Ok(tungstenite::Message::Close(Some(f)))) => break u16::from(f.code),
                other => panic!("expected an idle close, got {other:?}"),
            }
        };
        assert_eq!(code, close::IDLE);
    })
    .await;
}

/// Live clients (the real transport answers pings while it waits in `recv`) are not idle,
/// however long they wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_client_is_kept_alive_by_pings() {
    bounded(async {
        let relay = Relay::start(|c| c.idle_timeout = Duration::from_millis(300)).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await;
        let late = async {
            // Waiting for a frame that does not come: four idle timeouts.
            assert!(tokio::time::timeout(Duration::from_millis(1_200), two.recv()).await.is_err());
            two.send(Outbound { to: p(1), bytes: frame(c, 2, 1) }).await.unwrap();
        };
        let (got, ()) = tokio::join!(one.recv(), late);
        assert_eq!(got.unwrap().unwrap(), frame(c, 2, 1));
        assert_eq!((one.reconnects(), two.reconnects()), (0, 0));
    })
    .await;
}

/// The result record: 404 before, first write wins, the same bytes again are fine, a
/// different record is 409, any party's token reads it, no token is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_record_is_idempotent() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let path = result_path(c);
        let (one, two) = (relay.token(c, 1), relay.token(c, 2));
        assert_eq!(http(&relay, "GET", &path, Some(&two), b"").await.0, 404);
        assert_eq!(http(&relay, "PUT", &path, None, b"sig").await.0, 401);
        assert_eq!(http(&relay, "PUT", &path, Some(&relay.token(CeremonyId::random(), 1)), b"sig").await.0, 403);
        assert_eq!(http(&relay, "PUT", &path, Some(&one), b"").await.0, 400);
        assert_eq!(http(&relay, "PUT", &path, Some(&one), &[1; tssw_relay::MAX_RESULT_BYTES + 1]).await.0, 413);
        assert_eq!(http(&relay, "PUT", &path, Some(&one), b"sig").await.0, 204);
        assert_eq!(http(&relay, "PUT", &path, Some(&two), b"sig").await.0, 204);
        assert_eq!(http(&relay, "PUT", &path, Some(&two), b"other").await.0, 409);
        assert_eq!(http(&relay, "GET", &path, Some(&two), b"").await, (200, b"sig".to_vec()));
        assert_eq!(http(&relay, "GET", "/v1/ceremonies/zz/result", Some(&two), b"").await.0, 400);
    })
    .await;
}

/// The metrics endpoint counts connections, frames, bytes and rejections by reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_traffic_and_rejections() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await;
        one.send(Outbound { to: p(2), bytes: frame(c, 1, 2) }).await.unwrap();
        two.recv().await.unwrap().unwrap();
        assert_eq!(relay.refused(c, Token::from_text("junk")).await, 401);
        let (status, body) = http(&relay, "GET", "/metrics", None, b"").await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        let bytes = frame(c, 1, 2).len();
        for line in [
            "tssw_relay_connections 2".to_string(),
            "tssw_relay_ceremonies_opened_total 1".to_string(),
            "tssw_relay_frames_received_total 1".to_string(),
            format!("tssw_relay_frame_bytes_received_total {bytes}"),
            "tssw_relay_frames_delivered_total 1".to_string(),
            r#"tssw_relay_rejections_total{reason="bad token"} 1"#.to_string(),
            "tssw_relay_store_seconds_count 1".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
    })
    .await;
}
