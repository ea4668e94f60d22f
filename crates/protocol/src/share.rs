//! A party's key share: versioned, bound to its epoch, zeroized on drop, redacted in `Debug`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, PartyIndex, Scheme};

/// The share format version this build writes and reads.
pub const SHARE_VERSION: u8 = 1;

/// Bound on an encoded share or public package. A 3-of-5 `dkls23` share is ≈ 210 KB and the
/// size grows with the number of counterparties.
pub const MAX_SHARE_BYTES: usize = 8 << 20;

pub(crate) type DklsParty = dkls23_core::protocols::Party<k256::Secp256k1>;
pub(crate) type DklsPublic = dkls23_core::protocols::PublicKeyPackage<k256::Secp256k1>;

/// The scheme-specific secret, as the upstream crates define it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Secret {
    Ecdsa(Box<DklsParty>),
    Ed25519(frost_ed25519::keys::KeyPackage),
    Bip340(frost_secp256k1_tr::keys::KeyPackage),
}

/// Public facts of a key that every holder (and the wallet record) agrees on: the group
/// key, each share's verifying share, the threshold and the epoch. A party that joins in a
/// reshare gets it from the wallet record; the ceremony checks that everybody used the same.
#[derive(Clone, Serialize, Deserialize)]
pub struct PublicPackage {
    pub(crate) epoch: u64,
    pub(crate) threshold: u16,
    pub(crate) parties: u16,
    pub(crate) inner: PublicInner,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum PublicInner {
    Ecdsa { public: DklsPublic, chain_code: [u8; 32] },
    Ed25519 { public: frost_ed25519::keys::PublicKeyPackage },
    Bip340 { public: frost_secp256k1_tr::keys::PublicKeyPackage, internal_key: [u8; 32] },
}

/// A group public key in its chain-ready encoding.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKey {
    scheme: Scheme,
    bytes: Vec<u8>,
}

impl PublicKey {
    pub(crate) fn new(scheme: Scheme, bytes: Vec<u8>) -> PublicKey {
        PublicKey { scheme, bytes }
    }
    /// A key from its chain-ready encoding (see [`PublicKey::to_bytes`]), e.g. as a user
    /// typed it: refused unless it is a valid point of the scheme's curve in that encoding.
    pub fn from_bytes(scheme: Scheme, bytes: &[u8]) -> Result<PublicKey, Error> {
        let valid = match scheme {
            Scheme::Ecdsa => bytes.len() == 33 && crate::ecdsa::point_from_sec1(bytes).is_some(),
            Scheme::Ed25519 => frost_ed25519::VerifyingKey::deserialize(bytes).is_ok(),
            // An x-only key is the even-y point with that x coordinate (BIP-340 lift_x).
            Scheme::Bip340 => bytes.len() == 32 && crate::ecdsa::point_from_sec1(&[&[0x02], bytes].concat()).is_some(),
        };
        if valid { Ok(PublicKey { scheme, bytes: bytes.to_vec() }) } else { Err(Error::Malformed("public key")) }
    }
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// ECDSA: 33-byte SEC1 compressed point. Ed25519: 32 bytes. BIP-340: 32-byte x-only
    /// taproot output key Q (already tweaked for a key-path spend without script tree).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
    /// The bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.scheme, hex(&self.bytes))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One party's share of a threshold key.
#[derive(Clone)]
pub struct KeyShare {
    pub(crate) index: PartyIndex,
    pub(crate) secret: Secret,
    pub(crate) public: PublicPackage,
}

#[derive(Deserialize)]
struct Stored {
    version: u8,
    index: PartyIndex,
    secret: Secret,
    public: PublicPackage,
}

#[derive(Serialize)]
struct StoredRef<'a> {
    version: u8,
    index: PartyIndex,
    secret: &'a Secret,
    public: &'a PublicPackage,
}

impl KeyShare {
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.public.scheme()
    }
    /// The epoch: 1 after DKG, +1 for every refresh or reshare.
    pub fn epoch(&self) -> u64 {
        self.public.epoch
    }
    /// This share's index.
    pub fn index(&self) -> PartyIndex {
        self.index
    }
    /// Signatures need this many shares.
    pub fn threshold(&self) -> u16 {
        self.public.threshold
    }
    /// Number of shares (indices `1..=parties`).
    pub fn parties(&self) -> u16 {
        self.public.parties
    }
    /// The group public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.public_key()
    }
    /// The public facts of this key, to hand to a party that joins in a reshare.
    pub fn public_package(&self) -> &PublicPackage {
        &self.public
    }
    /// BIP-340 only: the x-only internal key P of the taproot output (for PSBT
    /// `tap_internal_key` and `tr(P)` descriptors).
    pub fn taproot_internal_key(&self) -> Option<[u8; 32]> {
        self.public.taproot_internal_key()
    }
    /// ECDSA only: the BIP-32 chain code agreed in DKG.
    pub fn chain_code(&self) -> Option<[u8; 32]> {
        match &self.public.inner {
            PublicInner::Ecdsa { chain_code, .. } => Some(*chain_code),
            _ => None,
        }
    }
    /// ECDSA only: the public key at a non-hardened BIP-32 path such as `m/44/60/0/0/0`.
    pub fn derive_public_key(&self, path: &str) -> Result<PublicKey, Error> {
        match &self.secret {
            Secret::Ecdsa(party) => crate::ecdsa::derive_public_key(party, path),
            _ => Err(no_derivation(self.scheme())),
        }
    }

    /// Encodes the share, secret included: store it only encrypted.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let stored =
            StoredRef { version: SHARE_VERSION, index: self.index, secret: &self.secret, public: &self.public };
        postcard::to_stdvec(&stored)
            .map(Zeroizing::new)
            .map_err(|_| Error::Aborted("could not encode the key share".into()))
    }

    /// Decodes a share: bounded, typed errors, checks that the secret matches the public part.
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, Error> {
        check_len("key share", bytes)?;
        let version = *bytes.first().ok_or(Error::Malformed("key share: empty"))?;
        if version != SHARE_VERSION {
            return Err(Error::UnsupportedVersion { what: "key share", version });
        }
        let stored: Stored = postcard::from_bytes(bytes).map_err(|_| Error::Malformed("key share"))?;
        let _ = stored.version;
        let share = KeyShare { index: stored.index, secret: stored.secret, public: stored.public };
        share.check()?;
        Ok(share)
    }

    /// The secret and public halves must describe the same key and index.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let consistent = match (&self.secret, &self.public.inner) {
            (Secret::Ecdsa(party), PublicInner::Ecdsa { public, chain_code }) => {
                party.pk == *public.verifying_key()
                    && party.derivation_data.chain_code == *chain_code
                    && u16::from(party.party_index.as_u8()) == self.index.get()
                    && public.verify_share(party.party_index, &crate::ecdsa::own_point(party))
            }
            (Secret::Ed25519(key), PublicInner::Ed25519 { public }) => frost_consistent(key, public, self.index),
            (Secret::Bip340(key), PublicInner::Bip340 { public, .. }) => frost_consistent(key, public, self.index),
            _ => false,
        };
        if consistent { Ok(()) } else { Err(Error::Malformed("key share: secret does not match its public package")) }
    }
}

fn frost_consistent<C: frost_core::Ciphersuite>(
    key: &frost_core::keys::KeyPackage<C>,
    public: &frost_core::keys::PublicKeyPackage<C>,
    index: PartyIndex,
) -> bool {
    let Ok(id) = frost_core::Identifier::<C>::try_from(index.get()) else { return false };
    let own = frost_core::keys::VerifyingShare::<C>::from(*key.signing_share());
    *key.identifier() == id
        && key.verifying_key() == public.verifying_key()
        && *key.verifying_share() == own
        && public.verifying_shares().get(&id) == Some(&own)
}

pub(crate) fn check_len(what: &'static str, bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > MAX_SHARE_BYTES {
        return Err(Error::TooLarge { what, len: bytes.len(), max: MAX_SHARE_BYTES });
    }
    Ok(())
}

impl PublicPackage {
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        match self.inner {
            PublicInner::Ecdsa { .. } => Scheme::Ecdsa,
            PublicInner::Ed25519 { .. } => Scheme::Ed25519,
            PublicInner::Bip340 { .. } => Scheme::Bip340,
        }
    }
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The threshold.
    pub fn threshold(&self) -> u16 {
        self.threshold
    }
    /// Number of shares.
    pub fn parties(&self) -> u16 {
        self.parties
    }
    /// The group public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            PublicInner::Ecdsa { public, .. } => {
                use k256::elliptic_curve::group::GroupEncoding;
                PublicKey::new(Scheme::Ecdsa, public.verifying_key().to_bytes().to_vec())
            }
            PublicInner::Ed25519 { public } => {
                PublicKey::new(Scheme::Ed25519, public.verifying_key().serialize().unwrap_or_default())
            }
            PublicInner::Bip340 { public, .. } => {
                // The compressed point minus its parity byte is the x-only key BIP-340 verifies.
                let compressed = public.verifying_key().serialize().unwrap_or_default();
                PublicKey::new(Scheme::Bip340, compressed.get(1..).unwrap_or_default().to_vec())
            }
        }
    }
    /// BIP-340 only: the x-only internal key P.
    pub fn taproot_internal_key(&self) -> Option<[u8; 32]> {
        match &self.inner {
            PublicInner::Bip340 { internal_key, .. } => Some(*internal_key),
            _ => None,
        }
    }
    /// ECDSA only: the BIP-32 chain code agreed in DKG (kept by refresh and reshare).
    pub fn chain_code(&self) -> Option<[u8; 32]> {
        match &self.inner {
            PublicInner::Ecdsa { chain_code, .. } => Some(*chain_code),
            _ => None,
        }
    }
    /// What a chain payload needs of this key: the group key, chain code or internal key.
    pub fn wallet_key(&self) -> WalletKey {
        WalletKey {
            public_key: self.public_key(),
            chain_code: self.chain_code(),
            taproot_internal_key: self.taproot_internal_key(),
        }
    }
    /// A digest of the whole package, for binding it into ceremonies and wallet records.
    pub fn digest(&self) -> Result<[u8; 32], Error> {
        use sha2::Digest;
        Ok(sha2::Sha256::digest(self.to_bytes()?).into())
    }
    /// Encodes the package.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = vec![SHARE_VERSION];
        out.extend(
            postcard::to_stdvec(self).map_err(|_| Error::Aborted("could not encode the public package".into()))?,
        );
        Ok(out)
    }
    /// Decodes a package from untrusted bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicPackage, Error> {
        check_len("public package", bytes)?;
        let (&version, rest) = bytes.split_first().ok_or(Error::Malformed("public package: empty"))?;
        if version != SHARE_VERSION {
            return Err(Error::UnsupportedVersion { what: "public package", version });
        }
        postcard::from_bytes(rest).map_err(|_| Error::Malformed("public package"))
    }
}

/// The public facts a chain payload needs about a wallet's key, without any share or
/// verifying shares: the group key and, for ECDSA, the BIP-32 chain code (to derive child
/// keys), for BIP-340 the taproot internal key P. Anyone who knows a wallet's public key
/// can build one, so digests can be computed and checked without the wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletKey {
    public_key: PublicKey,
    chain_code: Option<[u8; 32]>,
    taproot_internal_key: Option<[u8; 32]>,
}

impl WalletKey {
    /// A key from its parts. A chain code only fits ECDSA and an internal key only BIP-340;
    /// an internal key must be a valid x-only point. Either may be absent: derivation or
    /// PSBT signing is then refused with an error that says what is missing.
    pub fn new(
        public_key: PublicKey,
        chain_code: Option<[u8; 32]>,
        taproot_internal_key: Option<[u8; 32]>,
    ) -> Result<WalletKey, Error> {
        let scheme = public_key.scheme();
        if chain_code.is_some() && scheme != Scheme::Ecdsa {
            return Err(Error::InvalidParameters(format!("a {scheme} key has no BIP-32 chain code")));
        }
        if let Some(p) = taproot_internal_key {
            if scheme != Scheme::Bip340 {
                return Err(Error::InvalidParameters(format!("a {scheme} key has no taproot internal key")));
            }
            PublicKey::from_bytes(Scheme::Bip340, &p)?;
        }
        Ok(WalletKey { public_key, chain_code, taproot_internal_key })
    }
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.public_key.scheme()
    }
    /// The group public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    /// ECDSA: the BIP-32 chain code, if known.
    pub fn chain_code(&self) -> Option<[u8; 32]> {
        self.chain_code
    }
    /// BIP-340: the taproot internal key P, if known.
    pub fn taproot_internal_key(&self) -> Option<[u8; 32]> {
        self.taproot_internal_key
    }
    /// ECDSA only: the public key at a non-hardened BIP-32 path such as `m/44/60/0/0/0`,
    /// from the group key and chain code alone (BIP-32 public derivation). Equals what
    /// [`KeyShare::derive_public_key`] gives, and is the key a share derived to that path
    /// signs for.
    pub fn derive_public_key(&self, path: &str) -> Result<PublicKey, Error> {
        match (self.scheme(), self.chain_code) {
            (Scheme::Ecdsa, Some(chain_code)) => {
                crate::ecdsa::derive_public_from(self.public_key.as_bytes(), chain_code, path)
            }
            (Scheme::Ecdsa, None) => {
                Err(Error::InvalidParameters("BIP-32 derivation needs the wallet's chain code".into()))
            }
            (scheme, _) => Err(no_derivation(scheme)),
        }
    }
}

fn no_derivation(scheme: Scheme) -> Error {
    Error::InvalidParameters(format!("{scheme} keys have no BIP-32 derivation"))
}

impl std::fmt::Debug for PublicPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicPackage")
            .field("public_key", &self.public_key())
            .field("epoch", &self.epoch)
            .field("threshold", &self.threshold)
            .field("parties", &self.parties)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for KeyShare {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("index", &self.index)
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::{Scheme, testing};

    #[test]
    fn public_derivation_matches_the_share_and_bip32() {
        use bitcoin::bip32::{ChildNumber, DerivationPath, Xpub};
        use std::str::FromStr;
        let share = &testing::dkg(Scheme::Ecdsa, 2, 2).unwrap()[0];
        let key = share.public_package().wallet_key();
        let chain_code = key.chain_code().unwrap();
        // The independent check: the bitcoin crate's BIP-32 public derivation.
        let xpub = Xpub {
            network: bitcoin::NetworkKind::Main,
            depth: 0,
            parent_fingerprint: Default::default(),
            child_number: ChildNumber::from_normal_idx(0).unwrap(),
            public_key: bitcoin::secp256k1::PublicKey::from_slice(key.public_key().as_bytes()).unwrap(),
            chain_code: chain_code.into(),
        };
        let secp = bitcoin::secp256k1::Secp256k1::verification_only();
        for path in ["m", "m/0", "m/44/60/0/0/0", "m/44/60/0/0/7", "m/2147483647/1"] {
            let public = key.derive_public_key(path).unwrap();
            assert_eq!(public, share.derive_public_key(path).unwrap(), "{path}");
            let bip32 = xpub.derive_pub(&secp, &DerivationPath::from_str(path).unwrap()).unwrap();
            assert_eq!(public.as_bytes(), &bip32.public_key.serialize()[..], "{path}");
        }
        for bad in ["", "44/60", "m/44'/60", "m/2147483648", "m/x"] {
            assert!(key.derive_public_key(bad).is_err(), "{bad}");
        }
        let no_code = WalletKey::new(key.public_key().clone(), None, None).unwrap();
        assert!(no_code.derive_public_key("m/0").is_err());
    }

    #[test]
    fn public_keys_and_wallet_keys_from_parts() {
        for scheme in Scheme::ALL {
            let package = testing::dkg(scheme, 2, 2).unwrap()[0].public_package().clone();
            let key = package.wallet_key();
            let again = PublicKey::from_bytes(scheme, key.public_key().as_bytes()).unwrap();
            assert_eq!(&again, key.public_key());
            assert_eq!(WalletKey::new(again, key.chain_code(), key.taproot_internal_key()).unwrap(), key, "{scheme}");
            assert!(PublicKey::from_bytes(scheme, &[]).is_err());
            assert!(PublicKey::from_bytes(scheme, &[0xff; 33]).is_err());
            assert!(PublicKey::from_bytes(scheme, &key.public_key().as_bytes()[1..]).is_err());
        }
        let ed = testing::dkg(Scheme::Ed25519, 2, 2).unwrap()[0].public_key();
        assert!(WalletKey::new(ed.clone(), Some([1; 32]), None).is_err());
        assert!(WalletKey::new(ed.clone(), None, Some([1; 32])).is_err());
        assert!(WalletKey::new(ed, None, None).unwrap().derive_public_key("m/0").is_err());
        let tr = testing::dkg(Scheme::Bip340, 2, 2).unwrap()[0].public_key();
        // x = 5 is not on secp256k1 (5³ + 7 = 132 is not a square mod p).
        let mut not_x = [0u8; 32];
        not_x[31] = 5;
        assert!(WalletKey::new(tr, None, Some(not_x)).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        for scheme in Scheme::ALL {
            let share = &testing::dkg(scheme, 2, 2).unwrap()[0];
            let secret = match &share.secret {
                Secret::Ecdsa(party) => {
                    use k256::elliptic_curve::PrimeField;
                    party.poly_point.to_repr().to_vec()
                }
                Secret::Ed25519(key) => key.signing_share().serialize(),
                Secret::Bip340(key) => key.signing_share().serialize(),
            };
            let text = format!("{share:?} {:?}", share.public_package());
            assert!(text.contains("<redacted>"));
            assert!(!text.contains(&hex(&secret)), "{scheme}: secret in Debug output");
        }
    }
}
