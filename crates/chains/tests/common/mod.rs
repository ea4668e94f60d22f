//! Threshold wallets for the tests: every signature comes from an in-memory ceremony of the
//! protocol crate, never from a single local key.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod tools;

use std::sync::OnceLock;

use tssw_chains::{ChainSignature, SigningDigest, SigningPayload};
use tssw_protocol::{KeyShare, Scheme, SignRequest, Signature, testing};

/// A threshold wallet: all shares of one key.
pub struct Wallet {
    pub label: &'static str,
    pub threshold: u16,
    pub shares: Vec<KeyShare>,
}

impl Wallet {
    fn new(scheme: Scheme, threshold: u16, parties: u16, label: &'static str) -> Self {
        let shares = testing::dkg(scheme, threshold, parties).expect("dkg");
        Self { label, threshold, shares }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.shares[0].public_key().to_bytes()
    }

    pub fn internal_key(&self) -> [u8; 32] {
        self.shares[0].taproot_internal_key().expect("bip340 key")
    }

    pub fn derived_public_key(&self, path: &str) -> Vec<u8> {
        self.shares[0].derive_public_key(path).expect("derive").to_bytes()
    }

    /// Quorums to rotate through: every pair of shares, so 2-of-3 signs with each pair.
    fn quorum(&self, round: usize) -> Vec<&KeyShare> {
        let n = self.shares.len();
        let t = usize::from(self.threshold);
        let start = round % n;
        (0..t).map(|k| &self.shares[(start + k) % n]).collect()
    }

    /// Signs each digest in a ceremony (quorum rotating from `round`).
    pub fn sign_digests(&self, digests: &[SigningDigest], path: Option<&str>, round: usize) -> Vec<ChainSignature> {
        digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let request = match d {
                    SigningDigest::Ecdsa { prehash } => {
                        SignRequest::Ecdsa { prehash: *prehash, derivation_path: path.map(str::to_owned) }
                    }
                    SigningDigest::Ed25519 { message } => SignRequest::Ed25519 { message: message.clone() },
                    SigningDigest::Bip340 { sighash } => SignRequest::Bip340 { sighash: *sighash, merkle_root: None },
                };
                let sig = testing::sign(&self.quorum(round + i), &request).expect("sign");
                match sig {
                    Signature::Ecdsa { r, s, recovery_id } => ChainSignature::Ecdsa { r, s, recovery_id },
                    Signature::Ed25519(b) => ChainSignature::Ed25519(b),
                    Signature::Bip340(b) => ChainSignature::Bip340(b),
                }
            })
            .collect()
    }

    pub fn sign<P: SigningPayload>(&self, payload: &P, round: usize) -> Vec<ChainSignature> {
        self.sign_digests(&payload.digests(), None, round)
    }
}

fn cached(cell: &'static OnceLock<[Wallet; 2]>, scheme: Scheme) -> &'static [Wallet; 2] {
    cell.get_or_init(|| [Wallet::new(scheme, 2, 2, "2-of-2"), Wallet::new(scheme, 2, 3, "2-of-3")])
}

/// A 2-of-2 and a 2-of-3 wallet per scheme, made once per test binary.
pub fn wallets(scheme: Scheme) -> &'static [Wallet; 2] {
    static ECDSA: OnceLock<[Wallet; 2]> = OnceLock::new();
    static ED25519: OnceLock<[Wallet; 2]> = OnceLock::new();
    static BIP340: OnceLock<[Wallet; 2]> = OnceLock::new();
    match scheme {
        Scheme::Ecdsa => cached(&ECDSA, scheme),
        Scheme::Ed25519 => cached(&ED25519, scheme),
        Scheme::Bip340 => cached(&BIP340, scheme),
    }
}
