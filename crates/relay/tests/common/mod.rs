//! Helpers shared by the relay's integration tests: a relay on a loopback port with a
//! controllable clock, and every party of a ceremony driven over its own connection.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tssw_channel::testing::sessions;
use tssw_channel::{IdentityKey, Operation, Session, drive};
use tssw_protocol::{Ceremony, CeremonyId, KeyShare, Message, PartyIndex, PublicKey, Scheme, SignRequest, Signature};
use tssw_relay::{Claims, ClientError, Config, Mailbox, MemoryLimits, MemoryMailbox, RelayTransport, Token, run_with};

pub const LIMIT: Duration = Duration::from_secs(120);

pub type Started<O> = (Ceremony<O>, Vec<Message>);
pub type PartyRun<'a, O> = Pin<Box<dyn Future<Output = (O, RelayTransport)> + 'a>>;

pub struct Relay {
    pub base: String,
    pub issuer: SigningKey,
    pub now: Arc<AtomicU64>,
    pub stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<()>,
    /// Other nodes sharing this relay's backend (kept running with it). Party i connects
    /// first to node (i - 1) mod (1 + peers), and can fail over to the others.
    pub peers: Vec<Relay>,
}

impl Relay {
    /// A relay with the in-memory backend; `tweak` adjusts its configuration.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Relay {
        Relay::start_with(tweak, |config| {
            MemoryMailbox::new(MemoryLimits {
                ttl_secs: config.ceremony_ttl.as_secs(),
                max_frames: config.max_mailbox_frames,
                max_bytes: config.max_mailbox_bytes,
            })
        })
        .await
    }

    /// A relay with the backend `backend` builds from the tweaked configuration.
    pub async fn start_with<M: Mailbox>(tweak: impl FnOnce(&mut Config), backend: impl FnOnce(&Config) -> M) -> Relay {
        let issuer = SigningKey::generate(&mut rand_core::OsRng);
        let now = Arc::new(AtomicU64::new(1_000));
        let clock = now.clone();
        let mut config = Config::new(issuer.verifying_key());
        config.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let mailbox = backend(&config);
        let server = tokio::spawn(run_with(listener, config, mailbox, async move {
            let _ = stopped.await;
        }));
        Relay { base, issuer, now, stop: Some(stop), server, peers: Vec::new() }
    }

    pub fn claims(&self, ceremony: CeremonyId, party: u16) -> Claims {
        Claims {
            ceremony: ceremony.0,
            party,
            account: "acct-1".into(),
            expires_at: self.now.load(Ordering::SeqCst) + 60,
        }
    }

    pub fn token(&self, ceremony: CeremonyId, party: u16) -> Token {
        Token::issue(&self.issuer, &self.claims(ceremony, party)).unwrap()
    }

    pub async fn connect(&self, ceremony: CeremonyId, party: u16) -> RelayTransport {
        let mut bases: Vec<String> =
            std::iter::once(&self.base).chain(self.peers.iter().map(|r| &r.base)).cloned().collect();
        let first = usize::from(party.saturating_sub(1)) % bases.len();
        bases.rotate_left(first);
        RelayTransport::connect_any(&bases, ceremony, self.token(ceremony, party)).await.unwrap()
    }

    /// Two relay nodes sharing a fresh Redis prefix at `TSSW_TEST_REDIS_URL`; `None` (with a
    /// note) when it is unset. Set but unreachable fails the test.
    pub async fn redis_pair(test: &str) -> Option<Relay> {
        let Ok(url) = std::env::var("TSSW_TEST_REDIS_URL") else {
            println!("{test}: skipped: TSSW_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)");
            return None;
        };
        let mut b = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        let prefix = format!("tssw-test:{}", hex::encode(b));
        let config = Config::new(SigningKey::from_bytes(&[0; 32]).verifying_key());
        let limits = MemoryLimits {
            ttl_secs: config.ceremony_ttl.as_secs(),
            max_frames: config.max_mailbox_frames,
            max_bytes: config.max_mailbox_bytes,
        };
        let node = || async {
            tssw_relay::RedisMailbox::connect(&url, tssw_relay::RedisOptions::new(prefix.clone(), limits))
                .await
                .unwrap_or_else(|e| panic!("TSSW_TEST_REDIS_URL is set but Redis is unusable: {e}"))
        };
        let (ma, mb) = (node().await, node().await);
        let mut a = Relay::start_with(|_| {}, move |_| ma).await;
        let b = a.start_peer(|_| {}, mb).await;
        a.peers.push(b);
        Some(a)
    }

    pub async fn refused(&self, ceremony: CeremonyId, token: Token) -> u16 {
        match RelayTransport::connect(&self.base, ceremony, token).await {
            Err(ClientError::Refused(status)) => status,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

/// A frame with a valid header and an arbitrary (unsealed) body: what the relay routes.
pub fn raw_frame(ceremony: CeremonyId, round: u8, from: u16, to: u16, body: &[u8]) -> Vec<u8> {
    tssw_channel::Frame {
        header: tssw_channel::FrameHeader {
            ceremony,
            round,
            from: p(from),
            to: p(to),
            broadcast: false,
            id: tssw_channel::MessageId([0; 32]),
        },
        body: body.to_vec(),
    }
    .encode()
}

pub fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("test timed out")
}

/// Runs every party's ceremony over its own relay connection, concurrently. `drop_party`:
/// that party's connection is cut after its first received frame.
pub async fn over_relay<O>(
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

pub fn wallet_sessions(
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

pub async fn dkg(relay: &Relay, ids: &[IdentityKey], coordinator: &IdentityKey, scheme: Scheme) -> Vec<KeyShare> {
    let (id, sessions) = wallet_sessions(ids, coordinator, Operation::Dkg, scheme, None);
    let parties = sessions.into_iter().map(|s| (tssw_protocol::dkg(id, scheme, s.me(), 2, 2).unwrap(), s)).collect();
    let (mut shares, _) = over_relay(relay, parties, None).await;
    shares.sort_by_key(KeyShare::index);
    shares
}

/// A 2-of-2 sign of a random request by `shares`: the request, the ceremony id and each
/// party's started ceremony with its session (the setup binds a digest of the request).
pub fn sign_setup(
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    shares: &[KeyShare],
) -> (SignRequest, CeremonyId, Vec<(Started<Signature>, Session)>) {
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
    (request, id, parties)
}

pub async fn sign_and_verify(
    relay: &Relay,
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    shares: &[KeyShare],
    drop_party: Option<u16>,
) -> Vec<RelayTransport> {
    let (request, _, parties) = sign_setup(ids, coordinator, shares);
    let (sigs, transports) = over_relay(relay, parties, drop_party).await;
    for sig in sigs {
        verify(&shares[0].public_key(), &request, &sig).unwrap();
    }
    transports
}

pub fn request_for(scheme: Scheme) -> SignRequest {
    tssw_protocol::testing::random_request(scheme)
}

/// Checks a signature with a library that did not make it (libsecp256k1, ed25519-dalek).
pub fn verify(public_key: &PublicKey, request: &SignRequest, signature: &Signature) -> Result<(), String> {
    tssw_verify::verify(public_key, request, signature).map(|_| ())
}

// --- Failure paths (timeouts, hostile relays) and ceremonies with any party set. ---

/// One party's run, kept whole: its result, its (now closed) session and its transport.
pub type Outcome<O> = (PartyIndex, Result<O, tssw_channel::DriveError<ClientError>>, Session, RelayTransport);

/// The digest a setup binds for a payload: the hash of its `Debug` form (a sign request,
/// as [`sign_and_verify`] makes it, or a reshare plan).
pub fn setup_digest(payload: &impl std::fmt::Debug) -> [u8; 32] {
    sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), format!("{payload:?}")))
        .into()
}

/// Verified sessions for exactly these members (party index, identity).
pub fn member_sessions(
    members: &[(PartyIndex, &IdentityKey)],
    coordinator: &IdentityKey,
    op: Operation,
    scheme: Scheme,
    threshold: u16,
    digest: Option<[u8; 32]>,
) -> (CeremonyId, Vec<Session>) {
    let (setup, sessions) =
        sessions(coordinator, members, op, scheme, threshold, digest, &mut rand_core::OsRng).unwrap();
    (setup.ceremony_id(), sessions)
}

/// Started sign ceremonies of `shares` (the signer set), each with its session; the holder
/// of share index i uses identity `ids[i - 1]`.
pub fn sign_parties(
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    shares: &[&KeyShare],
    request: &SignRequest,
) -> Vec<(Started<Signature>, Session)> {
    let members: Vec<(PartyIndex, &IdentityKey)> =
        shares.iter().map(|s| (s.index(), &ids[usize::from(s.index().get() - 1)])).collect();
    let (id, sessions) = member_sessions(
        &members,
        coordinator,
        Operation::Sign,
        shares[0].scheme(),
        shares[0].threshold(),
        Some(setup_digest(request)),
    );
    let signers: Vec<PartyIndex> = shares.iter().map(|s| s.index()).collect();
    shares
        .iter()
        .zip(sessions)
        .map(|(share, s)| (tssw_protocol::sign(id, share, &signers, request.clone()).unwrap(), s))
        .collect()
}

/// Started DKG ceremonies (2-of-2), each with its session.
pub fn dkg_parties(
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    scheme: Scheme,
) -> Vec<(Started<KeyShare>, Session)> {
    let (id, sessions) = wallet_sessions(ids, coordinator, Operation::Dkg, scheme, None);
    sessions.into_iter().map(|s| (tssw_protocol::dkg(id, scheme, s.me(), 2, 2).unwrap(), s)).collect()
}

/// Like [`over_relay`], but keeps every party's outcome, failures included. `tune` sets
/// each transport's limits before the run.
pub async fn run_each<O>(
    relay: &Relay,
    parties: Vec<(Started<O>, Session)>,
    tune: impl Fn(RelayTransport) -> RelayTransport,
) -> Vec<Outcome<O>> {
    let mut futures: Vec<Pin<Box<dyn Future<Output = Outcome<O>> + '_>>> = Vec::new();
    for (started, mut session) in parties {
        let mut transport = tune(relay.connect(session.ceremony_id(), session.me().get()).await);
        futures.push(Box::pin(async move {
            let result = drive(started, &mut session, &mut transport).await;
            (session.me(), result, session, transport)
        }));
    }
    futures_util::future::join_all(futures).await
}

/// Every signature that came out verifies, whatever happened on the way; returns how many
/// parties produced one.
pub fn no_wrong_signature(outcomes: &[Outcome<Signature>], key: &PublicKey, request: &SignRequest) -> usize {
    let mut ok = 0;
    for (party, result, _, _) in outcomes {
        if let Ok(sig) = result {
            verify(key, request, sig)
                .unwrap_or_else(|e| panic!("party {party}: a signature that does not verify: {e}"));
            ok += 1;
        }
    }
    ok
}

// Several relay nodes (tests/redis.rs): each party connects to the nodes of its own route.

impl Relay {
    /// Another node of the same relay as `self`: same issuer and clock, its own listener,
    /// and `mailbox` as its backend (one that shares state with `self`'s).
    pub async fn start_peer<M: Mailbox>(&self, tweak: impl FnOnce(&mut Config), mailbox: M) -> Relay {
        let clock = self.now.clone();
        let mut config = Config::new(self.issuer.verifying_key());
        config.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run_with(listener, config, mailbox, async move {
            let _ = stopped.await;
        }));
        Relay { base, issuer: self.issuer.clone(), now: self.now.clone(), stop: Some(stop), server, peers: Vec::new() }
    }
}

pub type PartyRunOver<'a, O, T> = Pin<Box<dyn Future<Output = (O, T)> + 'a>>;

/// Like [`over_relay`], but party `i` connects with `connect_any(&routes[i - 1])` (tokens
/// from `relay`'s issuer), and `wrap` may put its transport in an adapter first.
pub async fn over_nodes<O, T>(
    relay: &Relay,
    routes: &[Vec<String>],
    parties: Vec<(Started<O>, Session)>,
    wrap: impl Fn(u16, RelayTransport) -> T,
) -> (Vec<O>, Vec<T>)
where
    T: tssw_channel::Transport,
    T::Error: std::fmt::Display,
{
    let mut futures: Vec<PartyRunOver<'_, O, T>> = Vec::new();
    for (started, mut session) in parties {
        let me = session.me().get();
        let route = &routes[usize::from(me - 1)];
        let token = relay.token(session.ceremony_id(), me);
        let transport = RelayTransport::connect_any(route, session.ceremony_id(), token).await.unwrap();
        let mut transport = wrap(me, transport);
        futures.push(Box::pin(async move {
            let out = drive(started, &mut session, &mut transport).await.unwrap_or_else(|e| panic!("party {me}: {e}"));
            (out, transport)
        }));
    }
    futures_util::future::join_all(futures).await.into_iter().unzip()
}

/// [`dkg`] over the nodes of `routes`.
pub async fn dkg_via(
    relay: &Relay,
    routes: &[Vec<String>],
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    scheme: Scheme,
) -> Vec<KeyShare> {
    let (id, sessions) = wallet_sessions(ids, coordinator, Operation::Dkg, scheme, None);
    let parties = sessions.into_iter().map(|s| (tssw_protocol::dkg(id, scheme, s.me(), 2, 2).unwrap(), s)).collect();
    let (mut shares, _) = over_nodes(relay, routes, parties, |_, t| t).await;
    shares.sort_by_key(KeyShare::index);
    shares
}

/// [`sign_and_verify`] over the nodes of `routes`, each party's transport put through `wrap`
/// (given the ceremony id too); returns the transports.
pub async fn sign_and_verify_via<T>(
    relay: &Relay,
    routes: &[Vec<String>],
    ids: &[IdentityKey],
    coordinator: &IdentityKey,
    shares: &[KeyShare],
    wrap: impl Fn(CeremonyId, u16, RelayTransport) -> T,
) -> Vec<T>
where
    T: tssw_channel::Transport,
    T::Error: std::fmt::Display,
{
    let (request, id, parties) = sign_setup(ids, coordinator, shares);
    let (sigs, transports) = over_nodes(relay, routes, parties, |me, t| wrap(id, me, t)).await;
    for sig in sigs {
        verify(&shares[0].public_key(), &request, &sig).unwrap();
    }
    transports
}
