//! The digests a ceremony setup binds (invariant 4). The enclave puts them in the setups it
//! signs; the client computes the same from what it asked for and passes them to
//! `Setup::verify`, so a host that asks the enclave for something else than the client
//! wanted is caught before a byte of protocol is sent.

use sha2::{Digest, Sha256};
use tssw_protocol::{PublicPackage, ResharePlan, SignRequest};

use crate::WalletId;

const DKG: &[u8] = b"tssw/enclave/v1/dkg\0";
const SIGN: &[u8] = b"tssw/enclave/v1/sign\0";
const SIGN_BATCH: &[u8] = b"tssw/enclave/v1/sign-batch\0";
const REFRESH: &[u8] = b"tssw/enclave/v1/refresh\0";
const RESHARE: &[u8] = b"tssw/enclave/v1/reshare\0";

/// A value that did not encode for hashing (a bug, not bad input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the {0} for its digest")]
pub struct DigestError(&'static str);

/// DKG: binds the wallet id.
pub fn dkg_digest(wallet: &WalletId) -> [u8; 32] {
    Sha256::new().chain_update(DKG).chain_update(wallet.framed()).finalize().into()
}

/// Sign: binds the wallet id and exactly what is signed (digest or message, derivation
/// path, merkle root).
pub fn sign_digest(wallet: &WalletId, request: &SignRequest) -> Result<[u8; 32], DigestError> {
    let request = postcard::to_stdvec(request).map_err(|_| DigestError("sign request"))?;
    Ok(Sha256::new().chain_update(SIGN).chain_update(wallet.framed()).chain_update(request).finalize().into())
}

/// A batch: binds the wallet id and every request in order. Its own domain, so a batch of
/// one is not a single signature's setup.
pub fn sign_batch_digest(wallet: &WalletId, requests: &[SignRequest]) -> Result<[u8; 32], DigestError> {
    let requests = postcard::to_stdvec(requests).map_err(|_| DigestError("sign requests"))?;
    Ok(Sha256::new().chain_update(SIGN_BATCH).chain_update(wallet.framed()).chain_update(requests).finalize().into())
}

/// Refresh: binds the wallet id and the key being refreshed (its public package, with epoch).
pub fn refresh_digest(wallet: &WalletId, old: &PublicPackage) -> Result<[u8; 32], DigestError> {
    let old = old.digest().map_err(|_| DigestError("public package"))?;
    Ok(Sha256::new().chain_update(REFRESH).chain_update(wallet.framed()).chain_update(old).finalize().into())
}

/// Reshare: binds the wallet id, the old key and the plan.
pub fn reshare_digest(wallet: &WalletId, old: &PublicPackage, plan: &ResharePlan) -> Result<[u8; 32], DigestError> {
    let old = old.digest().map_err(|_| DigestError("public package"))?;
    let plan = postcard::to_stdvec(plan).map_err(|_| DigestError("reshare plan"))?;
    Ok(Sha256::new()
        .chain_update(RESHARE)
        .chain_update(wallet.framed())
        .chain_update(old)
        .chain_update(plan)
        .finalize()
        .into())
}
