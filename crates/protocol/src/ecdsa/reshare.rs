//! Reshare for DKLs23 keys (see `crate::reshare` for the protocol and its checks).
//!
//! The dealing replaces DKG round 1: each new member feeds the verified evaluations it
//! received straight into `DkgSession::phase2` and the DKG's rounds 2 and 3 run among the new
//! members only, building fresh OT setups for every new pair. `phase4` never sees the old
//! key, so we check afterwards that the key did not change, and carry the chain code over
//! (`phase4` makes a new random one, which would move every derived address).

use dkls23_core::DkgSession;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::dkg::{Finish, Fragment};
use super::{K, Members};
use crate::ceremony::{Confirm, Context, Expect, Inbox, Outgoing, Round, Started, Transition};
use crate::reshare::{ReshareOutput, ResharePlan};
use crate::share::{DklsPublic, KeyShare, PublicInner, PublicPackage, Secret};
use crate::{Error, PartyIndex};

pub(crate) const ROUNDS: u8 = 4;

#[derive(Serialize, Deserialize)]
struct Deal {
    commitments: Vec<AffinePoint>,
}

pub(crate) fn start(
    ctx: &Context,
    plan: &ResharePlan,
    old_share: Option<&KeyShare>,
    old: &PublicPackage,
) -> Result<Started<ReshareOutput>, Error> {
    let PublicInner::Ecdsa { public, chain_code } = &old.inner else {
        return Err(Error::InvalidParameters("old package is not ECDSA".into()));
    };
    let me = plan.member(ctx.me)?;
    let dealers = plan.dealers();
    let receivers = plan.receivers();
    let mut out = Vec::new();
    let mut own_deal = None;
    let mut own_fragment = None;
    if let Some(old_index) = me.old {
        let share = old_share.ok_or(Error::InvalidParameters("a dealer needs its old share".into()))?;
        let Secret::Ecdsa(party) = &share.secret else {
            return Err(Error::InvalidParameters("old share is not ECDSA".into()));
        };
        if share.index != old_index || share.public.to_bytes()? != old.to_bytes()? {
            return Err(Error::InvalidParameters("old share does not match the plan or the old package".into()));
        }
        let lambda = lagrange(old_index, dealers.iter().map(|(_, o)| *o))?;
        let mut coefficients = Zeroizing::new(vec![lambda * party.poly_point]);
        for _ in 1..plan.new_threshold() {
            coefficients.push(random_scalar());
        }
        let commitments: Vec<AffinePoint> =
            coefficients.iter().map(|a| (ProjectivePoint::GENERATOR * a).to_affine()).collect();
        out.push(Outgoing::broadcast(&Deal { commitments: commitments.clone() })?);
        for (party_index, new_index) in &receivers {
            let f = Fragment(evaluate(&coefficients, *new_index));
            if *party_index == ctx.me {
                own_fragment = Some(f);
            } else {
                out.push(Outgoing::to(*party_index, &f)?);
            }
        }
        own_deal = Some(commitments);
    }
    let round = Dealt {
        me: ctx.me,
        plan: plan.clone(),
        old: old.clone(),
        old_public: public.clone(),
        chain_code: *chain_code,
        own_deal,
        own_fragment,
    };
    Ok((Box::new(round), out))
}

struct Dealt {
    me: PartyIndex,
    plan: ResharePlan,
    old: PublicPackage,
    old_public: DklsPublic,
    chain_code: [u8; 32],
    own_deal: Option<Vec<AffinePoint>>,
    own_fragment: Option<Fragment>,
}

impl Round<ReshareOutput> for Dealt {
    fn expects(&self) -> Expect {
        self.plan.dealing_expects(self.me)
    }

    fn finish(self: Box<Self>, ctx: &Context, inbox: Inbox) -> Result<Transition<ReshareOutput>, Error> {
        let Dealt { me, plan, old, old_public, chain_code, own_deal, own_fragment } = *self;
        let t_new = usize::from(plan.new_threshold());
        let dealers = plan.dealers();
        let mut deals = Vec::new();
        for (party, old_index) in &dealers {
            let commitments = match (&own_deal, *party == me) {
                (Some(own), true) => own.clone(),
                _ => inbox.broadcast::<Deal>(*party)?.commitments,
            };
            // Check 1: a polynomial of the new degree.
            if commitments.len() != t_new {
                return Err(Error::InvalidContribution {
                    culprit: *party,
                    reason: format!("{} commitments for threshold {t_new}", commitments.len()),
                });
            }
            // Check 3: the dealt constant is λ_i·Y_i for the dealer's old verifying share.
            let y = old_public
                .verifying_share(old_index.dkls()?)
                .ok_or_else(|| Error::InvalidParameters(format!("old package has no share {old_index}")))?;
            let lambda = lagrange(*old_index, dealers.iter().map(|(_, o)| *o))?;
            if commitments.first().map(|c| ProjectivePoint::from(*c)) != Some(ProjectivePoint::from(*y) * lambda) {
                return Err(Error::InvalidContribution {
                    culprit: *party,
                    reason: "dealt constant term is not λ·Y of its old share".into(),
                });
            }
            deals.push((*party, commitments));
        }
        let mut sum = vec![ProjectivePoint::IDENTITY; t_new];
        for (_, commitments) in &deals {
            for (acc, c) in sum.iter_mut().zip(commitments) {
                *acc += ProjectivePoint::from(*c);
            }
        }
        let sum: Vec<AffinePoint> = sum.iter().map(|p| p.to_affine()).collect();
        if sum.first() != Some(old_public.verifying_key()) {
            return Err(Error::Aborted("dealt commitments do not add up to the old key".into()));
        }
        let transcript = crate::ceremony::encode(&deals.iter().map(|(_, c)| c).collect::<Vec<_>>())?;
        let digest = ctx.hash("ecdsa/reshare/confirm", &[&plan.encode()?, &old.to_bytes()?, &transcript]);
        let Some(new_index) = plan.member(me)?.new else {
            let watch = plan.receivers().into_iter().map(|(p, _)| p).collect();
            let idle = crate::ceremony::Idle::new(2, watch, ReshareOutput::Retired, digest, ctx.others());
            return Ok(Transition::Next(Box::new(idle), Vec::new()));
        };

        // Check 2: each evaluation we received lies on its dealer's committed polynomial.
        let mut fragments = Zeroizing::new(Vec::new());
        for (party, commitments) in &deals {
            let f = match (&own_fragment, *party == me) {
                (Some(own), true) => own.0,
                _ => inbox.direct::<Fragment>(*party)?.0,
            };
            if ProjectivePoint::GENERATOR * f != evaluate_commitments(commitments, new_index) {
                return Err(Error::InvalidContribution {
                    culprit: *party,
                    reason: "evaluation does not match its commitments".into(),
                });
            }
            fragments.push(f);
        }
        let receivers = plan.receivers();
        let members = Members::from_pairs(receivers.iter().map(|(p, n)| (n.as_u8(), *p)));
        let expected: Vec<(PartyIndex, AffinePoint)> =
            receivers.iter().map(|(_, n)| (*n, evaluate_commitments(&sum, *n).to_affine())).collect();
        let (t_new, n_new) = (plan.new_threshold(), plan.new_parties());
        let epoch = old.epoch.checked_add(1).ok_or(Error::InvalidParameters("epoch overflow".into()))?;
        let group_key = *old_public.verifying_key();
        let finish: Finish<ReshareOutput> = Box::new(move |ctx, mut party, public| {
            if party.pk != group_key {
                return Err(Error::Aborted("the reshared key differs from the old key".into()));
            }
            for (n, point) in &expected {
                if public.verifying_share(n.dkls()?) != Some(point) {
                    return Err(Error::Aborted("new verifying shares differ from the dealt commitments".into()));
                }
            }
            party.derivation_data.chain_code = chain_code;
            let package = PublicPackage {
                epoch,
                threshold: t_new,
                parties: n_new,
                inner: PublicInner::Ecdsa { public, chain_code },
            };
            let share = KeyShare { index: new_index, secret: Secret::Ecdsa(Box::new(party)), public: package };
            share.check()?;
            Confirm::transition(ReshareOutput::Share(share), digest, ctx.others())
        });
        let session = DkgSession::<K>::new(super::params(t_new, n_new)?, new_index.dkls()?, ctx.id.0.to_vec());
        super::dkg::round2(ctx, session, &fragments, members, finish)
    }
}

/// Evaluates a polynomial at a share index.
fn evaluate(coefficients: &[Scalar], at: PartyIndex) -> Scalar {
    let x = Scalar::from(u64::from(at.get()));
    coefficients.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

fn evaluate_commitments(commitments: &[AffinePoint], at: PartyIndex) -> ProjectivePoint {
    let x = Scalar::from(u64::from(at.get()));
    commitments.iter().rev().fold(ProjectivePoint::IDENTITY, |acc, c| acc * x + ProjectivePoint::from(*c))
}

/// λ_i at 0 for `i` over `set` (old share indices).
fn lagrange(i: PartyIndex, set: impl Iterator<Item = PartyIndex>) -> Result<Scalar, Error> {
    let xi = Scalar::from(u64::from(i.get()));
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for j in set.filter(|j| *j != i) {
        let xj = Scalar::from(u64::from(j.get()));
        num *= xj;
        den *= xj - xi;
    }
    Option::<Scalar>::from(den.invert())
        .map(|inv| num * inv)
        .ok_or(Error::InvalidParameters("repeated old index".into()))
}

/// A uniform non-zero scalar by rejection sampling from the OS RNG.
fn random_scalar() -> Scalar {
    use rand_core::RngCore;
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(bytes.as_mut());
        if let Some(s) = Option::<Scalar>::from(Scalar::from_repr((*bytes).into()))
            && !bool::from(s.is_zero())
        {
            return s;
        }
    }
}
