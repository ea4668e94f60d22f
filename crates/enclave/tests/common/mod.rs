//! Shared by the enclave's integration tests: the real `tssw-enclave` binary as a child
//! process on a Unix socket in a private temp dir, a real relay in-process on a loopback
//! port, and the user's party driven here with the protocol and channel crates.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tssw_channel::{Contribution, Expectation, IdentityKey, Operation, PartyId, Session, Setup, SetupParty, drive};
use tssw_enclave::backend::dev::{DevBackend, measure, temp_dir};
use tssw_enclave::{
    Begin, CeremonyOp, ChainPayload, EnclaveClient, NewShare, Response, TrustPolicy, WalletId, verify_attestation,
};
use tssw_protocol::{Ceremony, CeremonyId, KeyShare, Message, PartyIndex, Scheme, SignRequest, Signature};
use tssw_relay::{Claims, Config, Rate, RelayTransport, Token};

pub const LIMIT: Duration = Duration::from_secs(120);

/// A local party: its index, identity, and how it starts its side of the ceremony.
pub type Local<'a, O> = (PartyIndex, &'a IdentityKey, Box<dyn FnOnce(CeremonyId) -> (Ceremony<O>, Vec<Message>) + 'a>);

pub fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

pub fn now() -> u64 {
    tssw_enclave::system_clock()
}

pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("test timed out")
}

/// The enclave binary running as a child process.
pub struct EnclaveProcess {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    child: Child,
    pub client: EnclaveClient,
}

impl EnclaveProcess {
    /// Starts `tssw-enclave` with its socket and data dir under `dir`, and waits until it answers.
    pub async fn start(dir: &Path) -> EnclaveProcess {
        let socket = dir.join("enclave.sock");
        let data_dir = dir.join("data");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("enclave.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tssw-enclave"))
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let client = EnclaveClient::new(&socket);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.health().await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "enclave did not come up; log: {}", log_of(dir));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        EnclaveProcess { dir: dir.to_owned(), socket, data_dir, child, client }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// What a client must know to trust this enclave: its dev key and the binary's measurement.
    pub fn trust(&self) -> (TrustPolicy, [u8; 32]) {
        let key = DevBackend::read_attestation_public_key(&self.data_dir).unwrap();
        let measurement = measure(Path::new(env!("CARGO_BIN_EXE_tssw-enclave"))).unwrap();
        (TrustPolicy::dev(key, vec![measurement]), measurement)
    }

    /// The identity key the enclave attests to, checked as a client would.
    pub async fn attested_identity(&self) -> PartyId {
        let nonce: [u8; 32] = rand_nonce();
        let doc = self.client.attest(nonce).await.unwrap();
        let (policy, _) = self.trust();
        verify_attestation(&doc, &policy, &nonce, now()).unwrap().identity
    }
}

impl Drop for EnclaveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("enclave.log")).unwrap_or_default()
}

pub fn rand_nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut n);
    n
}

/// A relay on a loopback port (system clock; limits raised so tests measure, not throttle).
pub struct Relay {
    pub base: String,
    issuer: SigningKey,
    stop: Option<oneshot::Sender<()>>,
}

impl Relay {
    pub async fn start() -> Relay {
        let issuer = SigningKey::generate(&mut rand_core::OsRng);
        let mut config = Config::new(issuer.verifying_key());
        config.ip_rate = Rate { per_second: 100_000, burst: 100_000 };
        config.account_rate = Rate { per_second: 100_000, burst: 100_000 };
        config.max_open_ceremonies_per_account = 100_000;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(tssw_relay::run(listener, config, async move {
            let _ = stopped.await;
        }));
        Relay { base, issuer, stop: Some(stop) }
    }

    pub fn token(&self, ceremony: CeremonyId, party: u16) -> Token {
        let claims = Claims { ceremony: ceremony.0, party, account: "acct-test".into(), expires_at: now() + 300 };
        Token::issue(&self.issuer, &claims).unwrap()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One test's world: a temp dir, the enclave process, the relay, the user's identity and
/// the enclave identity the user verified by attestation.
pub struct World {
    pub dir: PathBuf,
    pub enclave: EnclaveProcess,
    pub relay: Relay,
    pub user: IdentityKey,
    pub enclave_id: PartyId,
}

impl World {
    pub async fn start(label: &str) -> World {
        let dir = temp_dir(label).unwrap();
        let enclave = EnclaveProcess::start(&dir).await;
        let relay = Relay::start().await;
        let enclave_id = enclave.attested_identity().await;
        World { dir, enclave, relay, user: IdentityKey::random(), enclave_id }
    }

    /// Kills the enclave (SIGKILL) and starts a new process on the same data dir; the user
    /// learns the new identity by attestation.
    pub async fn restart_enclave(&mut self) {
        self.enclave.kill();
        self.enclave = EnclaveProcess::start(&self.dir).await;
        self.enclave_id = self.enclave.attested_identity().await;
    }

    /// Runs one 2-party ceremony: the user is party 1, the enclave party 2. `start` starts
    /// the user's side from the verified ceremony id. Returns the user's output and the
    /// enclave's response.
    pub async fn ceremony<'a, O: 'a>(
        &'a self,
        wallet: &WalletId,
        op: CeremonyOp,
        expect: (Operation, Scheme, u16, [u8; 32]),
        start: impl FnOnce(CeremonyId) -> (Ceremony<O>, Vec<Message>) + 'a,
    ) -> (O, Response) {
        let locals: Vec<Local<'a, O>> = vec![(p(1), &self.user, Box::new(start))];
        let (mut outs, response) = self.ceremony_with(wallet, op, p(2), expect, locals).await;
        (outs.remove(0), response)
    }

    /// Runs one ceremony between the enclave (at `enclave_index`) and the local parties,
    /// each of which checks the setup against the attested identity and what it expects,
    /// then drives its side over its own relay connection.
    pub async fn ceremony_with<'a, O: 'a>(
        &'a self,
        wallet: &WalletId,
        op: CeremonyOp,
        enclave_index: PartyIndex,
        expect: (Operation, Scheme, u16, [u8; 32]),
        locals: Vec<Local<'a, O>>,
    ) -> (Vec<O>, Response) {
        let mut others = Vec::new();
        let mut ephemerals = Vec::new();
        for (index, identity, _) in &locals {
            let (contribution, ephemeral) = Contribution::new(identity, &mut rand_core::OsRng);
            others.push(SetupParty { index: *index, contribution });
            ephemerals.push(ephemeral);
        }
        let began = self
            .enclave
            .client
            .begin(Begin { wallet_id: wallet.clone(), operation: op, enclave_index, others, expires_at: now() + 120 })
            .await
            .unwrap();
        let (operation, scheme, threshold, digest) = expect;
        let mut parties: Vec<(PartyIndex, PartyId)> = locals.iter().map(|(i, k, _)| (*i, k.party_id())).collect();
        parties.push((enclave_index, self.enclave_id));
        let expected = Expectation { operation, scheme, threshold, parties, digest: Some(digest) };
        let mut runs: Vec<Pin<Box<dyn Future<Output = O> + 'a>>> = Vec::new();
        for ((index, identity, start), ephemeral) in locals.into_iter().zip(ephemerals) {
            // Each party checks the setup against the attested identity and what it asked for.
            let setup = Setup::decode(&began.setup).unwrap().verify(&self.enclave_id, now(), &expected).unwrap();
            let id = setup.ceremony_id();
            assert_eq!(id, began.ceremony);
            let mut session = Session::new(&setup, identity, ephemeral).unwrap();
            let started = start(id);
            let token = self.relay.token(id, index.get());
            let base = self.relay.base.clone();
            runs.push(Box::pin(async move {
                let mut transport = RelayTransport::connect(&base, id, token).await.unwrap();
                drive(started, &mut session, &mut transport).await.unwrap()
            }));
        }
        let token = self.relay.token(began.ceremony, enclave_index.get());
        let enclave = self.enclave.client.run(began.ceremony, &self.relay.base, token.as_str());
        let (outs, enclave) = bounded(async { tokio::join!(futures_util::future::join_all(runs), enclave) }).await;
        (outs, enclave.unwrap())
    }

    pub async fn dkg(&self, wallet: &WalletId, scheme: Scheme) -> (KeyShare, NewShare) {
        let (user, response) = self
            .ceremony(
                wallet,
                CeremonyOp::Dkg { scheme, threshold: 2 },
                (Operation::Dkg, scheme, 2, tssw_api::dkg_digest(wallet)),
                |id| tssw_protocol::dkg(id, scheme, p(1), 2, 2).unwrap(),
            )
            .await;
        let Response::KeyGenerated(new) = response else { panic!("not a key: {response:?}") };
        assert_eq!(new.public_key, user.public_key());
        assert_eq!((new.epoch, new.sealed.epoch(), user.epoch()), (1, 1, 1));
        (user, new)
    }

    /// Signs `payload` with the user's share and the enclave's sealed share; the user
    /// derives the request from the payload itself, exactly as the enclave does.
    pub async fn sign(
        &self,
        wallet: &WalletId,
        user: &KeyShare,
        sealed: &NewShare,
        payload: &ChainPayload,
    ) -> (SignRequest, Signature) {
        let request = payload.sign_request(&user.public_package().wallet_key(), false).unwrap();
        let digest = tssw_api::sign_digest(wallet, &request).unwrap();
        let op = CeremonyOp::Sign {
            share: sealed.sealed.clone(),
            epoch: sealed.epoch,
            payload: payload.clone(),
            allow_raw_digest: false,
            expected_digest: Some(digest),
        };
        let signers = [p(1), p(2)];
        let r = request.clone();
        let (signature, response) = self
            .ceremony(wallet, op, (Operation::Sign, user.scheme(), 2, digest), |id| {
                tssw_protocol::sign(id, user, &signers, r).unwrap()
            })
            .await;
        let Response::Signed(signed) = response else { panic!("not a signature: {response:?}") };
        assert_eq!(signed.signature, signature);
        assert_eq!(signed.request, request);
        (request, signature)
    }

    pub async fn refresh(&self, wallet: &WalletId, user: &KeyShare, sealed: &NewShare) -> (KeyShare, NewShare) {
        let digest = tssw_api::refresh_digest(wallet, user.public_package()).unwrap();
        let op = CeremonyOp::Refresh { share: sealed.sealed.clone(), epoch: sealed.epoch };
        let (new_user, response) = self
            .ceremony(wallet, op, (Operation::Refresh, user.scheme(), 2, digest), |id| {
                tssw_protocol::refresh(id, user).unwrap()
            })
            .await;
        let Response::Refreshed(new) = response else { panic!("not a refresh: {response:?}") };
        assert_eq!(new.public_key, user.public_key());
        assert_eq!((new.epoch, new_user.epoch()), (user.epoch() + 1, user.epoch() + 1));
        (new_user, new)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
