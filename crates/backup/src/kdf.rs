//! The key schedule. Every key here is HKDF-SHA256 or Argon2id output; nothing is
//! hand-rolled.
//!
//! EPS backups (`passcode` optional):
//! ```text
//! input    = "tssw/backup/v1/oprf-input\0" ‖ len ‖ wallet id ‖ 0            (no passcode)
//!                                                      ‖ 1 ‖ len ‖ passcode
//! out      = POPRF(EPS key, input, info = issuer ‖ subject ‖ wallet ‖ registration)   64 bytes
//! pw       = Argon2id(passcode, salt = SHA-256(domain ‖ info fields), profile)  32 bytes, or empty
//! verifier = HKDF(salt = "tssw/backup/v1/verifier", ikm = out ‖ pw, info = registration)
//! K        = HKDF(salt = envelope salt (32 random), ikm = out ‖ pw, info = "tssw/backup/v1/kek")
//! ```
//! - K needs the OPRF output (the EPS key, online) *and*, with a passcode, Argon2id of it.
//! - The verifier is what the EPS stores (hashed) to count and reset failed attempts. It
//!   depends only on what the EPS can check (its key, the info) and the passcode, not on the
//!   envelope's salt: so when the passcode is right but the envelope was edited, the EPS
//!   still confirms the verifier and the device reports tampering, not a wrong passcode.
//! - The Argon2 salt is derived from the account, wallet and registration, which are unique
//!   per backup whatever the EPS chooses.
//!
//! Recovery-secret copies (no EPS): `K = HKDF(salt = envelope salt, ikm = Argon2id(secret,
//! salt = envelope salt, profile), info = "tssw/backup/v1/recovery-kek")`.

use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tssw_api::WalletId;
use zeroize::Zeroizing;

use crate::BackupError;

const INPUT_DOMAIN: &[u8] = b"tssw/backup/v1/oprf-input\0";
const ARGON_SALT_DOMAIN: &[u8] = b"tssw/backup/v1/argon2-salt\0";
const VERIFIER_SALT: &[u8] = b"tssw/backup/v1/verifier";
const KEK_INFO: &[u8] = b"tssw/backup/v1/kek";
const RECOVERY_KEK_INFO: &[u8] = b"tssw/backup/v1/recovery-kek";

/// A 32-byte key or tag, zeroized on drop.
pub type Key = Zeroizing<[u8; 32]>;

/// Argon2id cost profiles. An envelope names one; decoding refuses any other value, so a
/// stored backup cannot be edited to a cheaper cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Argon2Profile {
    /// 19 MiB, 2 passes, 1 lane (OWASP's minimum for Argon2id; ≈ 38 ms on this project's 2-core bench machine). For EPS
    /// passcodes, whose guesses are online-only anyway, and for generated recovery codes,
    /// whose 125 bits need no stretching.
    Interactive,
    /// 64 MiB, 3 passes, 1 lane (about 5× the interactive cost). For recovery passphrases, which the cloud
    /// provider could guess offline.
    Sensitive,
}

impl Argon2Profile {
    /// (memory KiB, passes, lanes).
    pub fn params(self) -> (u32, u32, u32) {
        match self {
            Argon2Profile::Interactive => (19 * 1024, 2, 1),
            Argon2Profile::Sensitive => (64 * 1024, 3, 1),
        }
    }
}

/// Argon2id of `secret` with `salt`: 32 bytes. CPU- and memory-heavy: call it off the
/// async runtime.
pub fn argon2id(secret: &[u8], salt: &[u8], profile: Argon2Profile) -> Result<Key, BackupError> {
    let (m, t, p) = profile.params();
    let params = Params::new(m, t, p, Some(32)).map_err(|_| BackupError::Internal("argon2 parameters"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret, salt, out.as_mut())
        .map_err(|_| BackupError::Internal("argon2"))?;
    Ok(out)
}

/// The OPRF input: wallet id and, when set, the passcode.
pub fn oprf_input(wallet: &WalletId, passcode: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(INPUT_DOMAIN.to_vec());
    out.extend_from_slice(&wallet.framed());
    match passcode {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            // Passcodes are at most MAX_SECRET_BYTES long.
            out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(p);
        }
    }
    out
}

/// The Argon2 salt of an EPS passcode: a hash of the POPRF info (account, wallet,
/// registration).
pub fn passcode_salt(info: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ARGON_SALT_DOMAIN);
    h.update(info);
    h.finalize().into()
}

/// The keys of an EPS backup from the OPRF output and the Argon2id output (when a passcode
/// is set).
pub struct EpsKeys {
    /// Sent to the EPS (it stores a hash) to confirm a successful unwrap.
    pub verifier: Key,
    /// Wraps the data key.
    pub kek: Key,
}

impl std::fmt::Debug for EpsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpsKeys(<redacted>)")
    }
}

/// Derives the verifier and K.
pub fn eps_keys(
    oprf_output: &[u8; 64],
    pw: Option<&Key>,
    registration: &[u8; 16],
    envelope_salt: &[u8; 32],
) -> Result<EpsKeys, BackupError> {
    let mut ikm = Zeroizing::new(oprf_output.to_vec());
    if let Some(pw) = pw {
        ikm.extend_from_slice(pw.as_ref());
    }
    let mut verifier = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(VERIFIER_SALT), &ikm)
        .expand(registration, verifier.as_mut())
        .map_err(|_| BackupError::Internal("hkdf"))?;
    let mut kek = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(envelope_salt), &ikm)
        .expand(KEK_INFO, kek.as_mut())
        .map_err(|_| BackupError::Internal("hkdf"))?;
    Ok(EpsKeys { verifier, kek })
}

/// K of a recovery-secret copy. CPU-heavy (Argon2id).
pub fn recovery_kek(secret: &[u8], envelope_salt: &[u8; 32], profile: Argon2Profile) -> Result<Key, BackupError> {
    let stretched = argon2id(secret, envelope_salt, profile)?;
    let mut kek = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(envelope_salt), stretched.as_ref())
        .expand(RECOVERY_KEK_INFO, kek.as_mut())
        .map_err(|_| BackupError::Internal("hkdf"))?;
    Ok(kek)
}

/// SHA-256 of a verifier: what the EPS stores, so its database alone does not let anyone
/// confirm attempts.
pub fn verifier_hash(verifier: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(verifier).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn argon2id_matches_the_rfc_9106_shape_and_profiles_differ() {
        // Independent check of the parameters we pass: the same call through the crate's
        // own `Argon2::default()` (Argon2id v19, 19 MiB, t=2, p=1) gives the same bytes.
        let mut expected = [0u8; 32];
        Argon2::default().hash_password_into(b"1234", b"saltsaltsaltsalt", &mut expected).unwrap();
        assert_eq!(*argon2id(b"1234", b"saltsaltsaltsalt", Argon2Profile::Interactive).unwrap(), expected);
        assert_ne!(
            *argon2id(b"1234", b"saltsaltsaltsalt", Argon2Profile::Sensitive).unwrap(),
            expected,
            "profiles must differ"
        );
    }

    #[test]
    fn every_input_changes_the_keys() {
        let out = [1u8; 64];
        let pw = Zeroizing::new([2u8; 32]);
        let base = eps_keys(&out, Some(&pw), &[3; 16], &[4; 32]).unwrap();
        let no_pw = eps_keys(&out, None, &[3; 16], &[4; 32]).unwrap();
        let other_reg = eps_keys(&out, Some(&pw), &[9; 16], &[4; 32]).unwrap();
        let other_salt = eps_keys(&out, Some(&pw), &[3; 16], &[9; 32]).unwrap();
        assert_ne!(*base.kek, *no_pw.kek);
        assert_ne!(*base.verifier, *no_pw.verifier);
        assert_ne!(*base.verifier, *other_reg.verifier);
        assert_ne!(*base.kek, *other_salt.kek);
        // The verifier does not depend on the envelope salt (see the module docs).
        assert_eq!(*base.verifier, *other_salt.verifier);
        assert_ne!(*base.kek, *base.verifier);
        let w = WalletId::new("w").unwrap();
        assert_ne!(*oprf_input(&w, None), *oprf_input(&w, Some(b"")));
        assert_ne!(*oprf_input(&w, Some(b"1")), *oprf_input(&w, Some(b"2")));
    }
}
