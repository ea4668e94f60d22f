//! The relay on real loopback sockets, in-process through `run`: ceremonies of every
//! scheme, auth failures, spoofed senders, oversized frames, replacement, expiry and
//! resume after a dropped connection. No sleeps: every wait is on an event, and every
//! test is bounded by a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite;
use tssw_channel::testing::sessions;
use tssw_channel::{Frame, FrameHeader, IdentityKey, MessageId, Operation, Outbound, Session, Transport, drive};
use tssw_protocol::{Ceremony, CeremonyId, KeyShare, Message, PartyIndex, PublicKey, Scheme, SignRequest, Signature};
use tssw_relay::{Claims, ClientError, Config, RelayTransport, Token, close, run, wire};

const LIMIT: Duration = Duration::from_secs(120);

type Started<O> = (Ceremony<O>, Vec<Message>);
type PartyRun<'a, O> = Pin<Box<dyn Future<Output = (O, RelayTransport)> + 'a>>;

struct Relay {
    base: String,
    issuer: SigningKey,
    now: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Relay {
        let issuer = SigningKey::generate(&mut rand_core::OsRng);
        let now = Arc::new(AtomicU64::new(1_000));
        let clock = now.clone();
        let mut config = Config::new(issuer.verifying_key());
        config.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run(listener, config, async move {
            let _ = stopped.await;
        }));
        Relay { base, issuer, now, stop: Some(stop), server }
    }

    fn claims(&self, ceremony: CeremonyId, party: u16) -> Claims {
        Claims {
            ceremony: ceremony.0,
            party,
            account: "acct-1".into(),
            expires_at: self.now.load(Ordering::SeqCst) + 60,
        }
    }

    fn token(&self, ceremony: CeremonyId, party: u16) -> Token {
        Token::issue(&self.issuer, &self.claims(ceremony, party)).unwrap()
    }

    async fn connect(&self, ceremony: CeremonyId, party: u16) -> RelayTransport {
        RelayTransport::connect(&self.base, ceremony, self.token(ceremony, party)).await.unwrap()
    }

    async fn refused(&self, ceremony: CeremonyId, token: Token) -> u16 {
        match RelayTransport::connect(&self.base, ceremony, token).await {
            Err(ClientError::Refused(status)) => status,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("test timed out")
}

/// Runs every party's ceremony over its own relay connection, concurrently. `drop_party`:
/// that party's connection is cut after its first received frame.
async fn over_relay<O>(
    relay: &Relay,
    parties: Vec<(Started<O>, Session)>,
    drop_party: Option<u16>,
) -> (Vec<O>, Vec<RelayTransport>) {
    let mut futures: Vec<PartyRun<'_, O>> = Vec::new();
    for (started, mut session) in parties {
        let mut transport = relay.connect(session.ceremony_id(), session.me().get()).await;
        if drop_party == Some(session.me().get()) {
            transport.drop_connection_after_receives(1);
        }
        futures.push(Box::pin(async move {
            let me = session.me();
            let out = drive(started, &mut session, &mut transport).await.unwrap_or_else(|e| panic!("party {me}: {e}"));
            (out, transport)
        }));
    }
    futures_util::future::join_all(futures).await.into_iter().unzip()
}

fn wallet_sessions(
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    op: Operation,
    scheme: Scheme,
    digest: Option<[u8; 32]>,
) -> (CeremonyId, Vec<Session>) {
    let parties: Vec<(PartyIndex, &IdentityKey)> = ids.iter().enumerate().map(|(i, k)| (p(i as u16 + 1), k)).collect();
    let (setup, sessions) = sessions(coordinator, &parties, op, scheme, 2, digest, &mut rand_core::OsRng).unwrap();
    (setup.ceremony_id(), sessions)
}

async fn dkg(relay: &Relay, ids: &[IdentityKey], coordinator: &IdentityKey, scheme: Scheme) -> Vec<KeyShare> {
    let (id, sessions) = wallet_sessions(ids, coordinator, Operation::Dkg, scheme, None);
    let parties = sessions.into_iter().map(|s| (tssw_protocol::dkg(id, scheme, s.me(), 2, 2).unwrap(), s)).collect();
    let (mut shares, _) = over_relay(relay, parties, None).await;
    shares.sort_by_key(KeyShare::index);
    shares
}

async fn sign_and_verify(
    relay: &Relay,
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    shares: &[KeyShare],
    drop_party: Option<u16>,
) -> Vec<RelayTransport> {
    let scheme = shares[0].scheme();
    let request = request_for(scheme);
    let digest: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        format!("{request:?}"),
    ))
    .into();
    let (id, sessions) = wallet_sessions(ids, coordinator, Operation::Sign, scheme, Some(digest));
    let signers: Vec<PartyIndex> = shares.iter().map(KeyShare::index).collect();
    let parties = shares
        .iter()
        .zip(sessions)
        .map(|(share, s)| (tssw_protocol::sign(id, share, &signers, request.clone()).unwrap(), s))
        .collect();
    let (sigs, transports) = over_relay(relay, parties, drop_party).await;
    for sig in sigs {
        verify(&shares[0].public_key(), &request, &sig).unwrap();
    }
    transports
}

fn request_for(scheme: Scheme) -> SignRequest {
    let mut m = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut m);
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: m, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: m.to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: m, merkle_root: None },
    }
}

/// Checks a signature with a library that did not make it (libsecp256k1, ed25519-dalek).
fn verify(public_key: &PublicKey, request: &SignRequest, signature: &Signature) -> Result<(), String> {
    tssw_verify::verify(public_key, request, signature).map(|_| ())
}

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

fn raw_frame(ceremony: CeremonyId, round: u8, from: u16, to: u16, body: &[u8]) -> Vec<u8> {
    Frame {
        header: FrameHeader { ceremony, round, from: p(from), to: p(to), broadcast: false, id: MessageId([0; 32]) },
        body: body.to_vec(),
    }
    .encode()
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
