//! The device's backup flows against the EPS: create, restore, change the passcode.
//!
//! Creating or re-wrapping a backup opens a new EPS *registration* (a random id the EPS
//! chooses, bound into the POPRF info) and returns a [`PreparedBackup`]: the envelope to
//! store and a handle to activate it. The caller
//! 1. stores [`PreparedBackup::envelope`] with the wallet server, then
//! 2. calls [`PreparedBackup::activate`], which deletes the wallet's other registrations at
//!    the EPS: from then on older envelopes (and the old passcode) open nothing.
//!
//! If step 1 fails, nothing was replaced: the old backup still opens. If step 2 fails, both
//! open until a later activation. Either way no backup is lost in between.

use tssw_api::WalletId;
use tssw_protocol::KeyShare;
use zeroize::Zeroizing;

use crate::api::RegisterResponse;
use crate::client::{EpsClient, EpsClientError};
use crate::envelope::{DataKey, Envelope, WalletMeta, Wrapping};
use crate::kdf::{self, Argon2Profile, EpsKeys, Key};
use crate::oprf::{self, EpsPublicKey, MAX_ACCOUNT_FIELD, OprfError};
use crate::{BackupError, Passcode, cpu};

/// A backup made and verified, not yet activated at the EPS.
pub struct PreparedBackup {
    envelope: Vec<u8>,
    wallet_id: WalletId,
    registration: [u8; 16],
    verifier: Key,
}

impl std::fmt::Debug for PreparedBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedBackup")
            .field("wallet_id", &self.wallet_id)
            .field("registration", &hex::encode(self.registration))
            .field("envelope_len", &self.envelope.len())
            .finish_non_exhaustive()
    }
}

impl PreparedBackup {
    /// The envelope bytes to store with the wallet server (opaque to it).
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }

    /// The EPS registration the envelope belongs to.
    pub fn registration(&self) -> [u8; 16] {
        self.registration
    }

    /// Makes this the wallet's only backup at the EPS: its other registrations are deleted,
    /// so older envelopes stop opening. Call it after the envelope is stored.
    pub async fn activate(&self, eps: &EpsClient) -> Result<(), BackupError> {
        eps.activate(&self.wallet_id, &self.registration, &self.verifier).await?;
        Ok(())
    }
}

/// The OPRF output and the passcode's Argon2id output of one registration, kept to
/// re-derive keys when the new envelope is read back.
struct Derivation {
    output: Zeroizing<[u8; 64]>,
    pw: Option<Key>,
}

impl Derivation {
    fn keys(&self, registration: &[u8; 16], salt: &[u8; 32]) -> Result<EpsKeys, BackupError> {
        kdf::eps_keys(&self.output, self.pw.as_ref(), registration, salt)
    }
}

fn proof_error(e: OprfError) -> BackupError {
    match e {
        OprfError::Proof => BackupError::EpsKeyMismatch,
        _ => BackupError::Eps(EpsClientError::Malformed(e.to_string())),
    }
}

async fn argon(passcode: Option<&Passcode>, info: &[u8]) -> Result<Option<Key>, BackupError> {
    let Some(passcode) = passcode else { return Ok(None) };
    let secret = Zeroizing::new(passcode.as_bytes().to_vec());
    let salt = kdf::passcode_salt(info);
    Ok(Some(cpu(move || kdf::argon2id(&secret, &salt, Argon2Profile::Interactive)).await??))
}

/// Opens a registration for `wallet` and derives its keys.
async fn register(
    eps: &EpsClient,
    wallet: &WalletId,
    passcode: Option<&Passcode>,
) -> Result<(RegisterResponse, Derivation), BackupError> {
    let input = kdf::oprf_input(wallet, passcode.map(Passcode::as_bytes));
    let blinded = oprf::blind(&input).map_err(|_| BackupError::Internal("OPRF input"))?;
    let answer = eps.register(wallet, &blinded.message).await?;
    let field = |s: &str| !s.is_empty() && s.len() <= MAX_ACCOUNT_FIELD;
    if !field(&answer.issuer) || !field(&answer.subject) {
        return Err(EpsClientError::Malformed("account fields out of range".into()).into());
    }
    let info = oprf::info(&answer.issuer, &answer.subject, wallet, &answer.registration.0);
    let key = EpsPublicKey(answer.public_key.0);
    let output =
        oprf::finalize(&blinded, &input, &answer.evaluation.0, &answer.proof.0, &key, &info).map_err(proof_error)?;
    let pw = argon(passcode, &info).await?;
    Ok((answer, Derivation { output, pw }))
}

fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    salt
}

fn eps_wrapping(answer: &RegisterResponse, passcode: Option<&Passcode>, salt: [u8; 32]) -> Wrapping {
    Wrapping::Eps {
        eps_key: answer.public_key.0,
        issuer: answer.issuer.clone(),
        subject: answer.subject.clone(),
        registration: answer.registration.0,
        passcode: passcode.map(|_| Argon2Profile::Interactive),
        salt,
    }
}

/// Reads `bytes` back as a restore would (decode, check the header, derive K from the
/// decoded fields, unwrap, decrypt, decode the share) and checks it holds `share`.
fn read_back(bytes: &[u8], meta: &WalletMeta, derivation: &Derivation, share: &KeyShare) -> Result<(), BackupError> {
    let again = Envelope::decode(bytes)?;
    meta.expect(again.meta())?;
    let Wrapping::Eps { registration, salt, .. } = again.wrapping() else {
        return Err(BackupError::Internal("the new envelope lost its wrapping"));
    };
    let keys = derivation.keys(registration, salt)?;
    let data_key = again.open_key(&keys.kek)?.ok_or(BackupError::Internal("the new envelope does not open"))?;
    let reopened = again.open_share(&data_key)?;
    let encode = |s: &KeyShare| s.to_bytes().map_err(|_| BackupError::Internal("share encoding"));
    if *encode(&reopened)? != *encode(share)? {
        return Err(BackupError::Internal("the new envelope holds another share"));
    }
    Ok(())
}

/// Backs up `share` (which must match `meta`, the wallet's public facts) through the EPS,
/// protected by `passcode` if given. The envelope is decrypted again and its share checked
/// against `meta` (group key, public package with every verifying share, index, epoch)
/// before this returns; then the verifier is registered. Store the envelope, then
/// [`PreparedBackup::activate`].
pub async fn create_backup(
    share: &KeyShare,
    meta: &WalletMeta,
    eps: &EpsClient,
    passcode: Option<&Passcode>,
) -> Result<PreparedBackup, BackupError> {
    meta.expect_share(share)?;
    let wallet = &meta.wallet_id;
    let (answer, derivation) = register(eps, wallet, passcode).await?;
    let salt = random_salt();
    let keys = derivation.keys(&answer.registration.0, &salt)?;
    let envelope = Envelope::seal(meta.clone(), eps_wrapping(&answer, passcode, salt), &keys.kek, share)?;
    let bytes = envelope.encode()?;
    read_back(&bytes, meta, &derivation, share)?;
    eps.set_verifier(wallet, &answer.registration.0, &keys.verifier).await?;
    Ok(PreparedBackup {
        envelope: bytes,
        wallet_id: wallet.clone(),
        registration: answer.registration.0,
        verifier: keys.verifier,
    })
}

/// Unwraps an EPS envelope: the decoded envelope, its data key and its share.
async fn unwrap(
    bytes: &[u8],
    expected: &WalletMeta,
    eps: &EpsClient,
    passcode: Option<&Passcode>,
) -> Result<(Envelope, DataKey, KeyShare), BackupError> {
    let envelope = Envelope::decode(bytes)?;
    expected.expect(envelope.meta())?;
    let Wrapping::Eps { eps_key, issuer, subject, registration, passcode: has_passcode, salt } =
        envelope.wrapping().clone()
    else {
        return Err(BackupError::WrongWrapping {
            expected: "by the encryption proxy",
            found: envelope.wrapping().name(),
        });
    };
    match (has_passcode.is_some(), passcode.is_some()) {
        (true, false) => return Err(BackupError::PasscodeRequired),
        (false, true) => return Err(BackupError::PasscodeNotSet),
        _ => {}
    }
    let wallet = &expected.wallet_id;
    let info = oprf::info(&issuer, &subject, wallet, &registration);
    let input = kdf::oprf_input(wallet, passcode.map(Passcode::as_bytes));
    let pw = argon(passcode, &info).await?;
    let blinded = oprf::blind(&input).map_err(|_| BackupError::Internal("OPRF input"))?;
    let answer = eps.evaluate(wallet, &registration, &blinded.message).await.map_err(|e| match e {
        EpsClientError::NotFound(_) => BackupError::Superseded,
        EpsClientError::Locked(message) => BackupError::Locked(message),
        other => BackupError::Eps(other),
    })?;
    let output = oprf::finalize(&blinded, &input, &answer.evaluation.0, &answer.proof.0, &EpsPublicKey(eps_key), &info)
        .map_err(proof_error)?;
    let keys = Derivation { output, pw }.keys(&registration, &salt)?;
    let opened = envelope.open_key(&keys.kek)?;
    // Confirm either way: the EPS's answer tells a wrong passcode (its verifier differs)
    // from an envelope edited after it was made (the verifier matches, the AEAD fails).
    let confirmed = eps.confirm(wallet, &registration, &keys.verifier).await;
    match (opened, confirmed) {
        (Some(data_key), Ok(_)) => {
            let share = envelope.open_share(&data_key)?;
            Ok((envelope, data_key, share))
        }
        (None, Ok(_)) => Err(BackupError::Tampered),
        (_, Err(EpsClientError::WrongVerifier { .. })) => {
            Err(BackupError::WrongSecret { attempts_left: Some(answer.attempts_left) })
        }
        (_, Err(e)) => Err(e.into()),
    }
}

/// Restores the share from an EPS envelope: checks the envelope is of the wallet `expected`
/// describes (wallet, scheme, epoch, share, key) before contacting the EPS, then one
/// counted evaluation, unwrap, decrypt, and the share is checked against `expected`.
/// A wrong passcode is [`BackupError::WrongSecret`] with the attempts left.
pub async fn restore(
    envelope: &[u8],
    expected: &WalletMeta,
    eps: &EpsClient,
    passcode: Option<&Passcode>,
) -> Result<KeyShare, BackupError> {
    let (_, _, share) = unwrap(envelope, expected, eps, passcode).await?;
    Ok(share)
}

/// Re-wraps an EPS envelope under `new` (or no passcode): one counted evaluation with
/// `old`, then a new registration; the same data key and share ciphertext, no new DKG.
/// After [`PreparedBackup::activate`] the old registration is gone, so the old envelope
/// and the old passcode open nothing, even where an old copy was kept.
pub async fn change_passcode(
    envelope: &[u8],
    expected: &WalletMeta,
    eps: &EpsClient,
    old: Option<&Passcode>,
    new: Option<&Passcode>,
) -> Result<PreparedBackup, BackupError> {
    let (envelope, data_key, share) = unwrap(envelope, expected, eps, old).await?;
    let wallet = &expected.wallet_id;
    let (answer, derivation) = register(eps, wallet, new).await?;
    let salt = random_salt();
    let keys = derivation.keys(&answer.registration.0, &salt)?;
    let rewrapped = envelope.rewrap(eps_wrapping(&answer, new, salt), &data_key, &keys.kek)?;
    let bytes = rewrapped.encode()?;
    read_back(&bytes, expected, &derivation, &share)?;
    eps.set_verifier(wallet, &answer.registration.0, &keys.verifier).await?;
    Ok(PreparedBackup {
        envelope: bytes,
        wallet_id: wallet.clone(),
        registration: answer.registration.0,
        verifier: keys.verifier,
    })
}

/// Opens an EPS envelope given the OPRF output and the passcode's Argon2id output
/// (`kdf::argon2id(passcode, kdf::passcode_salt(info), Interactive)`), computed elsewhere.
/// It is exactly what anyone holding the EPS key (`OprfKey::evaluate_unblinded`) and the
/// envelope can compute offline from the public key schedule in [`crate::kdf`]; devices use
/// [`restore`]. Tests use it to play the attackers of SECURITY.md.
#[doc(hidden)]
pub fn open_with_oprf_output(
    envelope: &[u8],
    expected: &WalletMeta,
    oprf_output: &[u8; 64],
    pw: Option<&Key>,
) -> Result<KeyShare, BackupError> {
    let envelope = Envelope::decode(envelope)?;
    expected.expect(envelope.meta())?;
    let Wrapping::Eps { registration, salt, .. } = envelope.wrapping() else {
        return Err(BackupError::WrongWrapping {
            expected: "by the encryption proxy",
            found: envelope.wrapping().name(),
        });
    };
    let keys = kdf::eps_keys(oprf_output, pw, registration, salt)?;
    let data_key = envelope.open_key(&keys.kek)?.ok_or(BackupError::WrongSecret { attempts_left: None })?;
    envelope.open_share(&data_key)
}
