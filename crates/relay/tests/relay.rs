//! The relay on real loopback sockets, in-process through `run`: ceremonies of every
//! scheme, auth failures, spoofed senders, oversized frames, replacement, expiry and
//! resume after a dropped connection. No sleeps: every wait is on an event, and every
//! test is bounded by a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Relay, bounded, dkg, p, raw_frame, sign_and_verify};
use ed25519_dalek::SigningKey;
use tokio_tungstenite::tungstenite;
use tssw_channel::{IdentityKey, Outbound, Transport};
use tssw_protocol::{CeremonyId, Scheme};
use tssw_relay::{Claims, ClientError, RelayTransport, Token, close, wire};

async fn dkg_then_sign(scheme: Scheme) {
    let relay = Relay::start(|_| {}).await;
    let ids = [IdentityKey::random(), IdentityKey::random()];
    let coordinator = IdentityKey::random();
    let shares = dkg(&relay, &ids, &coordinator, scheme).await;
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[0].public_key(), shares[1].public_key());
    sign_and_verify(&relay, &ids, &coordinator, &shares, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_dkg_and_sign_2_of_2() {
    bounded(dkg_then_sign(Scheme::Ecdsa)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_dkg_and_sign_2_of_2() {
    bounded(dkg_then_sign(Scheme::Ed25519)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bip340_dkg_and_sign_2_of_2() {
    bounded(dkg_then_sign(Scheme::Bip340)).await;
}

/// A client whose connection is cut after its first received frame reconnects with
/// `resume_from` and the ceremony completes; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let ids = [IdentityKey::random(), IdentityKey::random()];
        let coordinator = IdentityKey::random();
        for scheme in [Scheme::Ed25519, Scheme::Ecdsa] {
            let shares = dkg(&relay, &ids, &coordinator, scheme).await;
            for party in [1, 2] {
                let transports = sign_and_verify(&relay, &ids, &coordinator, &shares, Some(party)).await;
                let t = &transports[usize::from(party - 1)];
                assert_eq!(t.reconnects(), 1, "{scheme:?} party {party}: {t:?}");
                assert!(t.last_seq() >= 1);
            }
        }
    })
    .await;
}

async fn closed_with(t: &mut RelayTransport) -> u16 {
    match t.recv().await {
        Err(ClientError::Closed { code, .. }) => code,
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures() {
    bounded(async {
        let relay = Relay::start(|c| c.max_parties_per_ceremony = 4).await;
        let c = CeremonyId::random();

        // No token: a plain tungstenite client without the header.
        let url = format!("{}/v1/ceremonies/{}/ws", relay.base, hex::encode(c.0));
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
        // Garbage token.
        assert_eq!(relay.refused(c, Token::from_text("not a token!")).await, 401);
        // Signed by a key the relay does not trust.
        let stranger = SigningKey::generate(&mut rand_core::OsRng);
        assert_eq!(relay.refused(c, Token::issue(&stranger, &relay.claims(c, 1)).unwrap()).await, 401);
        // A valid token with one signature byte flipped.
        let good = relay.token(c, 1);
        let mut bytes = base64_decode(good.as_str());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(relay.refused(c, Token::from_text(base64_encode(&bytes))).await, 401);
        // Expired: the relay's clock reaches expires_at.
        let expiring = Token::issue(&relay.issuer, &Claims { expires_at: 1_010, ..relay.claims(c, 1) }).unwrap();
        relay.now.store(1_010, Ordering::SeqCst);
        assert_eq!(relay.refused(c, expiring).await, 401);
        // Another ceremony.
        assert_eq!(relay.refused(c, relay.token(CeremonyId::random(), 1)).await, 403);
        // Party index above max_parties_per_ceremony.
        assert_eq!(relay.refused(c, relay.token(c, 5)).await, 403);
        // The good token still works.
        let _ok = relay.connect(c, 1).await;
    })
    .await;
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A connection opened in the background (while a party computes its first round) is an
/// ordinary one once finished, and a refusal comes through `finish` as it would from
/// `connect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_connection_carries_frames_and_refusals() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let opening = RelayTransport::connect_in_background(vec![relay.base.clone()], c, relay.token(c, 1));
        let mut two = relay.connect(c, 2).await;
        let mut one = opening.finish().await.unwrap();
        let frame = raw_frame(c, 1, 1, 2, b"from the background");
        one.send(Outbound { to: p(2), bytes: frame.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap().unwrap(), frame);

        let elsewhere = relay.token(CeremonyId::random(), 1);
        match RelayTransport::connect_in_background(vec![relay.base.clone()], c, elsewhere).finish().await {
            Err(ClientError::Refused(403)) => {}
            other => panic!("expected a 403 refusal, got {:?}", other.map(|_| ())),
        }
        // Dropped before it finishes: the task stops; the relay keeps serving the others.
        drop(RelayTransport::connect_in_background(vec![relay.base.clone()], c, relay.token(c, 3)));
        let again = raw_frame(c, 2, 1, 2, b"still here");
        one.send(Outbound { to: p(2), bytes: again.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap().unwrap(), again);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_sender_is_cut_off_and_not_delivered() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await;
        // Party 1 claims to be party 2 (sending to 2 itself, as if 2 talked to itself).
        one.send(Outbound { to: p(2), bytes: raw_frame(c, 1, 2, 2, b"spoofed") }).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::FORBIDDEN_FRAME);
        // A frame naming another ceremony is cut off the same way.
        let mut one = relay.connect(c, 1).await;
        one.send(Outbound { to: p(2), bytes: raw_frame(CeremonyId::random(), 1, 1, 2, b"elsewhere") }).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::FORBIDDEN_FRAME);
        // Party 1 reconnects and sends honestly: that is the first thing 2 receives.
        let mut one = relay.connect(c, 1).await;
        let honest = raw_frame(c, 2, 1, 2, b"honest");
        one.send(Outbound { to: p(2), bytes: honest.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap().unwrap(), honest);
        assert_eq!(two.last_seq(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_frames_are_rejected() {
    bounded(async {
        let relay = Relay::start(|c| c.max_frame_bytes = 1024).await;
        let c = CeremonyId::random();
        let mut two = relay.connect(c, 2).await;
        let mut one = relay.connect(c, 1).await;
        one.send(Outbound { to: p(2), bytes: raw_frame(c, 1, 1, 2, &[7; 1100]) }).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::TOO_BIG);
        let mut one = relay.connect(c, 1).await;
        one.send_raw(vec![0x00, 0xff, 0xff]).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::BAD_MESSAGE);
        let mut one = relay.connect(c, 1).await;
        one.send_raw(vec![0x07]).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::BAD_MESSAGE);
        // A frame within the bound still goes through, and is the first one delivered.
        let mut one = relay.connect(c, 1).await;
        let ok = raw_frame(c, 1, 1, 2, &[7; 900]);
        one.send(Outbound { to: p(2), bytes: ok.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap().unwrap(), ok);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_connection_replaces_older() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut old = relay.connect(c, 1).await;
        let mut new = relay.connect(c, 1).await;
        assert_eq!(closed_with(&mut old).await, close::REPLACED);
        let mut two = relay.connect(c, 2).await;
        let f = raw_frame(c, 1, 2, 1, b"hi");
        two.send(Outbound { to: p(1), bytes: f.clone() }).await.unwrap();
        assert_eq!(new.recv().await.unwrap().unwrap(), f);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_gives_503() {
    bounded(async {
        let relay = Relay::start(|c| c.max_connections = 1).await;
        let c = CeremonyId::random();
        let _one = relay.connect(c, 1).await;
        assert_eq!(relay.refused(c, relay.token(c, 2)).await, 503);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceremony_expires_after_ttl() {
    bounded(async {
        let relay = Relay::start(|c| c.ceremony_ttl = Duration::from_secs(30)).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        one.send(Outbound { to: p(2), bytes: raw_frame(c, 1, 1, 2, b"early") }).await.unwrap();
        // Past the TTL (the token is still valid: it was issued for 60 s).
        relay.now.fetch_add(31, Ordering::SeqCst);
        one.send(Outbound { to: p(2), bytes: raw_frame(c, 2, 1, 2, b"late") }).await.unwrap();
        assert_eq!(closed_with(&mut one).await, close::EXPIRED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_and_returns() {
    bounded(async {
        let mut relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let _ = relay.stop.take().unwrap().send(());
        assert_eq!(closed_with(&mut one).await, close::GOING_AWAY);
        drop(one);
        (&mut relay.server).await.unwrap();
    })
    .await;
}

/// A bare tungstenite client for party `party`, optionally resuming.
async fn raw_client(
    relay: &Relay,
    c: CeremonyId,
    party: u16,
    resume_from: Option<u64>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tungstenite::client::IntoClientRequest;
    let mut url = format!("{}/v1/ceremonies/{}/ws", relay.base, hex::encode(c.0));
    if let Some(seq) = resume_from {
        url.push_str(&format!("?resume_from={seq}"));
    }
    let mut request = url.into_client_request().unwrap();
    let bearer = format!("Bearer {}", relay.token(c, party).as_str());
    request.headers_mut().insert("authorization", bearer.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn next_delivery<S>(ws: &mut S) -> (u64, Vec<u8>)
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    use futures_util::StreamExt;
    match ws.next().await {
        Some(Ok(tungstenite::Message::Binary(b))) => {
            let (seq, frame) = wire::decode_delivery(&b).unwrap();
            (seq, frame.to_vec())
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
}

/// At the wire level: what was acknowledged (by an ack or by `resume_from`) is not sent
/// again, and what was not is sent again after a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_and_resume_at_the_wire_level() {
    use futures_util::SinkExt;
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let f: Vec<Vec<u8>> = (1..=4).map(|r| raw_frame(c, r, 1, 2, &[r; 8])).collect();
        for frame in &f[..2] {
            one.send(Outbound { to: p(2), bytes: frame.clone() }).await.unwrap();
        }
        // Received both, acked neither, then gone.
        let mut two = raw_client(&relay, c, 2, None).await;
        assert_eq!(next_delivery(&mut two).await, (1, f[0].clone()));
        assert_eq!(next_delivery(&mut two).await, (2, f[1].clone()));
        drop(two);
        // Nothing acked: everything comes again.
        let mut two = raw_client(&relay, c, 2, None).await;
        assert_eq!(next_delivery(&mut two).await, (1, f[0].clone()));
        drop(two);
        // resume_from=1 acknowledges seq 1: delivery restarts at 2. Ack 2 explicitly.
        let mut two = raw_client(&relay, c, 2, Some(1)).await;
        assert_eq!(next_delivery(&mut two).await, (2, f[1].clone()));
        two.send(tungstenite::Message::Binary(wire::encode_ack(2).into())).await.unwrap();
        // Pushed while connected (no polling): the next frame arrives on its own.
        one.send(Outbound { to: p(2), bytes: f[2].clone() }).await.unwrap();
        assert_eq!(next_delivery(&mut two).await, (3, f[2].clone()));
        // Close cleanly and wait for the relay's side to end: it reads in order, so the
        // ack was processed before the close.
        two.close(None).await.unwrap();
        while futures_util::StreamExt::next(&mut two).await.is_some() {}
        // Acked through 2 (explicitly): a fresh connection without resume_from gets 3, then 4.
        one.send(Outbound { to: p(2), bytes: f[3].clone() }).await.unwrap();
        let mut two = raw_client(&relay, c, 2, None).await;
        assert_eq!(next_delivery(&mut two).await, (3, f[2].clone()));
        assert_eq!(next_delivery(&mut two).await, (4, f[3].clone()));
    })
    .await;
}

#[test]
fn delivery_wire_format() {
    let d = wire::encode_delivery(258, b"f");
    assert_eq!(d, [0, 0, 0, 0, 0, 0, 1, 2, b'f']);
    assert_eq!(wire::encode_ack(1), [1, 0, 0, 0, 0, 0, 0, 0, 1]);
}

/// The relay receipts every stored frame: `flush` returns once all are stored, and a frame
/// sent into a connection that dies before the relay reads it is sent again on the next
/// connection (the receiver gets it exactly once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_release_frames_and_unreceipted_ones_are_resent() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await;
        let frames: Vec<Vec<u8>> = (1..=3).map(|r| raw_frame(c, r, 1, 2, &[r; 8])).collect();
        for f in &frames {
            one.send(Outbound { to: p(2), bytes: f.clone() }).await.unwrap();
        }
        one.flush().await.unwrap();
        assert_eq!(one.in_flight(), 0);
        for f in &frames {
            assert_eq!(two.recv().await.unwrap().unwrap(), *f);
        }
        // Cut the connection without a close, then send: the write may land in a dead
        // socket; the frame stays in flight until a receipt, and flush reconnects for it.
        one.drop_connection_after_receives(1);
        two.send(Outbound { to: p(1), bytes: raw_frame(c, 1, 2, 1, b"poke") }).await.unwrap();
        one.recv().await.unwrap().unwrap();
        let last = raw_frame(c, 4, 1, 2, b"last");
        one.send(Outbound { to: p(2), bytes: last.clone() }).await.unwrap();
        one.flush().await.unwrap();
        assert_eq!((one.in_flight(), one.reconnects()), (0, 1));
        assert_eq!(two.recv().await.unwrap().unwrap(), last);
    })
    .await;
}
