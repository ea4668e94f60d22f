//! The EPS's HTTP schema, shared by the service and [`crate::EpsClient`]. JSON bodies,
//! binary fields as lowercase hex of a fixed length, unknown fields refused.
//!
//! Every route needs `Authorization: Bearer <JWT>` except `GET /v1/health` and
//! `GET /v1/key`. Records are per account (the token's issuer and subject): another
//! account's wallet ids and registrations are 404.
//!
//! | route | body → answer |
//! |---|---|
//! | `GET /v1/key` | → [`KeyResponse`] |
//! | `POST /v1/wallets/{wallet}/registrations` | [`BlindedRequest`] → 201 [`RegisterResponse`] (a new registration and its first evaluation, not counted) |
//! | `PUT /v1/wallets/{wallet}/registrations/{id}/verifier` | [`VerifierRequest`] → 204 (once; the same again is 204, another 409) |
//! | `POST /v1/wallets/{wallet}/registrations/{id}/evaluate` | [`BlindedRequest`] → [`EvaluateResponse`] (counted; 423 when locked) |
//! | `POST /v1/wallets/{wallet}/registrations/{id}/confirm` | [`VerifierRequest`] → [`ConfirmResponse`] (resets the count; 403 for a wrong verifier) |
//! | `POST /v1/wallets/{wallet}/registrations/{id}/activate` | [`VerifierRequest`] → [`ConfirmResponse`] (keeps this registration, deletes the wallet's others) |
//! | `GET /v1/wallets/{wallet}` | → [`StatusResponse`] |
//!
//! Errors are `{"error": code, "message": text, "attempts_left"?: n}` with codes
//! `unauthorized` 401, `bad_request` 400, `wrong_verifier` 403, `not_found` 404, `conflict`
//! 409, `locked` 423, `rate_limited` 429, `internal` 500.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest request body the EPS reads.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;
/// Largest response body a client reads.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Fixed-length bytes as lowercase hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<const N: usize> std::fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; N];
        if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(D::Error::custom(format_args!("expected {} lowercase hex digits", 2 * N)));
        }
        hex::decode_to_slice(text.as_bytes(), &mut out)
            .map_err(|_| D::Error::custom(format_args!("expected {} lowercase hex digits", 2 * N)))?;
        Ok(Hex(out))
    }
}

/// `GET /v1/key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyResponse {
    /// The POPRF public key (ristretto255).
    pub public_key: Hex<32>,
    /// `"poprf-ristretto255-sha512"`.
    pub suite: String,
}

/// The suite name [`KeyResponse::suite`] carries.
pub const SUITE: &str = "poprf-ristretto255-sha512";

/// A blinded OPRF input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindedRequest {
    /// The blinded element.
    pub blinded: Hex<32>,
}

/// A verifier tag (derived from K, see [`crate::kdf`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierRequest {
    /// The verifier.
    pub verifier: Hex<32>,
}

impl std::fmt::Debug for VerifierRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifierRequest(<redacted>)")
    }
}

/// `POST …/registrations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResponse {
    /// The new registration's id.
    pub registration: Hex<16>,
    /// The account's issuer, as the EPS verified it (bound into the POPRF info).
    pub issuer: String,
    /// The account's subject.
    pub subject: String,
    /// The evaluated element.
    pub evaluation: Hex<32>,
    /// The evaluation proof.
    pub proof: Hex<64>,
    /// The EPS's public key.
    pub public_key: Hex<32>,
}

/// `POST …/evaluate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateResponse {
    /// The evaluated element.
    pub evaluation: Hex<32>,
    /// The evaluation proof.
    pub proof: Hex<64>,
    /// Further unconfirmed evaluations allowed before the registration locks.
    pub attempts_left: u32,
}

/// `POST …/confirm` and `…/activate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResponse {
    /// Evaluations allowed from now on (the full budget).
    pub attempts_left: u32,
}

/// One registration in [`StatusResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationStatus {
    /// Its id.
    pub registration: Hex<16>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Kept by the last activation.
    pub active: bool,
    /// Its verifier is registered (so it can be evaluated).
    pub verifier_set: bool,
    /// Unconfirmed evaluations so far.
    pub failures: u32,
    /// Evaluations left before it locks.
    pub attempts_left: u32,
    /// Locked: evaluations are refused until an operator unlocks it.
    pub locked: bool,
}

/// `GET /v1/wallets/{wallet}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusResponse {
    /// The wallet.
    pub wallet_id: String,
    /// Unconfirmed evaluations a registration allows.
    pub max_attempts: u32,
    /// Its registrations, oldest first.
    pub registrations: Vec<RegistrationStatus>,
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: String,
    /// What failed and what to do.
    pub message: String,
    /// For `wrong_verifier` and `locked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

/// Why a body was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// Decodes a JSON body: bounded, one document, unknown fields refused.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(BodyError(format!("body larger than {MAX_REQUEST_BYTES} bytes")));
    }
    serde_json::from_slice(body).map_err(|e| BodyError(format!("invalid JSON body: {e}")))
}

/// Decodes a registration id from a path segment (32 lowercase hex digits).
pub fn parse_registration(segment: &str) -> Result<[u8; 16], BodyError> {
    let mut out = [0u8; 16];
    if segment.len() != 32 || segment.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(BodyError("registration id must be 32 lowercase hex digits".into()));
    }
    hex::decode_to_slice(segment, &mut out)
        .map_err(|_| BodyError("registration id must be 32 lowercase hex digits".into()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn malformed_bodies_are_refused() {
        let good = format!(r#"{{"blinded":"{}"}}"#, "ab".repeat(32));
        assert_eq!(parse::<BlindedRequest>(good.as_bytes()).unwrap().blinded.0, [0xab; 32]);
        for bad in [
            String::new(),
            "{}".into(),
            format!(r#"{{"blinded":"{}"}}"#, "ab".repeat(31)),
            format!(r#"{{"blinded":"{}"}}"#, "AB".repeat(32)),
            format!(r#"{{"blinded":"{}","x":1}}"#, "ab".repeat(32)),
            format!(r#"{{"blinded":"{}"}} {{}}"#, "ab".repeat(32)),
            format!(r#"{{"blinded":"{}"}}"#, "zz".repeat(32)),
            format!(r#"{{"blinded":"{}"}}"#, "a".repeat(MAX_REQUEST_BYTES)),
        ] {
            assert!(parse::<BlindedRequest>(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse_registration(&"0f".repeat(16)).is_ok());
        for bad in ["", "0F0F", &"0F".repeat(16), &"0g".repeat(16)] {
            assert!(parse_registration(bad).is_err(), "{bad}");
        }
    }
}
