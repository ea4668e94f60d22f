//! The frame: what goes over the wire between two parties. Its routing header is public
//! (a relay routes on it); the body is AEAD ciphertext under the pair key of the direction.
//!
//! Layout (postcard): `version: u8 ‖ ceremony: [u8; 32] ‖ round: u8 ‖ from: varint u16 ‖
//! to: varint u16 ‖ broadcast: bool ‖ message id: [u8; 32] ‖ body: varint length ‖ bytes`.
//! `to` is always the one recipient of this copy; `broadcast` says the copy is one of a
//! broadcast's, so its message id names receiver 0.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tssw_protocol::{CeremonyId, MAX_MESSAGE_BYTES, PartyIndex};

use crate::ChannelError;

/// The frame format version this build writes and reads; no other is accepted.
pub const FRAME_VERSION: u8 = 1;

/// Bound on an encoded frame: the largest protocol message plus header, AEAD tag and
/// broadcast signature, with room to spare.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + 512;

const MESSAGE_ID_DOMAIN: &[u8] = b"tssw/channel/v1/message-id\0";

/// A message id: `SHA-256(domain ‖ ceremony id ‖ round ‖ sender ‖ receiver or 0)`. The
/// receiver recomputes it from the header and never takes it from the relay.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub [u8; 32]);

impl MessageId {
    /// The id of the message from `from` in `round`, to `to` (`None` for a broadcast).
    pub fn compute(ceremony: CeremonyId, round: u8, from: PartyIndex, to: Option<PartyIndex>) -> MessageId {
        let mut h = Sha256::new();
        h.update(MESSAGE_ID_DOMAIN);
        h.update(ceremony.0);
        h.update([round]);
        h.update(from.get().to_be_bytes());
        h.update(to.map_or(0, PartyIndex::get).to_be_bytes());
        MessageId(h.finalize().into())
    }

    /// The AEAD nonce for this id: its first 96 bits. See `session.rs` for why an id is
    /// used at most once per key.
    pub(crate) fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n.copy_from_slice(&self.0[..12]);
        n
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageId(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// The public routing header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The ceremony.
    pub ceremony: CeremonyId,
    /// The protocol round (1-based).
    pub round: u8,
    /// The claimed sender.
    pub from: PartyIndex,
    /// The recipient of this copy.
    pub to: PartyIndex,
    /// Whether this is one copy of a broadcast.
    pub broadcast: bool,
    /// The claimed message id.
    pub id: MessageId,
}

impl FrameHeader {
    /// The id the routing fields give (what the receiver checks `id` against).
    pub fn expected_id(&self) -> MessageId {
        MessageId::compute(self.ceremony, self.round, self.from, (!self.broadcast).then_some(self.to))
    }
}

/// A decoded frame: header plus opaque ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The public header.
    pub header: FrameHeader,
    /// The AEAD ciphertext (with tag).
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    version: u8,
    ceremony: [u8; 32],
    round: u8,
    from: u16,
    to: u16,
    broadcast: bool,
    id: [u8; 32],
    // As bytes, not a sequence of u8: same encoding, one copy (see tssw-protocol's Message).
    #[serde(borrow, with = "serde_bytes")]
    body: &'a [u8],
}

impl Frame {
    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let h = &self.header;
        let wire = Wire {
            version: FRAME_VERSION,
            ceremony: h.ceremony.0,
            round: h.round,
            from: h.from.get(),
            to: h.to.get(),
            broadcast: h.broadcast,
            id: h.id.0,
            body: &self.body,
        };
        // Plain fields into a Vec cannot fail; an empty frame is rejected by every decoder.
        postcard::to_stdvec(&wire).unwrap_or_default()
    }

    /// Decodes untrusted bytes: bounded first, strict, never panics. A relay can call this
    /// to read the routing header; nothing in it is authenticated yet.
    pub fn decode(bytes: &[u8]) -> Result<Frame, ChannelError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(ChannelError::TooLarge { what: "frame", len: bytes.len(), max: MAX_FRAME_BYTES });
        }
        let version = *bytes.first().ok_or(ChannelError::Decode("frame: empty"))?;
        if version != FRAME_VERSION {
            return Err(ChannelError::UnsupportedVersion { what: "frame", version });
        }
        let (wire, rest): (Wire<'_>, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|_| ChannelError::Decode("frame"))?;
        if !rest.is_empty() {
            return Err(ChannelError::Decode("trailing bytes"));
        }
        if wire.round == 0 {
            return Err(ChannelError::Decode("frame: round 0"));
        }
        let from = PartyIndex::new(wire.from).map_err(|_| ChannelError::Decode("frame: sender index"))?;
        let to = PartyIndex::new(wire.to).map_err(|_| ChannelError::Decode("frame: recipient index"))?;
        let frame = Frame {
            header: FrameHeader {
                ceremony: CeremonyId(wire.ceremony),
                round: wire.round,
                from,
                to,
                broadcast: wire.broadcast,
                id: MessageId(wire.id),
            },
            body: wire.body.to_vec(),
        };
        // postcard accepts over-long varints; one frame has one encoding, so a relay cannot
        // make a copy that looks new.
        if frame.encode() != bytes {
            return Err(ChannelError::Decode("frame: non-canonical encoding"));
        }
        Ok(frame)
    }
}
