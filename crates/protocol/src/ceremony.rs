//! The one ceremony interface: a sans-IO state machine, as rustls drives TLS.
//!
//! A ceremony is started with its parameters and the party's secret state and returns its
//! first messages. The caller delivers every incoming [`Message`] to [`Ceremony::handle`]
//! and sends whatever comes back, until the ceremony returns [`Step::Done`]. Rounds are
//! typed states inside (each consumes itself to produce the next), messages for a later
//! round are buffered, and a fatal error is sticky: every later call returns it again.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::{CeremonyId, Error, Message, PartyIndex, Recipient, Scheme};

/// What the caller does next.
#[derive(Debug)]
#[must_use]
pub enum Step<O> {
    /// Send these messages (possibly none) and keep delivering incoming ones.
    Send(Vec<Message>),
    /// The ceremony finished with this output. Send the messages (usually none) too: a
    /// party that received a later round's messages early can close its last two rounds in
    /// one call, and the others still need what it sends in the first of them.
    Done(O, Vec<Message>),
}

/// Fixed facts of one ceremony, known to every round.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    pub id: CeremonyId,
    pub scheme: Scheme,
    pub me: PartyIndex,
    /// Every participant, us included.
    pub parties: BTreeSet<PartyIndex>,
}

impl Context {
    pub fn others(&self) -> BTreeSet<PartyIndex> {
        self.parties.iter().copied().filter(|p| *p != self.me).collect()
    }

    /// A domain-separated hash bound to this ceremony.
    pub fn hash(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"tssw/v1/");
        h.update(domain.as_bytes());
        h.update([0]);
        h.update(self.id.0);
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

/// A message a round wants sent.
pub(crate) struct Outgoing {
    pub to: Recipient,
    pub payload: Vec<u8>,
}

impl Outgoing {
    pub fn broadcast<T: serde::Serialize>(msg: &T) -> Result<Outgoing, Error> {
        Ok(Outgoing { to: Recipient::Broadcast, payload: encode(msg)? })
    }
    pub fn to<T: serde::Serialize>(party: PartyIndex, msg: &T) -> Result<Outgoing, Error> {
        Ok(Outgoing { to: Recipient::One(party), payload: encode(msg)? })
    }
}

pub(crate) fn encode<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    encode_into(msg, Vec::new())
}

/// [`encode`] into `buf`, for a caller that knows the size: no regrowing.
pub(crate) fn encode_into<T: serde::Serialize>(msg: &T, buf: Vec<u8>) -> Result<Vec<u8>, Error> {
    postcard::to_io(msg, buf).map_err(|_| Error::Aborted("could not encode an outgoing message".into()))
}

/// Which messages a round needs before it can finish.
#[derive(Default)]
pub(crate) struct Expect {
    pub broadcast: BTreeSet<PartyIndex>,
    pub direct: BTreeSet<PartyIndex>,
}

impl Expect {
    pub fn broadcast_from(parties: BTreeSet<PartyIndex>) -> Expect {
        Expect { broadcast: parties, direct: BTreeSet::new() }
    }
    pub fn direct_from(parties: BTreeSet<PartyIndex>) -> Expect {
        Expect { broadcast: BTreeSet::new(), direct: parties }
    }
    pub fn both_from(parties: BTreeSet<PartyIndex>) -> Expect {
        Expect { broadcast: parties.clone(), direct: parties }
    }
    fn wants(&self, from: PartyIndex, broadcast: bool) -> bool {
        if broadcast { self.broadcast.contains(&from) } else { self.direct.contains(&from) }
    }
    fn count(&self) -> usize {
        self.broadcast.len() + self.direct.len()
    }
}

/// The messages of one round, by authenticated sender.
pub(crate) struct Inbox {
    pub round: u8,
    pub broadcast: BTreeMap<PartyIndex, Vec<u8>>,
    pub direct: BTreeMap<PartyIndex, Vec<u8>>,
}

impl Inbox {
    /// Decodes the broadcast from `from` as `T`.
    pub fn broadcast<T: serde::de::DeserializeOwned>(&self, from: PartyIndex) -> Result<T, Error> {
        self.decode(from, self.broadcast.get(&from))
    }
    /// Decodes the direct message from `from` as `T`.
    pub fn direct<T: serde::de::DeserializeOwned>(&self, from: PartyIndex) -> Result<T, Error> {
        self.decode(from, self.direct.get(&from))
    }
    fn decode<T: serde::de::DeserializeOwned>(&self, from: PartyIndex, bytes: Option<&Vec<u8>>) -> Result<T, Error> {
        let bytes = bytes.ok_or(Error::Aborted(format!("round {} message from {from} missing", self.round)))?;
        postcard::from_bytes(bytes).map_err(|_| Error::MalformedPayload { from, round: self.round })
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.broadcast.values_mut().for_each(Zeroize::zeroize);
        self.direct.values_mut().for_each(Zeroize::zeroize);
    }
}

/// One round's state: it knows what it waits for and consumes itself to make the next.
pub(crate) trait Round<O>: Send {
    fn expects(&self) -> Expect;
    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<O>, Error>;
}

/// A first round and the messages it sends.
pub(crate) type Started<O> = (Box<dyn Round<O>>, Vec<Outgoing>);

pub(crate) enum Transition<O> {
    Next(Box<dyn Round<O>>, Vec<Outgoing>),
    Done(O),
}

enum State<O> {
    Running(Box<dyn Round<O>>),
    Finished,
    Failed(Error),
}

/// A running ceremony of one party. `O` is its output: a key share, a signature, or a
/// reshare outcome.
pub struct Ceremony<O> {
    ctx: Context,
    rounds: u8,
    round: u8,
    state: State<O>,
    /// Payloads for the current and later rounds: (round, sender, is_broadcast).
    pending: BTreeMap<(u8, PartyIndex, bool), Vec<u8>>,
    /// Digests of every message accepted, to tell a harmless duplicate from equivocation.
    seen: BTreeMap<(u8, PartyIndex, bool), [u8; 32]>,
}

impl<O> std::fmt::Debug for Ceremony<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("scheme", &self.ctx.scheme)
            .field("me", &self.ctx.me)
            .field("round", &self.round)
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

impl<O> Ceremony<O> {
    /// Wraps a first round and its messages. `rounds` bounds the round numbers accepted.
    pub(crate) fn start(
        ctx: Context,
        rounds: u8,
        first: Box<dyn Round<O>>,
        outgoing: Vec<Outgoing>,
    ) -> Result<(Ceremony<O>, Vec<Message>), Error> {
        if !ctx.parties.contains(&ctx.me) {
            return Err(Error::InvalidParameters(format!("party {} is not in the ceremony", ctx.me)));
        }
        let mut ceremony = Ceremony {
            ctx,
            rounds,
            round: 1,
            state: State::Running(first),
            pending: BTreeMap::new(),
            seen: BTreeMap::new(),
        };
        let mut messages = ceremony.wrap(outgoing);
        // A first round that waits for nothing finishes at once.
        match ceremony.advance()? {
            Step::Send(more) => messages.extend(more),
            Step::Done(..) => return Err(Error::Aborted("ceremony finished before any message".into())),
        }
        Ok((ceremony, messages))
    }

    /// This party's index in the ceremony.
    pub fn me(&self) -> PartyIndex {
        self.ctx.me
    }

    /// The ceremony id.
    pub fn id(&self) -> CeremonyId {
        self.ctx.id
    }

    /// The round this party is waiting in (1-based).
    pub fn round(&self) -> u8 {
        self.round
    }

    /// The total number of rounds.
    pub fn rounds(&self) -> u8 {
        self.rounds
    }

    /// The parties whose messages the current round still lacks, for "who stalled" errors.
    pub fn waiting_for(&self) -> Vec<PartyIndex> {
        let State::Running(state) = &self.state else { return Vec::new() };
        let expect = state.expects();
        let mut missing: BTreeSet<PartyIndex> = BTreeSet::new();
        for p in &expect.broadcast {
            if !self.pending.contains_key(&(self.round, *p, true)) {
                missing.insert(*p);
            }
        }
        for p in &expect.direct {
            if !self.pending.contains_key(&(self.round, *p, false)) {
                missing.insert(*p);
            }
        }
        missing.into_iter().collect()
    }

    /// Delivers one message whose sender the transport has authenticated. Non-fatal errors
    /// ([`Error::is_fatal`]) reject only that message; a fatal one aborts the ceremony and is
    /// returned again by every later call.
    pub fn handle(&mut self, msg: Message) -> Result<Step<O>, Error> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Finished => return Err(Error::Finished),
            State::Running(_) => {}
        }
        self.accept(msg)?;
        match self.advance() {
            Ok(step) => Ok(step),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if e.is_fatal() {
            self.state = State::Failed(e.clone());
            self.pending.clear();
        }
        e
    }

    /// Checks the header and files the payload under (round, sender, kind).
    fn accept(&mut self, mut msg: Message) -> Result<(), Error> {
        if msg.ceremony != self.ctx.id || msg.scheme != self.ctx.scheme {
            return Err(Error::WrongCeremony);
        }
        let broadcast = match msg.to {
            Recipient::Broadcast => true,
            Recipient::One(p) if p == self.ctx.me => false,
            Recipient::One(p) => return Err(Error::Misrouted { to: p }),
        };
        let from = msg.from;
        if from == self.ctx.me || !self.ctx.parties.contains(&from) {
            return Err(self.fail(Error::UnknownSender { from }));
        }
        let key = (msg.round, from, broadcast);
        let digest: [u8; 32] = Sha256::digest(&msg.payload).into();
        if let Some(prev) = self.seen.get(&key) {
            return Err(if *prev == digest {
                Error::Duplicate { from, round: msg.round }
            } else {
                self.fail(Error::Equivocation { from, round: msg.round })
            });
        }
        if msg.round < self.round || msg.round > self.rounds {
            return Err(self.fail(Error::WrongRound { from, round: msg.round }));
        }
        if msg.round == self.round
            && let State::Running(state) = &self.state
            && !state.expects().wants(from, broadcast)
        {
            return Err(self.fail(Error::Unexpected { from, round: msg.round }));
        }
        self.seen.insert(key, digest);
        self.pending.insert(key, std::mem::take(&mut msg.payload));
        Ok(())
    }

    /// Finishes every round whose messages are all in.
    fn advance(&mut self) -> Result<Step<O>, Error> {
        let mut out = Vec::new();
        loop {
            let State::Running(state) = &self.state else { return Err(Error::Finished) };
            let expect = state.expects();
            // Messages buffered before this round opened must be ones it takes.
            for (round, from, broadcast) in self.pending.keys() {
                if *round == self.round && !expect.wants(*from, *broadcast) {
                    return Err(Error::Unexpected { from: *from, round: *round });
                }
            }
            let have = self
                .pending
                .range((self.round, PartyIndex::new(1)?, false)..)
                .take_while(|(k, _)| k.0 == self.round)
                .count();
            if have < expect.count() {
                return Ok(Step::Send(out));
            }
            let mut inbox = Inbox { round: self.round, broadcast: BTreeMap::new(), direct: BTreeMap::new() };
            let keys: Vec<_> = self
                .pending
                .range((self.round, PartyIndex::new(1)?, false)..)
                .take_while(|(k, _)| k.0 == self.round)
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                if let Some(payload) = self.pending.remove(&key) {
                    if key.2 {
                        inbox.broadcast.insert(key.1, payload);
                    } else {
                        inbox.direct.insert(key.1, payload);
                    }
                }
            }
            let State::Running(state) = std::mem::replace(&mut self.state, State::Finished) else {
                return Err(Error::Finished);
            };
            match state.finish(&self.ctx, inbox)? {
                Transition::Next(next, outgoing) => {
                    self.round = self.round.saturating_add(1);
                    if self.round > self.rounds {
                        return Err(Error::Aborted("ceremony ran past its last round".into()));
                    }
                    self.state = State::Running(next);
                    out.extend(self.wrap(outgoing));
                }
                Transition::Done(output) => {
                    self.pending.clear();
                    return Ok(Step::Done(output, out));
                }
            }
        }
    }

    fn wrap(&self, outgoing: Vec<Outgoing>) -> Vec<Message> {
        outgoing
            .into_iter()
            .map(|o| Message {
                ceremony: self.ctx.id,
                scheme: self.ctx.scheme,
                round: self.round,
                from: self.ctx.me,
                to: o.to,
                payload: o.payload,
            })
            .collect()
    }
}

/// The last round of every key-producing ceremony: each party broadcasts a digest of the
/// public transcript and the key it computed, and accepts the result only when every
/// party's digest equals its own. This catches a party that sent different broadcasts to
/// different parties (echo-broadcast check) and parties that started from different inputs.
pub(crate) struct Confirm<O> {
    pub output: O,
    pub digest: [u8; 32],
    pub from: BTreeSet<PartyIndex>,
}

impl<O> Confirm<O> {
    pub fn transition(output: O, digest: [u8; 32], from: BTreeSet<PartyIndex>) -> Result<Transition<O>, Error>
    where
        O: Send + 'static,
    {
        Ok(Transition::Next(Box::new(Confirm { output, digest, from }), vec![Outgoing::broadcast(&digest)?]))
    }
}

impl<O: Send> Round<O> for Confirm<O> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.from.clone())
    }
    fn finish(self: Box<Self>, _ctx: &Context, inbox: Inbox) -> Result<Transition<O>, Error> {
        let mut differ = Vec::new();
        for from in &self.from {
            let theirs: [u8; 32] = inbox.broadcast(*from)?;
            if theirs != self.digest {
                differ.push(*from);
            }
        }
        if !differ.is_empty() {
            return Err(Error::TranscriptMismatch { parties: differ });
        }
        Ok(Transition::Done(self.output))
    }
}

/// A round in which this party only watches (a retiring dealer while the new members run
/// their key setup): a broadcast goes to every party of the ceremony, so it still receives
/// the round's broadcasts from `watch`, and ignores them. After the last such round it
/// confirms like everybody else.
pub(crate) struct Idle<O> {
    rounds_left: u8,
    watch: BTreeSet<PartyIndex>,
    output: O,
    digest: [u8; 32],
    from: BTreeSet<PartyIndex>,
}

impl<O> Idle<O> {
    pub fn new(
        rounds_left: u8,
        watch: BTreeSet<PartyIndex>,
        output: O,
        digest: [u8; 32],
        from: BTreeSet<PartyIndex>,
    ) -> Idle<O> {
        Idle { rounds_left, watch, output, digest, from }
    }
}

impl<O: Send + 'static> Round<O> for Idle<O> {
    fn expects(&self) -> Expect {
        Expect::broadcast_from(self.watch.clone())
    }
    fn finish(self: Box<Self>, _ctx: &Context, _inbox: Inbox) -> Result<Transition<O>, Error> {
        let Idle { rounds_left, watch, output, digest, from } = *self;
        if rounds_left > 1 {
            Ok(Transition::Next(
                Box::new(Idle { rounds_left: rounds_left - 1, watch, output, digest, from }),
                Vec::new(),
            ))
        } else {
            Confirm::transition(output, digest, from)
        }
    }
}
