//! Shared helpers: a tiny single-thread executor, ceremony runners over the in-memory
//! network, and independent signature verifiers (libsecp256k1, ed25519-dalek).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use sha2::{Digest, Sha256};
use tssw_channel::testing::sessions;
use tssw_channel::{DriveError, IdentityKey, MemoryError, MemoryNetwork, Operation, Session, drive};
use tssw_protocol::{Ceremony, KeyShare, Message, PartyIndex, PublicKey, Scheme, SignRequest, Signature};

/// A started ceremony, as `tssw_protocol::{dkg, sign, …}` return it.
pub type Started<O> = (Ceremony<O>, Vec<Message>);

pub type Outcome<O> = (PartyIndex, Result<O, DriveError<MemoryError>>, Session);

struct Flag(AtomicBool, std::thread::Thread);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
        self.1.unpark();
    }
}

/// Polls every future on this thread until all are done (a join without a runtime).
pub fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let flag = Arc::new(Flag(AtomicBool::new(true), std::thread::current()));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    while results.iter().any(Option::is_none) {
        if !flag.0.swap(false, Ordering::SeqCst) {
            std::thread::park_timeout(std::time::Duration::from_secs(60));
            assert!(flag.0.load(Ordering::SeqCst), "executor: no progress in 60 s (hub failed to detect a stall)");
            continue;
        }
        for (f, r) in futures.iter_mut().zip(results.iter_mut()) {
            if r.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(&mut cx)
            {
                *r = Some(v);
            }
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

pub fn p(i: u16) -> PartyIndex {
    PartyIndex::new(i).unwrap()
}

/// Long-term identities of a wallet's parties: `ids[i]` is share index i + 1.
pub struct Wallet {
    pub coordinator: IdentityKey,
    pub ids: Vec<IdentityKey>,
}

impl Wallet {
    pub fn new(n: usize) -> Wallet {
        Wallet { coordinator: IdentityKey::random(), ids: (0..n).map(|_| IdentityKey::random()).collect() }
    }

    /// Verified sessions for the parties at these (ceremony index, identity position) pairs.
    pub fn sessions(
        &self,
        members: &[(PartyIndex, usize)],
        op: Operation,
        scheme: Scheme,
        threshold: u16,
        digest: Option<[u8; 32]>,
    ) -> (tssw_channel::VerifiedSetup, Vec<Session>) {
        let parties: Vec<(PartyIndex, &IdentityKey)> = members.iter().map(|(i, k)| (*i, &self.ids[*k])).collect();
        sessions(&self.coordinator, &parties, op, scheme, threshold, digest, &mut rand_core::OsRng).unwrap()
    }
}

/// Runs each party's ceremony over its session on `network`, all on this thread.
pub fn run<O>(network: &MemoryNetwork, parties: Vec<(Started<O>, Session)>) -> Vec<Outcome<O>> {
    // Every endpoint exists before anything runs, or the hub could see the first party
    // alone and waiting and call it a stall.
    let endpoints: Vec<_> = parties.iter().map(|(_, s)| network.endpoint(s.me())).collect();
    let futures: Vec<Pin<Box<dyn Future<Output = Outcome<O>>>>> = parties
        .into_iter()
        .zip(endpoints)
        .map(|((started, mut session), mut transport)| {
            Box::pin(async move {
                let result = drive(started, &mut session, &mut transport).await;
                drop(transport);
                (session.me(), result, session)
            }) as Pin<Box<dyn Future<Output = Outcome<O>>>>
        })
        .collect();
    join_all(futures)
}

/// Unwraps every party's output.
pub fn outputs<O>(outcomes: Vec<Outcome<O>>) -> Vec<O> {
    outcomes.into_iter().map(|(i, r, _)| r.unwrap_or_else(|e| panic!("party {i}: {e}"))).collect()
}

/// DKG through sessions.
pub fn dkg(wallet: &Wallet, scheme: Scheme, t: u16, n: u16) -> Vec<KeyShare> {
    let members: Vec<_> = (1..=n).map(|i| (p(i), usize::from(i - 1))).collect();
    let (setup, sessions) = wallet.sessions(&members, Operation::Dkg, scheme, t, None);
    let parties = sessions
        .into_iter()
        .map(|s| (tssw_protocol::dkg(setup.ceremony_id(), scheme, s.me(), t, n).unwrap(), s))
        .collect();
    let mut shares = outputs(run(&MemoryNetwork::new(), parties));
    shares.sort_by_key(KeyShare::index);
    shares
}

/// The digest a sign setup binds: a hash of the request (the enclave computes it from the
/// structured payload in production).
pub fn request_digest(request: &SignRequest) -> [u8; 32] {
    Sha256::digest(format!("{request:?}")).into()
}

/// Signs through sessions on `network`; returns each signer's outcome.
pub fn sign_on(
    network: &MemoryNetwork,
    wallet: &Wallet,
    shares: &[&KeyShare],
    request: &SignRequest,
) -> Vec<Outcome<Signature>> {
    let members: Vec<_> = shares.iter().map(|s| (s.index(), usize::from(s.index().get() - 1))).collect();
    let signers: Vec<PartyIndex> = shares.iter().map(|s| s.index()).collect();
    let (setup, sessions) = wallet.sessions(
        &members,
        Operation::Sign,
        shares[0].scheme(),
        shares[0].threshold(),
        Some(request_digest(request)),
    );
    let parties = shares
        .iter()
        .zip(sessions)
        .map(|(share, s)| (tssw_protocol::sign(setup.ceremony_id(), share, &signers, request.clone()).unwrap(), s))
        .collect();
    run(network, parties)
}

/// Signs through sessions and checks every signer's signature independently.
pub fn sign_and_verify(wallet: &Wallet, shares: &[&KeyShare]) {
    let request = request_for(shares[0].scheme());
    let sigs = outputs(sign_on(&MemoryNetwork::new(), wallet, shares, &request));
    for sig in sigs {
        verify(&shares[0].public_key(), &request, &sig).unwrap();
    }
}

pub fn request_for(scheme: Scheme) -> SignRequest {
    tssw_protocol::testing::random_request(scheme)
}

/// Checks a signature with a library that did not make it.
pub fn verify(public_key: &PublicKey, request: &SignRequest, signature: &Signature) -> Result<(), String> {
    tssw_verify::verify(public_key, request, signature).map(|_| ())
}
