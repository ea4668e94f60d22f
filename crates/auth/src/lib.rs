//! Authentication: JWTs from configured identity providers (issuer, audience, JWKS), EdDSA
//! or ES256 only, plus a built-in dev issuer for the embedded default.
//!
//! The key is chosen by the token's `kid` among the configured keys, and the token must
//! then name that key's issuer and audience: a key of issuer A never vouches for a token
//! that claims issuer B. `alg: none`, HS*/RS* and anything else outside the allow-list are
//! refused before any key is looked at.
//!
//! The wallet server and the encryption proxy each verify tokens themselves with this.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Largest JWK set read from a file or a provider's URL.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Longest accepted bearer token.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Seconds of clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECS: u64 = 30;

/// The dev issuer's `iss`.
pub const DEV_ISSUER: &str = "tssw-dev";
/// The audience every token for this server must carry by default.
pub const DEFAULT_AUDIENCE: &str = "tssw";

/// Why a request is not authenticated (every variant is a 401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token: send `Authorization: Bearer <JWT>`")]
    Missing,
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token too long")]
    TooLong,
    /// Not a JWT.
    #[error("malformed token")]
    Malformed,
    /// `alg` outside EdDSA/ES256 (including `none`).
    #[error("token algorithm not allowed (EdDSA or ES256 only)")]
    Algorithm,
    /// No configured key has the token's `kid`.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad token signature")]
    Signature,
    /// `iss` is not the key's issuer.
    #[error("wrong token issuer")]
    Issuer,
    /// `aud` is not this server's audience.
    #[error("wrong token audience")]
    Audience,
    /// Expired (or not yet valid).
    #[error("token expired or not yet valid")]
    Expired,
    /// A required claim is missing or malformed.
    #[error("token claims invalid: {0}")]
    Claims(String),
}

/// One trusted identity provider.
#[derive(Clone)]
pub struct IssuerConfig {
    /// Its `iss`.
    pub issuer: String,
    /// The `aud` its tokens must carry for this server.
    pub audience: String,
    /// Its public keys.
    pub keys: JwkSet,
}

impl IssuerConfig {
    /// Reads a JWKS file (the provider's `/.well-known/jwks.json`, downloaded).
    pub fn from_jwks_file(issuer: &str, audience: &str, path: &Path) -> Result<IssuerConfig, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read JWKS {}: {e}", path.display()))?;
        IssuerConfig::from_jwks_json(issuer, audience, &bytes).map_err(|e| format!("JWKS {}: {e}", path.display()))
    }

    /// Parses a JWK set (a provider's `/.well-known/jwks.json` body), at most
    /// [`MAX_JWKS_BYTES`].
    pub fn from_jwks_json(issuer: &str, audience: &str, json: &[u8]) -> Result<IssuerConfig, String> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(format!("a {}-byte JWK set, over the {MAX_JWKS_BYTES}-byte limit", json.len()));
        }
        let keys: JwkSet = serde_json::from_slice(json).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(IssuerConfig { issuer: issuer.into(), audience: audience.into(), keys })
    }
}

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// Verifies bearer tokens against the configured issuers. Clones share the issuers, so a
/// task that re-fetches a provider's JWKS rotates the keys every clone verifies with.
#[derive(Clone)]
pub struct Authenticator {
    issuers: Arc<RwLock<Vec<IssuerConfig>>>,
}

impl Authenticator {
    /// Trusts these issuers.
    pub fn new(issuers: Vec<IssuerConfig>) -> Authenticator {
        Authenticator { issuers: Arc::new(RwLock::new(issuers)) }
    }

    /// The trusted issuers' names.
    pub fn issuer_names(&self) -> Vec<String> {
        self.issuers.read().unwrap_or_else(PoisonError::into_inner).iter().map(|i| i.issuer.clone()).collect()
    }

    /// Replaces the keys of `issuer` (a rotation at the provider); false when no such
    /// issuer is trusted.
    pub fn replace_keys(&self, issuer: &str, keys: JwkSet) -> bool {
        let mut issuers = self.issuers.write().unwrap_or_else(PoisonError::into_inner);
        match issuers.iter_mut().find(|i| i.issuer == issuer) {
            Some(i) => {
                i.keys = keys;
                true
            }
            None => false,
        }
    }

    /// Verifies `token` (the text after `Bearer `).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLong);
        }
        // The algorithm is checked on the raw header first: names the JWT library does not
        // know (`none`) would otherwise come back as a generic parse error.
        let raw = token.split('.').next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok()).ok_or(AuthError::Malformed)?;
        #[derive(Deserialize)]
        struct Alg {
            alg: String,
        }
        let alg: Alg = serde_json::from_slice(&raw).map_err(|_| AuthError::Malformed)?;
        if alg.alg != "EdDSA" && alg.alg != "ES256" {
            return Err(AuthError::Algorithm);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256) {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let (key, issuer, audience) = {
            let issuers = self.issuers.read().unwrap_or_else(PoisonError::into_inner);
            let (issuer, jwk) =
                issuers.iter().find_map(|i| i.keys.find(kid).map(|k| (i, k))).ok_or(AuthError::UnknownKey)?;
            let key = DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey)?;
            (key, issuer.issuer.clone(), issuer.audience.clone())
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::InvalidIssuer => AuthError::Issuer,
            ErrorKind::InvalidAudience => AuthError::Audience,
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::Algorithm,
            ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => AuthError::Claims(c.clone()),
            _ => AuthError::Malformed,
        })?;
        if data.claims.sub.is_empty() || data.claims.sub.len() > 255 {
            return Err(AuthError::Claims("sub".into()));
        }
        Ok(Principal { issuer: data.claims.iss, subject: data.claims.sub })
    }
}

/// The built-in issuer of the embedded default (`tssw dev`): an Ed25519 key in the data dir
/// that mints tokens for any subject. Trust it only on a developer machine.
pub struct DevIssuer {
    seed: [u8; 32],
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevIssuer(<redacted>)")
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        // A plain array: overwrite it (zeroize would be one more dependency here).
        self.seed = [0; 32];
    }
}

const DEV_KID: &str = "tssw-dev-1";

impl DevIssuer {
    /// A dev issuer with this key seed.
    pub fn from_seed(seed: [u8; 32]) -> DevIssuer {
        DevIssuer { seed }
    }

    /// A new random dev issuer.
    pub fn random() -> DevIssuer {
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        DevIssuer { seed }
    }

    /// Its issuer configuration (audience [`DEFAULT_AUDIENCE`]).
    pub fn config(&self) -> IssuerConfig {
        let public = ed25519_dalek::SigningKey::from_bytes(&self.seed).verifying_key();
        let jwks = serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": DEV_KID,
            "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
        }]});
        // A literal of the JWK set's own shape: it always parses.
        let keys = serde_json::from_value(jwks).unwrap_or(JwkSet { keys: Vec::new() });
        IssuerConfig { issuer: DEV_ISSUER.into(), audience: DEFAULT_AUDIENCE.into(), keys }
    }

    /// A token for `subject`, valid for `ttl_secs` from `now`.
    pub fn mint(&self, subject: &str, now: u64, ttl_secs: u64) -> Result<String, AuthError> {
        // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410 §7): a fixed 16-byte prefix.
        const PKCS8_PREFIX: [u8; 16] =
            [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&self.seed);
        let key = EncodingKey::from_ed_der(&der);
        der.fill(0);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(DEV_KID.into());
        let claims = Claims {
            iss: DEV_ISSUER.into(),
            sub: subject.into(),
            aud: DEFAULT_AUDIENCE.into(),
            exp: now.saturating_add(ttl_secs),
            iat: Some(now),
        };
        jsonwebtoken::encode(&header, &claims, &key).map_err(|_| AuthError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn accepts_good_tokens_and_refuses_bad_ones() {
        let dev = DevIssuer::random();
        let auth = Authenticator::new(vec![dev.config()]);
        let good = dev.mint("alice", now(), 60).unwrap();
        assert_eq!(auth.verify(&good).unwrap(), Principal { issuer: DEV_ISSUER.into(), subject: "alice".into() });

        // Expired (beyond the leeway).
        let old = dev.mint("alice", now() - 3_600, 60).unwrap();
        assert_eq!(auth.verify(&old), Err(AuthError::Expired));
        // Signed by another key with the same kid.
        let other = DevIssuer::random().mint("alice", now(), 60).unwrap();
        assert_eq!(auth.verify(&other), Err(AuthError::Signature));
        // A flipped signature byte.
        let mut bytes = good.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(auth.verify(&String::from_utf8(bytes).unwrap()), Err(AuthError::Signature));
        // alg: none, with the good token's claims and no signature.
        let claims = good.split('.').nth(1).unwrap();
        let none = format!("{}.{claims}.", b64(&serde_json::json!({"alg": "none", "kid": DEV_KID})));
        assert_eq!(auth.verify(&none), Err(AuthError::Algorithm));
        // HS256 (a symmetric algorithm a public key must never verify).
        let hs = format!("{}.{claims}.AAAA", b64(&serde_json::json!({"alg": "HS256", "kid": DEV_KID})));
        assert_eq!(auth.verify(&hs), Err(AuthError::Algorithm));
        // Garbage, too long, no kid.
        assert_eq!(auth.verify("nope"), Err(AuthError::Malformed));
        assert_eq!(auth.verify(&"a".repeat(MAX_TOKEN_BYTES + 1)), Err(AuthError::TooLong));
        let nokid = format!("{}.{claims}.AAAA", b64(&serde_json::json!({"alg": "EdDSA"})));
        assert_eq!(auth.verify(&nokid), Err(AuthError::UnknownKey));
    }

    #[test]
    fn rotated_keys_reach_every_clone_and_bad_jwks_are_refused() {
        let (old, new) = (DevIssuer::random(), DevIssuer::random());
        let auth = Authenticator::new(vec![old.config()]);
        let serving = auth.clone();
        let token = new.mint("alice", now(), 60).unwrap();
        assert_eq!(serving.verify(&token), Err(AuthError::Signature));
        assert!(auth.replace_keys(DEV_ISSUER, new.config().keys));
        assert!(serving.verify(&token).is_ok());
        assert_eq!(serving.verify(&old.mint("alice", now(), 60).unwrap()), Err(AuthError::Signature));
        assert!(!auth.replace_keys("someone else", old.config().keys));
        assert_eq!(auth.issuer_names(), vec![DEV_ISSUER.to_string()]);

        let json = serde_json::to_vec(&new.config().keys).unwrap();
        assert!(IssuerConfig::from_jwks_json("i", "a", &json).is_ok());
        assert!(IssuerConfig::from_jwks_json("i", "a", b"{\"keys\": 7}").is_err());
        assert!(IssuerConfig::from_jwks_json("i", "a", b"\xff\x00").is_err());
        let huge = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(IssuerConfig::from_jwks_json("i", "a", &huge).err().is_some_and(|e| e.contains("limit")));
    }

    #[test]
    fn wrong_issuer_and_audience() {
        let dev = DevIssuer::random();
        // The same key configured for another issuer name, then another audience.
        let mut renamed = dev.config();
        renamed.issuer = "https://idp.example".into();
        let token = dev.mint("bob", now(), 60).unwrap();
        assert_eq!(Authenticator::new(vec![renamed]).verify(&token), Err(AuthError::Issuer));
        let mut other_aud = dev.config();
        other_aud.audience = "another-service".into();
        assert_eq!(Authenticator::new(vec![other_aud]).verify(&token), Err(AuthError::Audience));
    }
}
