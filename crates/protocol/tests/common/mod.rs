//! Independent verifiers: libsecp256k1 (the `secp256k1` crate, C code from Bitcoin Core's
//! project), `ed25519-dalek`, the `bitcoin` crate and libbitcoinconsensus. None of them is
//! the code that made the signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use bitcoin::hashes::Hash;
use bitcoin::key::TapTweak;
use secp256k1::{Message, Secp256k1};
use tssw_protocol::{KeyShare, SignRequest, Signature};

pub use tssw_verify::verify;

/// BIP-340 verification for an output key that commits to a script tree with `merkle_root`,
/// computed by the `bitcoin` crate from the internal key.
pub fn verify_with_merkle_root(
    internal_key: [u8; 32],
    merkle_root: [u8; 32],
    sighash: [u8; 32],
    signature: &Signature,
) -> Result<(), String> {
    let secp = Secp256k1::new();
    let Signature::Bip340(sig) = signature else { return Err("not BIP-340".into()) };
    let p = bitcoin::secp256k1::XOnlyPublicKey::from_slice(&internal_key).map_err(|e| e.to_string())?;
    let root = bitcoin::TapNodeHash::from_byte_array(merkle_root);
    let (q, _) = p.tap_tweak(&secp, Some(root));
    let sig = secp256k1::schnorr::Signature::from_slice(sig).map_err(|e| e.to_string())?;
    secp.verify_schnorr(&sig, &Message::from_digest(sighash), &q.to_x_only_public_key()).map_err(|e| e.to_string())
}

/// A random 32-byte value.
pub fn random32() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as usize)
            .wrapping_mul(i + 7) as u8
            ^ (i as u8);
    }
    Sha256Like::hash(&out)
}

struct Sha256Like;
impl Sha256Like {
    fn hash(data: &[u8]) -> [u8; 32] {
        bitcoin::hashes::sha256::Hash::hash(data).to_byte_array()
    }
}

/// A request for the share's scheme over a fresh random message.
pub fn request_for(share: &KeyShare) -> SignRequest {
    tssw_protocol::testing::random_request(share.scheme())
}

/// Every `k`-subset of `items`.
pub fn subsets<T: Clone>(items: &[T], k: usize) -> Vec<Vec<T>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if items.len() < k {
        return Vec::new();
    }
    let mut with: Vec<Vec<T>> = subsets(&items[1..], k - 1)
        .into_iter()
        .map(|mut s| {
            s.insert(0, items[0].clone());
            s
        })
        .collect();
    with.extend(subsets(&items[1..], k));
    with
}

/// Signs with exactly these shares and checks with the independent verifier.
pub fn sign_and_verify(shares: &[&KeyShare]) {
    let request = request_for(shares[0]);
    let signature = tssw_protocol::testing::sign(shares, &request).unwrap();
    verify(&shares[0].public_key(), &request, &signature).unwrap();
}

/// Signs with every t-subset.
pub fn sign_with_every_subset(shares: &[KeyShare]) {
    let t = usize::from(shares[0].threshold());
    let refs: Vec<&KeyShare> = shares.iter().collect();
    for subset in subsets(&refs, t) {
        sign_and_verify(&subset);
    }
}
