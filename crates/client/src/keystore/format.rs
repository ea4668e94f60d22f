//! The keystore's stored format, independent of where the bytes live (files here, IndexedDB
//! in the browser later): the header with the key-derivation parameters, the encrypted
//! records, and what each record holds. Every decoder here reads bytes from storage that
//! another program may have written, so each is bounded, strict and typed.
//!
//! - **Key.** Argon2id (RFC 9106) over the passphrase with the header's random salt and
//!   parameters gives the 32-byte store key ([`StoreKey::derive`]). Another key source
//!   (an OS keyring, a platform key) can supply the 32 bytes instead ([`StoreKey::from_bytes`]).
//! - **Records.** XChaCha20-Poly1305 with a random 24-byte nonce per write and
//!   AAD = domain ‖ format version ‖ kind ‖ wallet id (length-prefixed) ‖ epoch, so a
//!   record opens only as the kind, wallet and epoch it was written for: a share moved to
//!   another wallet or renamed to another epoch is refused as tampered.
//! - **Passphrase check.** The header carries a sealed known value; a wrong passphrase
//!   fails to open it ([`KeystoreError::WrongPassphrase`]) before anything else is read.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tssw_api::{WalletId, decode_strict};
use tssw_protocol::{MAX_SHARE_BYTES, WalletKey};
use zeroize::Zeroizing;

use super::KeystoreError;

/// The format version this build writes and reads (header and records).
pub const FORMAT_VERSION: u8 = 1;

/// Bound on an encoded header.
pub const MAX_HEADER_BYTES: usize = 1024;

/// Bound on an encoded record: the largest share plus the envelope.
pub const MAX_RECORD_BYTES: usize = MAX_SHARE_BYTES + 1024;

/// Bound on the server's wallet record kept in [`WalletMeta`].
pub const MAX_SERVER_RECORD_BYTES: usize = 64 * 1024;

const AAD_DOMAIN: &[u8] = b"tssw/keystore\0";
const CHECK_PLAINTEXT: &[u8] = b"tssw keystore passphrase check";
const SALT_LEN: usize = 16;

/// Argon2id cost parameters, stored in the header so a store opens with the parameters it
/// was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The default and the floor: 19 MiB, 2 passes, 1 lane (RFC 9106's second
    /// recommendation scaled down, as OWASP recommends for interactive logins). ≈ 137 ms
    /// on this project's machines, native.
    pub const DEFAULT: KdfParams = KdfParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// The ceiling, so a header written by someone else cannot make opening take 4 GiB or
    /// hours: 1 GiB, 16 passes, 8 lanes.
    pub const MAX: KdfParams = KdfParams { memory_kib: 1024 * 1024, iterations: 16, parallelism: 8 };

    /// Refuses parameters below [`KdfParams::DEFAULT`] or above [`KdfParams::MAX`].
    pub fn check(&self) -> Result<(), KeystoreError> {
        let (lo, hi) = (Self::DEFAULT, Self::MAX);
        let within = |v: u32, min: u32, max: u32| (min..=max).contains(&v);
        if within(self.memory_kib, lo.memory_kib, hi.memory_kib)
            && within(self.iterations, lo.iterations, hi.iterations)
            && within(self.parallelism, lo.parallelism, hi.parallelism)
        {
            Ok(())
        } else {
            Err(KeystoreError::BadParameters(format!(
                "Argon2id m={} KiB t={} p={}: each must be between {lo:?} and {hi:?}",
                self.memory_kib, self.iterations, self.parallelism
            )))
        }
    }
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::DEFAULT
    }
}

/// The 32-byte key every record is encrypted under. Zeroized on drop, redacted in `Debug`.
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl StoreKey {
    /// Argon2id over `passphrase` with the header's salt and parameters.
    pub fn derive(passphrase: &[u8], header: &Header) -> Result<StoreKey, KeystoreError> {
        header.kdf.check()?;
        let params =
            argon2::Params::new(header.kdf.memory_kib, header.kdf.iterations, header.kdf.parallelism, Some(32))
                .map_err(|e| KeystoreError::BadParameters(e.to_string()))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, &header.salt, key.as_mut())
            .map_err(|e| KeystoreError::BadParameters(e.to_string()))?;
        Ok(StoreKey(key))
    }

    /// A key from another source (an OS keyring, a platform key store).
    pub fn from_bytes(key: Zeroizing<[u8; 32]>) -> StoreKey {
        StoreKey(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_slice().into())
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

/// What a record holds; bound into its AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The header's passphrase check.
    Check,
    /// The device's identity key seed.
    Identity,
    /// A wallet's [`WalletMeta`].
    Meta,
    /// A wallet's key share at one epoch.
    Share,
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::Check => 0,
            Kind::Identity => 1,
            Kind::Meta => 2,
            Kind::Share => 3,
        }
    }

    /// How errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Check => "passphrase check",
            Kind::Identity => "identity key",
            Kind::Meta => "wallet metadata",
            Kind::Share => "key share",
        }
    }
}

/// Where a record belongs: its kind, wallet and epoch. Opening needs the same label the
/// record was sealed with.
#[derive(Clone, Copy, Debug)]
pub struct Label<'a> {
    /// The kind.
    pub kind: Kind,
    /// The wallet, for metadata and shares.
    pub wallet: Option<&'a WalletId>,
    /// The epoch, for shares (0 otherwise).
    pub epoch: u64,
}

impl Label<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD_DOMAIN.to_vec();
        aad.push(FORMAT_VERSION);
        aad.push(self.kind.tag());
        match self.wallet {
            Some(w) => aad.extend(w.framed()),
            None => aad.push(0),
        }
        aad.extend(self.epoch.to_be_bytes());
        aad
    }
}

/// The stored envelope of one record.
#[derive(Serialize, Deserialize)]
struct Record {
    version: u8,
    nonce: [u8; 24],
    #[serde(with = "serde_bytes")]
    ciphertext: Vec<u8>,
}

/// Encrypts `plaintext` for `label`.
pub fn seal(key: &StoreKey, label: Label<'_>, plaintext: &[u8]) -> Result<Vec<u8>, KeystoreError> {
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &label.aad() })
        .map_err(|_| KeystoreError::Malformed { what: label.kind.name(), reason: "cannot encrypt".into() })?;
    postcard::to_stdvec(&Record { version: FORMAT_VERSION, nonce, ciphertext })
        .map_err(|e| KeystoreError::Malformed { what: label.kind.name(), reason: e.to_string() })
}

/// Decrypts a record sealed for `label`. Bounded and strict; a record that fails
/// authentication (altered, or sealed for another label or key) is [`KeystoreError::Tampered`].
pub fn open(key: &StoreKey, label: Label<'_>, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let what = label.kind.name();
    check_len(what, bytes.len(), MAX_RECORD_BYTES)?;
    check_version(what, bytes)?;
    let record: Record =
        decode_strict(bytes, what).map_err(|e| KeystoreError::Malformed { what, reason: e.to_string() })?;
    key.cipher()
        .decrypt(&XNonce::from(record.nonce), Payload { msg: &record.ciphertext, aad: &label.aad() })
        .map(Zeroizing::new)
        .map_err(|_| KeystoreError::Tampered { what })
}

/// The keystore header: format version, Argon2id parameters and salt, and the passphrase
/// check. Not secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct Header {
    version: u8,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    #[serde(with = "serde_bytes")]
    check: Vec<u8>,
}

impl Header {
    /// A new header with a fresh salt and the key it implies for `passphrase`. An empty
    /// passphrase is refused.
    pub fn create(passphrase: &[u8], kdf: KdfParams) -> Result<(Header, StoreKey), KeystoreError> {
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        kdf.check()?;
        let mut salt = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut salt);
        let mut header = Header { version: FORMAT_VERSION, kdf, salt, check: Vec::new() };
        let key = StoreKey::derive(passphrase, &header)?;
        header.check = seal(&key, CHECK_LABEL, CHECK_PLAINTEXT)?;
        Ok((header, key))
    }

    /// Derives the key for `passphrase` and checks it against the header.
    pub fn unlock(&self, passphrase: &[u8]) -> Result<StoreKey, KeystoreError> {
        let key = StoreKey::derive(passphrase, self)?;
        match open(&key, CHECK_LABEL, &self.check) {
            Ok(plain) if plain.as_slice() == CHECK_PLAINTEXT => Ok(key),
            Ok(_) | Err(KeystoreError::Tampered { .. }) => Err(KeystoreError::WrongPassphrase),
            Err(e) => Err(e),
        }
    }

    /// The Argon2id parameters.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// Encodes the header.
    pub fn to_bytes(&self) -> Result<Vec<u8>, KeystoreError> {
        postcard::to_stdvec(self)
            .map_err(|e| KeystoreError::Malformed { what: "keystore header", reason: e.to_string() })
    }

    /// Decodes a header from storage: bounded, strict, known version, parameters in range.
    pub fn from_bytes(bytes: &[u8]) -> Result<Header, KeystoreError> {
        let what = "keystore header";
        check_len(what, bytes.len(), MAX_HEADER_BYTES)?;
        check_version(what, bytes)?;
        let header: Header =
            decode_strict(bytes, what).map_err(|e| KeystoreError::Malformed { what, reason: e.to_string() })?;
        header.kdf.check()?;
        Ok(header)
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header").field("version", &self.version).field("kdf", &self.kdf).finish_non_exhaustive()
    }
}

const CHECK_LABEL: Label<'static> = Label { kind: Kind::Check, wallet: None, epoch: 0 };

/// What the device keeps about a wallet besides its share: its public key data (what
/// digests and addresses need) and the wallet server's record of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletMeta {
    /// The wallet's public key data (scheme, group key, chain code or internal key).
    pub key: WalletKey,
    /// The wallet server's record of this wallet as it returned it (JSON), kept opaque
    /// here; at most [`MAX_SERVER_RECORD_BYTES`].
    #[serde(with = "serde_bytes")]
    pub server_record: Vec<u8>,
}

/// The version byte in front of an encoded [`WalletMeta`].
const META_VERSION: u8 = 1;

impl WalletMeta {
    /// Encodes the metadata (version byte ‖ postcard).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let what = Kind::Meta.name();
        check_len("server wallet record", self.server_record.len(), MAX_SERVER_RECORD_BYTES)?;
        let mut out = Zeroizing::new(vec![META_VERSION]);
        out.extend(postcard::to_stdvec(self).map_err(|e| KeystoreError::Malformed { what, reason: e.to_string() })?);
        Ok(out)
    }

    /// Decodes metadata: bounded, strict, and the key must be a valid one.
    pub fn from_bytes(bytes: &[u8]) -> Result<WalletMeta, KeystoreError> {
        let what = Kind::Meta.name();
        check_len(what, bytes.len(), MAX_SERVER_RECORD_BYTES + 1024)?;
        let (&version, rest) = bytes.split_first().ok_or(KeystoreError::Malformed { what, reason: "empty".into() })?;
        if version != META_VERSION {
            return Err(KeystoreError::UnsupportedVersion { what, version });
        }
        let meta: WalletMeta =
            decode_strict(rest, what).map_err(|e| KeystoreError::Malformed { what, reason: e.to_string() })?;
        check_len("server wallet record", meta.server_record.len(), MAX_SERVER_RECORD_BYTES)?;
        // serde fills the key's fields directly; build it again so its checks run.
        let key = &meta.key;
        let public = tssw_protocol::PublicKey::from_bytes(key.scheme(), key.public_key().as_bytes());
        let rebuilt = public.and_then(|p| WalletKey::new(p, key.chain_code(), key.taproot_internal_key()));
        match rebuilt {
            Ok(k) if k == meta.key => Ok(meta),
            _ => Err(KeystoreError::Malformed { what, reason: "invalid wallet key".into() }),
        }
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), KeystoreError> {
    if len > max { Err(KeystoreError::TooLarge { what, len, max }) } else { Ok(()) }
}

/// Both the header and records start with the version (postcard writes a `u8` as itself),
/// so an unknown version gets its own error rather than a decode failure.
fn check_version(what: &'static str, bytes: &[u8]) -> Result<(), KeystoreError> {
    match bytes.first() {
        None => Err(KeystoreError::Malformed { what, reason: "empty".into() }),
        Some(&FORMAT_VERSION) => Ok(()),
        Some(&version) => Err(KeystoreError::UnsupportedVersion { what, version }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key() -> StoreKey {
        StoreKey::from_bytes(Zeroizing::new([7u8; 32]))
    }

    #[test]
    fn a_record_opens_only_under_its_own_label_and_key() {
        let w1 = WalletId::new("w1").unwrap();
        let w2 = WalletId::new("w2").unwrap();
        let label = Label { kind: Kind::Share, wallet: Some(&w1), epoch: 3 };
        let sealed = seal(&key(), label, b"secret").unwrap();
        assert_eq!(open(&key(), label, &sealed).unwrap().as_slice(), b"secret");
        for other in [
            Label { kind: Kind::Share, wallet: Some(&w2), epoch: 3 },
            Label { kind: Kind::Share, wallet: Some(&w1), epoch: 4 },
            Label { kind: Kind::Meta, wallet: Some(&w1), epoch: 3 },
            Label { kind: Kind::Share, wallet: None, epoch: 3 },
        ] {
            assert!(matches!(open(&key(), other, &sealed), Err(KeystoreError::Tampered { .. })), "{other:?}");
        }
        let other_key = StoreKey::from_bytes(Zeroizing::new([8u8; 32]));
        assert!(matches!(open(&other_key, label, &sealed), Err(KeystoreError::Tampered { .. })));
        // Every flipped bit is caught, by the decoder or by the AEAD.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&key(), label, &bad).is_err(), "bit flip at {i}");
        }
        // Two seals of the same plaintext differ (fresh nonces).
        assert_ne!(seal(&key(), label, b"secret").unwrap(), sealed);
    }

    #[test]
    fn malformed_records_and_headers_are_typed_errors() {
        let label = Label { kind: Kind::Identity, wallet: None, epoch: 0 };
        let sealed = seal(&key(), label, b"x").unwrap();
        let mut trailing = sealed.clone();
        trailing.push(0);
        let mut version = sealed.clone();
        version[0] = 9;
        let big = vec![FORMAT_VERSION; MAX_RECORD_BYTES + 1];
        assert!(matches!(open(&key(), label, &[]), Err(KeystoreError::Malformed { .. })));
        assert!(matches!(open(&key(), label, &trailing), Err(KeystoreError::Malformed { .. })));
        assert!(matches!(open(&key(), label, &version), Err(KeystoreError::UnsupportedVersion { version: 9, .. })));
        assert!(matches!(open(&key(), label, &big), Err(KeystoreError::TooLarge { .. })));
        assert!(matches!(open(&key(), label, &sealed[..10]), Err(KeystoreError::Malformed { .. })));

        for bad in [&[][..], &[1], &[1, 0, 0, 0], &[2; 40], &[1; 2000]] {
            assert!(Header::from_bytes(bad).is_err(), "{bad:?}");
        }
        // A header asking for 4 GiB of memory is refused before any hashing.
        let weak = Header {
            version: 1,
            kdf: KdfParams { memory_kib: u32::MAX, ..KdfParams::DEFAULT },
            salt: [0; 16],
            check: vec![],
        };
        assert!(matches!(Header::from_bytes(&weak.to_bytes().unwrap()), Err(KeystoreError::BadParameters(_))));
        let low = Header { kdf: KdfParams { iterations: 1, ..KdfParams::DEFAULT }, ..weak };
        assert!(matches!(Header::from_bytes(&low.to_bytes().unwrap()), Err(KeystoreError::BadParameters(_))));

        for bad in [&[][..], &[2, 0], &[1], &[1, 0, 0, 0, 0]] {
            assert!(WalletMeta::from_bytes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_header_tells_a_wrong_passphrase() {
        let (header, key) = Header::create(b"correct horse", KdfParams::DEFAULT).unwrap();
        let header = Header::from_bytes(&header.to_bytes().unwrap()).unwrap();
        let again = header.unlock(b"correct horse").unwrap();
        let label = Label { kind: Kind::Identity, wallet: None, epoch: 0 };
        assert_eq!(open(&again, label, &seal(&key, label, b"k").unwrap()).unwrap().as_slice(), b"k");
        assert!(matches!(header.unlock(b"correct horsf"), Err(KeystoreError::WrongPassphrase)));
        assert!(matches!(Header::create(b"", KdfParams::DEFAULT), Err(KeystoreError::EmptyPassphrase)));
        assert!(format!("{key:?} {header:?}").contains("redacted"));
    }

    #[test]
    fn the_store_key_is_argon2id_under_the_header_parameters() {
        // The parameter plumbing: the store key is exactly Argon2id v1.3 (passphrase, salt,
        // m, t, p, 32 bytes), as any Argon2id implementation would compute it.
        let (header, key) = Header::create(b"pw", KdfParams::DEFAULT).unwrap();
        let params = argon2::Params::new(19 * 1024, 2, 1, Some(32)).unwrap();
        let mut expected = [0u8; 32];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(b"pw", &header.salt, &mut expected)
            .unwrap();
        assert_eq!(*key.0, expected);
    }
}
