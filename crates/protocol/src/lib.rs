//! Sans-IO threshold ceremonies for tss-wallet: distributed key generation, signing, refresh
//! and reshare for ECDSA secp256k1 (DKLs23, `dkls23-core`), Ed25519 (FROST,
//! `frost-ed25519`) and BIP-340 (FROST, `frost-secp256k1-tr`).
//!
//! Every operation is a [`Ceremony`]: start it with [`dkg`], [`sign`], [`refresh`] or
//! [`reshare`], send the messages it returns, feed it each incoming [`Message`] whose sender
//! your transport authenticated, and send what [`Ceremony::handle`] returns until it says
//! [`Step::Done`]. Nothing here does I/O, spawns, sleeps or reads a clock. Messages are not
//! encrypted here: some carry secret share fragments, so the transport must encrypt and
//! authenticate every message end to end (the `channel` crate does).
//!
//! ```
//! use tssw_protocol::{CeremonyId, Scheme, SignRequest, testing};
//! # fn main() -> Result<(), tssw_protocol::Error> {
//! let shares = testing::dkg(Scheme::Ed25519, 2, 3)?;                 // in-memory pump
//! let request = SignRequest::Ed25519 { message: b"hello".to_vec() };
//! let signature = testing::sign(&[&shares[0], &shares[2]], &request)?;  // any 2 of 3
//! # let _ = (signature, CeremonyId::random());
//! # Ok(()) }
//! ```

mod batch;
mod ceremony;
mod ecdsa;
mod error;
mod frost;
mod ids;
pub mod local;
mod message;
mod reshare;
mod share;
mod signature;
#[cfg(feature = "test-helpers")]
pub mod testing;

use std::collections::BTreeSet;

pub use batch::{MAX_BATCH, max_batch};
pub use ceremony::{Ceremony, Step};
pub use error::Error;
pub use ids::{CeremonyId, PartyIndex, Scheme};
pub use message::{MAX_MESSAGE_BYTES, MESSAGE_VERSION, Message, Recipient};
pub use reshare::{Member, ReshareOutput, ResharePlan};
pub use share::{KeyShare, MAX_SHARE_BYTES, PublicKey, PublicPackage, SHARE_VERSION, WalletKey};
pub use signature::{MAX_ED25519_MESSAGE, SignRequest, Signature};

use ceremony::Context;
use frost_ed25519::Ed25519Sha512 as Ed;
use frost_secp256k1_tr::Secp256K1Sha256TR as Tr;

/// Starts a distributed key generation: a fresh `threshold`-of-`parties` key, with this
/// party as `me` of `1..=parties`. Ends with the party's [`KeyShare`] at epoch 1.
pub fn dkg(
    id: CeremonyId,
    scheme: Scheme,
    me: PartyIndex,
    threshold: u16,
    parties: u16,
) -> Result<(Ceremony<KeyShare>, Vec<Message>), Error> {
    if threshold < 2 || threshold > parties || parties > PartyIndex::MAX {
        return Err(Error::InvalidParameters(format!(
            "cannot make a {threshold}-of-{parties} key (need 2 <= t <= n <= 255)"
        )));
    }
    let ctx = Context { id, scheme, me, parties: ids::contiguous_parties(parties)?.into_iter().collect() };
    let (first, out, rounds) = match scheme {
        Scheme::Ecdsa => {
            let (r, o) = ecdsa::dkg::start(id, me, threshold, parties)?;
            (r, o, ecdsa::dkg::ROUNDS)
        }
        Scheme::Ed25519 => {
            let (r, o) = frost::dkg::start::<Ed>(&ctx, threshold, parties)?;
            (r, o, frost::dkg::ROUNDS)
        }
        Scheme::Bip340 => {
            let (r, o) = frost::dkg::start::<Tr>(&ctx, threshold, parties)?;
            (r, o, frost::dkg::ROUNDS)
        }
    };
    Ceremony::start(ctx, rounds, first, out)
}

/// Starts signing `request` with `share`, together with `signers` (share indices, this
/// party's included; ECDSA needs exactly the threshold, FROST at least the threshold).
pub fn sign(
    id: CeremonyId,
    share: &KeyShare,
    signers: &[PartyIndex],
    request: SignRequest,
) -> Result<(Ceremony<Signature>, Vec<Message>), Error> {
    let ctx = signing_context(id, share, signers)?;
    let ((first, out), rounds) = start_signing(&ctx, share, request)?;
    Ceremony::start(ctx, rounds, first, out)
}

/// Starts signing every request of `requests` in one ceremony (1..=[`max_batch`]): the
/// same signers, one signature per request in order, each its own protocol run under its
/// own derived id, their messages carried together round by round. One setup, session
/// and relay connection serve them all.
pub fn sign_batch(
    id: CeremonyId,
    share: &KeyShare,
    signers: &[PartyIndex],
    requests: Vec<SignRequest>,
) -> Result<(Ceremony<Vec<Signature>>, Vec<Message>), Error> {
    let ctx = signing_context(id, share, signers)?;
    let max = max_batch(share.scheme());
    if requests.is_empty() || requests.len() > max {
        return Err(Error::InvalidParameters(format!(
            "a {} batch signs 1 to {max} requests, not {}",
            share.scheme(),
            requests.len()
        )));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut rounds = 0;
    for (i, request) in requests.into_iter().enumerate() {
        let item = batch::item_context(&ctx, i);
        let (started, r) = start_signing(&item, share, request)?;
        rounds = r;
        items.push((item, started));
    }
    let (first, out) = batch::start(items)?;
    Ceremony::start(ctx, rounds, first, out)
}

/// Checks the signer set against the share and makes the ceremony's context.
fn signing_context(id: CeremonyId, share: &KeyShare, signers: &[PartyIndex]) -> Result<Context, Error> {
    let parties: BTreeSet<PartyIndex> = signers.iter().copied().collect();
    let t = usize::from(share.threshold());
    if parties.len() != signers.len()
        || parties.iter().any(|p| p.get() > share.parties())
        || !parties.contains(&share.index)
    {
        return Err(Error::InvalidParameters("signers must be distinct share indices and include this party".into()));
    }
    let enough = match share.scheme() {
        Scheme::Ecdsa => parties.len() == t,
        Scheme::Ed25519 | Scheme::Bip340 => parties.len() >= t,
    };
    if !enough {
        return Err(Error::InvalidParameters(format!(
            "{} signers for a {t}-of-{} key",
            parties.len(),
            share.parties()
        )));
    }
    Ok(Context { id, scheme: share.scheme(), me: share.index, parties })
}

/// The first round of one signature, and how many rounds it takes.
fn start_signing(
    ctx: &Context,
    share: &KeyShare,
    request: SignRequest,
) -> Result<(ceremony::Started<Signature>, u8), Error> {
    request.validate()?;
    if request.scheme() != share.scheme() {
        return Err(Error::InvalidParameters(format!(
            "a {} request cannot be signed with a {} share",
            request.scheme(),
            share.scheme()
        )));
    }
    Ok(match (request, &share.secret) {
        (SignRequest::Ecdsa { prehash, derivation_path }, share::Secret::Ecdsa(party)) => {
            let party = match derivation_path {
                Some(path) => party
                    .derive_from_path(&path, |_| String::new())
                    .map_err(|e| Error::InvalidParameters(format!("derivation path `{path}`: {}", e.description)))?,
                None => (**party).clone(),
            };
            (ecdsa::sign::start(ctx, party, prehash)?, ecdsa::sign::ROUNDS)
        }
        (SignRequest::Ed25519 { message }, _) => {
            (frost::sign::start::<Ed>(ctx, share, message, None)?, frost::sign::ROUNDS)
        }
        (SignRequest::Bip340 { sighash, merkle_root }, _) => {
            (frost::sign::start::<Tr>(ctx, share, sighash.to_vec(), merkle_root)?, frost::sign::ROUNDS)
        }
        (SignRequest::Ecdsa { .. }, _) => {
            return Err(Error::InvalidParameters("ECDSA request for a non-ECDSA share".into()));
        }
    })
}

/// Starts a refresh: all share holders re-randomize their shares; the key, threshold and
/// party set stay and the epoch moves to the next. Old and new shares do not combine.
pub fn refresh(id: CeremonyId, share: &KeyShare) -> Result<(Ceremony<KeyShare>, Vec<Message>), Error> {
    let ctx = Context {
        id,
        scheme: share.scheme(),
        me: share.index,
        parties: ids::contiguous_parties(share.parties())?.into_iter().collect(),
    };
    let (first, out, rounds) = match share.scheme() {
        Scheme::Ecdsa => {
            let (r, o) = ecdsa::refresh::start(&ctx, share)?;
            (r, o, ecdsa::refresh::ROUNDS)
        }
        Scheme::Ed25519 => {
            let (r, o) = frost::refresh::start::<Ed>(&ctx, share)?;
            (r, o, frost::refresh::ROUNDS)
        }
        Scheme::Bip340 => {
            let (r, o) = frost::refresh::start::<Tr>(&ctx, share)?;
            (r, o, frost::refresh::ROUNDS)
        }
    };
    Ceremony::start(ctx, rounds, first, out)
}

/// Starts a reshare of the key described by `old` under `plan`, as member `me` (its position
/// in the plan). Dealers pass their old share; new members that hold none pass `None`.
pub fn reshare(
    id: CeremonyId,
    plan: &ResharePlan,
    me: PartyIndex,
    old_share: Option<&KeyShare>,
    old: &PublicPackage,
) -> Result<(Ceremony<ReshareOutput>, Vec<Message>), Error> {
    let scheme = old.scheme();
    if plan.old_threshold() != old.threshold() || plan.dealers().iter().any(|(_, o)| o.get() > old.parties()) {
        return Err(Error::InvalidParameters("reshare plan does not fit the old key".into()));
    }
    let ctx = Context { id, scheme, me, parties: plan.parties().into_iter().collect() };
    let (first, out, rounds) = match scheme {
        Scheme::Ecdsa => {
            let (r, o) = ecdsa::reshare::start(&ctx, plan, old_share, old)?;
            (r, o, ecdsa::reshare::ROUNDS)
        }
        Scheme::Ed25519 => {
            let (r, o) = frost::reshare::start::<Ed>(&ctx, plan, old_share, old)?;
            (r, o, frost::reshare::ROUNDS)
        }
        Scheme::Bip340 => {
            let (r, o) = frost::reshare::start::<Tr>(&ctx, plan, old_share, old)?;
            (r, o, frost::reshare::ROUNDS)
        }
    };
    Ceremony::start(ctx, rounds, first, out)
}
