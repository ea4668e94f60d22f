//! The wire message every ceremony exchanges, in a versioned, size-bounded encoding.
//!
//! Layout (postcard): `version: u8 ‖ scheme: u8 ‖ ceremony: [u8; 32] ‖ round: u8 ‖
//! from: varint u16 ‖ to: varint u16 (0 = broadcast) ‖ payload: varint length ‖ bytes`.
//! The header is public routing data; the payload is the scheme's round message and may be
//! secret (DKG fragments), so the channel layer encrypts every message end to end.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CeremonyId, Error, PartyIndex, Scheme};

/// The message format version this build writes and reads.
pub const MESSAGE_VERSION: u8 = 1;

/// Upper bound on one encoded message. The largest real message is a `dkls23` DKG round-3
/// direct message (≈ 180 KB); 1 MiB leaves room without letting a peer make us allocate
/// without limit.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recipient {
    /// Every other party of the ceremony (the channel must deliver the same bytes to all).
    Broadcast,
    /// One party.
    One(PartyIndex),
}

/// One protocol message.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Message {
    #[zeroize(skip)]
    pub(crate) ceremony: CeremonyId,
    #[zeroize(skip)]
    pub(crate) scheme: Scheme,
    pub(crate) round: u8,
    #[zeroize(skip)]
    pub(crate) from: PartyIndex,
    #[zeroize(skip)]
    pub(crate) to: Recipient,
    pub(crate) payload: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    version: u8,
    scheme: u8,
    ceremony: [u8; 32],
    round: u8,
    from: u16,
    to: u16,
    // As bytes, not a sequence of u8: the same postcard encoding (length, then the bytes),
    // written in one copy instead of one call per byte (DKLs messages are ~80 KB).
    #[serde(borrow, with = "serde_bytes")]
    payload: &'a [u8],
}

/// An upper bound on [`Wire`]'s encoding besides the payload: 1 + 1 + 32 + 1 + 3 + 3 + 10.
const HEADER_MAX: usize = 51;

impl Message {
    /// The ceremony this message belongs to.
    pub fn ceremony(&self) -> CeremonyId {
        self.ceremony
    }
    /// The scheme of that ceremony.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The round (1-based).
    pub fn round(&self) -> u8 {
        self.round
    }
    /// The sender as written in the message. A transport must check it against the party it
    /// authenticated, and the ceremony trusts it only after that.
    pub fn from(&self) -> PartyIndex {
        self.from
    }
    /// The addressee.
    pub fn to(&self) -> Recipient {
        self.to
    }
    /// The opaque round payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// The same message with another addressee: a transport fans a broadcast out as copies.
    pub fn readdressed(&self, to: Recipient) -> Message {
        let mut copy = self.clone();
        copy.to = to;
        copy
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            version: MESSAGE_VERSION,
            scheme: self.scheme.tag(),
            ceremony: self.ceremony.0,
            round: self.round,
            from: self.from.get(),
            to: match self.to {
                Recipient::Broadcast => 0,
                Recipient::One(p) => p.get(),
            },
            payload: &self.payload,
        };
        // Sized up front: an ECDSA batch's message is ≈ 900 KB, and growing to it copies it
        // over and over. Serializing into a Vec cannot fail for this plain struct; an empty
        // message would be rejected by every decoder, so it is a safe fallback.
        postcard::to_io(&wire, Vec::with_capacity(HEADER_MAX + self.payload.len())).unwrap_or_default()
    }

    /// Decodes untrusted bytes: bounded, never panics, rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, Error> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge { what: "message", len: bytes.len(), max: MAX_MESSAGE_BYTES });
        }
        let version = *bytes.first().ok_or(Error::Malformed("message: empty"))?;
        if version != MESSAGE_VERSION {
            return Err(Error::UnsupportedVersion { what: "message", version });
        }
        let (wire, rest): (Wire<'_>, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|_| Error::Malformed("message"))?;
        if !rest.is_empty() {
            return Err(Error::Malformed("message: trailing bytes"));
        }
        let scheme = Scheme::from_tag(wire.scheme).ok_or(Error::Malformed("message: unknown scheme"))?;
        let from = PartyIndex::new(wire.from).map_err(|_| Error::Malformed("message: sender index"))?;
        let to = match wire.to {
            0 => Recipient::Broadcast,
            i => Recipient::One(PartyIndex::new(i).map_err(|_| Error::Malformed("message: recipient index"))?),
        };
        if wire.round == 0 {
            return Err(Error::Malformed("message: round 0"));
        }
        let message = Message {
            ceremony: CeremonyId(wire.ceremony),
            scheme,
            round: wire.round,
            from,
            to,
            payload: wire.payload.to_vec(),
        };
        // postcard accepts overlong varints; one message must have exactly one encoding so
        // that nothing downstream can be fooled by two byte strings for the same message.
        if message.encode() != bytes {
            return Err(Error::Malformed("message: non-canonical encoding"));
        }
        Ok(message)
    }
}

impl std::fmt::Debug for Message {
    // The payload may hold secret fragments: show only its length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("scheme", &self.scheme)
            .field("round", &self.round)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn sample() -> Message {
        Message {
            ceremony: CeremonyId([7; 32]),
            scheme: Scheme::Ed25519,
            round: 2,
            from: PartyIndex::new(1).unwrap(),
            to: Recipient::One(PartyIndex::new(2).unwrap()),
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        let b = m.readdressed(Recipient::Broadcast);
        assert_eq!(Message::decode(&b.encode()).unwrap(), b);
    }

    /// Freezes the wire format (version 1): a change here breaks every deployed party.
    #[test]
    fn encoding_is_frozen() {
        let bytes = sample().encode();
        let expected = [
            "01",                                                               // version
            "02",                                                               // scheme: ed25519
            "0707070707070707070707070707070707070707070707070707070707070707", // ceremony id
            "02",                                                               // round
            "01",                                                               // from (varint)
            "02",                                                               // to (varint; 0 = broadcast)
            "03010203",                                                         // payload length, bytes
        ]
        .concat();
        assert_eq!(hex(&bytes), expected);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Message::decode(&bytes[..len]).is_err(), "prefix {len} accepted");
        }
    }

    #[test]
    fn malformed_inputs_give_typed_errors() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(Message::decode(&bytes), Err(Error::Malformed("message: trailing bytes")));

        let mut bytes = sample().encode();
        bytes[0] = 9;
        assert_eq!(Message::decode(&bytes), Err(Error::UnsupportedVersion { what: "message", version: 9 }));

        let mut bytes = sample().encode();
        bytes[1] = 77;
        assert_eq!(Message::decode(&bytes), Err(Error::Malformed("message: unknown scheme")));

        let huge = vec![1u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(Message::decode(&huge), Err(Error::TooLarge { .. })));

        // An overlong varint for the sender (0x81 0x00 instead of 0x01), found by fuzzing.
        let canonical = sample().encode();
        let mut overlong = canonical[..35].to_vec();
        overlong.extend_from_slice(&[0x81, 0x00]);
        overlong.extend_from_slice(&canonical[36..]);
        assert_eq!(Message::decode(&overlong), Err(Error::Malformed("message: non-canonical encoding")));

        // A payload length that claims more bytes than are present.
        let mut bytes = sample().encode();
        let len_at = bytes.len() - 4;
        bytes[len_at] = 0x7f;
        assert!(Message::decode(&bytes).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decode_of_encode_is_identity(round in 1u8.., from in 1u16..=255, to in 0u16..=255,
                                         payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let m = Message {
                ceremony: CeremonyId([3; 32]),
                scheme: Scheme::Bip340,
                round,
                from: PartyIndex::new(from).unwrap(),
                to: if to == 0 { Recipient::Broadcast } else { Recipient::One(PartyIndex::new(to).unwrap()) },
                payload,
            };
            proptest::prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }
}
