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

// Serialize only for the test that holds the hand-written prefix to this layout.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Wire<'a> {
    // Read from the first byte before the rest is decoded (another version may lay out the
    // rest differently), and held to FRAME_VERSION by the canonical-prefix check.
    _version: u8,
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

/// Everything before the body, as postcard writes it for [`Wire`]: the fixed fields, then
/// the body's length as the varint `serde_bytes` puts before the bytes.
#[derive(Serialize)]
struct Prefix {
    version: u8,
    ceremony: [u8; 32],
    round: u8,
    from: u16,
    to: u16,
    broadcast: bool,
    id: [u8; 32],
    body_len: usize,
}

/// The bytes that precede a body of `body_len` bytes under `h`, in a buffer with room for
/// `room` more: a frame is written once, without regrowing, and checked without
/// re-encoding its (up to a megabyte of) ciphertext.
fn prefix(h: &FrameHeader, body_len: usize, room: usize) -> Vec<u8> {
    let prefix = Prefix {
        version: FRAME_VERSION,
        ceremony: h.ceremony.0,
        round: h.round,
        from: h.from.get(),
        to: h.to.get(),
        broadcast: h.broadcast,
        id: h.id.0,
        body_len,
    };
    // Plain fields into a Vec cannot fail; an empty frame is rejected by every decoder.
    postcard::to_io(&prefix, Vec::with_capacity(PREFIX_MAX + room)).unwrap_or_default()
}

/// An upper bound on [`Prefix`]'s encoding: 1 + 32 + 1 + 3 + 3 + 1 + 32 + 10.
const PREFIX_MAX: usize = 83;

impl Frame {
    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = prefix(&self.header, self.body.len(), self.body.len());
        if !out.is_empty() {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Decodes untrusted bytes: bounded first, strict, never panics. A relay can call this
    /// to read the routing header; nothing in it is authenticated yet.
    pub fn decode(bytes: &[u8]) -> Result<Frame, ChannelError> {
        let (header, body) = Frame::parse(bytes)?;
        Ok(Frame { header, body: body.to_vec() })
    }

    /// [`Frame::decode`] with the body borrowed from `bytes`: the same checks, no copy.
    pub fn parse(bytes: &[u8]) -> Result<(FrameHeader, &[u8]), ChannelError> {
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
        let header = FrameHeader {
            ceremony: CeremonyId(wire.ceremony),
            round: wire.round,
            from,
            to,
            broadcast: wire.broadcast,
            id: MessageId(wire.id),
        };
        // postcard accepts over-long varints; one frame has one encoding, so a relay cannot
        // make a copy that looks new. The body is the tail of `bytes` (nothing follows it),
        // so the encoding is canonical exactly when what precedes the body is.
        let head = prefix(&header, wire.body.len(), 0);
        if head.is_empty() || bytes.len() != head.len() + wire.body.len() || !bytes.starts_with(&head) {
            return Err(ChannelError::Decode("frame: non-canonical encoding"));
        }
        Ok((header, wire.body))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            ceremony: CeremonyId([7; 32]),
            round: 3,
            from: PartyIndex::new(200).unwrap(),
            to: PartyIndex::new(2).unwrap(),
            broadcast: true,
            id: MessageId([9; 32]),
        }
    }

    #[test]
    fn encoding_is_the_wire_layout_and_parses_back() {
        // Lengths either side of each varint width.
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 900_000] {
            let h = header();
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = Frame { header: h, body: body.clone() }.encode();
            let wire = Wire {
                _version: FRAME_VERSION,
                ceremony: h.ceremony.0,
                round: h.round,
                from: h.from.get(),
                to: h.to.get(),
                broadcast: h.broadcast,
                id: h.id.0,
                body: &body,
            };
            assert_eq!(frame, postcard::to_stdvec(&wire).unwrap(), "body of {len} bytes");
            assert!(frame.len() <= PREFIX_MAX + len);
            assert_eq!(Frame::parse(&frame).unwrap(), (h, body.as_slice()));
        }
    }

    #[test]
    fn an_over_long_body_length_is_refused() {
        let frame = Frame { header: header(), body: vec![5; 3] }.encode();
        // The length is the byte before the body: 3 → 0x83 0x00 says the same, longer.
        let at = frame.len() - 4;
        assert_eq!(frame[at], 3);
        let mut t = frame.clone();
        t.splice(at..=at, [0x83, 0x00]);
        assert_eq!(Frame::parse(&t).unwrap_err(), ChannelError::Decode("frame: non-canonical encoding"));
    }
}
