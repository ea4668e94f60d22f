//! The AEAD a pair of parties seals its frames with, chosen from what both declared.
//!
//! Each party lists the AEADs its build can run in its signed [`crate::Contribution`]; a
//! pair uses AES-256-GCM when both list it and ChaCha20-Poly1305 otherwise. Both are
//! 256-bit-key, 96-bit-nonce, 128-bit-tag AEADs with the tag after the ciphertext, so the
//! frame layout and the session's nonce and tag rules do not depend on the choice. Native
//! builds run AES-256-GCM through `ring` (AES-NI and carry-less multiply: ≈ 10 GB/s here,
//! against ≈ 1.5 GB/s for ChaCha20-Poly1305, and an ECDSA signature moves ≈ 160 KB through
//! each party's AEAD); wasm32 builds list only ChaCha20-Poly1305, which has no hardware to
//! lean on there. Since the lists are signed by their parties and both AEADs are sound, a
//! coordinator that could alter them would gain nothing.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ChannelError;

/// A set of AEADs, as a party declares them in its contribution. Bits this build does not
/// know are kept (they are signed) and never chosen.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suites(u8);

impl Suites {
    /// ChaCha20-Poly1305 (RFC 8439): every build runs it.
    pub const CHACHA20_POLY1305: Suites = Suites(1);
    /// AES-256-GCM (NIST SP 800-38D): native builds.
    pub const AES_256_GCM: Suites = Suites(2);

    /// What this build runs.
    pub fn supported() -> Suites {
        #[cfg(not(target_arch = "wasm32"))]
        return Suites::CHACHA20_POLY1305.with(Suites::AES_256_GCM);
        #[cfg(target_arch = "wasm32")]
        return Suites::CHACHA20_POLY1305;
    }

    /// Both sets together.
    pub const fn with(self, other: Suites) -> Suites {
        Suites(self.0 | other.0)
    }

    /// The raw bits, for the contribution's signature.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    fn has(self, suite: Suites) -> bool {
        self.0 & suite.0 == suite.0
    }

    /// The AEAD a pair uses: the fastest that both sides and this build run.
    pub(crate) fn choose(self, theirs: Suites) -> Option<Suite> {
        let common = Suites(self.0 & theirs.0 & Suites::supported().0);
        if common.has(Suites::AES_256_GCM) {
            Some(Suite::Aes256Gcm)
        } else if common.has(Suites::CHACHA20_POLY1305) {
            Some(Suite::ChaCha20Poly1305)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Suites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = Vec::new();
        if self.has(Suites::CHACHA20_POLY1305) {
            names.push("ChaCha20-Poly1305");
        }
        if self.has(Suites::AES_256_GCM) {
            names.push("AES-256-GCM");
        }
        let unknown = self.0 & !(Suites::CHACHA20_POLY1305.0 | Suites::AES_256_GCM.0);
        if unknown != 0 {
            return write!(f, "Suites({names:?} + unknown {unknown:#04x})");
        }
        write!(f, "Suites({names:?})")
    }
}

/// One AEAD, as chosen for a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suite {
    ChaCha20Poly1305,
    Aes256Gcm,
}

impl Suite {
    /// Goes into the key derivation, so the two AEADs never share a key.
    pub(crate) fn id(self) -> u8 {
        match self {
            Suite::ChaCha20Poly1305 => Suites::CHACHA20_POLY1305.0,
            Suite::Aes256Gcm => Suites::AES_256_GCM.0,
        }
    }
}

/// One direction's key under the pair's AEAD. `chacha20poly1305` zeroizes its key on drop;
/// [`AesKey`] does the same for `ring`'s, which has no zeroization of its own.
#[derive(Clone)]
pub(crate) enum Key {
    ChaCha20Poly1305(ChaCha20Poly1305),
    #[cfg(not(target_arch = "wasm32"))]
    Aes256Gcm(AesKey),
}

/// `ring`'s AES-256-GCM key (its AES round keys and GHASH table, ≈ 0.5 KB, so boxed). On
/// drop, the key's heap slot is overwritten with the schedule of the all-zero key before
/// it is freed: the same layout on the same CPU, so every byte that held this key's
/// schedule is rewritten; `black_box` keeps the write from being dropped as dead.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct AesKey(Box<ring::aead::LessSafeKey>);

#[cfg(not(target_arch = "wasm32"))]
impl AesKey {
    fn new(key: &[u8; 32]) -> Result<AesKey, ChannelError> {
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
            .map(|k| AesKey(Box::new(ring::aead::LessSafeKey::new(k))))
            .map_err(|_| ChannelError::Misuse("key length"))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clone for AesKey {
    fn clone(&self) -> AesKey {
        AesKey(Box::new((*self.0).clone()))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for AesKey {
    fn drop(&mut self) {
        if let Ok(zero) = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[0u8; 32]) {
            *self.0 = ring::aead::LessSafeKey::new(zero);
            std::hint::black_box(&*self.0);
        }
    }
}

impl Key {
    pub(crate) fn new(suite: Suite, key: &[u8; 32]) -> Result<Key, ChannelError> {
        match suite {
            Suite::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(key)
                .map(Key::ChaCha20Poly1305)
                .map_err(|_| ChannelError::Misuse("key length")),
            #[cfg(not(target_arch = "wasm32"))]
            Suite::Aes256Gcm => AesKey::new(key).map(Key::Aes256Gcm),
            #[cfg(target_arch = "wasm32")]
            Suite::Aes256Gcm => Err(ChannelError::Misuse("AES-256-GCM is not in this build")),
        }
    }

    /// `ciphertext ‖ tag`.
    pub(crate) fn seal(&self, nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        const FAILED: ChannelError = ChannelError::Misuse("encryption failed");
        match self {
            Key::ChaCha20Poly1305(k) => k.encrypt(&nonce.into(), Payload { msg: plaintext, aad }).map_err(|_| FAILED),
            #[cfg(not(target_arch = "wasm32"))]
            Key::Aes256Gcm(AesKey(k)) => {
                let mut out = Vec::with_capacity(plaintext.len() + k.algorithm().tag_len());
                out.extend_from_slice(plaintext);
                // The plaintext is copied in before encryption: if sealing failed, the
                // buffer would still hold it, so it is wiped before it is dropped.
                let mut out = Zeroizing::new(out);
                k.seal_in_place_append_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(aad),
                    &mut *out,
                )
                .map_err(|_| FAILED)?;
                Ok(std::mem::take(&mut *out))
            }
        }
    }

    /// The plaintext of `ciphertext ‖ tag`, or `None` if it does not authenticate.
    pub(crate) fn open(&self, nonce: [u8; 12], aad: &[u8], body: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Key::ChaCha20Poly1305(k) => k.decrypt(&nonce.into(), Payload { msg: body, aad }).ok().map(Zeroizing::new),
            #[cfg(not(target_arch = "wasm32"))]
            Key::Aes256Gcm(AesKey(k)) => {
                // Decrypted in place: wrapped first, so a buffer that failed to authenticate
                // (its contents then unspecified) is wiped too.
                let mut buf = Zeroizing::new(body.to_vec());
                let len = k
                    .open_in_place(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(aad),
                        &mut buf[..],
                    )
                    .ok()?
                    .len();
                buf.truncate(len);
                Some(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Test cases 14 and 16 of McGrew and Viega, "The Galois/Counter Mode of Operation",
    /// the 256-bit-key, 96-bit-IV vectors (with and without AAD).
    #[test]
    fn aes_256_gcm_matches_the_published_vectors() {
        let key = Key::new(Suite::Aes256Gcm, &[0u8; 32]).unwrap();
        let sealed = key.seal([0u8; 12], &[], &[0u8; 16]).unwrap();
        assert_eq!(sealed, hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"));
        assert_eq!(key.open([0u8; 12], &[], &sealed).unwrap().as_slice(), &[0u8; 16]);

        let k: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").try_into().unwrap();
        let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let plaintext =
            hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525\
             b16aedf5aa0de657ba637b39");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let expected =
            hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838\
             c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b");
        let key = Key::new(Suite::Aes256Gcm, &k).unwrap();
        assert_eq!(key.seal(nonce, &aad, &plaintext).unwrap(), expected);
        assert_eq!(key.open(nonce, &aad, &expected).unwrap().as_slice(), plaintext.as_slice());
    }

    /// RFC 8439, section 2.8.2.
    #[test]
    fn chacha20_poly1305_matches_rfc_8439() {
        let k: [u8; 32] = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f").try_into().unwrap();
        let nonce: [u8; 12] = hex("070000004041424344454647").try_into().unwrap();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = Key::new(Suite::ChaCha20Poly1305, &k).unwrap().seal(nonce, &aad, plaintext).unwrap();
        assert_eq!(sealed[sealed.len() - 16..], hex("1ae10b594f09e26a7e902ecbd0600691"));
        assert_eq!(sealed[..16], hex("d31a8d34648e60db7b86afbc53ef7ec2"));
    }

    #[test]
    fn a_changed_byte_anywhere_does_not_open() {
        for suite in [Suite::ChaCha20Poly1305, Suite::Aes256Gcm] {
            let key = Key::new(suite, &[7u8; 32]).unwrap();
            let sealed = key.seal([1u8; 12], b"id", b"a protocol message").unwrap();
            assert!(key.open([1u8; 12], b"id", &sealed).is_some());
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 1;
                assert!(key.open([1u8; 12], b"id", &bad).is_none(), "{suite:?} byte {i}");
            }
            assert!(key.open([2u8; 12], b"id", &sealed).is_none());
            assert!(key.open([1u8; 12], b"other id", &sealed).is_none());
            assert!(key.open([1u8; 12], b"id", &sealed[..15]).is_none());
            assert!(Key::new(suite, &[8u8; 32]).unwrap().open([1u8; 12], b"id", &sealed).is_none());
        }
    }

    #[test]
    fn the_pair_takes_the_fastest_aead_both_run() {
        let both = Suites::CHACHA20_POLY1305.with(Suites::AES_256_GCM);
        assert_eq!(both.choose(both), Some(Suite::Aes256Gcm));
        assert_eq!(both.choose(Suites::CHACHA20_POLY1305), Some(Suite::ChaCha20Poly1305));
        assert_eq!(Suites::CHACHA20_POLY1305.choose(both), Some(Suite::ChaCha20Poly1305));
        assert_eq!(Suites::AES_256_GCM.choose(Suites::CHACHA20_POLY1305), None);
        // Unknown bits are carried, never chosen.
        assert_eq!(Suites(0x80).choose(Suites(0x80)), None);
        assert_eq!(Suites(0x81).choose(both), Some(Suite::ChaCha20Poly1305));
        assert_eq!(format!("{:?}", Suites(0x81)), r#"Suites(["ChaCha20-Poly1305"] + unknown 0x80)"#);
    }
}
