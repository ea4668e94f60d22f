//! Helpers for tests, fuzz targets and seed generation (feature `test-helpers`): a
//! deterministic RNG and ready-made setups and sessions. Never for production: the RNG is
//! predictable by design, so fuzz runs and seeds reproduce.

use sha2::{Digest, Sha256};
use tssw_protocol::{PartyIndex, Scheme};

use crate::{
    ChannelError, Contribution, Expectation, IdentityKey, Operation, PartyId, Session, Setup, SetupParams, SetupParty,
    VerifiedSetup,
};

/// A predictable RNG (SHA-256 of a seed and a counter). It only claims `CryptoRng` so that
/// the dalek constructors accept it in tests; its output is public.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
}

impl TestRng {
    /// An RNG whose whole output is determined by `seed`.
    pub fn new(seed: u8) -> TestRng {
        TestRng { seed: [seed; 32], counter: 0 }
    }
}

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let block: [u8; 32] =
                Sha256::new().chain_update(self.seed).chain_update(self.counter.to_be_bytes()).finalize().into();
            self.counter += 1;
            chunk.copy_from_slice(block.get(..chunk.len()).unwrap_or_default());
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

/// A complete, verified setup and every party's session, as a coordinator and the
/// parties would make them. `parties[i]` gets the index in its pair.
#[allow(clippy::too_many_arguments)]
pub fn sessions(
    coordinator: &IdentityKey,
    parties: &[(PartyIndex, &IdentityKey)],
    operation: Operation,
    scheme: Scheme,
    threshold: u16,
    digest: Option<[u8; 32]>,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<(VerifiedSetup, Vec<Session>), ChannelError> {
    let mut setup_parties = Vec::new();
    let mut ephemerals = Vec::new();
    for (index, identity) in parties {
        let (contribution, ephemeral) = Contribution::new(identity, rng);
        setup_parties.push(SetupParty { index: *index, contribution });
        ephemerals.push(ephemeral);
    }
    let setup = Setup::sign(
        coordinator,
        SetupParams { operation, scheme, threshold, parties: setup_parties, digest, expires_at: u64::MAX },
    )?;
    let bytes = setup.encode();
    let expected = Expectation {
        operation,
        scheme,
        threshold,
        parties: parties.iter().map(|(i, k)| (*i, k.party_id())).collect(),
        digest,
    };
    let mut verified = None;
    let mut out = Vec::new();
    for ((_, identity), ephemeral) in parties.iter().zip(ephemerals) {
        // Every party decodes and verifies the bytes on its own, as it would for real.
        let v = Setup::decode(&bytes)?.verify(&coordinator.party_id(), 0, &expected)?;
        out.push(Session::new(&v, identity, ephemeral)?);
        verified = Some(v);
    }
    let verified = verified.ok_or(ChannelError::SetupMismatch("no parties"))?;
    Ok((verified, out))
}

/// The fixed coordinator of [`fixed_sessions`].
pub fn fixed_coordinator() -> IdentityKey {
    IdentityKey::from_seed(&[0xc0; 32])
}

/// The fixed expectation of [`fixed_sessions`] and [`fixed_setup`].
pub fn fixed_expectation() -> Expectation {
    Expectation {
        operation: Operation::Sign,
        scheme: Scheme::Ed25519,
        threshold: 2,
        parties: (1..=2u8)
            .filter_map(|i| Some((PartyIndex::new(u16::from(i)).ok()?, IdentityKey::from_seed(&[i; 32]).party_id())))
            .collect(),
        digest: Some([0xd1; 32]),
    }
}

/// A deterministic 2-party Ed25519 sign setup (encoded) and the coordinator's identity.
pub fn fixed_setup() -> Result<(Vec<u8>, PartyId), ChannelError> {
    let (setup, _) = fixed()?;
    Ok((setup, fixed_coordinator().party_id()))
}

/// Deterministic sessions of parties 1 and 2 of [`fixed_setup`]: the same keys every run,
/// so fuzz seeds sealed by one stay valid for the other.
pub fn fixed_sessions() -> Result<(Session, Session), ChannelError> {
    fixed().map(|(_, s)| s)
}

fn fixed() -> Result<(Vec<u8>, (Session, Session)), ChannelError> {
    let one = IdentityKey::from_seed(&[1; 32]);
    let two = IdentityKey::from_seed(&[2; 32]);
    let mut rng = TestRng::new(7);
    let (c1, e1) = Contribution::new(&one, &mut rng);
    let (c2, e2) = Contribution::new(&two, &mut rng);
    let expected = fixed_expectation();
    let index = |i: u16| PartyIndex::new(i).map_err(|_| ChannelError::Misuse("index"));
    let setup = Setup::sign(
        &fixed_coordinator(),
        SetupParams {
            operation: expected.operation,
            scheme: expected.scheme,
            threshold: expected.threshold,
            parties: vec![
                SetupParty { index: index(1)?, contribution: c1 },
                SetupParty { index: index(2)?, contribution: c2 },
            ],
            digest: expected.digest,
            expires_at: u64::MAX,
        },
    )?;
    let verified = setup.verify(&fixed_coordinator().party_id(), 0, &expected)?;
    Ok((setup.encode(), (Session::new(&verified, &one, e1)?, Session::new(&verified, &two, e2)?)))
}
