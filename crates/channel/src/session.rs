//! One party's end of the secure channel for one ceremony.
//!
//! Keys: for every other party, X25519 between the two ephemeral keys of the verified
//! setup, then HKDF-SHA256 with the setup transcript hash as salt and info =
//! `domain ‖ ceremony id ‖ lower identity ‖ higher identity ‖ AEAD id`, expanded to two
//! keys, one per direction. The ephemeral keys are signed by the identities
//! (contributions) and the setup is signed by the coordinator, so the keys are bound to
//! both identities, to this ceremony and to this exact setup. Separate direction keys mean a frame can never be
//! reflected back to its sender as if the peer had sent it.
//!
//! Direct messages: the pair's AEAD (AES-256-GCM when both parties' builds run it,
//! ChaCha20-Poly1305 otherwise: `aead.rs`) under the direction key, AAD = message id, nonce
//! from the message id. Broadcasts: the sender encrypts one copy per recipient the same
//! way and, inside the ciphertext, signs `message id ‖ H(plaintext)` with its identity, so
//! each recipient holds a transferable statement of what the sender broadcast. The
//! protocol's confirmation round finally checks that every party saw the same broadcasts.

use std::collections::BTreeMap;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use tssw_protocol::{CeremonyId, Message, PartyIndex, Recipient, Scheme};
use x25519_dalek::PublicKey as XPublic;
use zeroize::Zeroizing;

use crate::ChannelError;
use crate::aead::Key;
use crate::frame::{Frame, FrameHeader, MessageId};
use crate::identity::{EphemeralKey, IdentityKey, PartyId};
use crate::setup::VerifiedSetup;

const KDF_DOMAIN: &[u8] = b"tssw/channel/v1/pair-keys\0";
const BROADCAST_DOMAIN: &[u8] = b"tssw/channel/v1/broadcast\0";
const SIGNATURE_LEN: usize = 64;

/// What [`Session::open`] made of a frame.
#[derive(Debug)]
#[non_exhaustive]
pub enum Opened {
    /// An authenticated protocol message whose header matches the frame: hand it to the
    /// ceremony.
    Message(Message),
    /// A byte-identical copy of a frame already opened: drop it (idempotent).
    Duplicate,
}

/// A frame to send, and to whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The recipient.
    pub to: PartyIndex,
    /// The encoded frame.
    pub bytes: Vec<u8>,
}

struct Peer {
    party: PartyId,
    seal: Key,
    open: Key,
}

/// The AEAD tag that ends every frame body (16 bytes for either AEAD).
const TAG_LEN: usize = 16;

/// The tag of a frame body, if it is long enough to have one.
fn tag_of(body: &[u8]) -> Option<[u8; TAG_LEN]> {
    body.last_chunk().copied()
}

/// One party's channel for one ceremony: seals outgoing protocol messages into frames and
/// opens incoming frames. No I/O; the caller moves the bytes.
pub struct Session {
    id: CeremonyId,
    scheme: Scheme,
    me: PartyIndex,
    identity: IdentityKey,
    peers: BTreeMap<PartyIndex, Peer>,
    /// The AEAD tags sealed under each id, one per recipient, so an id (an AEAD nonce)
    /// never carries two different plaintexts out (see `seal`).
    sent: BTreeMap<MessageId, Vec<[u8; TAG_LEN]>>,
    /// The AEAD tag of the frame opened under each id, to drop duplicates and catch a peer
    /// that equivocates under one id (see `open_inner`).
    seen: BTreeMap<MessageId, [u8; TAG_LEN]>,
    expires_at: u64,
    closed: bool,
    rejected: usize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ceremony", &self.id)
            .field("me", &self.me)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens this party's session from a verified setup, its identity and the ephemeral key
    /// it contributed. The setup must carry exactly that contribution: otherwise the
    /// coordinator replayed an old one of ours and the ceremony would not be fresh for us.
    pub fn new(
        setup: &VerifiedSetup,
        identity: &IdentityKey,
        ephemeral: EphemeralKey,
    ) -> Result<Session, ChannelError> {
        let my_id = identity.party_id();
        let params = setup.params();
        let mine = params
            .parties
            .iter()
            .find(|p| p.party() == my_id)
            .ok_or(ChannelError::SetupMismatch("our identity is not in the setup"))?;
        if mine.contribution.nonce != ephemeral.nonce || mine.contribution.x25519_public != ephemeral.public {
            return Err(ChannelError::SetupMismatch("the setup does not carry our contribution"));
        }
        let mut peers = BTreeMap::new();
        for p in params.parties.iter().filter(|p| p.party() != my_id) {
            let shared = ephemeral.secret.diffie_hellman(&XPublic::from(p.contribution.x25519_public));
            // A low-order public key makes the shared secret a known constant.
            if !shared.was_contributory() {
                return Err(ChannelError::PeerMisbehaved { party: p.index, reason: "non-contributory X25519 key" });
            }
            // Both contributions are signed by their parties, so both ends choose alike.
            let suite = mine
                .contribution
                .suites
                .choose(p.contribution.suites)
                .ok_or(ChannelError::PeerMisbehaved { party: p.index, reason: "no AEAD in common" })?;
            let (lo, hi) = if my_id < p.party() { (my_id, p.party()) } else { (p.party(), my_id) };
            let mut info = KDF_DOMAIN.to_vec();
            info.extend_from_slice(&setup.ceremony_id().0);
            info.extend_from_slice(&lo.0);
            info.extend_from_slice(&hi.0);
            info.push(suite.id());
            let mut okm = Zeroizing::new([0u8; 64]);
            Hkdf::<Sha256>::new(Some(&setup.transcript()), shared.as_bytes())
                .expand(&info, okm.as_mut())
                .map_err(|_| ChannelError::Misuse("HKDF output length"))?;
            let (first, second) = okm.split_at(32);
            let key = |half: &[u8]| {
                let bytes: &[u8; 32] = half.try_into().map_err(|_| ChannelError::Misuse("key length"))?;
                Key::new(suite, bytes)
            };
            let lo_to_hi = key(first)?;
            let hi_to_lo = key(second)?;
            let (seal, open) = if my_id == lo { (lo_to_hi, hi_to_lo) } else { (hi_to_lo, lo_to_hi) };
            peers.insert(p.index, Peer { party: p.party(), seal, open });
        }
        Ok(Session {
            id: setup.ceremony_id(),
            scheme: params.scheme,
            me: mine.index,
            identity: IdentityKey::from_seed(&identity.to_seed()),
            peers,
            sent: BTreeMap::new(),
            seen: BTreeMap::new(),
            expires_at: params.expires_at,
            closed: false,
            rejected: 0,
        })
    }

    /// A copy with the same keys and state, for fuzz targets that need a fresh session per
    /// input without re-running the setup. Two live copies would seal the same nonces, so
    /// this exists only under `test-helpers`.
    #[cfg(feature = "test-helpers")]
    pub fn fork_for_tests(&self) -> Session {
        Session {
            id: self.id,
            scheme: self.scheme,
            me: self.me,
            identity: IdentityKey::from_seed(&self.identity.to_seed()),
            peers: self
                .peers
                .iter()
                .map(|(i, p)| (*i, Peer { party: p.party, seal: p.seal.clone(), open: p.open.clone() }))
                .collect(),
            sent: self.sent.clone(),
            seen: self.seen.clone(),
            expires_at: self.expires_at,
            closed: self.closed,
            rejected: self.rejected,
        }
    }

    /// The ceremony id.
    pub fn ceremony_id(&self) -> CeremonyId {
        self.id
    }

    /// This party's index.
    pub fn me(&self) -> PartyIndex {
        self.me
    }

    /// The identity of the party at `index`, if it is a counterparty.
    pub fn peer(&self, index: PartyIndex) -> Option<PartyId> {
        self.peers.get(&index).map(|p| p.party)
    }

    /// The setup's expiry (unix seconds), for the driver's deadline.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Closes the session: its ceremony ended, so every later frame is rejected.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`Session::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Seals one protocol message of this party into frames: one for a direct message, one
    /// per counterparty for a broadcast. Sealing the same message again gives the same
    /// bytes (a safe resend); a different message under a used id is refused.
    pub fn seal(&mut self, msg: &Message) -> Result<Vec<Outbound>, ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        if msg.ceremony() != self.id || msg.scheme() != self.scheme {
            return Err(ChannelError::Misuse("message of another ceremony"));
        }
        if msg.from() != self.me {
            return Err(ChannelError::Misuse("message from another sender"));
        }
        let (to, targets): (Option<PartyIndex>, Vec<PartyIndex>) = match msg.to() {
            Recipient::Broadcast => (None, self.peers.keys().copied().collect()),
            Recipient::One(p) if self.peers.contains_key(&p) => (Some(p), vec![p]),
            Recipient::One(_) => return Err(ChannelError::Misuse("recipient is not a counterparty")),
        };
        let id = MessageId::compute(self.id, msg.round(), self.me, to);
        let encoded = Zeroizing::new(msg.encode());
        let plaintext = match to {
            None => {
                let digest: [u8; 32] = Sha256::digest(encoded.as_slice()).into();
                let signature = self.identity.sign(BROADCAST_DOMAIN, &[&id.0, &digest]);
                let mut p = Zeroizing::new(Vec::with_capacity(SIGNATURE_LEN + encoded.len()));
                p.extend_from_slice(&signature);
                p.extend_from_slice(&encoded);
                p
            }
            Some(_) => encoded,
        };
        let mut out = Vec::with_capacity(targets.len());
        let mut tags = Vec::with_capacity(targets.len());
        for target in targets {
            let peer = self.peers.get(&target).ok_or(ChannelError::Misuse("recipient is not a counterparty"))?;
            let body = peer.seal.seal(id.nonce(), &id.0, &plaintext)?;
            tags.push(tag_of(&body).ok_or(ChannelError::Misuse("encryption failed"))?);
            let header = FrameHeader {
                ceremony: self.id,
                round: msg.round(),
                from: self.me,
                to: target,
                broadcast: to.is_none(),
                id,
            };
            out.push(Outbound { to: target, bytes: Frame { header, body }.encode() });
        }
        // ChaCha20-Poly1305 and AES-256-GCM both lose confidentiality and authenticity if
        // one key encrypts two plaintexts under one nonce and both ciphertexts are seen.
        // The nonce comes from the message id, and each direction key serves one sender →
        // one receiver in one ceremony and one setup; the id is unique per (round, receiver
        // or broadcast), the protocol sends one message per such slot, and this check keeps
        // a second, different plaintext for a slot from leaving: sealing is deterministic
        // (Ed25519 signatures too), so the same message gives the same tags, and another
        // message other tags but with the chance of a forgery of the one-time MAC
        // (≈ 2^-100 or less for these sizes). The refused frames are dropped here, unsent. Deterministic nonces also make a resend
        // byte-identical, so duplicates are cheap to drop. 96 of the id's 256 bits keep
        // distinct ids' nonces distinct with overwhelming probability for the few hundred
        // ids a ceremony has.
        if self.sent.get(&id).is_some_and(|prev| *prev != tags) {
            return Err(ChannelError::Misuse("a different message under a used id"));
        }
        self.sent.insert(id, tags);
        Ok(out)
    }

    /// How many frames [`Session::open`] rejected so far (for metrics and tests: what a
    /// hostile relay tried).
    pub fn rejected_frames(&self) -> usize {
        self.rejected
    }

    /// Opens one frame from the relay. Checks run from cheapest to dearest and nothing in
    /// the header is trusted until the AEAD check passes under the claimed sender's key.
    pub fn open(&mut self, bytes: &[u8]) -> Result<Opened, ChannelError> {
        let result = self.open_inner(bytes);
        if result.is_err() {
            self.rejected = self.rejected.saturating_add(1);
        }
        result
    }

    fn open_inner(&mut self, bytes: &[u8]) -> Result<Opened, ChannelError> {
        let (h, body) = Frame::parse(bytes)?;
        if h.ceremony != self.id {
            return Err(ChannelError::WrongCeremony);
        }
        if self.closed {
            return Err(ChannelError::Closed);
        }
        if h.to != self.me {
            return Err(ChannelError::Misrouted { to: h.to.get() });
        }
        let Some(peer) = self.peers.get(&h.from) else {
            return Err(ChannelError::UnknownSender { from: h.from.get() });
        };
        if h.id != h.expected_id() {
            return Err(ChannelError::MessageId);
        }
        // Each direction key seals one plaintext per id (the nonce), and sealing is
        // deterministic, so a frame equal to the accepted one has its tag, and an authentic
        // frame with another tag carries another plaintext. A frame with the accepted tag
        // but another body is dropped unopened with the duplicates: a relay cannot forge
        // one that opens, and a peer that crafts a tag collision gains nothing — the first
        // message stands. Keying on the tag spares hashing each (up to 1 MB) frame twice.
        let tag = tag_of(body).ok_or(ChannelError::Decrypt { from: h.from })?;
        let previous = self.seen.get(&h.id);
        if previous == Some(&tag) {
            return Ok(Opened::Duplicate);
        }
        let plaintext = peer.open.open(h.id.nonce(), &h.id.0, body).ok_or(ChannelError::Decrypt { from: h.from })?;
        // From here the frame is authentic: anything wrong is the sender's doing.
        let blame = |reason| ChannelError::PeerMisbehaved { party: h.from, reason };
        if previous.is_some() {
            return Err(blame("two different messages under one id"));
        }
        let encoded: &[u8] = if h.broadcast {
            let (signature, encoded) =
                plaintext.split_at_checked(SIGNATURE_LEN).ok_or(blame("broadcast without a signature"))?;
            let signature: [u8; SIGNATURE_LEN] =
                signature.try_into().map_err(|_| blame("broadcast without a signature"))?;
            let digest: [u8; 32] = Sha256::digest(encoded).into();
            peer.party
                .verify(BROADCAST_DOMAIN, &[&h.id.0, &digest], &signature)
                .map_err(|()| blame("bad broadcast signature"))?;
            encoded
        } else {
            &plaintext
        };
        let msg = Message::decode(encoded).map_err(|_| blame("inner message does not decode"))?;
        let expected_to = if h.broadcast { Recipient::Broadcast } else { Recipient::One(self.me) };
        if msg.ceremony() != self.id
            || msg.scheme() != self.scheme
            || msg.round() != h.round
            || msg.from() != h.from
            || msg.to() != expected_to
        {
            return Err(blame("inner message disagrees with the frame header"));
        }
        self.seen.insert(h.id, tag);
        Ok(Opened::Message(msg))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use tssw_protocol::testing::forge;

    use super::*;
    use crate::aead::{Suite, Suites};
    use crate::identity::{CONTRIBUTION_DOMAIN, Contribution};
    use crate::setup::{Expectation, Operation, Setup, SetupParams, SetupParty};
    use crate::testing::{TestRng, fixed_sessions};

    fn p(i: u16) -> PartyIndex {
        PartyIndex::new(i).unwrap()
    }

    /// Party 1's first DKG broadcast in the sessions' ceremony.
    /// A 2-of-2 setup of parties 1 and 2 with these contributions, signed and verified.
    fn two_party_setup(
        coordinator: &IdentityKey,
        operation: Operation,
        scheme: Scheme,
        ca: Contribution,
        cb: Contribution,
    ) -> VerifiedSetup {
        let expected = Expectation {
            operation,
            scheme,
            threshold: 2,
            parties: vec![(p(1), ca.party), (p(2), cb.party)],
            digest: None,
        };
        let params = SetupParams {
            operation,
            scheme,
            threshold: 2,
            parties: vec![SetupParty { index: p(1), contribution: ca }, SetupParty { index: p(2), contribution: cb }],
            digest: None,
            expires_at: 10,
        };
        Setup::sign(coordinator, params).unwrap().verify(&coordinator.party_id(), 0, &expected).unwrap()
    }

    fn broadcast_of(s: &Session) -> Message {
        let (_, msgs) = tssw_protocol::dkg(s.ceremony_id(), Scheme::Ed25519, s.me(), 2, 2).unwrap();
        msgs.into_iter().next().unwrap()
    }

    /// Seals `plaintext` as party `from` would, with any header: what a malicious peer (who
    /// holds the pair key) can send.
    fn seal_raw(from: &Session, to: PartyIndex, round: u8, broadcast: bool, plaintext: &[u8]) -> Vec<u8> {
        let id = MessageId::compute(from.id, round, from.me, (!broadcast).then_some(to));
        let body = from.peers[&to].seal.seal(id.nonce(), &id.0, plaintext).unwrap();
        Frame { header: FrameHeader { ceremony: from.id, round, from: from.me, to, broadcast, id }, body }.encode()
    }

    #[test]
    fn seal_open_direct_and_broadcast() {
        let (mut one, mut two) = fixed_sessions().unwrap();
        let b = broadcast_of(&one);
        let frames = one.seal(&b).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].to, p(2));
        let Opened::Message(m) = two.open(&frames[0].bytes).unwrap() else { panic!() };
        assert_eq!(m, b);
        assert!(matches!(two.open(&frames[0].bytes).unwrap(), Opened::Duplicate));
        // Resealing the same message gives the same bytes (deterministic nonce and signature).
        assert_eq!(one.seal(&b).unwrap(), frames);

        let d = forge(&b, Some(2), None, Some(Recipient::One(p(2))), None);
        let frames = one.seal(&d).unwrap();
        let Opened::Message(m) = two.open(&frames[0].bytes).unwrap() else { panic!() };
        assert_eq!(m, d);
        // The reverse direction uses the other key: a frame can't be reflected to its sender.
        assert!(matches!(one.open(&frames[0].bytes), Err(ChannelError::Misrouted { to: 2 })));
    }

    #[test]
    fn seal_misuse() {
        let (mut one, mut two) = fixed_sessions().unwrap();
        let b = broadcast_of(&one);
        assert_eq!(two.seal(&b).unwrap_err(), ChannelError::Misuse("message from another sender"));
        let other = forge(&b, None, None, Some(Recipient::One(p(3))), None);
        assert_eq!(one.seal(&other).unwrap_err(), ChannelError::Misuse("recipient is not a counterparty"));
        let (_, foreign) = tssw_protocol::dkg(tssw_protocol::CeremonyId([1; 32]), Scheme::Ed25519, p(1), 2, 2).unwrap();
        assert_eq!(one.seal(&foreign[0]).unwrap_err(), ChannelError::Misuse("message of another ceremony"));
        one.seal(&b).unwrap();
        let changed = forge(&b, None, None, None, Some(vec![1, 2, 3]));
        assert_eq!(one.seal(&changed).unwrap_err(), ChannelError::Misuse("a different message under a used id"));
        one.close();
        assert_eq!(one.seal(&b).unwrap_err(), ChannelError::Closed);
    }

    #[test]
    fn closed_session_rejects() {
        let (mut one, mut two) = fixed_sessions().unwrap();
        let frames = one.seal(&broadcast_of(&one)).unwrap();
        two.close();
        assert_eq!(two.open(&frames[0].bytes).unwrap_err(), ChannelError::Closed);
        assert_eq!(two.rejected_frames(), 1);
    }

    #[test]
    fn inner_header_must_match_frame() {
        let (one, mut two) = fixed_sessions().unwrap();
        let b = broadcast_of(&one);
        // A direct frame for round 2 carrying the round-1 broadcast.
        let frame = seal_raw(&one, p(2), 2, false, &b.encode());
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "inner message disagrees with the frame header" }
        );
        let frame = seal_raw(&one, p(2), 1, false, &[0xff; 10]);
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "inner message does not decode" }
        );
    }

    #[test]
    fn broadcast_signature_checked() {
        let (one, mut two) = fixed_sessions().unwrap();
        let mut plaintext = vec![0u8; SIGNATURE_LEN];
        plaintext.extend_from_slice(&broadcast_of(&one).encode());
        let frame = seal_raw(&one, p(2), 1, true, &plaintext);
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "bad broadcast signature" }
        );
        let frame = seal_raw(&one, p(2), 1, true, &[1; 10]);
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "broadcast without a signature" }
        );
    }

    #[test]
    fn equivocation_under_one_id() {
        let (mut one, mut two) = fixed_sessions().unwrap();
        let d = forge(&broadcast_of(&one), None, None, Some(Recipient::One(p(2))), None);
        two.open(&one.seal(&d).unwrap()[0].bytes).unwrap();
        let other = forge(&d, None, None, None, Some(vec![9; 4]));
        let frame = seal_raw(&one, p(2), 1, false, &other.encode());
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "two different messages under one id" }
        );
    }

    #[test]
    fn copies_of_an_accepted_frame_are_told_apart_by_their_tag() {
        let (mut one, mut two) = fixed_sessions().unwrap();
        let d = forge(&broadcast_of(&one), None, None, Some(Recipient::One(p(2))), None);
        let genuine = one.seal(&d).unwrap().remove(0).bytes;
        two.open(&genuine).unwrap();
        // Another ciphertext under the accepted tag: dropped unopened, like a resend.
        let mut body_flipped = genuine.clone();
        let at = genuine.len() - TAG_LEN - 1;
        body_flipped[at] ^= 1;
        assert!(matches!(two.open(&body_flipped).unwrap(), Opened::Duplicate));
        // Another tag: opened, and it does not open.
        let mut tag_flipped = genuine.clone();
        let last = genuine.len() - 1;
        tag_flipped[last] ^= 1;
        assert_eq!(two.open(&tag_flipped).unwrap_err(), ChannelError::Decrypt { from: p(1) });
        assert!(matches!(two.open(&genuine).unwrap(), Opened::Duplicate));
        // An authentic broadcast under a used id with another plaintext (here another
        // signature) is the peer's doing, whatever the signature says.
        let b = broadcast_of(&one);
        two.open(&one.seal(&b).unwrap()[0].bytes).unwrap();
        let mut plaintext = vec![0u8; SIGNATURE_LEN];
        plaintext.extend_from_slice(&b.encode());
        let frame = seal_raw(&one, p(2), b.round(), true, &plaintext);
        assert_eq!(
            two.open(&frame).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(1), reason: "two different messages under one id" }
        );
    }

    #[test]
    fn session_needs_our_fresh_contribution() {
        let coordinator = IdentityKey::random();
        let (a, b) = (IdentityKey::random(), IdentityKey::random());
        let mut rng = TestRng::new(1);
        let (ca, ea) = Contribution::new(&a, &mut rng);
        let (cb, _eb) = Contribution::new(&b, &mut rng);
        let (_old, ea_old) = Contribution::new(&a, &mut rng);
        let v = two_party_setup(&coordinator, Operation::Dkg, Scheme::Ed25519, ca, cb);
        // An ephemeral key from another contribution (e.g. a replayed older setup).
        assert_eq!(
            Session::new(&v, &a, ea_old).unwrap_err(),
            ChannelError::SetupMismatch("the setup does not carry our contribution")
        );
        // A party not in the setup.
        let (_, ec) = Contribution::new(&IdentityKey::random(), &mut rng);
        assert_eq!(
            Session::new(&v, &IdentityKey::random(), ec).unwrap_err(),
            ChannelError::SetupMismatch("our identity is not in the setup")
        );
        assert!(Session::new(&v, &a, ea).is_ok());
    }

    #[test]
    fn low_order_x25519_key_rejected() {
        let coordinator = IdentityKey::random();
        let (a, b) = (IdentityKey::random(), IdentityKey::random());
        let (ca, ea) = Contribution::new(&a, &mut rand_core::OsRng);
        // Party 2 signs a contribution with the all-zero (low-order) X25519 point.
        let x25519_public = [0u8; 32];
        let nonce = [5u8; 32];
        let mut cb =
            Contribution { party: b.party_id(), nonce, x25519_public, suites: Suites::supported(), signature: [0; 64] };
        cb.signature = b.sign(CONTRIBUTION_DOMAIN, &[&cb.signed_bytes()]);
        let v = two_party_setup(&coordinator, Operation::Refresh, Scheme::Bip340, ca, cb);
        assert_eq!(
            Session::new(&v, &a, ea).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(2), reason: "non-contributory X25519 key" }
        );
    }

    /// A browser build lists only ChaCha20-Poly1305: its pairs use that, pairs of native
    /// builds AES-256-GCM, and a party that lists nothing another runs cannot join.
    #[test]
    fn each_pair_seals_with_an_aead_both_run() {
        let coordinator = IdentityKey::random();
        let (a, b) = (IdentityKey::random(), IdentityKey::random());
        let mut rng = TestRng::new(3);
        for (suites, expected) in
            [(Suites::CHACHA20_POLY1305, Suite::ChaCha20Poly1305), (Suites::supported(), Suite::Aes256Gcm)]
        {
            let (ca, ea) = Contribution::with_suites(&a, &mut rng, suites);
            let (cb, eb) = Contribution::new(&b, &mut rng);
            let v = two_party_setup(&coordinator, Operation::Dkg, Scheme::Ed25519, ca, cb);
            let (mut one, mut two) = (Session::new(&v, &a, ea).unwrap(), Session::new(&v, &b, eb).unwrap());
            for s in [&one, &two] {
                let peer = s.peers.values().next().unwrap();
                let chosen = match peer.seal {
                    Key::ChaCha20Poly1305(_) => Suite::ChaCha20Poly1305,
                    Key::Aes256Gcm(_) => Suite::Aes256Gcm,
                };
                assert_eq!(chosen, expected);
            }
            let frames = one.seal(&broadcast_of(&one)).unwrap();
            assert!(matches!(two.open(&frames[0].bytes), Ok(Opened::Message(_))));
            let frames = two.seal(&broadcast_of(&two)).unwrap();
            assert!(matches!(one.open(&frames[0].bytes), Ok(Opened::Message(_))));
        }
        let (ca, ea) = Contribution::with_suites(&a, &mut rng, Suites::AES_256_GCM);
        let (cb, _) = Contribution::with_suites(&b, &mut rng, Suites::CHACHA20_POLY1305);
        let v = two_party_setup(&coordinator, Operation::Dkg, Scheme::Ed25519, ca, cb);
        assert_eq!(
            Session::new(&v, &a, ea).unwrap_err(),
            ChannelError::PeerMisbehaved { party: p(2), reason: "no AEAD in common" }
        );
    }

    /// The list is signed: a coordinator that edits it breaks the contribution.
    #[test]
    fn the_aead_list_is_signed() {
        let a = IdentityKey::random();
        let (mut c, _) = Contribution::new(&a, &mut TestRng::new(4));
        assert!(c.verify().is_ok());
        c.suites = Suites::CHACHA20_POLY1305;
        assert_eq!(c.verify().unwrap_err(), ChannelError::BadSignature("party contribution"));
    }

    #[test]
    fn debug_is_redacted() {
        let (one, _) = fixed_sessions().unwrap();
        let key = IdentityKey::from_seed(&[1; 32]);
        let seed_hex: String = key.to_seed().iter().map(|b| format!("{b:02x}")).collect();
        for text in [format!("{one:?}"), format!("{key:?}")] {
            assert!(!text.contains(&seed_hex[..16]), "{text}");
        }
        assert!(format!("{key:?}").contains("redacted"));
    }
}
