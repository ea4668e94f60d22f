//! What the enclave signs (invariant 5): a structured chain payload that it parses with the
//! `chains` crate and turns into the protocol's [`SignRequest`] itself. The host never
//! hands it a bare digest unless the wallet's policy enabled raw signing.

use serde::{Deserialize, Serialize};
use tssw_chains::bitcoin::{TaprootKey, TaprootPsbt};
use tssw_chains::evm::Address;
use tssw_chains::evm::{EvmTransaction, PersonalMessage, TypedData};
use tssw_chains::solana::{OffchainMessage, SolanaTransaction};
use tssw_chains::{Payload, SigningDigest, SigningPayload};
use tssw_protocol::{PublicKey, Scheme, SignRequest, WalletKey};

/// A payload as the host forwards it from the client. Every variant is parsed inside the
/// enclave; the signer (address or key) is always the wallet's own, from its public data.
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
    /// computes itself from the wallet's group key and the epoch ([`epoch_check_digest`]),
    /// so confirming an epoch never lets the host choose what gets signed. The enclave
    /// refuses it unless `epoch` is its share's.
    EpochCheck {
        /// The epoch being confirmed.
        epoch: u64,
    },
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
    /// The payload is for another scheme than the wallet's key.
    #[error("a {payload} payload cannot be signed with a {share} share")]
    WrongScheme {
        /// What the payload needs.
        payload: Scheme,
        /// The wallet's scheme.
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

/// A payload parsed for one wallet: what the ceremony signs, and the chains crate's view of
/// the payload so the signed result can be assembled from the signature afterwards.
#[derive(Clone, Debug)]
pub struct ParsedPayload {
    /// Exactly what the ceremony signs.
    pub request: SignRequest,
    /// The parsed chain payload (`None` for a raw digest). A bare Solana message becomes a
    /// transaction with blank signatures; a PSBT input carries the whole PSBT.
    pub chain: Option<Payload>,
    /// The key that signs: the wallet's key, or for EVM the key at the derivation path.
    pub signer: PublicKey,
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
            Self::RawDigest { .. } | Self::EpochCheck { .. } => None,
        }
    }

    /// Parses the payload for the wallet whose public key is `key` and returns exactly what
    /// the ceremony will sign. The enclave and the client each compute it themselves, from
    /// the same payload and the wallet's public data (no share is needed).
    pub fn sign_request(&self, key: &WalletKey, allow_raw_digest: bool) -> Result<SignRequest, PayloadError> {
        if matches!(self, Self::RawDigest { .. }) && !allow_raw_digest {
            return Err(PayloadError::RawDigestDisabled);
        }
        Ok(self.parse(key)?.request)
    }

    /// Parses the payload for the wallet of `key`: what [`ChainPayload::sign_request`]
    /// returns, plus the parsed chain payload and signing key. No raw-digest policy here:
    /// [`ChainPayload::sign_request`] is the gate.
    pub fn parse(&self, key: &WalletKey) -> Result<ParsedPayload, PayloadError> {
        if let Some(scheme) = self.scheme()
            && scheme != key.scheme()
        {
            return Err(PayloadError::WrongScheme { payload: scheme, share: key.scheme() });
        }
        let public_key = key.public_key();
        let evm_key = |path: &Option<String>| -> Result<(PublicKey, Address), PayloadError> {
            let signer = match path {
                Some(p) => key.derive_public_key(p).map_err(|e| PayloadError::Key(e.to_string()))?,
                None => public_key.clone(),
            };
            let address = tssw_chains::address::evm_address(signer.as_bytes())?;
            Ok((signer, address))
        };
        let ecdsa = |chain: Payload, path: &Option<String>, signer: PublicKey| match chain.digests().as_slice() {
            [SigningDigest::Ecdsa { prehash }] => Ok(ParsedPayload {
                request: SignRequest::Ecdsa { prehash: *prehash, derivation_path: path.clone() },
                chain: Some(chain),
                signer,
            }),
            _ => Err(PayloadError::Key("expected one ECDSA digest".into())),
        };
        let ed25519 = |chain: Payload| match chain.digests().as_slice() {
            [SigningDigest::Ed25519 { message }] => Ok(ParsedPayload {
                request: SignRequest::Ed25519 { message: message.clone() },
                chain: Some(chain),
                signer: public_key.clone(),
            }),
            _ => Err(PayloadError::Key("expected one Ed25519 message".into())),
        };
        match self {
            Self::EvmTransaction { request_json, chain_id, derivation_path } => {
                let (signer, address) = evm_key(derivation_path)?;
                let tx = EvmTransaction::from_request_json(request_json, address, *chain_id)?;
                ecdsa(Payload::EvmTransaction(tx), derivation_path, signer)
            }
            Self::EvmPersonalMessage { message, derivation_path } => {
                let (signer, address) = evm_key(derivation_path)?;
                ecdsa(Payload::EvmPersonalMessage(PersonalMessage::new(message, address)?), derivation_path, signer)
            }
            Self::EvmTypedData { json, derivation_path } => {
                let (signer, address) = evm_key(derivation_path)?;
                ecdsa(Payload::EvmTypedData(TypedData::from_json(json, address)?), derivation_path, signer)
            }
            Self::SolanaTransaction { wire } => {
                ed25519(Payload::SolanaTransaction(SolanaTransaction::from_wire(wire, public_key.as_bytes())?))
            }
            Self::SolanaMessage { message } => ed25519(Payload::SolanaTransaction(
                SolanaTransaction::from_message_bytes(message, public_key.as_bytes())?,
            )),
            Self::SolanaOffchainMessage { message } => {
                ed25519(Payload::SolanaOffchainMessage(OffchainMessage::new(message, public_key.as_bytes())?))
            }
            Self::BitcoinPsbtInput { psbt, input } => {
                let internal = key.taproot_internal_key().ok_or(PayloadError::Key("no taproot internal key".into()))?;
                let taproot = TaprootKey::new(&internal, public_key.as_bytes())?;
                let psbt = TaprootPsbt::from_bytes(psbt, &taproot)?;
                let owned = psbt
                    .owned_inputs()
                    .iter()
                    .find(|o| u32::try_from(o.index).ok() == Some(*input))
                    .ok_or(PayloadError::ForeignInput(*input))?;
                Ok(ParsedPayload {
                    request: SignRequest::Bip340 { sighash: owned.sighash, merkle_root: None },
                    chain: Some(Payload::BitcoinPsbt(psbt)),
                    signer: public_key.clone(),
                })
            }
            Self::RawDigest { digest } => {
                Ok(ParsedPayload { request: raw(key.scheme(), *digest), chain: None, signer: public_key.clone() })
            }
            Self::EpochCheck { epoch } => Ok(ParsedPayload {
                request: raw(key.scheme(), epoch_check_digest(public_key, *epoch)),
                chain: None,
                signer: public_key.clone(),
            }),
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
