//! The OPRF: RFC 9497 POPRF (partially oblivious, verifiable) over ristretto255 with
//! SHA-512, from `voprf`. This module only adapts types and encodings.
//!
//! - The device blinds its input ([`blind`]); the EPS evaluates the blinded element with
//!   its key and the public *info* ([`OprfKey::evaluate_blinded`]) and proves it used the
//!   key behind its public key; the device verifies the proof and unblinds ([`finalize`]).
//!   The EPS learns neither the input (which holds the passcode) nor the output.
//! - The info binds the evaluation to (issuer, subject, wallet id, registration id)
//!   ([`info`]): the EPS computes it from the *verified* token and its own records, so an
//!   output for one account, wallet or registration is useless for any other.

use rand_core::OsRng;
use voprf::{BlindedElement, EvaluationElement, Group, PoprfClient, PoprfServer, Proof, Ristretto255};
use zeroize::Zeroizing;

type Suite = Ristretto255;

/// Bytes of a blinded or evaluated element (a compressed ristretto255 point).
pub const ELEMENT_BYTES: usize = 32;
/// Bytes of an evaluation proof (two scalars).
pub const PROOF_BYTES: usize = 64;
/// Bytes of the OPRF output (SHA-512).
pub const OUTPUT_BYTES: usize = 64;
/// Bytes of a registration id.
pub const REGISTRATION_BYTES: usize = 16;
/// Longest issuer or subject bound into the info.
pub const MAX_ACCOUNT_FIELD: usize = 512;

const INFO_DOMAIN: &[u8] = b"tssw/eps/v1/info\0";
const KEY_DERIVE_INFO: &[u8] = b"tssw/eps/v1/oprf-key";

/// Why an OPRF step failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OprfError {
    /// The input or info is empty or too long for RFC 9497.
    #[error("OPRF input or info out of range")]
    Input,
    /// A point or proof does not decode (not a canonical ristretto255 encoding, or the identity).
    #[error("malformed OPRF {0}")]
    Malformed(&'static str),
    /// The proof does not verify against the public key: another key was used.
    #[error("OPRF evaluation proof does not verify")]
    Proof,
}

/// The EPS's public key: the ristretto255 point its proofs verify against.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpsPublicKey(pub [u8; 32]);

impl std::fmt::Debug for EpsPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpsPublicKey({})", hex::encode(self.0))
    }
}

impl EpsPublicKey {
    fn element(&self) -> Result<<Ristretto255 as Group>::Elem, OprfError> {
        Ristretto255::deserialize_elem(&self.0).map_err(|_| OprfError::Malformed("public key"))
    }
}

/// The POPRF public info: every field length-prefixed (u16 BE) after a domain tag.
pub fn info(issuer: &str, subject: &str, wallet: &tssw_api::WalletId, registration: &[u8; 16]) -> Vec<u8> {
    let mut out = INFO_DOMAIN.to_vec();
    for field in [issuer.as_bytes(), subject.as_bytes(), wallet.as_str().as_bytes(), registration] {
        // Each field is at most MAX_ACCOUNT_FIELD bytes (checked by every decoder), so it fits.
        out.extend_from_slice(&u16::try_from(field.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// The device's state between blinding and finalizing: the blind scalar (secret).
pub struct Blinded {
    state: PoprfClient<Suite>,
    /// The blinded element to send.
    pub message: [u8; ELEMENT_BYTES],
}

impl std::fmt::Debug for Blinded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blinded(<redacted>)")
    }
}

/// Blinds `input` with a fresh random scalar.
pub fn blind(input: &[u8]) -> Result<Blinded, OprfError> {
    let result = PoprfClient::<Suite>::blind(input, &mut OsRng).map_err(|_| OprfError::Input)?;
    let mut message = [0u8; ELEMENT_BYTES];
    message.copy_from_slice(&result.message.serialize());
    Ok(Blinded { state: result.state, message })
}

/// Verifies the EPS's proof against `key` and unblinds: the OPRF output for `input`.
pub fn finalize(
    blinded: &Blinded,
    input: &[u8],
    evaluation: &[u8; ELEMENT_BYTES],
    proof: &[u8; PROOF_BYTES],
    key: &EpsPublicKey,
    info: &[u8],
) -> Result<Zeroizing<[u8; OUTPUT_BYTES]>, OprfError> {
    let evaluation =
        EvaluationElement::<Suite>::deserialize(evaluation).map_err(|_| OprfError::Malformed("evaluation"))?;
    let proof = Proof::<Suite>::deserialize(proof).map_err(|_| OprfError::Malformed("proof"))?;
    let output =
        blinded.state.finalize(input, &evaluation, &proof, key.element()?, Some(info)).map_err(|e| match e {
            voprf::Error::ProofVerification => OprfError::Proof,
            voprf::Error::Input | voprf::Error::Info => OprfError::Input,
            _ => OprfError::Malformed("evaluation"),
        })?;
    let mut out = Zeroizing::new([0u8; OUTPUT_BYTES]);
    out.copy_from_slice(&output);
    Ok(out)
}

/// The EPS's OPRF key, derived from a 32-byte seed (RFC 9497 `DeriveKeyPair`).
pub struct OprfKey(PoprfServer<Suite>);

impl std::fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OprfKey(public {:?})", self.public_key())
    }
}

impl OprfKey {
    /// The key for a seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<OprfKey, OprfError> {
        PoprfServer::new_from_seed(seed, KEY_DERIVE_INFO).map(OprfKey).map_err(|_| OprfError::Input)
    }

    /// Its public key.
    pub fn public_key(&self) -> EpsPublicKey {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Ristretto255::serialize_elem(self.0.get_public_key()));
        EpsPublicKey(out)
    }

    /// Evaluates a blinded element under `info`: (evaluation, proof).
    pub fn evaluate_blinded(
        &self,
        blinded: &[u8; ELEMENT_BYTES],
        info: &[u8],
    ) -> Result<([u8; ELEMENT_BYTES], [u8; PROOF_BYTES]), OprfError> {
        let blinded =
            BlindedElement::<Suite>::deserialize(blinded).map_err(|_| OprfError::Malformed("blinded element"))?;
        let result = self.0.blind_evaluate(&mut OsRng, &blinded, Some(info)).map_err(|_| OprfError::Input)?;
        let mut evaluation = [0u8; ELEMENT_BYTES];
        evaluation.copy_from_slice(&result.message.serialize());
        let mut proof = [0u8; PROOF_BYTES];
        proof.copy_from_slice(&result.proof.serialize());
        Ok((evaluation, proof))
    }

    /// The OPRF output for a known input, without blinding: what anyone holding the key can
    /// compute offline. The EPS never calls it; tests use it to play an attacker who stole
    /// the key.
    pub fn evaluate_unblinded(&self, input: &[u8], info: &[u8]) -> Result<Zeroizing<[u8; OUTPUT_BYTES]>, OprfError> {
        let output = self.0.evaluate(input, Some(info)).map_err(|_| OprfError::Input)?;
        let mut out = Zeroizing::new([0u8; OUTPUT_BYTES]);
        out.copy_from_slice(&output);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tssw_api::WalletId;

    #[test]
    fn round_trip_matches_the_unblinded_evaluation_and_binds_the_info() {
        let key = OprfKey::from_seed(&[7; 32]).unwrap();
        let wallet = WalletId::new("w1").unwrap();
        let info_a = info("iss", "alice", &wallet, &[1; 16]);
        let b = blind(b"input").unwrap();
        let (evaluation, proof) = key.evaluate_blinded(&b.message, &info_a).unwrap();
        let out = finalize(&b, b"input", &evaluation, &proof, &key.public_key(), &info_a).unwrap();
        assert_eq!(*out, *key.evaluate_unblinded(b"input", &info_a).unwrap());
        // Another account, wallet or registration gives another output.
        for other in [
            info("iss", "bob", &wallet, &[1; 16]),
            info("iss", "alice", &WalletId::new("w2").unwrap(), &[1; 16]),
            info("iss", "alice", &wallet, &[2; 16]),
        ] {
            assert_ne!(*out, *key.evaluate_unblinded(b"input", &other).unwrap());
        }
        // A proof checked against another key, or under another info, fails.
        let other_key = OprfKey::from_seed(&[8; 32]).unwrap().public_key();
        assert_eq!(finalize(&b, b"input", &evaluation, &proof, &other_key, &info_a).unwrap_err(), OprfError::Proof);
        let info_b = info("iss", "bob", &wallet, &[1; 16]);
        assert_eq!(
            finalize(&b, b"input", &evaluation, &proof, &key.public_key(), &info_b).unwrap_err(),
            OprfError::Proof
        );
    }

    #[test]
    fn malformed_points_are_refused() {
        let key = OprfKey::from_seed(&[7; 32]).unwrap();
        // The identity and a non-canonical encoding.
        assert!(key.evaluate_blinded(&[0; 32], b"info").is_err());
        assert!(key.evaluate_blinded(&[0xff; 32], b"info").is_err());
    }
}
