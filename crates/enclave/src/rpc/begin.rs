//! `Begin`: check the request, open what it needs, compute the digest the setup binds,
//! contribute, and sign the setup as coordinator.

use tssw_channel::{Contribution, Expectation, Operation, Setup, SetupParams, SetupParty};
use tssw_protocol::{KeyShare, MAX_BATCH, PartyIndex, PublicPackage, ResharePlan, max_batch};

use crate::enclave::{Enclave, Job, Pending};
use crate::error::EnclaveError;
use crate::seal::SealedShare;
use crate::wire::{Began, Begin, CeremonyOp};
use tssw_api::{ChainPayload, WalletId, binding};

pub(super) fn begin(enclave: &Enclave, b: Begin) -> Result<Began, EnclaveError> {
    let now = enclave.now();
    if b.expires_at <= now {
        return Err(EnclaveError::Expired);
    }
    if b.expires_at - now > enclave.limits.max_ceremony.as_secs() {
        return Err(EnclaveError::BadRequest(format!(
            "setup expiry is more than {} s ahead",
            enclave.limits.max_ceremony.as_secs()
        )));
    }
    let n = u16::try_from(b.others.len() + 1).map_err(|_| EnclaveError::BadRequest("too many parties".into()))?;
    let me = b.enclave_index;
    let wallet = &b.wallet_id;
    let (operation, scheme, threshold, digest, job) = match b.operation {
        CeremonyOp::Dkg { scheme, threshold } => {
            if threshold < 2 || threshold > n {
                return Err(EnclaveError::BadRequest(format!("cannot make a {threshold}-of-{n} key")));
            }
            let job = Job::Dkg { scheme, threshold, parties: n };
            (Operation::Dkg, scheme, threshold, binding::dkg_digest(wallet), job)
        }
        CeremonyOp::Sign { share, epoch, payload, allow_raw_digest, expected_digest } => {
            let share = signing_share(enclave, &share, wallet, epoch, me)?;
            if let ChainPayload::EpochCheck { epoch: asked } = payload
                && asked != share.epoch()
            {
                return Err(EnclaveError::BadRequest(format!(
                    "an epoch check for epoch {asked} with a share of epoch {}",
                    share.epoch()
                )));
            }
            let request = payload.sign_request(&share.public_package().wallet_key(), allow_raw_digest)?;
            let digest = binding::sign_digest(wallet, &request).map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
            expect_digest(expected_digest, digest)?;
            let signers = signers(&b.others, me);
            let (scheme, threshold) = (share.scheme(), share.threshold());
            (Operation::Sign, scheme, threshold, digest, Job::Sign { share, request, signers })
        }
        CeremonyOp::SignBatch { share, epoch, payloads, allow_raw_digest, expected_digest } => {
            // Bounded before the share is opened; the scheme's own limit once it is.
            if payloads.is_empty() || payloads.len() > MAX_BATCH {
                return Err(EnclaveError::BadRequest(format!(
                    "a batch signs 1 to {MAX_BATCH} payloads, not {}",
                    payloads.len()
                )));
            }
            let share = signing_share(enclave, &share, wallet, epoch, me)?;
            let max = max_batch(share.scheme());
            if payloads.len() > max {
                return Err(EnclaveError::BadRequest(format!(
                    "a {} batch signs 1 to {max} payloads, not {}",
                    share.scheme(),
                    payloads.len()
                )));
            }
            let key = share.public_package().wallet_key();
            let requests = payloads
                .iter()
                .map(|p| match p {
                    ChainPayload::EpochCheck { .. } => {
                        Err(EnclaveError::BadRequest("an epoch check is not signed in a batch".into()))
                    }
                    p => Ok(p.sign_request(&key, allow_raw_digest)?),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let digest =
                binding::sign_batch_digest(wallet, &requests).map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
            expect_digest(expected_digest, digest)?;
            let signers = signers(&b.others, me);
            let (scheme, threshold) = (share.scheme(), share.threshold());
            (Operation::Sign, scheme, threshold, digest, Job::SignBatch { share, requests, signers })
        }
        CeremonyOp::Refresh { share, epoch } => {
            let share = enclave.sealer()?.open(&share, wallet, epoch)?;
            own_index(me, share.index())?;
            if n != share.parties() {
                return Err(EnclaveError::BadRequest(format!(
                    "a refresh needs all {} share holders, the request names {n}",
                    share.parties()
                )));
            }
            let digest = binding::refresh_digest(wallet, share.public_package())
                .map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
            let (scheme, threshold) = (share.scheme(), share.threshold());
            (Operation::Refresh, scheme, threshold, digest, Job::Refresh { share: Box::new(share) })
        }
        CeremonyOp::Reshare { share, epoch, old_public, plan } => {
            // The plan arrives through serde: build it again so its checks run.
            let plan = ResharePlan::new(plan.old_threshold(), plan.new_threshold(), plan.members().to_vec())
                .map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
            let old = PublicPackage::from_bytes(&old_public)
                .map_err(|e| EnclaveError::BadRequest(format!("old public package: {e}")))?;
            if old.epoch() != epoch {
                return Err(EnclaveError::BadRequest("old public package is not of the wallet's epoch".into()));
            }
            if usize::from(n) != plan.members().len() {
                return Err(EnclaveError::BadRequest("the parties are not the plan's members".into()));
            }
            let member = plan
                .members()
                .get(usize::from(me.get()) - 1)
                .copied()
                .ok_or_else(|| EnclaveError::BadRequest("the enclave is not in the plan".into()))?;
            let share = match (member.old, share) {
                (Some(old_index), Some(sealed)) => {
                    let share = enclave.sealer()?.open(&sealed, wallet, epoch)?;
                    own_index(old_index, share.index())?;
                    let same = share.public_package().digest().ok() == old.digest().ok();
                    if !same {
                        return Err(EnclaveError::BadRequest("the share is not of the old public package".into()));
                    }
                    Some(Box::new(share))
                }
                (Some(_), None) => return Err(EnclaveError::BadRequest("a dealer needs its sealed share".into())),
                (None, _) => None,
            };
            let digest =
                binding::reshare_digest(wallet, &old, &plan).map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
            let (scheme, threshold) = (old.scheme(), plan.new_threshold());
            (Operation::Reshare, scheme, threshold, digest, Job::Reshare { plan, share, old: Box::new(old) })
        }
    };

    check_indices(&operation, &job, me, &b.others)?;
    let (contribution, ephemeral) = Contribution::new(&enclave.identity, &mut rand_core::OsRng);
    let mut parties = b.others;
    parties.push(SetupParty { index: me, contribution });
    let expected = Expectation {
        operation,
        scheme,
        threshold,
        parties: parties.iter().map(|p| (p.index, p.party())).collect(),
        digest: Some(digest),
    };
    let params = SetupParams { operation, scheme, threshold, parties, digest: Some(digest), expires_at: b.expires_at };
    let setup = Setup::sign(&enclave.identity, params).map_err(EnclaveError::Setup)?;
    // Verify our own setup as every other party will: it gives the session its transcript.
    let verified = setup.verify(&enclave.identity(), now, &expected).map_err(EnclaveError::Setup)?;
    let ceremony = verified.ceremony_id();
    let pending = Pending { wallet: b.wallet_id, job, setup: verified, ephemeral, expires_at: b.expires_at };
    if !enclave.park(ceremony, pending) {
        return Err(EnclaveError::Busy("too many prepared ceremonies"));
    }
    Ok(Began { ceremony, setup: setup.encode(), enclave: enclave.identity(), digest: Some(digest) })
}

/// Opens the share a signature uses and checks it is the enclave's seat in the ceremony.
fn signing_share(
    enclave: &Enclave,
    sealed: &SealedShare,
    wallet: &WalletId,
    epoch: u64,
    me: PartyIndex,
) -> Result<Box<KeyShare>, EnclaveError> {
    let share = enclave.sealer()?.open(sealed, wallet, epoch)?;
    own_index(me, share.index())?;
    Ok(Box::new(share))
}

fn expect_digest(expected: Option<[u8; 32]>, digest: [u8; 32]) -> Result<(), EnclaveError> {
    if expected.is_some_and(|d| d != digest) { Err(EnclaveError::DigestMismatch) } else { Ok(()) }
}

fn signers(others: &[SetupParty], me: PartyIndex) -> Vec<PartyIndex> {
    others.iter().map(|p| p.index).chain([me]).collect()
}

fn own_index(asked: PartyIndex, share: PartyIndex) -> Result<(), EnclaveError> {
    if asked == share {
        Ok(())
    } else {
        Err(EnclaveError::BadRequest(format!("the enclave's share is {share}, the request says {asked}")))
    }
}

/// Catches at `Begin` what the protocol would only refuse at `Run`, after every party has
/// been handed a setup: DKG and refresh number the parties 1..=n; a signature needs
/// distinct share indices of the key, exactly t for ECDSA and at least t for FROST.
fn check_indices(operation: &Operation, job: &Job, me: PartyIndex, others: &[SetupParty]) -> Result<(), EnclaveError> {
    let mut indices: Vec<u16> = others.iter().map(|p| p.index.get()).chain([me.get()]).collect();
    indices.sort_unstable();
    let n = indices.len();
    let contiguous = indices.iter().zip(1u16..).all(|(i, want)| *i == want);
    match (operation, job) {
        (Operation::Dkg | Operation::Refresh, _) if !contiguous => {
            Err(EnclaveError::BadRequest("DKG and refresh parties must be numbered 1..=n".into()))
        }
        (_, Job::Sign { share, .. } | Job::SignBatch { share, .. }) => {
            let distinct = indices.windows(2).all(|w| w.first() != w.get(1));
            let in_range = indices.iter().all(|i| *i <= share.parties());
            let t = usize::from(share.threshold());
            let enough = match share.scheme() {
                tssw_protocol::Scheme::Ecdsa => n == t,
                tssw_protocol::Scheme::Ed25519 | tssw_protocol::Scheme::Bip340 => n >= t,
            };
            if distinct && in_range && enough {
                Ok(())
            } else {
                Err(EnclaveError::BadRequest(format!("{n} signers {indices:?} for a {t}-of-{} key", share.parties())))
            }
        }
        _ => Ok(()),
    }
}
