//! The ceremony setup: what every party agrees to before it sends anything, signed by the
//! coordinator (later, the enclave's attested identity).
//!
//! Layout (postcard): `version: u8 ‖ body: bytes ‖ signature: [u8; 64]`, where the
//! coordinator signs `"tssw/channel/v1/setup\0" ‖ body` and `body` is
//! `version ‖ ceremony id ‖ operation ‖ scheme ‖ threshold ‖ parties ‖ digest ‖ expiry`.
//! The signature covers the exact body bytes, and a session's keys are derived from a hash of
//! them, so two parties shown different setups under the same id cannot talk to each other.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tssw_protocol::{CeremonyId, PartyIndex, Scheme};

use crate::ChannelError;
use crate::identity::{Contribution, IdentityKey, PartyId};

/// The setup format version this build writes and reads; no other is accepted.
pub const SETUP_VERSION: u8 = 1;

/// Bound on an encoded setup: 255 parties of ≈ 200 bytes each, plus the header.
pub const MAX_SETUP_BYTES: usize = 64 * 1024;

const SETUP_DOMAIN: &[u8] = b"tssw/channel/v1/setup\0";
const TRANSCRIPT_DOMAIN: &[u8] = b"tssw/channel/v1/setup-transcript\0";
const CEREMONY_ID_DOMAIN: &[u8] = b"tssw/channel/v1/ceremony-id\0";

/// What a ceremony does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Operation {
    /// Distributed key generation.
    Dkg = 1,
    /// Signing a payload whose digest the setup names.
    Sign = 2,
    /// Refreshing the shares of a key.
    Refresh = 3,
    /// Moving a key to a new party set or threshold.
    Reshare = 4,
}

impl Operation {
    fn from_tag(tag: u8) -> Option<Operation> {
        [Operation::Dkg, Operation::Sign, Operation::Refresh, Operation::Reshare].into_iter().find(|o| *o as u8 == tag)
    }
}

/// One party in the setup: its index in the ceremony and its signed contribution (which
/// carries its identity key and ephemeral X25519 key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupParty {
    /// Its [`PartyIndex`] in the protocol ceremony.
    pub index: PartyIndex,
    /// Its signed contribution.
    pub contribution: Contribution,
}

impl SetupParty {
    /// The party's identity.
    pub fn party(&self) -> PartyId {
        self.contribution.party
    }
}

/// What the coordinator puts in a setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupParams {
    /// The operation.
    pub operation: Operation,
    /// The signature scheme.
    pub scheme: Scheme,
    /// The key's threshold (for a reshare: the new threshold).
    pub threshold: u16,
    /// Every party, in any order (the setup stores them by index).
    pub parties: Vec<SetupParty>,
    /// The payload digest: required for [`Operation::Sign`]; for a reshare, callers should
    /// bind a digest of the plan here.
    pub digest: Option<[u8; 32]>,
    /// Unix seconds after which no party accepts the setup.
    pub expires_at: u64,
}

/// What the verifying party asked for; the setup must match it exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The operation.
    pub operation: Operation,
    /// The scheme.
    pub scheme: Scheme,
    /// The threshold.
    pub threshold: u16,
    /// Every party (index and identity), this one included, in any order.
    pub parties: Vec<(PartyIndex, PartyId)>,
    /// The payload digest, if any.
    pub digest: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    version: u8,
    // As bytes, not a sequence of u8: same encoding, one copy (see tssw-protocol's Message).
    #[serde(borrow, with = "serde_bytes")]
    body: &'a [u8],
    #[serde(with = "serde_bytes")]
    signature: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct Body {
    version: u8,
    ceremony: [u8; 32],
    operation: u8,
    scheme: u8,
    threshold: u16,
    parties: Vec<SetupParty>,
    digest: Option<[u8; 32]>,
    expires_at: u64,
}

/// The ceremony id: a hash of every party's contribution, sorted by identity so that the
/// order the coordinator lists them in does not matter. No party chooses it alone: each
/// honest party's fresh nonce makes it fresh.
pub fn ceremony_id(contributions: &[Contribution]) -> CeremonyId {
    let mut sorted: Vec<&Contribution> = contributions.iter().collect();
    sorted.sort_by_key(|c| c.party);
    let mut h = Sha256::new();
    h.update(CEREMONY_ID_DOMAIN);
    h.update((sorted.len() as u64).to_be_bytes());
    for c in sorted {
        h.update(c.id_bytes());
    }
    CeremonyId(h.finalize().into())
}

/// A decoded setup whose signature and contents have not been checked yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    body: Vec<u8>,
    signature: [u8; 64],
    id: CeremonyId,
    params: SetupParams,
}

impl Setup {
    /// Builds and signs a setup as the coordinator. The parties' contributions are checked,
    /// so a coordinator never signs one that every party would reject.
    pub fn sign(coordinator: &IdentityKey, mut params: SetupParams) -> Result<Setup, ChannelError> {
        params.parties.sort_by_key(|p| p.index);
        check_structure(&params)?;
        let contributions: Vec<Contribution> = params.parties.iter().map(|p| p.contribution).collect();
        let id = ceremony_id(&contributions);
        let body = Body {
            version: SETUP_VERSION,
            ceremony: id.0,
            operation: params.operation as u8,
            scheme: params.scheme.tag(),
            threshold: params.threshold,
            parties: params.parties.clone(),
            digest: params.digest,
            expires_at: params.expires_at,
        };
        let body = postcard::to_stdvec(&body).map_err(|_| ChannelError::Misuse("setup does not encode"))?;
        if body.len() > MAX_SETUP_BYTES - 128 {
            return Err(ChannelError::TooLarge { what: "setup", len: body.len(), max: MAX_SETUP_BYTES });
        }
        let signature = coordinator.sign(SETUP_DOMAIN, &[&body]);
        Ok(Setup { body, signature, id, params })
    }

    /// The setup as sent to every party.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire { version: SETUP_VERSION, body: &self.body, signature: self.signature };
        // A struct of a byte, a slice and an array always serializes into a Vec; an empty
        // result would be rejected by every decoder.
        postcard::to_stdvec(&wire).unwrap_or_default()
    }

    /// Decodes untrusted bytes: bounded first, strict (no trailing bytes, known version
    /// only, known operation and scheme), never panics. Nothing is trusted until [`verify`].
    ///
    /// [`verify`]: Setup::verify
    pub fn decode(bytes: &[u8]) -> Result<Setup, ChannelError> {
        if bytes.len() > MAX_SETUP_BYTES {
            return Err(ChannelError::TooLarge { what: "setup", len: bytes.len(), max: MAX_SETUP_BYTES });
        }
        let version = *bytes.first().ok_or(ChannelError::Decode("setup: empty"))?;
        if version != SETUP_VERSION {
            return Err(ChannelError::UnsupportedVersion { what: "setup", version });
        }
        let wire: Wire<'_> = strict(bytes, "setup")?;
        let body: Body = strict(wire.body, "setup body")?;
        if body.version != SETUP_VERSION {
            return Err(ChannelError::UnsupportedVersion { what: "setup body", version: body.version });
        }
        let operation = Operation::from_tag(body.operation).ok_or(ChannelError::Decode("setup: unknown operation"))?;
        let scheme = Scheme::from_tag(body.scheme).ok_or(ChannelError::Decode("setup: unknown scheme"))?;
        // `PartyIndex`'s serde derive does not re-check its range: do it here.
        if body.parties.iter().any(|x| PartyIndex::new(x.index.get()).is_err()) {
            return Err(ChannelError::Decode("setup: party index outside 1..=255"));
        }
        let setup = Setup {
            body: wire.body.to_vec(),
            signature: wire.signature,
            id: CeremonyId(body.ceremony),
            params: SetupParams {
                operation,
                scheme,
                threshold: body.threshold,
                parties: body.parties,
                digest: body.digest,
                expires_at: body.expires_at,
            },
        };
        // postcard accepts over-long varints; one setup has one encoding.
        if setup.encode() != bytes {
            return Err(ChannelError::Decode("setup: non-canonical encoding"));
        }
        Ok(setup)
    }

    /// The ceremony id the setup claims (checked by [`Setup::verify`]).
    pub fn ceremony_id(&self) -> CeremonyId {
        self.id
    }

    /// The unverified contents, for routing and display only.
    pub fn params(&self) -> &SetupParams {
        &self.params
    }

    /// Verifies everything a party must check before it sends a byte: the coordinator's
    /// signature, the expiry against the caller's clock, every contribution's signature,
    /// that the id is the hash of the contributions, and that the setup is exactly what the
    /// caller expected. There is no partial acceptance.
    pub fn verify(
        &self,
        coordinator: &PartyId,
        now: u64,
        expected: &Expectation,
    ) -> Result<VerifiedSetup, ChannelError> {
        coordinator
            .verify(SETUP_DOMAIN, &[&self.body], &self.signature)
            .map_err(|()| ChannelError::BadSignature("setup"))?;
        let p = &self.params;
        if now >= p.expires_at {
            return Err(ChannelError::Expired { expires_at: p.expires_at, now });
        }
        check_structure(p)?;
        let contributions: Vec<Contribution> = p.parties.iter().map(|x| x.contribution).collect();
        if ceremony_id(&contributions) != self.id {
            return Err(ChannelError::SetupMismatch("ceremony id is not the hash of the contributions"));
        }
        if p.operation != expected.operation {
            return Err(ChannelError::SetupMismatch("operation"));
        }
        if p.scheme != expected.scheme {
            return Err(ChannelError::SetupMismatch("scheme"));
        }
        if p.threshold != expected.threshold {
            return Err(ChannelError::SetupMismatch("threshold"));
        }
        if p.digest != expected.digest {
            return Err(ChannelError::SetupMismatch("payload digest"));
        }
        let mut want = expected.parties.clone();
        want.sort();
        let have: Vec<(PartyIndex, PartyId)> = p.parties.iter().map(|x| (x.index, x.party())).collect();
        if have != want {
            return Err(ChannelError::SetupMismatch("party list"));
        }
        let mut h = Sha256::new();
        h.update(TRANSCRIPT_DOMAIN);
        h.update(&self.body);
        Ok(VerifiedSetup { id: self.id, params: p.clone(), transcript: h.finalize().into() })
    }
}

/// Decodes one postcard value and rejects trailing bytes.
fn strict<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &'static str) -> Result<T, ChannelError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|_| ChannelError::Decode(what))?;
    if !rest.is_empty() {
        return Err(ChannelError::Decode("trailing bytes"));
    }
    Ok(value)
}

/// Checks that hold for every setup whatever the caller expects.
fn check_structure(p: &SetupParams) -> Result<(), ChannelError> {
    let n = p.parties.len();
    if n < 2 || n > usize::from(PartyIndex::MAX) {
        return Err(ChannelError::SetupMismatch("a ceremony needs 2..=255 parties"));
    }
    if p.threshold == 0 || usize::from(p.threshold) > n {
        return Err(ChannelError::SetupMismatch("threshold outside 1..=parties"));
    }
    if p.parties.windows(2).any(|w| matches!(w, [a, b] if a.index >= b.index)) {
        return Err(ChannelError::SetupMismatch("party indices not strictly increasing"));
    }
    let ids: BTreeSet<PartyId> = p.parties.iter().map(SetupParty::party).collect();
    if ids.len() != n {
        return Err(ChannelError::SetupMismatch("an identity appears twice"));
    }
    if p.operation == Operation::Sign && p.digest.is_none() {
        return Err(ChannelError::SetupMismatch("a sign setup needs a payload digest"));
    }
    p.parties.iter().try_for_each(|x| x.contribution.verify())
}

/// A setup that passed [`Setup::verify`]: the only way to open a [`crate::Session`].
#[derive(Clone, Debug)]
pub struct VerifiedSetup {
    id: CeremonyId,
    params: SetupParams,
    transcript: [u8; 32],
}

impl VerifiedSetup {
    /// The ceremony id to start the protocol ceremony with.
    pub fn ceremony_id(&self) -> CeremonyId {
        self.id
    }
    /// The verified contents.
    pub fn params(&self) -> &SetupParams {
        &self.params
    }
    /// The ceremony index of `party`, if it takes part.
    pub fn index_of(&self, party: &PartyId) -> Option<PartyIndex> {
        self.params.parties.iter().find(|p| p.party() == *party).map(|p| p.index)
    }
    pub(crate) fn transcript(&self) -> [u8; 32] {
        self.transcript
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn p(i: u16) -> PartyIndex {
        PartyIndex::new(i).unwrap()
    }

    struct Fixture {
        coordinator: IdentityKey,
        parties: Vec<IdentityKey>,
        setup_parties: Vec<SetupParty>,
    }

    fn fixture(n: u16) -> Fixture {
        let parties: Vec<IdentityKey> = (0..n).map(|_| IdentityKey::random()).collect();
        let setup_parties = parties
            .iter()
            .enumerate()
            .map(|(i, k)| SetupParty {
                index: p(i as u16 + 1),
                contribution: Contribution::new(k, &mut rand_core::OsRng).0,
            })
            .collect();
        Fixture { coordinator: IdentityKey::random(), parties, setup_parties }
    }

    fn params(f: &Fixture) -> SetupParams {
        SetupParams {
            operation: Operation::Sign,
            scheme: Scheme::Ed25519,
            threshold: 2,
            parties: f.setup_parties.clone(),
            digest: Some([9; 32]),
            expires_at: 1_000,
        }
    }

    fn expectation(f: &Fixture) -> Expectation {
        Expectation {
            operation: Operation::Sign,
            scheme: Scheme::Ed25519,
            threshold: 2,
            parties: f.parties.iter().enumerate().map(|(i, k)| (p(i as u16 + 1), k.party_id())).collect(),
            digest: Some([9; 32]),
        }
    }

    /// Signs a body exactly as given, bypassing the coordinator-side checks, as a
    /// malicious coordinator would.
    fn sign_raw(coordinator: &IdentityKey, body: &Body) -> Vec<u8> {
        let body = postcard::to_stdvec(body).unwrap();
        let signature = coordinator.sign(SETUP_DOMAIN, &[&body]);
        postcard::to_stdvec(&Wire { version: SETUP_VERSION, body: &body, signature }).unwrap()
    }

    fn body_of(s: &Setup) -> Body {
        postcard::from_bytes(&s.body).unwrap()
    }

    #[test]
    fn round_trip_and_verify() {
        let f = fixture(3);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        let decoded = Setup::decode(&setup.encode()).unwrap();
        assert_eq!(decoded, setup);
        let v = decoded.verify(&f.coordinator.party_id(), 999, &expectation(&f)).unwrap();
        assert_eq!(v.ceremony_id(), ceremony_id(&f.setup_parties.iter().map(|p| p.contribution).collect::<Vec<_>>()));
        assert_eq!(v.index_of(&f.parties[2].party_id()), Some(p(3)));
    }

    #[test]
    fn id_does_not_depend_on_listing_order() {
        let f = fixture(3);
        let mut reversed = params(&f);
        reversed.parties.reverse();
        let a = Setup::sign(&f.coordinator, params(&f)).unwrap();
        let b = Setup::sign(&f.coordinator, reversed).unwrap();
        assert_eq!(a.ceremony_id(), b.ceremony_id());
    }

    #[test]
    fn wrong_coordinator_or_tampered_bytes() {
        let f = fixture(2);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        let e = expectation(&f);
        assert_eq!(
            setup.verify(&IdentityKey::random().party_id(), 0, &e).unwrap_err(),
            ChannelError::BadSignature("setup")
        );
        let bytes = setup.encode();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            if let Ok(s) = Setup::decode(&t) {
                assert!(s.verify(&f.coordinator.party_id(), 0, &e).is_err(), "byte {i} flipped and still verified");
            }
        }
    }

    #[test]
    fn expired() {
        let f = fixture(2);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        assert_eq!(
            setup.verify(&f.coordinator.party_id(), 1_000, &expectation(&f)).unwrap_err(),
            ChannelError::Expired { expires_at: 1_000, now: 1_000 }
        );
    }

    #[test]
    fn mismatches() {
        let f = fixture(3);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        let c = f.coordinator.party_id();
        type Change = Box<dyn Fn(&mut Expectation)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|e| e.threshold = 3), "threshold"),
            (Box::new(|e| e.digest = Some([8; 32])), "payload digest"),
            (Box::new(|e| e.digest = None), "payload digest"),
            (Box::new(|e| e.operation = Operation::Dkg), "operation"),
            (Box::new(|e| e.scheme = Scheme::Ecdsa), "scheme"),
            (Box::new(|e| e.parties.truncate(2)), "party list"),
            (Box::new(|e| e.parties.push((p(4), IdentityKey::random().party_id()))), "party list"),
            (Box::new(|e| e.parties[0].0 = p(9)), "party list"),
            (Box::new(|e| e.parties[1].1 = IdentityKey::random().party_id()), "party list"),
        ];
        for (change, why) in cases {
            let mut e = expectation(&f);
            change(&mut e);
            assert_eq!(setup.verify(&c, 0, &e).unwrap_err(), ChannelError::SetupMismatch(why));
        }
    }

    #[test]
    fn id_must_be_hash_of_contributions() {
        let f = fixture(2);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        let mut body = body_of(&setup);
        body.ceremony = [0x42; 32];
        let forged = Setup::decode(&sign_raw(&f.coordinator, &body)).unwrap();
        assert_eq!(
            forged.verify(&f.coordinator.party_id(), 0, &expectation(&f)).unwrap_err(),
            ChannelError::SetupMismatch("ceremony id is not the hash of the contributions")
        );
    }

    #[test]
    fn contribution_signature_checked() {
        let f = fixture(2);
        let setup = Setup::sign(&f.coordinator, params(&f)).unwrap();
        // The coordinator swaps in its own X25519 key for party 2 (a key-substitution MITM).
        let mut body = body_of(&setup);
        body.parties[1].contribution.x25519_public = [7; 32];
        let forged = Setup::decode(&sign_raw(&f.coordinator, &body)).unwrap();
        assert_eq!(
            forged.verify(&f.coordinator.party_id(), 0, &expectation(&f)).unwrap_err(),
            ChannelError::BadSignature("party contribution")
        );
        // And it refuses to sign such a thing itself.
        let mut bad = params(&f);
        bad.parties[0].contribution.nonce = [0; 32];
        assert_eq!(Setup::sign(&f.coordinator, bad).unwrap_err(), ChannelError::BadSignature("party contribution"));
    }

    #[test]
    fn structure_checks() {
        let f = fixture(2);
        let mut one = params(&f);
        one.parties.truncate(1);
        assert!(matches!(Setup::sign(&f.coordinator, one), Err(ChannelError::SetupMismatch(_))));
        let mut dup = params(&f);
        dup.parties[1].index = p(1);
        assert!(matches!(Setup::sign(&f.coordinator, dup), Err(ChannelError::SetupMismatch(_))));
        let mut no_digest = params(&f);
        no_digest.digest = None;
        assert!(matches!(Setup::sign(&f.coordinator, no_digest), Err(ChannelError::SetupMismatch(_))));
        let mut t = params(&f);
        t.threshold = 3;
        assert!(matches!(Setup::sign(&f.coordinator, t), Err(ChannelError::SetupMismatch(_))));
        // The same identity twice (with two contributions) under two indices.
        let mut twice = params(&f);
        twice.parties[1].contribution = Contribution::new(&f.parties[0], &mut rand_core::OsRng).0;
        assert_eq!(
            Setup::sign(&f.coordinator, twice).unwrap_err(),
            ChannelError::SetupMismatch("an identity appears twice")
        );
    }

    #[test]
    fn malformed_bytes() {
        let f = fixture(2);
        let bytes = Setup::sign(&f.coordinator, params(&f)).unwrap().encode();
        for len in 0..bytes.len() {
            assert!(Setup::decode(&bytes[..len]).is_err(), "truncation to {len} decoded");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Setup::decode(&trailing).unwrap_err(), ChannelError::Decode("trailing bytes"));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Setup::decode(&v2).unwrap_err(), ChannelError::UnsupportedVersion { what: "setup", version: 2 });
        let big = vec![1u8; MAX_SETUP_BYTES + 1];
        assert!(matches!(Setup::decode(&big), Err(ChannelError::TooLarge { .. })));
    }
}
