//! Reshare for FROST keys (see `crate::reshare` for the protocol and its checks), on the
//! public API only: `SecretShare::verify` is the Feldman check and returns C_i[0];
//! `PublicKeyPackage::from_commitment` over the summed commitments gives every new
//! verifying share and the (unchanged) group key. Taproot packages are reshared as stored
//! (already tweaked), so the output key Q is kept; the internal key P is carried over.

use std::collections::BTreeSet;

use frost_core::keys::{KeyPackage, PublicKeyPackage, SecretShare, SigningShare, VerifiableSecretSharingCommitment};
use frost_core::{Field, Group};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Element, Scalar, Suite, element, element_bytes, id, rng, scalar, scalar_bytes};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::reshare::{ReshareOutput, ResharePlan};
use crate::share::{KeyShare, PublicPackage};
use crate::{Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 2;

#[derive(Serialize, Deserialize)]
struct Deal {
    commitments: Vec<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct Evaluation(Vec<u8>);

impl Drop for Evaluation {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

pub(crate) fn start<C: Suite>(
    ctx: &Context,
    plan: &ResharePlan,
    old_share: Option<&KeyShare>,
    old: &PublicPackage,
) -> Result<Started<ReshareOutput>, Error> {
    let old_public =
        C::public_of(&old.inner).ok_or(Error::InvalidParameters("old package of another scheme".into()))?.clone();
    let me = plan.member(ctx.me)?;
    let mut out = Vec::new();
    let mut own_deal = None;
    let mut own_evaluation = None;
    if let Some(old_index) = me.old {
        let share = old_share.ok_or(Error::InvalidParameters("a dealer needs its old share".into()))?;
        let key = C::key_of(&share.secret).ok_or(Error::InvalidParameters("old share of another scheme".into()))?;
        if share.index != old_index || share.public.to_bytes()? != old.to_bytes()? {
            return Err(Error::InvalidParameters("old share does not match the plan or the old package".into()));
        }
        let lambda = lagrange::<C>(old_index, plan.dealers().iter().map(|(_, o)| *o))?;
        let mut s = scalar::<C>(&key.signing_share().serialize())?;
        let mut coefficients = vec![lambda * s];
        wipe::<C>(&mut s);
        for _ in 1..plan.new_threshold() {
            coefficients.push(<<C::Group as Group>::Field as Field>::random(&mut rng()));
        }
        let generator = <C::Group as Group>::generator();
        let commitments =
            coefficients.iter().map(|a| element_bytes::<C>(&(generator * *a))).collect::<Result<Vec<_>, _>>()?;
        out.push(Outgoing::broadcast(&Deal { commitments: commitments.clone() })?);
        for (party, new_index) in plan.receivers() {
            let evaluation = Evaluation(scalar_bytes::<C>(&evaluate::<C>(&coefficients, new_index)?));
            if party == ctx.me {
                own_evaluation = Some(evaluation);
            } else {
                out.push(Outgoing::to(party, &evaluation)?);
            }
        }
        coefficients.iter_mut().for_each(wipe::<C>);
        own_deal = Some(commitments);
    }
    Ok((
        Box::new(Dealt::<C> { me: ctx.me, plan: plan.clone(), old: old.clone(), old_public, own_deal, own_evaluation }),
        out,
    ))
}

struct Dealt<C: Suite> {
    me: PartyIndex,
    plan: ResharePlan,
    old: PublicPackage,
    old_public: PublicKeyPackage<C>,
    own_deal: Option<Vec<Vec<u8>>>,
    own_evaluation: Option<Evaluation>,
}

impl<C: Suite> Round<ReshareOutput> for Dealt<C> {
    fn expects(&self) -> Expect {
        self.plan.dealing_expects(self.me)
    }

    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<ReshareOutput>, Error> {
        let Dealt { me, plan, old, old_public, own_deal, own_evaluation } = *self;
        let t_new = usize::from(plan.new_threshold());
        let dealers = plan.dealers();
        let mut deals: Vec<(PartyIndex, VerifiableSecretSharingCommitment<C>, Vec<Vec<u8>>)> = Vec::new();
        for (party, old_index) in &dealers {
            let raw = match (&own_deal, *party == me) {
                (Some(own), true) => own.clone(),
                _ => inbox.broadcast::<Deal>(*party)?.commitments,
            };
            let bad = |reason: &str| Error::InvalidContribution { culprit: *party, reason: reason.into() };
            // Check 1: a polynomial of the new degree.
            if raw.len() != t_new {
                return Err(bad("wrong number of commitments for the new threshold"));
            }
            let commitment = VerifiableSecretSharingCommitment::<C>::deserialize(raw.clone())
                .map_err(|_| bad("invalid commitment point"))?;
            // Check 3: the dealt constant term is λ_i·Y_i for the dealer's old verifying share.
            let y = old_public
                .verifying_shares()
                .get(&id::<C>(*old_index)?)
                .ok_or_else(|| Error::InvalidParameters(format!("old package has no share {old_index}")))?;
            let y = element::<C>(&y.serialize().map_err(|e| Error::Aborted(e.to_string()))?)?;
            let lambda = lagrange::<C>(*old_index, dealers.iter().map(|(_, o)| *o))?;
            if raw.first() != Some(&element_bytes::<C>(&(y * lambda))?) {
                return Err(bad("dealt constant term is not λ·Y of its old share"));
            }
            deals.push((*party, commitment, raw));
        }
        // The new group package: coefficient-wise sum of the dealt commitments.
        let mut sum: Vec<Element<C>> = vec![<C::Group as Group>::identity(); t_new];
        for (_, _, raw) in &deals {
            for (acc, c) in sum.iter_mut().zip(raw) {
                *acc = *acc + element::<C>(c)?;
            }
        }
        let sum = VerifiableSecretSharingCommitment::<C>::deserialize(
            sum.iter().map(element_bytes::<C>).collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(|e| Error::Aborted(e.to_string()))?;
        let receivers = plan.receivers();
        let new_ids: BTreeSet<_> = receivers.iter().map(|(_, n)| id::<C>(*n)).collect::<Result<_, _>>()?;
        let public = PublicKeyPackage::from_commitment(&new_ids, &sum).map_err(|e| Error::Aborted(e.to_string()))?;
        if public.verifying_key() != old_public.verifying_key() {
            return Err(Error::Aborted("dealt commitments do not add up to the old key".into()));
        }
        let transcript = crate::ceremony::encode(&deals.iter().map(|(_, _, raw)| raw).collect::<Vec<_>>())?;
        let digest = ctx.hash("frost/reshare/confirm", &[&plan.encode()?, &old.to_bytes()?, &transcript]);
        let Some(new_index) = plan.member(me)?.new else {
            return Confirm::transition(ReshareOutput::Retired, digest, ctx.others());
        };

        // Check 2 (Feldman) for every evaluation we received, then sum them.
        let j = id::<C>(new_index)?;
        let mut total = <<C::Group as Group>::Field as Field>::zero();
        for (party, commitment, _) in &deals {
            let evaluation = match (&own_evaluation, *party == me) {
                (Some(own), true) => scalar::<C>(&own.0)?,
                _ => scalar::<C>(&inbox.direct::<Evaluation>(*party)?.0).map_err(|_| Error::InvalidContribution {
                    culprit: *party,
                    reason: "evaluation is not a scalar".into(),
                })?,
            };
            let share = SigningShare::<C>::deserialize(&scalar_bytes::<C>(&evaluation))
                .map_err(|e| Error::Aborted(e.to_string()))?;
            SecretShare::new(j, share, commitment.clone()).verify().map_err(|_| Error::InvalidContribution {
                culprit: *party,
                reason: "evaluation does not match its commitments".into(),
            })?;
            total = total + evaluation;
        }
        let signing_share = SigningShare::<C>::deserialize(&Zeroizing::new(scalar_bytes::<C>(&total)))
            .map_err(|e| Error::Aborted(e.to_string()))?;
        wipe::<C>(&mut total);
        let verifying_share =
            *public.verifying_shares().get(&j).ok_or(Error::Aborted("own verifying share missing".into()))?;
        let key = KeyPackage::new(j, signing_share, verifying_share, *public.verifying_key(), plan.new_threshold());
        let epoch = old.epoch.checked_add(1).ok_or(Error::InvalidParameters("epoch overflow".into()))?;
        let package = PublicPackage {
            epoch,
            threshold: plan.new_threshold(),
            parties: plan.new_parties(),
            inner: C::public(public, old.taproot_internal_key())?,
        };
        let share = KeyShare { index: new_index, secret: C::secret(key), public: package };
        share.check()?;
        Confirm::transition(ReshareOutput::Share(share), digest, ctx.others())
    }
}

fn index_scalar<C: Suite>(i: PartyIndex) -> Result<Scalar<C>, Error> {
    scalar::<C>(&id::<C>(i)?.serialize())
}

fn evaluate<C: Suite>(coefficients: &[Scalar<C>], at: PartyIndex) -> Result<Scalar<C>, Error> {
    let x = index_scalar::<C>(at)?;
    Ok(coefficients.iter().rev().fold(<<C::Group as Group>::Field as Field>::zero(), |acc, c| acc * x + *c))
}

/// λ_i at 0 for `i` over the old indices in `set`.
fn lagrange<C: Suite>(i: PartyIndex, set: impl Iterator<Item = PartyIndex>) -> Result<Scalar<C>, Error> {
    type F<C> = <<C as frost_core::Ciphersuite>::Group as Group>::Field;
    let xi = index_scalar::<C>(i)?;
    let (mut num, mut den) = (F::<C>::one(), F::<C>::one());
    for j in set.filter(|j| *j != i) {
        let xj = index_scalar::<C>(j)?;
        num = num * xj;
        den = den * (xj - xi);
    }
    Ok(num * F::<C>::invert(&den).map_err(|_| Error::InvalidParameters("repeated old index".into()))?)
}

/// Overwrites a secret scalar. frost's generic scalars do not implement `Zeroize`; the
/// crate's own `SigningShare` does, and holds every long-lived copy.
fn wipe<C: Suite>(s: &mut Scalar<C>) {
    *s = <<C::Group as Group>::Field as Field>::zero();
}
