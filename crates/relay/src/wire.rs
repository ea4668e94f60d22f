//! The relay's own messages on the WebSocket (binary messages only), pure and I/O-free.
//!
//! - client → relay: `0x00 ‖ frame` (send a channel frame) or `0x01 ‖ seq: u64 BE`
//!   (acknowledge every frame up to `seq`).
//! - relay → client: `seq: u64 BE ‖ frame` (a delivery), `seq` strictly increasing per
//!   mailbox from 1; or `0: u64 ‖ count: u64 BE` (a receipt: the relay has stored the
//!   first `count` frames this connection sent, so the client can forget them).

/// Tag of a client message carrying a frame.
pub const TAG_FRAME: u8 = 0x00;
/// Tag of a client acknowledgement.
pub const TAG_ACK: u8 = 0x01;

/// A decoded client message.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// A channel frame to route (still undecoded).
    Frame(&'a [u8]),
    /// Every delivered frame up to this sequence number was received.
    Ack(u64),
}

/// Why a client or relay message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Empty message.
    #[error("empty message")]
    Empty,
    /// Unknown tag byte.
    #[error("unknown message tag {0:#04x}")]
    UnknownTag(u8),
    /// An ack that is not exactly 9 bytes.
    #[error("malformed ack")]
    BadAck,
    /// A delivery shorter than its sequence number.
    #[error("malformed delivery")]
    BadDelivery,
    /// Longer than the configured bound.
    #[error("message of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
}

/// Decodes a client message of at most `max_frame_bytes + 1` bytes.
pub fn decode_client(bytes: &[u8], max_frame_bytes: usize) -> Result<ClientMessage<'_>, WireError> {
    let max = max_frame_bytes.saturating_add(1);
    if bytes.len() > max {
        return Err(WireError::TooLarge { len: bytes.len(), max });
    }
    match bytes.split_first() {
        None => Err(WireError::Empty),
        Some((&TAG_FRAME, frame)) => Ok(ClientMessage::Frame(frame)),
        Some((&TAG_ACK, seq)) => {
            let seq: [u8; 8] = seq.try_into().map_err(|_| WireError::BadAck)?;
            Ok(ClientMessage::Ack(u64::from_be_bytes(seq)))
        }
        Some((&tag, _)) => Err(WireError::UnknownTag(tag)),
    }
}

/// Encodes a frame message.
pub fn encode_frame(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 1);
    out.push(TAG_FRAME);
    out.extend_from_slice(frame);
    out
}

/// Encodes an ack.
pub fn encode_ack(seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(TAG_ACK);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Encodes a delivery.
pub fn encode_delivery(seq: u64, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 8);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(frame);
    out
}

/// Decodes a delivery (client side) into `(seq, frame)`.
pub fn decode_delivery(bytes: &[u8]) -> Result<(u64, &[u8]), WireError> {
    let (seq, frame) = bytes.split_first_chunk::<8>().ok_or(WireError::BadDelivery)?;
    Ok((u64::from_be_bytes(*seq), frame))
}

/// Encodes a receipt for the first `count` frames of a connection.
pub fn encode_receipt(count: u64) -> Vec<u8> {
    encode_delivery(0, &count.to_be_bytes())
}

/// A message from the relay, decoded (client side).
#[derive(Debug, PartialEq, Eq)]
pub enum RelayMessage<'a> {
    /// A frame for this party, with its mailbox sequence number (≥ 1).
    Delivery(u64, &'a [u8]),
    /// The relay stored the first `count` frames this connection sent.
    Receipt(u64),
}

/// Decodes a relay message.
pub fn decode_relay(bytes: &[u8]) -> Result<RelayMessage<'_>, WireError> {
    match decode_delivery(bytes)? {
        (0, count) => {
            let count: [u8; 8] = count.try_into().map_err(|_| WireError::BadDelivery)?;
            Ok(RelayMessage::Receipt(u64::from_be_bytes(count)))
        }
        (seq, frame) => Ok(RelayMessage::Delivery(seq, frame)),
    }
}

/// Parses the `resume_from` query parameter out of a raw query string (bounded; any other
/// parameter is an error, so typos do not silently resend everything).
pub fn parse_resume_from(query: Option<&str>) -> Result<u64, WireError> {
    const MAX_QUERY: usize = 64;
    let Some(query) = query.filter(|q| !q.is_empty()) else { return Ok(0) };
    if query.len() > MAX_QUERY {
        return Err(WireError::TooLarge { len: query.len(), max: MAX_QUERY });
    }
    let value = query.strip_prefix("resume_from=").ok_or(WireError::BadDelivery)?;
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::BadDelivery);
    }
    value.parse().map_err(|_| WireError::BadDelivery)
}

/// The WebSocket subprotocol a browser asks for. Browsers cannot set `Authorization` on a
/// WebSocket, so they send the token as a second offered subprotocol,
/// [`BEARER_PROTOCOL_PREFIX`]`‖ token` (base64url is valid subprotocol syntax), and the
/// relay answers with this one, never echoing the token.
pub const SUBPROTOCOL: &str = "tssw.relay.v1";

/// Prefix of the offered subprotocol that carries the relay token.
pub const BEARER_PROTOCOL_PREFIX: &str = "tssw.bearer.";

/// The token in a `Sec-WebSocket-Protocol` header value (a comma-separated list), if one is
/// offered.
pub fn bearer_from_protocols(header: &str) -> Option<&str> {
    header.split(',').map(str::trim).find_map(|p| p.strip_prefix(BEARER_PROTOCOL_PREFIX)).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        assert_eq!(decode_client(&encode_ack(7), 10).unwrap(), ClientMessage::Ack(7));
        assert_eq!(decode_client(&encode_frame(b"abc"), 10).unwrap(), ClientMessage::Frame(b"abc"));
        assert_eq!(decode_client(&[], 10), Err(WireError::Empty));
        assert_eq!(decode_client(&[1, 2], 10), Err(WireError::BadAck));
        assert_eq!(decode_client(&[9], 10), Err(WireError::UnknownTag(9)));
        assert!(matches!(decode_client(&[0; 12], 10), Err(WireError::TooLarge { .. })));
        assert_eq!(decode_delivery(&encode_delivery(5, b"x")).unwrap(), (5, &b"x"[..]));
        assert!(decode_delivery(&[1; 7]).is_err());
        assert_eq!(decode_relay(&encode_receipt(3)).unwrap(), RelayMessage::Receipt(3));
        assert_eq!(decode_relay(&encode_delivery(2, b"f")).unwrap(), RelayMessage::Delivery(2, b"f"));
        assert!(decode_relay(&[0; 12]).is_err());
        assert_eq!(parse_resume_from(None).unwrap(), 0);
        assert_eq!(parse_resume_from(Some("resume_from=42")).unwrap(), 42);
        assert!(parse_resume_from(Some("resume_from=-1")).is_err());
        assert!(parse_resume_from(Some("resume_from=99999999999999999999")).is_err());
        assert!(parse_resume_from(Some("x=1")).is_err());
    }

    #[test]
    fn token_from_offered_subprotocols() {
        assert_eq!(bearer_from_protocols("tssw.relay.v1, tssw.bearer.abc-_1"), Some("abc-_1"));
        assert_eq!(bearer_from_protocols("tssw.bearer.x"), Some("x"));
        assert_eq!(bearer_from_protocols("tssw.relay.v1"), None);
        assert_eq!(bearer_from_protocols("tssw.relay.v1, tssw.bearer."), None);
        assert_eq!(bearer_from_protocols(""), None);
    }
}
