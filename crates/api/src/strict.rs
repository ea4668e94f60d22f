//! Strict postcard decoding for bytes from outside: one value, nothing after it, and the one
//! encoding of that value (postcard alone accepts over-long varints, so two byte strings
//! could mean the same document or request).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes did not decode strictly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrictError {
    /// The bytes do not decode as the expected type.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The value decodes but bytes follow it.
    #[error("trailing bytes after the {0}")]
    TrailingBytes(&'static str),
    /// The value decodes but is not the canonical encoding of itself.
    #[error("non-canonical encoding of the {0}")]
    NonCanonical(&'static str),
}

/// Decodes one value strictly; `what` names it in errors.
pub fn decode_strict<T: Serialize + DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, StrictError> {
    let (value, rest): (T, &[u8]) = postcard::take_from_bytes(bytes).map_err(|_| StrictError::Malformed(what))?;
    if !rest.is_empty() {
        return Err(StrictError::TrailingBytes(what));
    }
    // A value that decoded but cannot encode again is not one we could have written.
    let again = postcard::to_stdvec(&value).map_err(|_| StrictError::NonCanonical(what))?;
    if again != bytes {
        return Err(StrictError::NonCanonical(what));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_trailing_and_overlong() {
        let bytes = postcard::to_stdvec(&300u32).unwrap();
        assert_eq!(decode_strict::<u32>(&bytes, "n"), Ok(300));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_strict::<u32>(&trailing, "n"), Err(StrictError::TrailingBytes("n")));
        // 5 as a two-byte varint (0x85 0x00) instead of one byte.
        assert_eq!(decode_strict::<u32>(&[0x85, 0x00], "n"), Err(StrictError::NonCanonical("n")));
        assert_eq!(decode_strict::<u32>(&[], "n"), Err(StrictError::Malformed("n")));
    }
}
