//! Relay tokens: what the wallet server gives a party so the relay lets it into one
//! ceremony as one party. `base64url(postcard(Claims) ‖ Ed25519 signature)`, the signature
//! over a domain tag and the claim bytes, by a key the relay trusts.
//!
//! Decoding is bounded before anything is parsed, strict (one encoding per token) and
//! never panics: the bytes come from anyone who can open a socket.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Longest accepted `account` in the claims, in bytes.
pub const MAX_ACCOUNT_BYTES: usize = 64;

/// Longest accepted token text (base64url), in characters. Larger tokens are rejected
/// before decoding.
pub const MAX_TOKEN_CHARS: usize = 256;

const SIGNATURE_BYTES: usize = 64;
const DOMAIN: &[u8] = b"tssw/relay/v1/token\0";

/// What a token grants: one party of one ceremony, for one account, until `expires_at`
/// (seconds, the relay's clock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The ceremony id.
    pub ceremony: [u8; 32],
    /// The party index in the ceremony (1-based).
    pub party: u16,
    /// The account the ceremony belongs to (at most [`MAX_ACCOUNT_BYTES`]).
    pub account: String,
    /// Expiry, in seconds since the Unix epoch; the token is invalid from this second on.
    pub expires_at: u64,
}

/// Why a token was refused. Everything but [`TokenError::Missing`] means "present but
/// not acceptable"; the server maps all of them to 401.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Longer than [`MAX_TOKEN_CHARS`].
    #[error("token too long ({0} characters)")]
    TooLong(usize),
    /// Not base64url without padding.
    #[error("token is not base64url")]
    Base64,
    /// Too short to hold a signature, or claims that do not parse strictly.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The signature does not verify under the trusted issuer key.
    #[error("bad token signature")]
    Signature,
    /// Expired.
    #[error("token expired")]
    Expired,
    /// Claims the issuer should never sign (account too long; issuing side only).
    #[error("invalid claims: {0}")]
    InvalidClaims(&'static str),
}

/// An encoded, signed token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A bearer credential: never in logs.
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Signs `claims` (wallet server side, and tests).
    pub fn issue(key: &SigningKey, claims: &Claims) -> Result<Token, TokenError> {
        if claims.account.len() > MAX_ACCOUNT_BYTES {
            return Err(TokenError::InvalidClaims("account too long"));
        }
        let mut bytes = postcard::to_stdvec(claims).map_err(|_| TokenError::InvalidClaims("encode"))?;
        let signature = key.sign(&signed_message(&bytes));
        bytes.extend_from_slice(&signature.to_bytes());
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        if text.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::InvalidClaims("token too long"));
        }
        Ok(Token(text))
    }

    /// Signs arbitrary claim bytes (fuzzing: reach the claims parser behind the
    /// signature check). Never issue such tokens for real.
    #[doc(hidden)]
    pub fn issue_raw(key: &SigningKey, claim_bytes: &[u8]) -> Token {
        let mut bytes = claim_bytes.to_vec();
        bytes.extend_from_slice(&key.sign(&signed_message(claim_bytes)).to_bytes());
        Token(URL_SAFE_NO_PAD.encode(&bytes))
    }

    /// Wraps token text as received (not checked yet).
    pub fn from_text(text: impl Into<String>) -> Token {
        Token(text.into())
    }

    /// The text to put after `Bearer `.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decodes and verifies `text` against `issuer`, and checks expiry against `now`.
    pub fn verify(text: &str, issuer: &VerifyingKey, now: u64) -> Result<Claims, TokenError> {
        if text.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::TooLong(text.len()));
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| TokenError::Base64)?;
        let split = bytes.len().checked_sub(SIGNATURE_BYTES).ok_or(TokenError::Malformed("too short"))?;
        let (claim_bytes, sig_bytes) = bytes.split_at(split);
        let sig_bytes: [u8; SIGNATURE_BYTES] = sig_bytes.try_into().map_err(|_| TokenError::Malformed("signature"))?;
        issuer
            .verify_strict(&signed_message(claim_bytes), &Signature::from_bytes(&sig_bytes))
            .map_err(|_| TokenError::Signature)?;
        let (claims, rest): (Claims, &[u8]) =
            postcard::take_from_bytes(claim_bytes).map_err(|_| TokenError::Malformed("claims"))?;
        if !rest.is_empty() {
            return Err(TokenError::Malformed("trailing bytes"));
        }
        if claims.account.len() > MAX_ACCOUNT_BYTES {
            return Err(TokenError::Malformed("account too long"));
        }
        // postcard accepts over-long varints; one set of claims has one encoding.
        if postcard::to_stdvec(&claims).ok().as_deref() != Some(claim_bytes) {
            return Err(TokenError::Malformed("non-canonical claims"));
        }
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

fn signed_message(claims: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + claims.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(claims);
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims() -> Claims {
        Claims { ceremony: [3; 32], party: 2, account: "a".repeat(MAX_ACCOUNT_BYTES), expires_at: 100 }
    }

    #[test]
    fn issue_verify_and_reject() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let token = Token::issue(&key, &claims()).unwrap();
        assert_eq!(Token::verify(token.as_str(), &key.verifying_key(), 99).unwrap(), claims());
        assert_eq!(Token::verify(token.as_str(), &key.verifying_key(), 100), Err(TokenError::Expired));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(Token::verify(token.as_str(), &other, 0), Err(TokenError::Signature));
        assert_eq!(Token::verify("", &other, 0), Err(TokenError::Malformed("too short")));
        assert_eq!(Token::verify("@@", &other, 0), Err(TokenError::Base64));
        assert!(matches!(Token::verify(&"A".repeat(MAX_TOKEN_CHARS + 1), &other, 0), Err(TokenError::TooLong(_))));
        let long = Claims { account: "a".repeat(MAX_ACCOUNT_BYTES + 1), ..claims() };
        assert!(Token::issue(&key, &long).is_err());
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
