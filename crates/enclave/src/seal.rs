//! Sealing (ARCHITECTURE invariant 2): the server share exists in plaintext only in the
//! enclave's memory; at rest and on the host it is an XChaCha20-Poly1305 blob.
//!
//! - Key: HKDF-SHA256 of the backend's sealing root key, info `tssw/enclave/v1/seal-key`,
//!   so the root key can serve other purposes later without key reuse.
//! - Nonce: 24 random bytes per blob. XChaCha's nonce is long enough that random nonces
//!   never collide in practice, so the enclave keeps no counter across restarts.
//! - AAD: `domain ‖ len ‖ wallet id ‖ scheme tag ‖ epoch (u64 BE) ‖ format version`.
//!
//! The blob also records wallet id, scheme and epoch in the clear, so a wrong request is
//! refused with a precise error before any decryption. Opening builds the AAD from what the
//! *host asked for* (wallet id, epoch), not from the blob's own fields: a blob whose header
//! was edited to match fails authentication. A share of another wallet, or of another epoch
//! (stale after a refresh, or replayed), is refused; so is any flipped bit.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tssw_protocol::{KeyShare, Scheme};
use zeroize::Zeroizing;

use crate::frame::{MAX_FRAME_BYTES, WireError, strict};
use tssw_api::WalletId;

/// The sealed-share format version this build writes and opens.
pub const SEAL_VERSION: u8 = 1;

/// Largest encoded blob: it must fit in one frame.
pub const MAX_SEALED_BYTES: usize = MAX_FRAME_BYTES;

const AAD_DOMAIN: &[u8] = b"tssw/enclave/v1/sealed-share\0";
const KEY_INFO: &[u8] = b"tssw/enclave/v1/seal-key";

/// Why a blob was not sealed or opened. None of them says anything about the share.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The blob does not parse.
    #[error("sealed share does not decode: {0}")]
    Malformed(WireError),
    /// A format version this build does not open.
    #[error("sealed share format version {0} is not supported")]
    UnsupportedVersion(u8),
    /// The blob belongs to another wallet (swapped).
    #[error("sealed share belongs to wallet {sealed}, not {requested}")]
    WrongWallet {
        /// The wallet the blob names.
        sealed: WalletId,
        /// The wallet the host asked for.
        requested: WalletId,
    },
    /// The blob is of another epoch: stale (the wallet moved on) or replayed.
    #[error("sealed share is of epoch {sealed}, the wallet's epoch is {requested} (stale or replayed)")]
    WrongEpoch {
        /// The epoch the blob names.
        sealed: u64,
        /// The epoch the host asked for.
        requested: u64,
    },
    /// The blob is of another scheme than the request needs.
    #[error("sealed share is a {sealed} share, the request needs {requested}")]
    WrongScheme {
        /// The blob's scheme.
        sealed: Scheme,
        /// What the request needs.
        requested: Scheme,
    },
    /// Authentication failed: altered, or sealed under another key or other fields.
    #[error("sealed share does not authenticate (tampered, or sealed by another enclave key)")]
    Tampered,
    /// It authenticated but the share inside is not a consistent share of the named
    /// scheme and epoch (a bug in the sealer, never the host's doing).
    #[error("sealed share content is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The share does not encode.
    #[error("cannot seal: {0}")]
    Encode(&'static str),
}

/// A sealed share as the host stores it. Opaque to the host except for the routing
/// fields it may read (wallet, scheme, epoch).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedShare {
    version: u8,
    wallet_id: WalletId,
    scheme: Scheme,
    epoch: u64,
    nonce: [u8; 24],
    #[serde(with = "serde_bytes")]
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedShare")
            .field("wallet_id", &self.wallet_id)
            .field("scheme", &self.scheme)
            .field("epoch", &self.epoch)
            .field("len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl SealedShare {
    /// The wallet the blob claims (unauthenticated until opened).
    pub fn wallet_id(&self) -> &WalletId {
        &self.wallet_id
    }
    /// The scheme the blob claims.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The epoch the blob claims.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The bytes to store.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SealError> {
        postcard::to_stdvec(self).map_err(|_| SealError::Encode("sealed share"))
    }

    /// Decodes stored bytes: bounded, strict, never panics. Authenticity is checked only
    /// by [`Sealer::open`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedShare, SealError> {
        if bytes.len() > MAX_SEALED_BYTES {
            return Err(SealError::Malformed(WireError::TooLarge { len: bytes.len(), max: MAX_SEALED_BYTES }));
        }
        let version = *bytes.first().ok_or(SealError::Malformed(WireError::Empty))?;
        if version != SEAL_VERSION {
            return Err(SealError::UnsupportedVersion(version));
        }
        strict(bytes, "sealed share").map_err(SealError::Malformed)
    }

    /// Test hook: the same blob with other routing fields, as a host swapping or replaying
    /// blobs would present it.
    #[doc(hidden)]
    pub fn relabel(&self, wallet_id: WalletId, epoch: u64, version: u8) -> SealedShare {
        SealedShare { version, wallet_id, epoch, ..self.clone() }
    }
}

fn aad(wallet: &WalletId, scheme: Scheme, epoch: u64, version: u8) -> Vec<u8> {
    let mut out = AAD_DOMAIN.to_vec();
    out.extend_from_slice(&wallet.framed());
    out.push(scheme.tag());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.push(version);
    out
}

/// The backend's sealing root key: 32 secret bytes, zeroized on drop, never printed.
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl SealingKey {
    /// Wraps root key bytes.
    pub fn new(bytes: Zeroizing<[u8; 32]>) -> SealingKey {
        SealingKey(bytes)
    }

    #[cfg(test)]
    pub(crate) fn bytes_for_tests(&self) -> [u8; 32] {
        *self.0
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

/// Seals and opens shares with one enclave key. The cipher zeroizes its key on drop.
pub struct Sealer {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    /// Derives the sealing key from the backend's root key.
    pub fn new(root: &SealingKey) -> Sealer {
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, root.0.as_slice()).expand(KEY_INFO, key.as_mut_slice());
        Sealer { aead: XChaCha20Poly1305::new(key.as_slice().into()) }
    }

    /// Seals `share` for `wallet` at the share's own scheme and epoch.
    pub fn seal(&self, wallet: &WalletId, share: &KeyShare) -> Result<SealedShare, SealError> {
        let plaintext = share.to_bytes().map_err(|_| SealError::Encode("key share"))?;
        let mut nonce = [0u8; 24];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let (scheme, epoch) = (share.scheme(), share.epoch());
        let aad = aad(wallet, scheme, epoch, SEAL_VERSION);
        let ciphertext = self
            .aead
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext.as_slice(), aad: &aad })
            .map_err(|_| SealError::Encode("encryption"))?;
        Ok(SealedShare { version: SEAL_VERSION, wallet_id: wallet.clone(), scheme, epoch, nonce, ciphertext })
    }

    /// Opens `blob` as the share of `wallet` at `epoch` (what the host's records say is
    /// current). See the module docs for what is refused.
    pub fn open(&self, blob: &SealedShare, wallet: &WalletId, epoch: u64) -> Result<KeyShare, SealError> {
        if blob.version != SEAL_VERSION {
            return Err(SealError::UnsupportedVersion(blob.version));
        }
        if blob.wallet_id != *wallet {
            return Err(SealError::WrongWallet { sealed: blob.wallet_id.clone(), requested: wallet.clone() });
        }
        if blob.epoch != epoch {
            return Err(SealError::WrongEpoch { sealed: blob.epoch, requested: epoch });
        }
        let aad = aad(wallet, blob.scheme, epoch, SEAL_VERSION);
        let plaintext = Zeroizing::new(
            self.aead
                .decrypt(&XNonce::from(blob.nonce), Payload { msg: &blob.ciphertext, aad: &aad })
                .map_err(|_| SealError::Tampered)?,
        );
        let share = KeyShare::from_bytes(&plaintext).map_err(|_| SealError::Inconsistent("share does not decode"))?;
        if share.scheme() != blob.scheme {
            return Err(SealError::Inconsistent("scheme"));
        }
        if share.epoch() != epoch {
            return Err(SealError::Inconsistent("epoch"));
        }
        Ok(share)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn sealer(b: u8) -> Sealer {
        Sealer::new(&SealingKey::new(Zeroizing::new([b; 32])))
    }

    fn w(id: &str) -> WalletId {
        WalletId::new(id).unwrap()
    }

    #[test]
    fn round_trip_and_every_rejection() {
        let share = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
        let s = sealer(1);
        let wallet = w("wallet-a");
        let blob = s.seal(&wallet, &share).unwrap();
        assert_eq!((blob.scheme(), blob.epoch()), (Scheme::Ed25519, 1));
        let back = SealedShare::from_bytes(&blob.to_bytes().unwrap()).unwrap();
        assert_eq!(back, blob);
        assert_eq!(s.open(&back, &wallet, 1).unwrap().public_key(), share.public_key());

        // Swapped: another wallet's blob, asked for as this one's, with or without relabelling.
        assert!(matches!(s.open(&blob, &w("wallet-b"), 1), Err(SealError::WrongWallet { .. })));
        assert_eq!(
            s.open(&blob.relabel(w("wallet-b"), 1, SEAL_VERSION), &w("wallet-b"), 1).err(),
            Some(SealError::Tampered)
        );
        // Stale or replayed: other epoch, relabelled or not.
        assert_eq!(s.open(&blob, &wallet, 2).err(), Some(SealError::WrongEpoch { sealed: 1, requested: 2 }));
        assert_eq!(s.open(&blob.relabel(wallet.clone(), 2, SEAL_VERSION), &wallet, 2).err(), Some(SealError::Tampered));
        // Other version.
        assert_eq!(
            s.open(&blob.relabel(wallet.clone(), 1, 2), &wallet, 1).err(),
            Some(SealError::UnsupportedVersion(2))
        );
        let mut v2 = blob.to_bytes().unwrap();
        v2[0] = 2;
        assert_eq!(SealedShare::from_bytes(&v2), Err(SealError::UnsupportedVersion(2)));
        // Another enclave key.
        assert_eq!(sealer(2).open(&blob, &wallet, 1).err(), Some(SealError::Tampered));
        // Every flipped bit of the stored bytes is refused one way or another.
        let bytes = blob.to_bytes().unwrap();
        for i in (0..bytes.len()).step_by(97).chain(bytes.len() - 20..bytes.len()) {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            let opened = SealedShare::from_bytes(&t).and_then(|b| s.open(&b, &wallet, 1));
            assert!(opened.is_err(), "byte {i} flipped and still opened");
        }
    }

    #[test]
    fn nonces_differ_and_debug_is_redacted() {
        let share = tssw_protocol::testing::dkg(Scheme::Bip340, 2, 2).unwrap().remove(0);
        let s = sealer(3);
        let a = s.seal(&w("x"), &share).unwrap();
        let b = s.seal(&w("x"), &share).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        let text = format!("{a:?} {s:?} {:?}", SealingKey::new(Zeroizing::new([3; 32])));
        assert!(!text.contains("0303") && text.contains("redacted"), "{text}");
    }

    #[test]
    fn malformed_bytes() {
        assert!(SealedShare::from_bytes(&[]).is_err());
        let share = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 2).unwrap().remove(0);
        let bytes = sealer(1).seal(&w("x"), &share).unwrap().to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(SealedShare::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            SealedShare::from_bytes(&trailing),
            Err(SealError::Malformed(WireError::TrailingBytes("sealed share")))
        );
    }
}
