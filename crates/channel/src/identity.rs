//! Long-term party identities (Ed25519) and the per-ceremony ephemeral X25519 keys and
//! random nonces that every party contributes to a ceremony.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey as XPublic, ReusableSecret};
use zeroize::Zeroizing;

use crate::ChannelError;
use crate::aead::Suites;

/// Domain tags: one per kind of signed statement, so a signature made for one purpose is
/// never valid for another (the coordinator may also be a party and sign both).
pub(crate) const CONTRIBUTION_DOMAIN: &[u8] = b"tssw/channel/v1/contribution\0";

/// A party's identity: its Ed25519 public key. Two parties are the same iff these bytes are.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartyId(pub [u8; 32]);

impl PartyId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as a verifier. Rejects bytes that are not a curve point, so a setup naming
    /// such a party fails before any signature is checked against it.
    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, ChannelError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| ChannelError::BadSignature("identity key is not a valid point"))
    }

    /// `verify_strict`: rejects small-order keys and non-canonical signatures, so one
    /// message has one valid signature per key (no malleated duplicates).
    pub(crate) fn verify(&self, domain: &[u8], parts: &[&[u8]], signature: &[u8; 64]) -> Result<(), ()> {
        let key = self.verifying_key().map_err(|_| ())?;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(&signed_bytes(domain, parts), &sig).map_err(|_| ())
    }
}

impl std::fmt::Debug for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartyId(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl std::fmt::Display for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Concatenates a domain and fixed-layout parts into the bytes that get signed. Every
/// caller's parts have fixed lengths or are hashes, so the concatenation is unambiguous.
fn signed_bytes(domain: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = domain.to_vec();
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// A party's long-term Ed25519 signing key. The secret zeroizes on drop (`ed25519-dalek`'s
/// `zeroize` feature) and never shows in `Debug`.
pub struct IdentityKey(SigningKey);

impl IdentityKey {
    /// A fresh key from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> IdentityKey {
        IdentityKey(SigningKey::generate(rng))
    }

    /// A fresh key from the OS RNG.
    pub fn random() -> IdentityKey {
        IdentityKey::generate(&mut rand_core::OsRng)
    }

    /// Restores a key from its 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> IdentityKey {
        IdentityKey(SigningKey::from_bytes(seed))
    }

    /// The secret seed, for storage; zeroized when dropped.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// This party's public identity.
    pub fn party_id(&self) -> PartyId {
        PartyId(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 64] {
        self.0.sign(&signed_bytes(domain, parts)).to_bytes()
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdentityKey").field(&self.party_id()).field(&"<redacted>").finish()
    }
}

/// What one party puts into a ceremony before it exists: fresh randomness for the ceremony
/// id and the public half of its ephemeral X25519 key, signed with its identity key so
/// the coordinator cannot substitute either.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// The contributing party.
    pub party: PartyId,
    /// 32 fresh random bytes; with every other party's, they make the ceremony id.
    pub nonce: [u8; 32],
    /// The party's ephemeral X25519 public key for this ceremony.
    pub x25519_public: [u8; 32],
    /// The AEADs the party's build runs; each pair seals with one both list.
    pub suites: Suites,
    /// Ed25519 signature by `party` over the four fields above.
    #[serde(with = "serde_bytes")]
    pub signature: [u8; 64],
}

impl Contribution {
    /// Makes this party's contribution to a new ceremony. The returned [`EphemeralKey`] is
    /// needed to open the ceremony's [`crate::Session`] and is consumed by it.
    pub fn new(identity: &IdentityKey, rng: &mut impl CryptoRngCore) -> (Contribution, EphemeralKey) {
        Contribution::declaring(identity, rng, Suites::supported())
    }

    /// A contribution that lists `suites` rather than what this build runs: for tests of
    /// pairs whose builds differ (a browser's and the enclave's).
    #[cfg(any(test, feature = "test-helpers"))]
    pub fn with_suites(
        identity: &IdentityKey,
        rng: &mut impl CryptoRngCore,
        suites: Suites,
    ) -> (Contribution, EphemeralKey) {
        Contribution::declaring(identity, rng, suites)
    }

    fn declaring(identity: &IdentityKey, rng: &mut impl CryptoRngCore, suites: Suites) -> (Contribution, EphemeralKey) {
        let secret = ReusableSecret::random_from_rng(&mut *rng);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let party = identity.party_id();
        let x25519_public = XPublic::from(&secret).to_bytes();
        let mut contribution = Contribution { party, nonce, x25519_public, suites, signature: [0; 64] };
        contribution.signature = identity.sign(CONTRIBUTION_DOMAIN, &[&contribution.signed_bytes()]);
        (contribution, EphemeralKey { secret, nonce, public: x25519_public })
    }

    /// Checks the party's signature.
    pub fn verify(&self) -> Result<(), ChannelError> {
        self.party
            .verify(CONTRIBUTION_DOMAIN, &[&self.signed_bytes()], &self.signature)
            .map_err(|()| ChannelError::BadSignature("party contribution"))
    }

    /// What the party's signature covers: every field before it, in order.
    pub(crate) fn signed_bytes(&self) -> [u8; 97] {
        let mut out = [0u8; 97];
        out[..96].copy_from_slice(&self.id_bytes());
        out[96] = self.suites.bits();
        out
    }

    /// The fixed-length bytes that go into the ceremony id.
    pub(crate) fn id_bytes(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&self.party.0);
        out[32..64].copy_from_slice(&self.nonce);
        out[64..].copy_from_slice(&self.x25519_public);
        out
    }
}

impl std::fmt::Debug for Contribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contribution").field("party", &self.party).finish_non_exhaustive()
    }
}

/// A party's ephemeral X25519 secret for one ceremony, with the nonce it contributed. It
/// is consumed by [`crate::Session::new`], so one key serves one session. `ReusableSecret`
/// (not `EphemeralSecret`) because a session agrees a key with every other party; it
/// zeroizes on drop and has no serialization, so it cannot outlive the process.
pub struct EphemeralKey {
    pub(crate) secret: ReusableSecret,
    pub(crate) nonce: [u8; 32],
    pub(crate) public: [u8; 32],
}

impl EphemeralKey {
    /// The public half, as it appears in the contribution.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralKey(<redacted>)")
    }
}
