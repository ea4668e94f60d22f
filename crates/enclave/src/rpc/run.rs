//! `Run`: a prepared ceremony, once, over the relay, on a blocking thread (the protocol
//! rounds are CPU-bound: a DKLs23 DKG round takes hundreds of milliseconds), bounded by the
//! setup's expiry.

use std::sync::Arc;
use std::time::Duration;

use tssw_channel::{DriveError, Session, drive};
use tssw_protocol::{CeremonyId, KeyShare, ReshareOutput};
use tssw_relay::{Connecting, RelayTransport, Token};

use crate::enclave::{Enclave, Job, Pending};
use crate::error::EnclaveError;
use crate::wire::{MAX_RELAY_URL, NewShare, RelayToken, Response, Signed};
use tssw_api::WalletId;

pub(super) async fn run(
    enclave: &Arc<Enclave>,
    ceremony: CeremonyId,
    relay_url: String,
    token: RelayToken,
) -> Result<Response, EnclaveError> {
    if relay_url.len() > MAX_RELAY_URL || token.0.len() > tssw_relay::token::MAX_TOKEN_CHARS {
        return Err(EnclaveError::BadRequest("relay url or token too long".into()));
    }
    // The permit first: a busy enclave must not spend the prepared ceremony.
    let permit =
        enclave.running.clone().try_acquire_owned().map_err(|_| EnclaveError::Busy("too many running ceremonies"))?;
    let pending = enclave.take(&ceremony).ok_or(EnclaveError::UnknownCeremony)?;
    let now = enclave.now();
    if pending.expires_at <= now {
        return Err(EnclaveError::Expired);
    }
    let deadline = Duration::from_secs(pending.expires_at - now).min(enclave.limits.max_ceremony);
    let handle = tokio::runtime::Handle::current();
    let e = enclave.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        handle.block_on(async move {
            let result = tokio::time::timeout(deadline, execute(&e, ceremony, pending, &relay_url, token))
                .await
                .unwrap_or(Err(EnclaveError::Expired));
            // Crash tests: the ceremony is over (a new share sealed) but the host never hears.
            tssw_fault::point("enclave.run.finished");
            result
        })
    })
    .await
    .map_err(|_| EnclaveError::Internal("ceremony task failed"))?
}

async fn execute(
    enclave: &Enclave,
    id: CeremonyId,
    pending: Pending,
    relay_url: &str,
    token: RelayToken,
) -> Result<Response, EnclaveError> {
    let Pending { wallet, job, setup, ephemeral, .. } = pending;
    tssw_fault::point("enclave.run.started");
    let me = setup.index_of(&enclave.identity()).ok_or(EnclaveError::Internal("enclave not in its own setup"))?;
    // The relay connection (round trips, on the runtime's workers) opens while this thread
    // computes the first round.
    let connecting = RelayTransport::connect_in_background(vec![relay_url.to_owned()], id, Token::from_text(token.0));
    let mut session = Session::new(&setup, &enclave.identity, ephemeral).map_err(EnclaveError::Setup)?;
    let protocol = |e: tssw_protocol::Error| EnclaveError::Ceremony(e.to_string());
    match job {
        Job::Dkg { scheme, threshold, parties } => {
            let started = tssw_protocol::dkg(id, scheme, me, threshold, parties).map_err(protocol)?;
            let mut transport = connected(connecting).await?;
            let share = drive(started, &mut session, &mut transport).await.map_err(driven)?;
            Ok(Response::KeyGenerated(new_share(enclave, &wallet, &share)?))
        }
        Job::Sign { share, request, signers } => {
            let started = tssw_protocol::sign(id, &share, &signers, request.clone()).map_err(protocol)?;
            let mut transport = connected(connecting).await?;
            let signature = drive(started, &mut session, &mut transport).await.map_err(driven)?;
            Ok(Response::Signed(Signed { signature, request }))
        }
        Job::SignBatch { share, requests, signers } => {
            let started = tssw_protocol::sign_batch(id, &share, &signers, requests.clone()).map_err(protocol)?;
            let mut transport = connected(connecting).await?;
            let signatures = drive(started, &mut session, &mut transport).await.map_err(driven)?;
            if signatures.len() != requests.len() {
                return Err(EnclaveError::Internal("a batch produced another number of signatures"));
            }
            let signed = signatures.into_iter().zip(requests).map(|(signature, request)| Signed { signature, request });
            Ok(Response::SignedBatch(signed.collect()))
        }
        Job::Refresh { share } => {
            let started = tssw_protocol::refresh(id, &share).map_err(protocol)?;
            let mut transport = connected(connecting).await?;
            let new = drive(started, &mut session, &mut transport).await.map_err(driven)?;
            if new.epoch() != share.epoch() + 1 || new.public_key() != share.public_key() {
                return Err(EnclaveError::Internal("refresh produced an unexpected share"));
            }
            Ok(Response::Refreshed(new_share(enclave, &wallet, &new)?))
        }
        Job::Reshare { plan, share, old } => {
            let started = tssw_protocol::reshare(id, &plan, me, share.as_deref(), &old).map_err(protocol)?;
            let mut transport = connected(connecting).await?;
            match drive(started, &mut session, &mut transport).await.map_err(driven)? {
                ReshareOutput::Share(new) => {
                    if new.epoch() != old.epoch() + 1 || new.public_key() != old.public_key() {
                        return Err(EnclaveError::Internal("reshare produced an unexpected share"));
                    }
                    Ok(Response::Reshared(Some(new_share(enclave, &wallet, &new)?)))
                }
                ReshareOutput::Retired => Ok(Response::Reshared(None)),
            }
        }
    }
}

async fn connected(connecting: Connecting) -> Result<RelayTransport, EnclaveError> {
    connecting.finish().await.map_err(|e| EnclaveError::Relay(e.to_string()))
}

fn driven(e: DriveError<tssw_relay::ClientError>) -> EnclaveError {
    match e {
        DriveError::Transport(e) => EnclaveError::Relay(e.to_string()),
        other => EnclaveError::Ceremony(other.to_string()),
    }
}

fn new_share(enclave: &Enclave, wallet: &WalletId, share: &KeyShare) -> Result<NewShare, EnclaveError> {
    let sealed = enclave.sealer()?.seal(wallet, share)?;
    let public_package =
        share.public_package().to_bytes().map_err(|_| EnclaveError::Internal("public package does not encode"))?;
    Ok(NewShare { sealed, public_package, public_key: share.public_key(), epoch: share.epoch() })
}
