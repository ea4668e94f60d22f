//! How frames move, and the generic driver that runs a protocol ceremony over a session
//! and a transport.
//!
//! The transport only moves opaque bytes: it may lose, delay, duplicate or reorder them and
//! the session still notices anything that matters. The driver is the only async code in
//! the crate and needs no runtime: it awaits the transport and nothing else.

use tssw_protocol::{Ceremony, Message, PartyIndex, Step};

use crate::ChannelError;
use crate::session::{Opened, Outbound, Session};

/// Moves frames between this party and the others (a relay connection, an in-memory hub,
/// later a browser WebSocket).
///
/// `async fn` on purpose: implementations decide whether their futures are `Send` (a tokio
/// relay client's are, a browser's are not), and a caller with a concrete transport gets
/// that `Send`-ness through `drive`. Generic code that needs `Send` can bound on the
/// concrete type.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// What the transport fails with (connection lost, queue full…).
    type Error: std::error::Error;

    /// Sends one frame to one party.
    async fn send(&mut self, frame: Outbound) -> Result<(), Self::Error>;

    /// The next frame for this party; `None` when no frame will come any more (closed, or
    /// nobody can make progress), which the driver reports as a stall.
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Waits until every frame sent so far is in the transport's safe keeping (a relay
    /// has stored it), so a party that has finished can go away without its last frames
    /// dying with a connection. The driver calls it once the ceremony is done.
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A frame or message the driver dropped without aborting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The session rejected the frame (forged, misrouted, another ceremony…).
    Channel(ChannelError),
    /// The ceremony rejected the message without failing.
    Protocol(tssw_protocol::Error),
}

/// At most this many rejections are kept for the error report; a relay that floods us
/// with junk must not make us grow memory without bound.
const MAX_REJECTED: usize = 32;

/// Why [`drive`] stopped without an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError<E: std::error::Error> {
    /// An authenticated peer misbehaved, or we misused the session.
    #[error("channel: {0}")]
    Channel(ChannelError),
    /// The ceremony failed.
    #[error("protocol: {0}")]
    Protocol(tssw_protocol::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(E),
    /// The transport has no more frames and the ceremony is not done.
    #[error("stalled in round {round} waiting for {waiting_for:?} ({} frames rejected)", rejected.len())]
    Stalled {
        /// The round the ceremony waits in.
        round: u8,
        /// The parties it waits for.
        waiting_for: Vec<PartyIndex>,
        /// The first frames rejected on the way (at most 32): what a hostile relay did.
        rejected: Vec<Rejected>,
    },
}

/// Runs a started ceremony (as returned by `tssw_protocol::{dkg, sign, refresh, reshare}`)
/// to its output: seals every outgoing message, opens every incoming frame, feeds the
/// ceremony, and ends on [`Step::Done`]. Frames the session rejects without blame are
/// dropped and remembered for the stall report; fatal errors end the run. The session is
/// closed when the run ends either way, so late frames are rejected.
pub async fn drive<O, T: Transport>(
    ceremony: (Ceremony<O>, Vec<Message>),
    session: &mut Session,
    transport: &mut T,
) -> Result<O, DriveError<T::Error>> {
    let result = run(ceremony, session, transport).await;
    session.close();
    result
}

async fn run<O, T: Transport>(
    (mut ceremony, first): (Ceremony<O>, Vec<Message>),
    session: &mut Session,
    transport: &mut T,
) -> Result<O, DriveError<T::Error>> {
    send_all(&first, session, transport).await?;
    let mut rejected = Vec::new();
    loop {
        let Some(bytes) = transport.recv().await.map_err(DriveError::Transport)? else {
            return Err(DriveError::Stalled {
                round: ceremony.round(),
                waiting_for: ceremony.waiting_for(),
                rejected: std::mem::take(&mut rejected),
            });
        };
        let msg = match session.open(&bytes) {
            Ok(Opened::Message(msg)) => msg,
            Ok(Opened::Duplicate) => continue,
            Err(e) if e.is_fatal() => return Err(DriveError::Channel(e)),
            Err(e) => {
                note(&mut rejected, Rejected::Channel(e));
                continue;
            }
        };
        match ceremony.handle(msg) {
            Ok(Step::Send(out)) => send_all(&out, session, transport).await?,
            Ok(Step::Done(output, last)) => {
                send_all(&last, session, transport).await?;
                transport.flush().await.map_err(DriveError::Transport)?;
                return Ok(output);
            }
            Err(e) if e.is_fatal() => return Err(DriveError::Protocol(e)),
            Err(e) => note(&mut rejected, Rejected::Protocol(e)),
        }
    }
}

fn note(rejected: &mut Vec<Rejected>, r: Rejected) {
    if rejected.len() < MAX_REJECTED {
        rejected.push(r);
    }
}

async fn send_all<T: Transport>(
    messages: &[Message],
    session: &mut Session,
    transport: &mut T,
) -> Result<(), DriveError<T::Error>> {
    for msg in messages {
        for frame in session.seal(msg).map_err(DriveError::Channel)? {
            transport.send(frame).await.map_err(DriveError::Transport)?;
        }
    }
    Ok(())
}
