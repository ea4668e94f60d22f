//! The client's time limits over a real relay: a party that never shows up ends its peer's
//! run with a typed `Stalled` error on the stall timeout, or on the deadline when that comes
//! first; a send into a connection nobody reads fails instead of hanging; a `recv` dropped
//! by its caller loses nothing, and the client never leaves a task behind. The durations
//! are short on purpose: these test the limits, they do not measure anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Relay, bounded, p, raw_frame, request_for, run_each, sign_parties};
use tokio::time::Instant;
use tssw_channel::{DriveError, IdentityKey, Outbound, Transport};
use tssw_protocol::{CeremonyId, KeyShare, Scheme, Signature};
use tssw_relay::{ClientError, RelayTransport, Stop, Token};

const STALL: Duration = Duration::from_millis(300);

/// Party 1 of a 2-of-2 sign runs alone (party 2 never connects), with `tune` applied to
/// its transport; returns its outcome.
async fn sign_alone(scheme: Scheme, tune: impl Fn(RelayTransport) -> RelayTransport) -> common::Outcome<Signature> {
    let relay = Relay::start(|_| {}).await;
    let shares: Vec<KeyShare> = tssw_protocol::testing::dkg(scheme, 2, 2).unwrap();
    let ids = [IdentityKey::random(), IdentityKey::random()];
    let coordinator = IdentityKey::random();
    let mut parties = sign_parties(&ids, &coordinator, &[&shares[0], &shares[1]], &request_for(scheme));
    parties.truncate(1);
    run_each(&relay, parties, tune).await.pop().unwrap()
}

fn assert_stalled_on_party_2(outcome: &common::Outcome<Signature>, scheme: Scheme) {
    let (me, result, session, _) = outcome;
    assert_eq!(*me, p(1));
    match result {
        Err(DriveError::Stalled { round, waiting_for, rejected }) => {
            assert_eq!(*round, 1, "{scheme}");
            assert_eq!(waiting_for, &[p(2)], "{scheme}");
            assert!(rejected.is_empty(), "{scheme}: {rejected:?}");
        }
        other => panic!("{scheme}: expected a stall, got {other:?}"),
    }
    assert!(session.is_closed(), "{scheme}: drive closes the session, so a retry is a new ceremony");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_party_ends_in_stalled_on_the_stall_timeout() {
    bounded(async {
        for scheme in Scheme::ALL {
            let start = Instant::now();
            let outcome = sign_alone(scheme, |t| t.with_stall_timeout(STALL)).await;
            assert_stalled_on_party_2(&outcome, scheme);
            assert_eq!(outcome.3.stopped_by(), Some(Stop::Stall), "{scheme}");
            assert!(start.elapsed() >= STALL, "{scheme}: fired early");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_party_ends_in_stalled_on_the_deadline() {
    bounded(async {
        for scheme in Scheme::ALL {
            let deadline = std::sync::Mutex::new(None);
            let outcome = sign_alone(scheme, |t| {
                let at = Instant::now() + STALL;
                *deadline.lock().unwrap() = Some(at);
                t.with_stall_timeout(Duration::from_secs(60)).with_deadline(at)
            })
            .await;
            assert_stalled_on_party_2(&outcome, scheme);
            assert_eq!(outcome.3.stopped_by(), Some(Stop::Deadline), "{scheme}");
            assert!(Instant::now() >= deadline.lock().unwrap().unwrap(), "{scheme}: fired early");
        }
    })
    .await;
}

/// A "relay" that completes the WebSocket handshake and then never reads: sends fill the
/// TCP buffers and block, and the stall timeout turns that into an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_into_a_relay_that_never_reads_times_out() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let (hold, held) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let _ = held.await;
        });
        let c = CeremonyId::random();
        let mut t =
            RelayTransport::connect(&base, c, Token::from_text("unchecked")).await.unwrap().with_stall_timeout(STALL);
        let frame = Outbound { to: p(2), bytes: vec![0x5a; 256 * 1024] };
        let mut sent = 0;
        let err = loop {
            match t.send(frame.clone()).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 4096, "a GiB went into a connection nobody reads");
        };
        assert!(matches!(err, ClientError::TimedOut(Stop::Stall)), "after {sent} sends: {err:?}");
        assert_eq!(t.stopped_by(), Some(Stop::Stall));
        // Sticky: nothing more is attempted.
        assert!(matches!(t.send(frame).await, Err(ClientError::TimedOut(Stop::Stall))));
        assert_eq!(t.recv().await.unwrap(), None);
        let _ = hold.send(());
        server.await.unwrap();
    })
    .await;
}

/// Cancelling a `recv` (dropping its future, as `select!` or a caller's own timeout does)
/// leaves the transport usable and loses no frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_recv_future_is_clean() {
    bounded(async {
        let relay = Relay::start(|_| {}).await;
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await;
        assert!(tokio::time::timeout(Duration::from_millis(100), two.recv()).await.is_err());
        let frame = raw_frame(c, 1, 1, 2, b"after the cancelled recv");
        one.send(Outbound { to: p(2), bytes: frame.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap(), Some(frame));
        assert_eq!(two.stopped_by(), None);
        assert_eq!(two.last_seq(), 1);
    })
    .await;
}

/// Nothing outlives the transport's futures: with the relay on a runtime of its own, the
/// client's runtime holds no task at any point (connect, a cancelled recv, a delivery, a
/// recv that stops on the stall timeout, and after the transports are dropped).
#[test]
fn the_client_spawns_no_task() {
    let relay_runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = relay_runtime.block_on(Relay::start(|_| {}));
    let client_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    client_runtime.block_on(bounded(async {
        let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
        let c = CeremonyId::random();
        let mut one = relay.connect(c, 1).await;
        let mut two = relay.connect(c, 2).await.with_stall_timeout(STALL);
        assert!(tokio::time::timeout(Duration::from_millis(50), two.recv()).await.is_err());
        let frame = raw_frame(c, 1, 1, 2, b"counted");
        one.send(Outbound { to: p(2), bytes: frame.clone() }).await.unwrap();
        assert_eq!(two.recv().await.unwrap(), Some(frame));
        assert_eq!(two.recv().await.unwrap(), None);
        assert_eq!(two.stopped_by(), Some(Stop::Stall));
        assert_eq!(alive(), 0);
        drop((one, two));
        assert_eq!(alive(), 0);
    }));
}
