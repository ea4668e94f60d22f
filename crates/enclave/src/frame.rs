//! Host ↔ enclave framing, with no I/O in the parsing half (mini-redis `frame.rs` style).
//!
//! A frame is `length: u32 big-endian ‖ payload`, the payload `version: u8 ‖ postcard
//! value`. The length is checked against [`MAX_FRAME_BYTES`] before anything is allocated,
//! decoding is strict (known version only, no trailing bytes, and the value must re-encode
//! to the same bytes, so postcard's over-long varints are refused) and never panics: the
//! enclave treats every byte from the host as hostile, and the host every byte from the
//! enclave's socket.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tssw_api::StrictError;

/// The wire version this build speaks; no other is accepted.
pub const WIRE_VERSION: u8 = 1;

/// Largest payload. A 2-of-3 DKLs23 share seals to ≈ 120 KB and a PSBT may be 512 KiB, so
/// 4 MiB leaves room without letting one request pin much memory.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

const LEN_BYTES: usize = 4;

/// A complete frame's payload and the bytes after it.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// Why bytes on the socket were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The announced or actual payload is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A zero-length frame.
    #[error("empty frame")]
    Empty,
    /// A wire version this build does not speak.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// The payload does not decode as the expected type.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The payload decodes but has bytes after the value.
    #[error("trailing bytes after the {0}")]
    TrailingBytes(&'static str),
    /// The payload decodes but is not the canonical encoding of its value.
    #[error("non-canonical encoding of the {0}")]
    NonCanonical(&'static str),
    /// The value does not encode (a bug, or a value over a bound).
    #[error("cannot encode the {0}")]
    Encode(&'static str),
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame")]
    Truncated,
    /// Reading or writing the socket failed.
    #[error("socket: {0}")]
    Io(std::io::ErrorKind),
}

/// Encodes `value` as a payload: `version ‖ postcard`.
pub fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, WireError> {
    let mut out = vec![WIRE_VERSION];
    let body = postcard::to_stdvec(value).map_err(|_| WireError::Encode(what))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge { len: out.len(), max: MAX_FRAME_BYTES });
    }
    Ok(out)
}

/// Decodes a payload strictly (see the module docs).
pub fn decode<T: Serialize + DeserializeOwned>(payload: &[u8], what: &'static str) -> Result<T, WireError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge { len: payload.len(), max: MAX_FRAME_BYTES });
    }
    let (&version, body) = payload.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    strict(body, what)
}

/// One postcard value, nothing after it, and the one encoding of that value.
pub(crate) fn strict<T: Serialize + DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, WireError> {
    tssw_api::decode_strict(bytes, what).map_err(|e| match e {
        StrictError::TrailingBytes(w) => WireError::TrailingBytes(w),
        StrictError::NonCanonical(w) => WireError::NonCanonical(w),
        _ => WireError::Malformed(what),
    })
}

/// Prepends the length to a payload.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, WireError> {
    let len = check_len(payload.len())?;
    let mut out = Vec::with_capacity(LEN_BYTES + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits the first complete frame off `buf`: `Ok(None)` when more bytes are needed,
/// `Ok(Some((payload, rest)))` when one is complete. An oversized or empty length is an
/// error as soon as its four bytes are there.
pub fn split_frame(buf: &[u8]) -> Result<Option<Split<'_>>, WireError> {
    let Some((len, rest)) = buf.split_first_chunk::<LEN_BYTES>() else { return Ok(None) };
    let len = announced(*len)?;
    Ok(rest.split_at_checked(len))
}

fn announced(len: [u8; LEN_BYTES]) -> Result<usize, WireError> {
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    check_len(len)?;
    Ok(len)
}

fn check_len(len: usize) -> Result<u32, WireError> {
    if len == 0 {
        return Err(WireError::Empty);
    }
    if len > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge { len, max: MAX_FRAME_BYTES });
    }
    u32::try_from(len).map_err(|_| WireError::TooLarge { len, max: MAX_FRAME_BYTES })
}

/// Reads one frame's payload. `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, WireError> {
    let mut len = [0u8; LEN_BYTES];
    let mut got = 0;
    while got < LEN_BYTES {
        let n = r.read(len.get_mut(got..).unwrap_or_default()).await.map_err(|e| WireError::Io(e.kind()))?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(WireError::Truncated) };
        }
        got += n;
    }
    // The bound is checked before the buffer exists.
    let len = announced(len)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WireError::Truncated,
        kind => WireError::Io(kind),
    })?;
    Ok(Some(payload))
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> Result<(), WireError> {
    let bytes = frame(payload)?;
    w.write_all(&bytes).await.map_err(|e| WireError::Io(e.kind()))?;
    w.flush().await.map_err(|e| WireError::Io(e.kind()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn split() {
        let f = frame(b"abc").unwrap();
        assert_eq!(f, [0, 0, 0, 3, b'a', b'b', b'c']);
        for cut in 0..f.len() {
            assert_eq!(split_frame(&f[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut two = f.clone();
        two.extend_from_slice(&f);
        let (p, rest) = split_frame(&two).unwrap().unwrap();
        assert_eq!((p, rest), (&b"abc"[..], &f[..]));
        assert_eq!(split_frame(&[0, 0, 0, 0]), Err(WireError::Empty));
        assert_eq!(
            split_frame(&[0, 0x40, 0, 1]),
            Err(WireError::TooLarge { len: MAX_FRAME_BYTES + 1, max: MAX_FRAME_BYTES })
        );
        assert!(matches!(split_frame(&[0xff; 4]), Err(WireError::TooLarge { .. })));
        assert!(frame(&[]).is_err());
    }

    #[test]
    fn strict_decoding() {
        let ok = encode(&(7u32, 300u32), "pair").unwrap();
        assert_eq!(decode::<(u32, u32)>(&ok, "pair").unwrap(), (7, 300));
        assert_eq!(decode::<(u32, u32)>(&[], "pair"), Err(WireError::Empty));
        let mut v2 = ok.clone();
        v2[0] = 2;
        assert_eq!(decode::<(u32, u32)>(&v2, "pair"), Err(WireError::UnsupportedVersion(2)));
        let mut trailing = ok.clone();
        trailing.push(0);
        assert_eq!(decode::<(u32, u32)>(&trailing, "pair"), Err(WireError::TrailingBytes("pair")));
        // 7 as an over-long varint (0x87 0x00) decodes to the same value: refused.
        let mut long = vec![WIRE_VERSION, 0x87, 0x00];
        long.extend_from_slice(&ok[2..]);
        assert_eq!(decode::<(u32, u32)>(&long, "pair"), Err(WireError::NonCanonical("pair")));
        for cut in 0..ok.len() {
            assert!(decode::<(u32, u32)>(&ok[..cut], "pair").is_err());
        }
        assert!(matches!(decode::<Vec<u8>>(&vec![1u8; MAX_FRAME_BYTES + 1], "big"), Err(WireError::TooLarge { .. })));
    }

    #[tokio::test]
    async fn read_and_write() {
        let (mut a, mut b) = tokio::io::duplex(64);
        write_frame(&mut a, b"hello").await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap().unwrap(), b"hello");
        // An oversized announcement fails before the payload is read (or allocated).
        a.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
        assert!(matches!(read_frame(&mut b).await, Err(WireError::TooLarge { .. })));
        // Truncated inside the length, then a clean end.
        a.write_all(&[0, 0]).await.unwrap();
        drop(a);
        assert_eq!(read_frame(&mut b).await, Err(WireError::Truncated));
        let (a, mut b) = tokio::io::duplex(64);
        drop(a);
        assert_eq!(read_frame(&mut b).await, Ok(None));
        // Truncated inside the payload.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0, 0, 9, 1, 2]).await.unwrap();
        drop(a);
        assert_eq!(read_frame(&mut b).await, Err(WireError::Truncated));
    }
}
