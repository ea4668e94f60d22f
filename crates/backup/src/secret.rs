//! The secrets a user holds: a passcode (hardened by the EPS and Argon2id) and a recovery
//! secret for the cloud copy (a generated recovery code or a passphrase). Zeroized on
//! drop, redacted in `Debug`, used as their exact UTF-8 bytes (no Unicode normalization:
//! an app that accepts non-ASCII input should normalize to NFC itself, the same way every
//! time).

use rand_core::RngCore;
use zeroize::Zeroizing;

use crate::BackupError;

/// Longest passcode or passphrase, in bytes.
pub const MAX_SECRET_BYTES: usize = 1024;
/// Shortest recovery passphrase, in bytes: the cloud provider can guess it offline, so
/// only Argon2id and its length protect it.
pub const MIN_PASSPHRASE_BYTES: usize = 12;

/// A backup passcode (a PIN or a password). Guesses are online-only: each costs one EPS
/// evaluation, counted against the lockout.
#[derive(Clone)]
pub struct Passcode(Zeroizing<String>);

impl Passcode {
    /// Wraps a passcode: 1 to [`MAX_SECRET_BYTES`] bytes.
    pub fn new(passcode: impl Into<String>) -> Result<Passcode, BackupError> {
        let passcode = Zeroizing::new(passcode.into());
        if passcode.is_empty() || passcode.len() > MAX_SECRET_BYTES {
            return Err(BackupError::BadSecret("a passcode must be 1 to 1024 bytes"));
        }
        Ok(Passcode(passcode))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Passcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passcode(<redacted>)")
    }
}

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or copied by hand
/// has one spelling.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a recovery code: 25 × 5 bits = 125 bits of entropy.
pub const RECOVERY_CODE_CHARS: usize = 25;

/// A generated recovery code the user writes down: 125 random bits as five groups of five
/// characters (`K7Q2M-…`). Strong enough that an offline guess is hopeless whatever the
/// KDF costs.
#[derive(Clone)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// A new random code.
    pub fn generate() -> RecoveryCode {
        let mut bytes = Zeroizing::new([0u8; RECOVERY_CODE_CHARS]);
        rand_core::OsRng.fill_bytes(bytes.as_mut());
        // 32 symbols: the low 5 bits of a uniform byte are uniform.
        let code: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
        RecoveryCode(Zeroizing::new(code))
    }

    /// Parses what the user typed: case, spaces and dashes do not matter, and the look-alikes
    /// O→0 and I/L→1 are accepted as Crockford's base32 says.
    pub fn parse(text: &str) -> Result<RecoveryCode, BackupError> {
        let mut code = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS));
        for c in text.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == RECOVERY_CODE_CHARS {
                return Err(BackupError::BadSecret(
                    "a recovery code is 25 characters of 0-9 and A-Z without U (dashes and spaces are ignored)",
                ));
            }
            code.push(c);
        }
        if code.len() != RECOVERY_CODE_CHARS {
            return Err(BackupError::BadSecret("a recovery code has exactly 25 characters"));
        }
        Ok(RecoveryCode(code))
    }

    /// The code for the user to write down, in groups of five.
    pub fn display(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS + 4));
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 5 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// What wraps a cloud copy.
#[derive(Clone, Debug)]
pub enum RecoverySecret {
    /// A generated code ([`RecoveryCode::generate`]): the recommended choice.
    Code(RecoveryCode),
    /// A passphrase the user chose (at least [`MIN_PASSPHRASE_BYTES`] bytes); the stronger
    /// Argon2id profile protects it, and only its strength protects it from the cloud
    /// provider's offline guessing.
    Passphrase(Passcode),
}

impl RecoverySecret {
    /// A passphrase secret, checked for length.
    pub fn passphrase(text: impl Into<String>) -> Result<RecoverySecret, BackupError> {
        let p = Passcode::new(text)?;
        if p.as_bytes().len() < MIN_PASSPHRASE_BYTES {
            return Err(BackupError::BadSecret("a recovery passphrase needs at least 12 bytes"));
        }
        Ok(RecoverySecret::Passphrase(p))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RecoverySecret::Code(c) => c.as_bytes(),
            RecoverySecret::Passphrase(p) => p.as_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recovery_codes_round_trip_through_what_a_user_types() {
        let code = RecoveryCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 29);
        let typed = shown.to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(RecoveryCode::parse(&typed).unwrap().as_bytes(), code.as_bytes());
        assert!(RecoveryCode::parse("ABCDE").is_err());
        assert!(RecoveryCode::parse(&format!("{}U", &code.0[..24])).is_err(), "U is not in the alphabet");
        assert!(RecoveryCode::parse(&format!("{}0", code.0.as_str())).is_err(), "26 characters");
        assert_ne!(RecoveryCode::generate().as_bytes(), code.as_bytes());
        assert_eq!(format!("{code:?}"), "RecoveryCode(<redacted>)");
    }

    #[test]
    fn secret_bounds() {
        assert!(Passcode::new("").is_err());
        assert!(Passcode::new("x".repeat(MAX_SECRET_BYTES + 1)).is_err());
        assert!(RecoverySecret::passphrase("short").is_err());
        assert!(RecoverySecret::passphrase("long enough passphrase").is_ok());
        assert_eq!(format!("{:?}", Passcode::new("1234").unwrap()), "Passcode(<redacted>)");
    }
}
