//! Identifiers shared by every ceremony: schemes, party indices and ceremony ids.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The three signature schemes, each backed by one audited-or-not upstream crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Scheme {
    /// ECDSA over secp256k1 with DKLs23 (`dkls23-core`): EVM chains.
    Ecdsa = 1,
    /// EdDSA over Ed25519 with FROST (`frost-ed25519`): Solana and other Ed25519 chains.
    Ed25519 = 2,
    /// BIP-340 Schnorr with FROST's taproot ciphersuite (`frost-secp256k1-tr`): Bitcoin.
    Bip340 = 3,
}

impl Scheme {
    /// All schemes, in wire order.
    pub const ALL: [Scheme; 3] = [Scheme::Ecdsa, Scheme::Ed25519, Scheme::Bip340];

    /// The scheme's wire tag.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// Parses a wire tag.
    pub fn from_tag(tag: u8) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.tag() == tag)
    }

    /// A stable lowercase name (`ecdsa`, `ed25519`, `bip340`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ecdsa => "ecdsa",
            Scheme::Ed25519 => "ed25519",
            Scheme::Bip340 => "bip340",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scheme {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Scheme::ALL.into_iter().find(|scheme| scheme.name() == s).ok_or_else(|| {
            Error::InvalidParameters(format!("unknown scheme `{s}` (expected ecdsa, ed25519 or bip340)"))
        })
    }
}

/// A party's index inside one ceremony: 1-based, at most [`PartyIndex::MAX`].
///
/// For DKG, signing and refresh it is the index of the party's key share. For a reshare it
/// is the party's position in the [`crate::ResharePlan`] (old and new share indices are
/// carried in the plan), because a party's share index may change across a reshare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16")]
pub struct PartyIndex(u16);

// Decoders of untrusted bytes get the 1..=255 check for free.
impl TryFrom<u16> for PartyIndex {
    type Error = Error;
    fn try_from(index: u16) -> Result<PartyIndex, Error> {
        PartyIndex::new(index)
    }
}

impl PartyIndex {
    /// The largest index: `dkls23` numbers parties with a `u8`.
    pub const MAX: u16 = 255;

    /// A party index in `1..=255`.
    pub fn new(index: u16) -> Result<PartyIndex, Error> {
        if index == 0 || index > Self::MAX {
            return Err(Error::InvalidParameters(format!("party index {index} is outside 1..={}", Self::MAX)));
        }
        Ok(PartyIndex(index))
    }

    /// The index as a number.
    pub fn get(self) -> u16 {
        self.0
    }

    pub(crate) fn as_u8(self) -> u8 {
        // Constructors keep the value in 1..=255.
        u8::try_from(self.0).unwrap_or(u8::MAX)
    }

    pub(crate) fn dkls(self) -> Result<dkls23_core::protocols::PartyIndex, Error> {
        dkls23_core::protocols::PartyIndex::new(self.as_u8())
            .map_err(|_| Error::InvalidParameters(format!("party index {} out of range", self.0)))
    }

    pub(crate) fn from_dkls(index: dkls23_core::protocols::PartyIndex) -> PartyIndex {
        PartyIndex(u16::from(index.as_u8()))
    }
}

impl std::fmt::Display for PartyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A ceremony's 32-byte identifier. It must be fresh for every ceremony, retries
/// included, and is bound into every message; the channel layer derives it from
/// randomness contributed by every party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CeremonyId(pub [u8; 32]);

impl CeremonyId {
    /// A random id from the OS RNG (for tests and single-process use).
    pub fn random() -> CeremonyId {
        use rand_core::RngCore;
        let mut id = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut id);
        CeremonyId(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Checks that `parties` is exactly `1..=n`, which `dkls23` requires of a key's share indices.
pub(crate) fn contiguous_parties(n: u16) -> Result<Vec<PartyIndex>, Error> {
    (1..=n).map(PartyIndex::new).collect()
}
