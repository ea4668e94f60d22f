//! The backup envelope: what the wallet server (or a cloud provider) stores, opaque to it.
//!
//! ```text
//! postcard( version u8 = 1
//!         ‖ meta     {wallet id, scheme, epoch, share index, group public key, public package digest}
//!         ‖ wrapping  Eps {EPS public key, issuer, subject, registration id, passcode profile?, salt}
//!                   | Recovery {code | passphrase, Argon2id profile, salt}
//!         ‖ key nonce (24) ‖ wrapped data key (32 + 16 tag)
//!         ‖ data nonce (24) ‖ ciphertext of the share (KeyShare::to_bytes) + 16 tag )
//! ```
//! - The share is encrypted under a random data key D: XChaCha20-Poly1305, AAD =
//!   `"tssw/backup/v1/share\0" ‖ version ‖ postcard(meta)`. D is wrapped under K (see
//!   [`crate::kdf`]): AAD = `"tssw/backup/v1/data-key\0" ‖ version ‖ postcard(meta) ‖
//!   postcard(wrapping)`. The share's AAD leaves the wrapping out, so a passcode change
//!   re-wraps D and keeps the ciphertext byte for byte.
//! - Decoding is bounded ([`MAX_ENVELOPE_BYTES`]), strict (one canonical encoding, nothing
//!   after it) and checks the version first, so each failure has its own error: truncated,
//!   corrupt, old or unknown format. The meta is in the clear so a wrong wallet or epoch
//!   is refused precisely before any key is derived; opening authenticates it anyway.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use tssw_api::WalletId;
use tssw_protocol::{KeyShare, Scheme};
use zeroize::Zeroizing;

use crate::BackupError;
use crate::kdf::{Argon2Profile, Key};
use crate::oprf::MAX_ACCOUNT_FIELD;

/// The envelope format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Largest envelope: a 2-of-3 ECDSA share is ≈ 105 KB; a 3-of-5 one ≈ 210 KB.
pub const MAX_ENVELOPE_BYTES: usize = 512 * 1024;
/// Longest group public key stored (ECDSA's is 33 bytes).
const MAX_PUBLIC_KEY: usize = 64;

const SHARE_AAD: &[u8] = b"tssw/backup/v1/share\0";
const KEY_AAD: &[u8] = b"tssw/backup/v1/data-key\0";
const TAG: usize = 16;

/// The public facts a backup is of, and that a restore expects: the wallet, the scheme,
/// the epoch, which share, the group key and the digest of the public package (which fixes
/// every party's verifying share).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletMeta {
    /// The wallet.
    pub wallet_id: WalletId,
    /// Its scheme.
    pub scheme: Scheme,
    /// The epoch of the share.
    pub epoch: u64,
    /// The share's index (1 for the device's share of a 2-of-2, 3 for the cloud share of a
    /// 2-of-3 upgrade).
    pub share_index: u16,
    /// The group public key (`tssw_protocol::PublicKey::to_bytes`).
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
    /// `tssw_protocol::PublicPackage::digest`.
    pub package_digest: [u8; 32],
}

impl WalletMeta {
    /// The facts of a share the device holds.
    pub fn of_share(wallet_id: WalletId, share: &KeyShare) -> Result<WalletMeta, BackupError> {
        Ok(WalletMeta {
            wallet_id,
            scheme: share.scheme(),
            epoch: share.epoch(),
            share_index: share.index().get(),
            public_key: share.public_key().to_bytes(),
            package_digest: share
                .public_package()
                .digest()
                .map_err(|_| BackupError::Internal("public package digest"))?,
        })
    }

    /// Checks `found` (a backup's meta) against these expected facts, field by field.
    pub(crate) fn expect(&self, found: &WalletMeta) -> Result<(), BackupError> {
        if found.wallet_id != self.wallet_id {
            return Err(BackupError::WrongWallet { expected: self.wallet_id.clone(), found: found.wallet_id.clone() });
        }
        if found.scheme != self.scheme {
            return Err(BackupError::WrongScheme { expected: self.scheme, found: found.scheme });
        }
        if found.epoch != self.epoch {
            return Err(BackupError::WrongEpoch { expected: self.epoch, found: found.epoch });
        }
        if found.share_index != self.share_index {
            return Err(BackupError::WrongShare("the share index"));
        }
        if found.public_key != self.public_key {
            return Err(BackupError::WrongShare("the group public key"));
        }
        if found.package_digest != self.package_digest {
            return Err(BackupError::WrongShare("the public package (verifying shares)"));
        }
        Ok(())
    }

    /// Checks a share against these facts: the share's own verifying share is in its
    /// public package (`KeyShare::from_bytes` checks that), and the package is this one.
    pub(crate) fn expect_share(&self, share: &KeyShare) -> Result<(), BackupError> {
        let of_share = WalletMeta::of_share(self.wallet_id.clone(), share)?;
        self.expect(&of_share).map_err(|e| match e {
            BackupError::WrongScheme { .. } => BackupError::ShareMismatch("scheme"),
            BackupError::WrongEpoch { .. } => BackupError::ShareMismatch("epoch"),
            BackupError::WrongShare(what) => BackupError::ShareMismatch(what),
            other => other,
        })
    }
}

/// How the data key is wrapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wrapping {
    /// Under K from the EPS (the server backup).
    Eps {
        /// The EPS's public key when the backup was made: evaluations are verified against it.
        eps_key: [u8; 32],
        /// The account's issuer, as the EPS verified it.
        issuer: String,
        /// The account's subject.
        subject: String,
        /// The EPS registration this backup's K belongs to.
        registration: [u8; 16],
        /// The Argon2id profile when a passcode is set.
        passcode: Option<Argon2Profile>,
        /// K's HKDF salt (random per envelope).
        salt: [u8; 32],
    },
    /// Under a recovery secret the user holds (the cloud copy).
    Recovery {
        /// A generated code (`false`) or a passphrase (`true`).
        passphrase: bool,
        /// Argon2id profile: `Interactive` for codes, `Sensitive` for passphrases.
        profile: Argon2Profile,
        /// Argon2 and HKDF salt (random per envelope).
        salt: [u8; 32],
    },
}

impl Wrapping {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Wrapping::Eps { .. } => "by the encryption proxy",
            Wrapping::Recovery { .. } => "under a recovery secret",
        }
    }

    fn check(&self) -> Result<(), BackupError> {
        match self {
            Wrapping::Eps { issuer, subject, passcode, .. } => {
                let field = |s: &String| !s.is_empty() && s.len() <= MAX_ACCOUNT_FIELD;
                if !field(issuer) || !field(subject) {
                    return Err(BackupError::Corrupt("account fields out of range"));
                }
                if passcode.is_some_and(|p| p != Argon2Profile::Interactive) {
                    return Err(BackupError::Corrupt("unsupported passcode profile"));
                }
            }
            Wrapping::Recovery { passphrase, profile, .. } => {
                let expected = if *passphrase { Argon2Profile::Sensitive } else { Argon2Profile::Interactive };
                if *profile != expected {
                    return Err(BackupError::Corrupt("unsupported recovery profile"));
                }
            }
        }
        Ok(())
    }
}

/// What a device may show about a backup before opening it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeInfo {
    /// What it is a backup of.
    pub meta: WalletMeta,
    /// An EPS backup with a passcode.
    pub needs_passcode: bool,
    /// A recovery-secret copy (`Some(true)` for a passphrase, `Some(false)` for a code).
    pub recovery_passphrase: Option<bool>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    version: u8,
    meta: WalletMeta,
    wrapping: Wrapping,
    key_nonce: [u8; 24],
    #[serde(with = "serde_bytes")]
    wrapped_key: Vec<u8>,
    data_nonce: [u8; 24],
    #[serde(with = "serde_bytes")]
    ciphertext: Vec<u8>,
}

/// A decoded backup envelope. Nothing in it is authenticated until it is opened.
#[derive(Clone)]
pub struct Envelope(Stored);

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("version", &self.0.version)
            .field("meta", &self.0.meta)
            .field("wrapping", &self.0.wrapping)
            .field("ciphertext_len", &self.0.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// The random key the share is encrypted under.
pub(crate) type DataKey = Key;

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut out);
    out
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, BackupError> {
    postcard::to_stdvec(value).map_err(|_| BackupError::Internal("encoding"))
}

impl Envelope {
    /// Decodes stored bytes: bounded, strict, every failure typed. Authenticity is checked
    /// only when opening.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, BackupError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(BackupError::TooLarge { len: bytes.len(), max: MAX_ENVELOPE_BYTES });
        }
        let version = *bytes.first().ok_or(BackupError::Truncated)?;
        if version < FORMAT_VERSION {
            return Err(BackupError::OldFormat { version, current: FORMAT_VERSION });
        }
        if version > FORMAT_VERSION {
            return Err(BackupError::UnknownFormat { version, current: FORMAT_VERSION });
        }
        let stored: Stored = tssw_api::decode_strict(bytes, "backup envelope").map_err(|e| match e {
            // Tell a cut-off envelope apart from a garbled one.
            tssw_api::StrictError::Malformed(_) => match postcard::from_bytes::<Stored>(bytes) {
                Err(postcard::Error::DeserializeUnexpectedEnd) => BackupError::Truncated,
                _ => BackupError::Corrupt("does not decode"),
            },
            tssw_api::StrictError::TrailingBytes(_) => BackupError::Corrupt("bytes after the envelope"),
            _ => BackupError::Corrupt("non-canonical encoding"),
        })?;
        if stored.wrapped_key.len() != 32 + TAG {
            return Err(BackupError::Corrupt("wrapped key length"));
        }
        if stored.ciphertext.len() < TAG {
            return Err(BackupError::Corrupt("ciphertext length"));
        }
        if stored.meta.public_key.is_empty() || stored.meta.public_key.len() > MAX_PUBLIC_KEY {
            return Err(BackupError::Corrupt("public key length"));
        }
        stored.wrapping.check()?;
        Ok(Envelope(stored))
    }

    /// The bytes to store.
    pub fn encode(&self) -> Result<Vec<u8>, BackupError> {
        encode(&self.0)
    }

    /// What it is a backup of (unauthenticated until opened).
    pub fn meta(&self) -> &WalletMeta {
        &self.0.meta
    }

    /// How its key is wrapped.
    pub fn wrapping(&self) -> &Wrapping {
        &self.0.wrapping
    }

    /// A summary for the device's UI.
    pub fn info(&self) -> EnvelopeInfo {
        let (needs_passcode, recovery_passphrase) = match &self.0.wrapping {
            Wrapping::Eps { passcode, .. } => (passcode.is_some(), None),
            Wrapping::Recovery { passphrase, .. } => (false, Some(*passphrase)),
        };
        EnvelopeInfo { meta: self.0.meta.clone(), needs_passcode, recovery_passphrase }
    }

    /// The AEAD ciphertext of the share (tests compare it across a passcode change).
    pub fn ciphertext(&self) -> &[u8] {
        &self.0.ciphertext
    }

    fn share_aad(&self) -> Result<Vec<u8>, BackupError> {
        let mut aad = SHARE_AAD.to_vec();
        aad.push(self.0.version);
        aad.extend(encode(&self.0.meta)?);
        Ok(aad)
    }

    fn key_aad(&self) -> Result<Vec<u8>, BackupError> {
        let mut aad = KEY_AAD.to_vec();
        aad.push(self.0.version);
        aad.extend(encode(&self.0.meta)?);
        aad.extend(encode(&self.0.wrapping)?);
        Ok(aad)
    }

    /// Encrypts `share` under a fresh data key and wraps that key under `kek`.
    pub(crate) fn seal(
        meta: WalletMeta,
        wrapping: Wrapping,
        kek: &Key,
        share: &KeyShare,
    ) -> Result<Envelope, BackupError> {
        let plaintext = share.to_bytes().map_err(|_| BackupError::Internal("share encoding"))?;
        let data_key: DataKey = Zeroizing::new(random());
        let mut envelope = Envelope(Stored {
            version: FORMAT_VERSION,
            meta,
            wrapping,
            key_nonce: [0; 24],
            wrapped_key: Vec::new(),
            data_nonce: random(),
            ciphertext: Vec::new(),
        });
        let aad = envelope.share_aad()?;
        envelope.0.ciphertext = XChaCha20Poly1305::new(data_key.as_slice().into())
            .encrypt(&XNonce::from(envelope.0.data_nonce), Payload { msg: &plaintext, aad: &aad })
            .map_err(|_| BackupError::Internal("encryption"))?;
        if envelope.0.ciphertext.len() + 4096 > MAX_ENVELOPE_BYTES {
            return Err(BackupError::TooLarge { len: envelope.0.ciphertext.len(), max: MAX_ENVELOPE_BYTES });
        }
        envelope.wrap_key(&data_key, kek)?;
        Ok(envelope)
    }

    /// The same share ciphertext with the data key wrapped anew (a passcode change).
    pub(crate) fn rewrap(&self, wrapping: Wrapping, data_key: &DataKey, kek: &Key) -> Result<Envelope, BackupError> {
        let mut envelope = self.clone();
        envelope.0.wrapping = wrapping;
        envelope.wrap_key(data_key, kek)?;
        Ok(envelope)
    }

    fn wrap_key(&mut self, data_key: &DataKey, kek: &Key) -> Result<(), BackupError> {
        self.0.key_nonce = random();
        let aad = self.key_aad()?;
        self.0.wrapped_key = XChaCha20Poly1305::new(kek.as_slice().into())
            .encrypt(&XNonce::from(self.0.key_nonce), Payload { msg: data_key.as_ref(), aad: &aad })
            .map_err(|_| BackupError::Internal("encryption"))?;
        Ok(())
    }

    /// Unwraps the data key; `None` when `kek` (or the envelope's wrapping fields) is wrong.
    pub(crate) fn open_key(&self, kek: &Key) -> Result<Option<DataKey>, BackupError> {
        let aad = self.key_aad()?;
        let Ok(plain) = XChaCha20Poly1305::new(kek.as_slice().into())
            .decrypt(&XNonce::from(self.0.key_nonce), Payload { msg: &self.0.wrapped_key, aad: &aad })
        else {
            return Ok(None);
        };
        let plain = Zeroizing::new(plain);
        let mut key: DataKey = Zeroizing::new([0; 32]);
        if plain.len() != 32 {
            return Err(BackupError::Corrupt("data key length"));
        }
        key.copy_from_slice(&plain);
        Ok(Some(key))
    }

    /// Decrypts and checks the share with the unwrapped data key: it must decode, be
    /// consistent with its public package, and match this envelope's meta.
    pub(crate) fn open_share(&self, data_key: &DataKey) -> Result<KeyShare, BackupError> {
        let aad = self.share_aad()?;
        let plain = XChaCha20Poly1305::new(data_key.as_slice().into())
            .decrypt(&XNonce::from(self.0.data_nonce), Payload { msg: &self.0.ciphertext, aad: &aad })
            .map_err(|_| BackupError::Tampered)?;
        let plain = Zeroizing::new(plain);
        let share = KeyShare::from_bytes(&plain).map_err(|e| BackupError::InvalidShare(e.to_string()))?;
        self.0
            .meta
            .expect_share(&share)
            .map_err(|_| BackupError::InvalidShare("it does not match the backup's header".into()))?;
        Ok(share)
    }

    /// Test hook: the same envelope under other public facts, as a server relabelling
    /// backups would present it.
    #[doc(hidden)]
    pub fn relabel(&self, meta: WalletMeta) -> Envelope {
        let mut envelope = self.clone();
        envelope.0.meta = meta;
        envelope
    }

    /// Test hook: the same envelope with another wrapping header.
    #[doc(hidden)]
    pub fn with_wrapping(&self, wrapping: Wrapping) -> Envelope {
        let mut envelope = self.clone();
        envelope.0.wrapping = wrapping;
        envelope
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use tssw_protocol::testing;

    fn sample() -> (KeyShare, WalletMeta, Key, Envelope) {
        let share = testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
        let meta = WalletMeta::of_share(WalletId::new("w-1").unwrap(), &share).unwrap();
        let kek: Key = Zeroizing::new([9; 32]);
        let wrapping = Wrapping::Recovery { passphrase: false, profile: Argon2Profile::Interactive, salt: [1; 32] };
        let envelope = Envelope::seal(meta.clone(), wrapping, &kek, &share).unwrap();
        (share, meta, kek, envelope)
    }

    #[test]
    fn seal_open_round_trip_and_typed_decode_errors() {
        let (share, meta, kek, envelope) = sample();
        let bytes = envelope.encode().unwrap();
        let decoded = Envelope::decode(&bytes).unwrap();
        let key = decoded.open_key(&kek).unwrap().unwrap();
        let opened = decoded.open_share(&key).unwrap();
        assert_eq!(*opened.to_bytes().unwrap(), *share.to_bytes().unwrap());
        meta.expect(decoded.meta()).unwrap();

        // Truncated anywhere after the version byte.
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(Envelope::decode(&bytes[..cut]), Err(BackupError::Truncated)), "cut at {cut}");
        }
        assert!(matches!(Envelope::decode(&[]), Err(BackupError::Truncated)));
        // Trailing bytes.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(Envelope::decode(&trailing), Err(BackupError::Corrupt(_))));
        // Old and unknown versions.
        let mut old = bytes.clone();
        old[0] = 0;
        assert!(matches!(Envelope::decode(&old), Err(BackupError::OldFormat { version: 0, current: 1 })));
        let mut new = bytes.clone();
        new[0] = 2;
        assert!(matches!(Envelope::decode(&new), Err(BackupError::UnknownFormat { version: 2, .. })));
        // Too large.
        assert!(matches!(Envelope::decode(&vec![1u8; MAX_ENVELOPE_BYTES + 1]), Err(BackupError::TooLarge { .. })));
        // Garbage after a valid version byte.
        assert!(matches!(
            Envelope::decode(&[1, 0xff, 0xff, 0xff]),
            Err(BackupError::Corrupt(_) | BackupError::Truncated)
        ));
    }

    #[test]
    fn every_flipped_bit_region_fails_authentication() {
        let (_, _, kek, envelope) = sample();
        let bytes = envelope.encode().unwrap();
        // The last bytes are the share ciphertext's tag; the wrapped key sits before the data
        // nonce. Flip one bit in the ciphertext, then in the wrapped key.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let e = Envelope::decode(&flipped).unwrap();
        let key = e.open_key(&kek).unwrap().unwrap();
        assert!(matches!(e.open_share(&key), Err(BackupError::Tampered)));
        // A wrong KEK does not unwrap.
        assert!(envelope.open_key(&Zeroizing::new([8; 32])).unwrap().is_none());
        // A relabelled header (another epoch) fails both layers.
        let mut meta = envelope.meta().clone();
        meta.epoch += 1;
        let relabelled = envelope.relabel(meta);
        assert!(relabelled.open_key(&kek).unwrap().is_none());
    }

    #[test]
    fn expect_names_each_mismatch() {
        let (_, meta, _, _) = sample();
        let mut other = meta.clone();
        other.wallet_id = WalletId::new("w-2").unwrap();
        assert!(matches!(meta.expect(&other), Err(BackupError::WrongWallet { .. })));
        let mut other = meta.clone();
        other.epoch = 7;
        assert!(matches!(meta.expect(&other), Err(BackupError::WrongEpoch { expected: 1, found: 7 })));
        let mut other = meta.clone();
        other.share_index = 2;
        assert!(matches!(meta.expect(&other), Err(BackupError::WrongShare(_))));
        let mut other = meta.clone();
        other.package_digest[0] ^= 1;
        assert!(matches!(meta.expect(&other), Err(BackupError::WrongShare(_))));
        let mut other = meta.clone();
        other.scheme = Scheme::Bip340;
        assert!(matches!(meta.expect(&other), Err(BackupError::WrongScheme { .. })));
    }
}
