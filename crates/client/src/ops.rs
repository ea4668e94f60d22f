//! Wallet operations, one ceremony each, on shares held in memory. The keystore layer
//! persists what these return at the right moments (a new share is stored pending before
//! its epoch is confirmed, and made active only once the server committed it), so every
//! step here is safe to crash after.

use std::time::Duration;

use tssw_api::http::{
    CeremonyStart, CeremonyStatus, ConfirmEpoch, CreateWallet, Holder, PartyContribution, PayloadJson, RefreshWallet,
    ReshareMember, ReshareWallet, SignBatch, SignWallet, WalletView,
};
use tssw_api::{ChainPayload, WalletId, binding};
use tssw_channel::{Contribution, EphemeralKey, IdentityKey, Operation};
use tssw_protocol::{KeyShare, Member, PartyIndex, ReshareOutput, ResharePlan, Scheme, SignRequest, Signature};

use crate::api::ApiClient;
use crate::ceremony::{Attested, CeremonyError, Expected, LocalParty, Starter, run};

/// How long to wait for the service side to record a ceremony's outcome.
const OUTCOME_WAIT: Duration = Duration::from_secs(60);

/// A device signed in to a wallet server, with the enclave it attested.
#[derive(Debug)]
pub struct Device<'a> {
    /// The server API.
    pub api: &'a ApiClient,
    /// The device's identity key (registered with the server).
    pub identity: &'a IdentityKey,
    /// The attested enclave.
    pub enclave: Attested,
    /// The relay stall timeout for this device's parties.
    pub stall: Duration,
}

/// A party this device runs in a multi-party operation: its identity and its share.
#[derive(Debug)]
pub struct Holding<'a> {
    /// Its identity key (registered with the server).
    pub identity: &'a IdentityKey,
    /// Its share of the current epoch, if it has one.
    pub share: Option<&'a KeyShare>,
    /// Who it is.
    pub holder: Holder,
}

fn index(i: u16) -> Result<PartyIndex, CeremonyError> {
    PartyIndex::new(i).map_err(|e| CeremonyError::Start(e.to_string()))
}

fn wallet_id(id: &str) -> Result<WalletId, CeremonyError> {
    WalletId::new(id).map_err(|e| CeremonyError::Setup(format!("wallet id: {e}")))
}

fn contribute(identity: &IdentityKey, at: PartyIndex) -> Result<(PartyContribution, EphemeralKey), CeremonyError> {
    let (c, ephemeral) = Contribution::new(identity, &mut rand_core::OsRng);
    let pc = PartyContribution::new(at, &c).map_err(|e| CeremonyError::Start(e.0))?;
    Ok((pc, ephemeral))
}

impl Device<'_> {
    /// Waits for the service side to record the outcome of ceremony `start`; an error if it
    /// failed there.
    pub async fn outcome(&self, start: &CeremonyStart) -> Result<CeremonyStatus, CeremonyError> {
        let status = self.api.ceremony(&start.ceremony_id, OUTCOME_WAIT).await?;
        match status.status.as_str() {
            "done" => Ok(status),
            "running" => Err(CeremonyError::Protocol("the service side did not finish in time".into())),
            _ => Err(CeremonyError::Protocol(format!(
                "the service side failed: {}",
                status.error.as_deref().unwrap_or("no reason given")
            ))),
        }
    }

    /// Runs a new wallet's DKG (device = party 1, enclave = party 2) and returns the
    /// device's share at epoch 1 with the ceremony. The wallet is active once
    /// [`Device::outcome`] says so: store the share as pending until then.
    pub async fn create_wallet(&self, scheme: Scheme) -> Result<(CeremonyStart, KeyShare), CeremonyError> {
        let me = index(1)?;
        let (contribution, ephemeral) = contribute(self.identity, me)?;
        let start = self.api.create_wallet(&CreateWallet { scheme, contribution }).await?;
        let wallet = wallet_id(&start.wallet_id)?;
        let expected =
            Expected { operation: Operation::Dkg, scheme, threshold: 2, digest: binding::dkg_digest(&wallet) };
        let starter: Starter<'_, KeyShare> = Box::new(move |id| tssw_protocol::dkg(id, scheme, me, 2, 2));
        let party = LocalParty { index: me, identity: self.identity, ephemeral, start: starter };
        let share = one(run(&start, &self.enclave, &expected, vec![party], self.stall).await?)?;
        Ok((start, share))
    }

    /// Signs `payload` with `share` and the enclave. The device derives what is signed from
    /// the payload itself and the enclave must agree (the setup binds the digest).
    pub async fn sign(
        &self,
        wallet: &str,
        share: &KeyShare,
        payload: &ChainPayload,
        allow_raw_digest: bool,
    ) -> Result<(SignRequest, Signature), CeremonyError> {
        let wid = wallet_id(wallet)?;
        let request = payload
            .sign_request(&share.public_package().wallet_key(), allow_raw_digest)
            .map_err(|e| CeremonyError::Start(e.to_string()))?;
        let digest = binding::sign_digest(&wid, &request).map_err(|e| CeremonyError::Start(e.to_string()))?;
        let json = PayloadJson::from_payload(payload)
            .map_err(|e| CeremonyError::Start(e.0))?
            .ok_or_else(|| CeremonyError::Start("this payload is not signed through the API".into()))?;
        let (contribution, ephemeral) = contribute(self.identity, share.index())?;
        let body = SignWallet {
            payload: json,
            contributions: vec![contribution],
            expected_digest: Some(hex::encode(digest)),
            epoch: Some(share.epoch()),
        };
        let start = self.api.sign(wallet, &body).await?;
        let signature = self.sign_started(&start, share, request.clone(), digest, ephemeral, self.identity).await?;
        Ok((request, signature))
    }

    /// Signs every payload of `payloads`: one alone in an ordinary ceremony, several in as
    /// few batch ceremonies as the scheme's `max_batch` allows. Returns what was signed and
    /// the signature, in payload order.
    pub async fn sign_all(
        &self,
        wallet: &str,
        share: &KeyShare,
        payloads: &[ChainPayload],
        allow_raw_digest: bool,
    ) -> Result<Vec<(SignRequest, Signature)>, CeremonyError> {
        if let [one] = payloads {
            return Ok(vec![self.sign(wallet, share, one, allow_raw_digest).await?]);
        }
        let mut signed = Vec::with_capacity(payloads.len());
        for chunk in payloads.chunks(tssw_protocol::max_batch(share.scheme())) {
            signed.extend(self.sign_batch(wallet, share, chunk, allow_raw_digest).await?);
        }
        Ok(signed)
    }

    /// Signs every payload of `payloads` (1..=`max_batch`) in one ceremony; returns what
    /// was signed and the signature, in payload order. The setup binds every request.
    pub async fn sign_batch(
        &self,
        wallet: &str,
        share: &KeyShare,
        payloads: &[ChainPayload],
        allow_raw_digest: bool,
    ) -> Result<Vec<(SignRequest, Signature)>, CeremonyError> {
        let wid = wallet_id(wallet)?;
        let key = share.public_package().wallet_key();
        let mut requests = Vec::with_capacity(payloads.len());
        let mut json = Vec::with_capacity(payloads.len());
        for payload in payloads {
            requests
                .push(payload.sign_request(&key, allow_raw_digest).map_err(|e| CeremonyError::Start(e.to_string()))?);
            json.push(
                PayloadJson::from_payload(payload)
                    .map_err(|e| CeremonyError::Start(e.0))?
                    .ok_or_else(|| CeremonyError::Start("this payload is not signed through the API".into()))?,
            );
        }
        let digest = binding::sign_batch_digest(&wid, &requests).map_err(|e| CeremonyError::Start(e.to_string()))?;
        let (contribution, ephemeral) = contribute(self.identity, share.index())?;
        let body = SignBatch {
            payloads: json,
            contributions: vec![contribution],
            expected_digest: Some(hex::encode(digest)),
            epoch: Some(share.epoch()),
        };
        let start = self.api.sign_batch(wallet, &body).await?;
        let signers = [share.index(), index(start.enclave_index)?];
        let expected =
            Expected { operation: Operation::Sign, scheme: share.scheme(), threshold: share.threshold(), digest };
        let batch = requests.clone();
        let starter: Starter<'_, Vec<Signature>> =
            Box::new(move |id| tssw_protocol::sign_batch(id, share, &signers, batch));
        let party = LocalParty { index: share.index(), identity: self.identity, ephemeral, start: starter };
        let signatures = one(run(&start, &self.enclave, &expected, vec![party], self.stall).await?)?;
        if signatures.len() != requests.len() {
            return Err(CeremonyError::Protocol("the batch gave another number of signatures".into()));
        }
        Ok(requests.into_iter().zip(signatures).collect())
    }

    async fn sign_started(
        &self,
        start: &CeremonyStart,
        share: &KeyShare,
        request: SignRequest,
        digest: [u8; 32],
        ephemeral: EphemeralKey,
        identity: &IdentityKey,
    ) -> Result<Signature, CeremonyError> {
        let signers = [share.index(), index(start.enclave_index)?];
        let expected =
            Expected { operation: Operation::Sign, scheme: share.scheme(), threshold: share.threshold(), digest };
        let starter: Starter<'_, Signature> = Box::new(move |id| tssw_protocol::sign(id, share, &signers, request));
        let party = LocalParty { index: share.index(), identity, ephemeral, start: starter };
        one(run(start, &self.enclave, &expected, vec![party], self.stall).await?)
    }

    /// Refreshes: new shares of the same key at the next epoch, for every holder this
    /// device runs (all holders but the enclave). Returns them in `holdings` order; the
    /// epoch is pending on the server until [`Device::confirm`] commits it.
    pub async fn refresh(&self, wallet: &str, holdings: &[Holding<'_>]) -> Result<Vec<KeyShare>, CeremonyError> {
        let wid = wallet_id(wallet)?;
        let mut contributions = Vec::new();
        let mut parties = Vec::new();
        let mut first = None;
        for h in holdings {
            let share = h.share.ok_or_else(|| CeremonyError::Start("a refresh needs every holder's share".into()))?;
            first.get_or_insert(share);
            let (c, ephemeral) = contribute(h.identity, share.index())?;
            contributions.push(c);
            let starter: Starter<'_, KeyShare> = Box::new(move |id| tssw_protocol::refresh(id, share));
            parties.push(LocalParty { index: share.index(), identity: h.identity, ephemeral, start: starter });
        }
        let share = first.ok_or_else(|| CeremonyError::Start("no local holder".into()))?;
        let digest =
            binding::refresh_digest(&wid, share.public_package()).map_err(|e| CeremonyError::Start(e.to_string()))?;
        let expected =
            Expected { operation: Operation::Refresh, scheme: share.scheme(), threshold: share.threshold(), digest };
        let start = self.api.refresh(wallet, &RefreshWallet { contributions }).await?;
        let shares = run(&start, &self.enclave, &expected, parties, self.stall).await?;
        self.outcome(&start).await?;
        Ok(shares)
    }

    /// Reshares the key to `new_threshold` among `members` (the enclave and every holding,
    /// in ceremony order, with their old and new share indices). Returns each local
    /// member's new share (`None` for one that leaves), in `holdings` order; the new
    /// epoch is pending until confirmed.
    pub async fn reshare(
        &self,
        wallet: &str,
        current: &tssw_protocol::PublicPackage,
        new_threshold: u16,
        members: &[ReshareMember],
        holdings: &[Holding<'_>],
    ) -> Result<Vec<Option<KeyShare>>, CeremonyError> {
        let wid = wallet_id(wallet)?;
        let plan_members: Vec<Member> = members
            .iter()
            .map(|m| Ok(Member { old: m.old_index.map(index).transpose()?, new: m.new_index.map(index).transpose()? }))
            .collect::<Result<_, CeremonyError>>()?;
        let plan = ResharePlan::new(current.threshold(), new_threshold, plan_members)
            .map_err(|e| CeremonyError::Start(e.to_string()))?;
        let digest = binding::reshare_digest(&wid, current, &plan).map_err(|e| CeremonyError::Start(e.to_string()))?;
        let mut contributions = Vec::new();
        let mut parties = Vec::new();
        for h in holdings {
            let position = members
                .iter()
                .position(|m| m.holder == h.holder)
                .ok_or_else(|| CeremonyError::Start(format!("the {} is not a member", h.holder.name())))?;
            let at = index(u16::try_from(position + 1).map_err(|_| CeremonyError::Start("too many members".into()))?)?;
            let (c, ephemeral) = contribute(h.identity, at)?;
            contributions.push(c);
            let (plan, share) = (plan.clone(), h.share);
            let starter: Starter<'_, ReshareOutput> =
                Box::new(move |id| tssw_protocol::reshare(id, &plan, at, share, current));
            parties.push(LocalParty { index: at, identity: h.identity, ephemeral, start: starter });
        }
        let expected =
            Expected { operation: Operation::Reshare, scheme: current.scheme(), threshold: new_threshold, digest };
        let body = ReshareWallet { new_threshold, members: members.to_vec(), contributions };
        let start = self.api.reshare(wallet, &body).await?;
        let outputs = run(&start, &self.enclave, &expected, parties, self.stall).await?;
        self.outcome(&start).await?;
        Ok(outputs
            .into_iter()
            .map(|o| match o {
                ReshareOutput::Share(s) => Some(s),
                ReshareOutput::Retired => None,
            })
            .collect())
    }

    /// Confirms a pending epoch with a test signature between `holding` (which must hold
    /// the pending share) and the enclave. Returns whether the epoch is now committed
    /// (every holder of it has confirmed).
    pub async fn confirm(&self, wallet: &str, holding: &Holding<'_>) -> Result<bool, CeremonyError> {
        let share = holding.share.ok_or_else(|| CeremonyError::Start("confirming needs the new share".into()))?;
        let wid = wallet_id(wallet)?;
        let request = ChainPayload::EpochCheck { epoch: share.epoch() }
            .sign_request(&share.public_package().wallet_key(), false)
            .map_err(|e| CeremonyError::Start(e.to_string()))?;
        let digest = binding::sign_digest(&wid, &request).map_err(|e| CeremonyError::Start(e.to_string()))?;
        let (contribution, ephemeral) = contribute(holding.identity, share.index())?;
        let start =
            self.api.confirm(wallet, share.epoch(), &ConfirmEpoch { contributions: vec![contribution] }).await?;
        self.sign_started(&start, share, request, digest, ephemeral, holding.identity).await?;
        Ok(self.outcome(&start).await?.committed == Some(true))
    }

    /// The wallet as the server records it.
    pub async fn wallet(&self, wallet: &str) -> Result<WalletView, CeremonyError> {
        Ok(self.api.wallet(wallet).await?)
    }
}

fn one<O>(mut outputs: Vec<O>) -> Result<O, CeremonyError> {
    outputs.pop().ok_or_else(|| CeremonyError::Protocol("no output".into()))
}
