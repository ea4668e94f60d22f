//! Copies wrapped under a recovery secret the user holds: the cloud share of a 2-of-3
//! wallet (or any exported copy). No EPS is involved, so device + cloud can sign without
//! the service ("independent recovery").
//!
//! The trade-off: a recovery code (125 random bits) makes the copy as strong as the
//! encryption, but the user must keep the code; a passphrase is easier to keep but the
//! cloud provider (or whoever gets the blob) can guess it *offline*, limited only by
//! Argon2id's cost ([`crate::kdf::Argon2Profile::Sensitive`]) and the passphrase's
//! strength — there is no lockout without an online party. EPS backups make the opposite
//! trade: online-only guessing with a lockout, but they need the service.
//!
//! These calls run Argon2id on the calling thread (tens to a few hundred ms); from async code use
//! `spawn_blocking`.

use rand_core::RngCore;
use tssw_protocol::KeyShare;

use crate::envelope::{Envelope, WalletMeta, Wrapping};
use crate::kdf::{self, Argon2Profile};
use crate::{BackupError, RecoverySecret};

/// Encrypts `share` under `secret`: the bytes to hand to a [`crate::cloud::CloudProvider`].
/// Decrypts them again and checks the share before returning.
pub fn seal(share: &KeyShare, meta: &WalletMeta, secret: &RecoverySecret) -> Result<Vec<u8>, BackupError> {
    meta.expect_share(share)?;
    let (passphrase, profile) = match secret {
        RecoverySecret::Code(_) => (false, Argon2Profile::Interactive),
        RecoverySecret::Passphrase(_) => (true, Argon2Profile::Sensitive),
    };
    let mut salt = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut salt);
    let kek = kdf::recovery_kek(secret.as_bytes(), &salt, profile)?;
    let envelope = Envelope::seal(meta.clone(), Wrapping::Recovery { passphrase, profile, salt }, &kek, share)?;
    let bytes = envelope.encode()?;
    // Read back what will be stored, the way a restore will, with the same key.
    let again = Envelope::decode(&bytes)?;
    meta.expect(again.meta())?;
    let data_key = again.open_key(&kek)?.ok_or(BackupError::Internal("the new copy does not open"))?;
    let reopened = again.open_share(&data_key)?;
    if *reopened.to_bytes().map_err(|_| BackupError::Internal("share encoding"))?
        != *share.to_bytes().map_err(|_| BackupError::Internal("share encoding"))?
    {
        return Err(BackupError::Internal("the new copy holds another share"));
    }
    Ok(bytes)
}

/// Opens a copy made by [`seal`], checking it is the share `expected` describes.
pub fn open(bytes: &[u8], expected: &WalletMeta, secret: &RecoverySecret) -> Result<KeyShare, BackupError> {
    let envelope = Envelope::decode(bytes)?;
    expected.expect(envelope.meta())?;
    let Wrapping::Recovery { passphrase, profile, salt } = envelope.wrapping().clone() else {
        return Err(BackupError::WrongWrapping {
            expected: "under a recovery secret",
            found: envelope.wrapping().name(),
        });
    };
    match (passphrase, secret) {
        (true, RecoverySecret::Code(_)) => {
            return Err(BackupError::BadSecret("this copy needs its passphrase, not a code"));
        }
        (false, RecoverySecret::Passphrase(_)) => {
            return Err(BackupError::BadSecret("this copy needs its recovery code, not a passphrase"));
        }
        _ => {}
    }
    let kek = kdf::recovery_kek(secret.as_bytes(), &salt, profile)?;
    let data_key = envelope.open_key(&kek)?.ok_or(BackupError::WrongSecret { attempts_left: None })?;
    envelope.open_share(&data_key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{RecoveryCode, WalletId};
    use tssw_protocol::{Scheme, testing};

    #[test]
    fn code_and_passphrase_copies_open_only_with_their_secret() {
        let share = testing::dkg(Scheme::Bip340, 2, 3).unwrap().remove(2);
        let meta = WalletMeta::of_share(WalletId::new("w").unwrap(), &share).unwrap();
        let code = RecoverySecret::Code(RecoveryCode::generate());
        let bytes = seal(&share, &meta, &code).unwrap();
        assert_eq!(*open(&bytes, &meta, &code).unwrap().to_bytes().unwrap(), *share.to_bytes().unwrap());
        let other = RecoverySecret::Code(RecoveryCode::generate());
        assert!(matches!(open(&bytes, &meta, &other), Err(BackupError::WrongSecret { attempts_left: None })));
        let phrase = RecoverySecret::passphrase("correct horse battery staple").unwrap();
        assert!(matches!(open(&bytes, &meta, &phrase), Err(BackupError::BadSecret(_))));

        let bytes = seal(&share, &meta, &phrase).unwrap();
        assert!(open(&bytes, &meta, &phrase).is_ok());
        let wrong = RecoverySecret::passphrase("incorrect horse battery staple").unwrap();
        assert!(matches!(open(&bytes, &meta, &wrong), Err(BackupError::WrongSecret { .. })));
        // Another share index of the same wallet is refused before any key is derived.
        let mut device = meta.clone();
        device.share_index = 1;
        assert!(matches!(open(&bytes, &device, &phrase), Err(BackupError::WrongShare(_))));
    }
}
