//! What the enclave signs (invariant 5): a structured chain payload that it parses with the
//! `chains` crate and turns into the protocol's [`SignRequest`] itself. The host never
//! hands it a bare digest unless the wallet's policy enabled raw signing.

use serde::{Deserialize, Serialize};
use tssw_chains::bitcoin::{TaprootKey, TaprootPsbt};
use tssw_chains::evm::{EvmTransaction, PersonalMessage, TypedData};
use tssw_chains::solana::{OffchainMessage, SolanaTransaction};
use tssw_chains::{SigningDigest, SigningPayload};
use tssw_protocol::{KeyShare, Scheme, SignRequest};

/// A payload as the host forwards it from the client. Every variant is parsed inside the
/// enclave; the signer (address or key) is always the wallet's own, taken from the share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainPayload {
    /// An `eth_sendTransaction` request (JSON) with every field the digest covers.
    EvmTransaction {
        /// The request JSON.
        #[serde(with = "serde_bytes")]
        request_json: Vec<u8>,
        /// The wallet's chain id when the request carries none (must match if it does).
        chain_id: Option<u64>,
        /// A non-hardened BIP-32 path (`m/44/60/0/0/0`), or the root key.
        derivation_path: Option<String>,
    },
    /// An EIP-191 `personal_sign` message.
    EvmPersonalMessage {
        /// The message bytes.
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
        /// As above.
        derivation_path: Option<String>,
    },
    /// EIP-712 typed data (JSON).
    EvmTypedData {
        /// The typed-data JSON.
        #[serde(with = "serde_bytes")]
        json: Vec<u8>,
        /// As above.
        derivation_path: Option<String>,
    },
    /// A serialized Solana transaction (legacy or v0; signatures may be blank).
    SolanaTransaction {
        /// Wire bytes.
        #[serde(with = "serde_bytes")]
        wire: Vec<u8>,
    },
    /// A bare serialized Solana message.
    SolanaMessage {
        /// Message bytes.
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// A Solana off-chain message (the enclave adds the standard header).
    SolanaOffchainMessage {
        /// The text.
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// One Taproot key-path input of a PSBT (one ceremony per input).
    BitcoinPsbtInput {
        /// The binary PSBT.
        #[serde(with = "serde_bytes")]
        psbt: Vec<u8>,
        /// The input index to sign; it must be one of this wallet's.
        input: u32,
    },
    /// A bare digest (ECDSA prehash, BIP-340 sighash, or the 32-byte Ed25519 message). Only
    /// when the wallet's policy enables raw signing.
    RawDigest {
        /// The digest.
        digest: [u8; 32],
    },
    /// The test signature that confirms a new epoch (invariant 6): a digest the enclave
    /// computes itself from the share's group key and epoch ([`epoch_check_digest`]), so
    /// confirming an epoch never lets the host choose what gets signed.
    EpochCheck,
}

const EPOCH_CHECK: &[u8] = b"tssw/api/v1/epoch-check\0";

/// What the epoch-confirmation signature signs: SHA-256 over a domain tag, the group key
/// and the epoch. No chain accepts it as a transaction or message hash of anything.
pub fn epoch_check_digest(public_key: &tssw_protocol::PublicKey, epoch: u64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let key = public_key.to_bytes();
    Sha256::new()
        .chain_update(EPOCH_CHECK)
        .chain_update([u8::try_from(key.len()).unwrap_or(u8::MAX)])
        .chain_update(&key)
        .chain_update(epoch.to_be_bytes())
        .finalize()
        .into()
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The chains crate refused it.
    #[error("{0}")]
    Chain(#[from] tssw_chains::Error),
    /// The payload is for another scheme than the wallet's share.
    #[error("a {payload} payload cannot be signed with a {share} share")]
    WrongScheme {
        /// What the payload needs.
        payload: Scheme,
        /// The share's scheme.
        share: Scheme,
    },
    /// A raw digest, and the wallet did not enable raw signing.
    #[error("raw digest signing is not enabled for this wallet")]
    RawDigestDisabled,
    /// The PSBT input is not one this wallet can sign.
    #[error("PSBT input {0} is not a key-path input of this wallet")]
    ForeignInput(u32),
    /// The wallet's key cannot be used for this payload (derivation, key format).
    #[error("wallet key: {0}")]
    Key(String),
}

impl ChainPayload {
    /// The scheme the payload needs, or `None` for a raw digest (any scheme).
    pub fn scheme(&self) -> Option<Scheme> {
        match self {
            Self::EvmTransaction { .. } | Self::EvmPersonalMessage { .. } | Self::EvmTypedData { .. } => {
                Some(Scheme::Ecdsa)
            }
            Self::SolanaTransaction { .. } | Self::SolanaMessage { .. } | Self::SolanaOffchainMessage { .. } => {
                Some(Scheme::Ed25519)
            }
            Self::BitcoinPsbtInput { .. } => Some(Scheme::Bip340),
            Self::RawDigest { .. } | Self::EpochCheck => None,
        }
    }

    /// Parses the payload for the wallet of `share` and returns exactly what the ceremony
    /// will sign. The client computes the same with its own share's public data.
    pub fn sign_request(&self, share: &KeyShare, allow_raw_digest: bool) -> Result<SignRequest, PayloadError> {
        if let Some(scheme) = self.scheme()
            && scheme != share.scheme()
        {
            return Err(PayloadError::WrongScheme { payload: scheme, share: share.scheme() });
        }
        let public_key = share.public_key();
        let evm = |path: &Option<String>| -> Result<_, PayloadError> {
            let key = match path {
                Some(p) => share.derive_public_key(p).map_err(|e| PayloadError::Key(e.to_string()))?,
                None => public_key.clone(),
            };
            Ok(tssw_chains::address::evm_address(key.as_bytes())?)
        };
        let ecdsa = |digests: Vec<SigningDigest>, path: &Option<String>| match digests.as_slice() {
            [SigningDigest::Ecdsa { prehash }] => {
                Ok(SignRequest::Ecdsa { prehash: *prehash, derivation_path: path.clone() })
            }
            _ => Err(PayloadError::Key("expected one ECDSA digest".into())),
        };
        let ed25519 = |digests: Vec<SigningDigest>| match digests.as_slice() {
            [SigningDigest::Ed25519 { message }] => Ok(SignRequest::Ed25519 { message: message.clone() }),
            _ => Err(PayloadError::Key("expected one Ed25519 message".into())),
        };
        match self {
            Self::EvmTransaction { request_json, chain_id, derivation_path } => {
                let tx = EvmTransaction::from_request_json(request_json, evm(derivation_path)?, *chain_id)?;
                ecdsa(tx.digests(), derivation_path)
            }
            Self::EvmPersonalMessage { message, derivation_path } => {
                ecdsa(PersonalMessage::new(message, evm(derivation_path)?)?.digests(), derivation_path)
            }
            Self::EvmTypedData { json, derivation_path } => {
                ecdsa(TypedData::from_json(json, evm(derivation_path)?)?.digests(), derivation_path)
            }
            Self::SolanaTransaction { wire } => {
                ed25519(SolanaTransaction::from_wire(wire, public_key.as_bytes())?.digests())
            }
            Self::SolanaMessage { message } => {
                ed25519(SolanaTransaction::from_message_bytes(message, public_key.as_bytes())?.digests())
            }
            Self::SolanaOffchainMessage { message } => {
                ed25519(OffchainMessage::new(message, public_key.as_bytes())?.digests())
            }
            Self::BitcoinPsbtInput { psbt, input } => {
                let internal =
                    share.taproot_internal_key().ok_or(PayloadError::Key("no taproot internal key".into()))?;
                let key = TaprootKey::new(&internal, public_key.as_bytes())?;
                let psbt = TaprootPsbt::from_bytes(psbt, &key)?;
                let owned = psbt
                    .owned_inputs()
                    .iter()
                    .find(|o| u32::try_from(o.index).ok() == Some(*input))
                    .ok_or(PayloadError::ForeignInput(*input))?;
                Ok(SignRequest::Bip340 { sighash: owned.sighash, merkle_root: None })
            }
            Self::RawDigest { digest } => {
                if !allow_raw_digest {
                    return Err(PayloadError::RawDigestDisabled);
                }
                Ok(raw(share.scheme(), *digest))
            }
            Self::EpochCheck => Ok(raw(share.scheme(), epoch_check_digest(&public_key, share.epoch()))),
        }
    }
}

fn raw(scheme: Scheme, digest: [u8; 32]) -> SignRequest {
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: digest, derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: digest.to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: digest, merkle_root: None },
    }
}
