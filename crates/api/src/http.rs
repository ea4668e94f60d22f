//! The wallet server's HTTP API bodies (JSON), shared by the server, which parses them, and
//! the client SDK, which builds them, so the two cannot drift apart.
//!
//! Signed protocol objects (contributions, setups) travel as base64 of their strict postcard
//! bytes: the API passes them through and never re-encodes what someone signed. Keys,
//! digests and ids are lowercase hex; chain payloads are JSON in the formats wallets use.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use tssw_channel::Contribution;
use tssw_protocol::{PartyIndex, Scheme};

use crate::payload::ChainPayload;
use crate::strict::decode_strict;

/// Why an API body was refused: the text says which field and what is expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

fn bad(what: impl Into<String>) -> BodyError {
    BodyError(what.into())
}

/// Base64 (standard alphabet, padded) of bytes.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64 from field `field`, refusing more than `max` decoded bytes before decoding.
pub fn unb64(text: &str, field: &str, max: usize) -> Result<Vec<u8>, BodyError> {
    // Four characters carry three bytes: a longer text cannot decode to at most `max`.
    if text.len() > max.div_ceil(3) * 4 {
        return Err(bad(format!("{field} is longer than {max} bytes")));
    }
    B64.decode(text).map_err(|_| bad(format!("{field} must be base64")))
}

/// Decodes exactly 32 bytes of hex from field `field`.
pub fn hex32(text: &str, field: &str) -> Result<[u8; 32], BodyError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| bad(format!("{field} must be 64 hex digits")))?;
    Ok(out)
}

/// One party's signed contribution to a new ceremony, by its index in the ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyContribution {
    /// The party's index in the ceremony (its share index; for a reshare, its position in
    /// the member list).
    pub index: u16,
    /// base64 of the postcard `tssw_channel::Contribution`.
    pub contribution: String,
}

impl PartyContribution {
    /// Wraps a contribution.
    pub fn new(index: PartyIndex, contribution: &Contribution) -> Result<PartyContribution, BodyError> {
        let bytes = postcard::to_stdvec(contribution).map_err(|_| bad("contribution does not encode"))?;
        Ok(PartyContribution { index: index.get(), contribution: b64(&bytes) })
    }

    /// Decodes it and checks the party's signature.
    pub fn decode(&self) -> Result<(PartyIndex, Contribution), BodyError> {
        let index = PartyIndex::new(self.index).map_err(|_| bad("contribution index must be 1..=255"))?;
        let bytes = unb64(&self.contribution, "contribution", 256)?;
        let contribution: Contribution =
            decode_strict(&bytes, "contribution").map_err(|e| bad(format!("contribution: {e}")))?;
        contribution.verify().map_err(|_| bad("contribution signature does not verify"))?;
        Ok((index, contribution))
    }
}

/// `POST /v1/wallets`: a new wallet, made by a DKG between the device and the enclave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWallet {
    /// `ecdsa`, `ed25519` or `bip340`.
    pub scheme: Scheme,
    /// The device's contribution (party 1; the enclave is party 2).
    pub contribution: PartyContribution,
}

/// `POST /v1/wallets/{id}/sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignWallet {
    /// What to sign.
    pub payload: PayloadJson,
    /// The signing parties other than the enclave (share indices).
    pub contributions: Vec<PartyContribution>,
    /// The setup digest the client computed (`binding::sign_digest`), hex: the enclave
    /// refuses when its own differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_digest: Option<String>,
    /// The epoch of the signing device's share: the server answers 409 when it is not the
    /// wallet's active epoch, so a replaced share fails with a clear error before any
    /// ceremony, not inside the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// `POST /v1/wallets/{id}/sign-batch`: up to `tssw_protocol::max_batch` payloads (16 ECDSA,
/// 64 FROST) signed in one ceremony (the inputs of one PSBT, a dapp's
/// `signAllTransactions`), one signature each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignBatch {
    /// What to sign, in order.
    pub payloads: Vec<PayloadJson>,
    /// The signing parties other than the enclave (share indices).
    pub contributions: Vec<PartyContribution>,
    /// The setup digest the client computed (`binding::sign_batch_digest`), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_digest: Option<String>,
    /// The epoch of the signing device's share, as in [`SignWallet::epoch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// `POST /v1/wallets/{id}/refresh`: every share holder but the enclave contributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshWallet {
    /// The other holders' contributions (share indices).
    pub contributions: Vec<PartyContribution>,
}

/// Who holds a share of a wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holder {
    /// The user's device.
    Device,
    /// The service's enclave.
    Enclave,
    /// The user's cloud backup (the third share of a 2-of-3).
    Cloud,
}

impl Holder {
    /// `device`, `enclave` or `cloud`.
    pub fn name(self) -> &'static str {
        match self {
            Holder::Device => "device",
            Holder::Enclave => "enclave",
            Holder::Cloud => "cloud",
        }
    }

    /// Parses [`Holder::name`].
    pub fn from_name(name: &str) -> Option<Holder> {
        [Holder::Device, Holder::Enclave, Holder::Cloud].into_iter().find(|h| h.name() == name)
    }
}

/// One member of a reshare: who it is, its share index in the current epoch (if it deals)
/// and in the new one (if it receives). Its ceremony index is its position, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareMember {
    /// Who holds the share.
    pub holder: Holder,
    /// Its current share index, if it deals.
    pub old_index: Option<u16>,
    /// Its new share index, if it stays or joins.
    pub new_index: Option<u16>,
}

/// `POST /v1/wallets/{id}/reshare`: the same key under a new party set or threshold
/// (2-of-2 → 2-of-3 adds the cloud share; 2-of-3 → 2-of-2 removes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareWallet {
    /// The new threshold.
    pub new_threshold: u16,
    /// Every member, in ceremony order; exactly one is the enclave.
    pub members: Vec<ReshareMember>,
    /// Every member's contribution but the enclave's (by ceremony index).
    pub contributions: Vec<PartyContribution>,
}

/// `POST /v1/wallets/{id}/epochs/{epoch}/confirm`: a test signature with the pending epoch's
/// shares; once every holder has confirmed, the epoch becomes active and the old one is
/// destroyed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEpoch {
    /// The confirming holders' contributions (their new share indices); the enclave signs
    /// with them.
    pub contributions: Vec<PartyContribution>,
}

/// `PUT /v1/wallets/{id}/policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletPolicy {
    /// Let the enclave sign bare 32-byte digests it cannot parse (off by default).
    pub allow_raw_digest: bool,
}

/// The answer to every request that starts a ceremony: what each local party needs to
/// verify the setup and join it on the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyStart {
    /// The ceremony id, hex.
    pub ceremony_id: String,
    /// The wallet.
    pub wallet_id: String,
    /// `dkg`, `sign`, `refresh`, `reshare` or `confirm`.
    pub operation: String,
    /// base64 of the enclave-signed setup (`tssw_channel::Setup`).
    pub setup: String,
    /// The enclave identity that signed it, hex (check it against the attestation).
    pub enclave_identity: String,
    /// The enclave's index in the ceremony.
    pub enclave_index: u16,
    /// The digest the setup binds, hex.
    pub digest: String,
    /// Relay base URLs (`ws://…`), in order of preference.
    pub relay_urls: Vec<String>,
    /// One relay token per local party.
    pub tokens: Vec<PartyToken>,
    /// Unix seconds after which the setup is void.
    pub expires_at: u64,
}

/// A relay token for one party of a ceremony.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyToken {
    /// The party's index in the ceremony.
    pub index: u16,
    /// The bearer token for the relay.
    pub token: String,
}

impl std::fmt::Debug for PartyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyToken").field("index", &self.index).finish_non_exhaustive()
    }
}

/// `GET /v1/ceremonies/{id}`: what the service side made of a ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyStatus {
    /// The ceremony id, hex.
    pub ceremony_id: String,
    /// The wallet.
    pub wallet_id: String,
    /// As in [`CeremonyStart::operation`].
    pub operation: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A signature (sign and confirm), hex of `Signature::to_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// A batch's signatures in payload order (sign-batch), hex of `Signature::to_bytes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// The epoch the ceremony produced (dkg, refresh, reshare) or confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// For confirm: whether the epoch is now the wallet's active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<bool>,
}

/// A wallet as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    /// Random id.
    pub id: String,
    /// `ecdsa`, `ed25519` or `bip340`.
    pub scheme: String,
    /// `creating` (its DKG has not finished), `active` or `failed`.
    pub status: String,
    /// Signers needed.
    pub threshold: u16,
    /// Share holders.
    pub parties: u16,
    /// The group public key, hex (absent while creating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The active epoch (0 while creating).
    pub epoch: u64,
    /// A new epoch waiting for its holders' confirmation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_epoch: Option<u64>,
    /// Who holds which share index in the active epoch.
    pub members: Vec<MemberView>,
    /// base64 of the active epoch's `PublicPackage` (absent while creating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_package: Option<String>,
    /// Addresses of the root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Addresses>,
    /// Whether the enclave signs bare digests for this wallet.
    pub allow_raw_digest: bool,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// One share holder of a wallet's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// Its share index.
    pub index: u16,
    /// Who holds it.
    pub holder: Holder,
}

/// A wallet's root-key addresses for the chains its scheme serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// EIP-55 address (ECDSA wallets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm: Option<String>,
    /// Base58 address (Ed25519 wallets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solana: Option<String>,
    /// Bech32m P2TR address on mainnet (BIP-340 wallets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitcoin: Option<String>,
    /// Bech32m P2TR address on testnet/signet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitcoin_testnet: Option<String>,
}

impl Addresses {
    /// The addresses of a key package's root key.
    pub fn of(package: &tssw_protocol::PublicPackage) -> Result<Addresses, tssw_chains::Error> {
        use tssw_chains::address::{evm_address_checksummed, solana_address, taproot_address};
        let key = package.public_key();
        let mut out = Addresses { evm: None, solana: None, bitcoin: None, bitcoin_testnet: None };
        match package.scheme() {
            Scheme::Ecdsa => out.evm = Some(evm_address_checksummed(key.as_bytes())?),
            Scheme::Ed25519 => out.solana = Some(solana_address(key.as_bytes())?),
            Scheme::Bip340 => {
                let internal = package.taproot_internal_key().ok_or(tssw_chains::Error::InvalidPublicKey {
                    scheme: "bip340",
                    reason: "the key package has no taproot internal key".into(),
                })?;
                out.bitcoin = Some(taproot_address(&internal, key.as_bytes(), bitcoin::Network::Bitcoin)?);
                out.bitcoin_testnet = Some(taproot_address(&internal, key.as_bytes(), bitcoin::Network::Testnet)?);
            }
        }
        Ok(out)
    }
}

/// `GET /v1/enclave/attestation?nonce=HEX`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationView {
    /// `dev` or `nitro`.
    pub tee_mode: String,
    /// The backend's plain statement (the dev backend says it is not a hardware TEE).
    pub notice: String,
    /// base64 of the attestation document (`verify_attestation`).
    pub document: String,
}

/// Largest PSBT accepted in an API body.
pub const MAX_PSBT_BYTES: usize = 512 * 1024;
/// Largest other payload field (a transaction, message or typed data), in bytes.
pub const MAX_PAYLOAD_FIELD_BYTES: usize = 64 * 1024;

/// A chain payload as JSON, in the formats wallets hand over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadJson {
    /// An `eth_sendTransaction` request object.
    EvmTransaction {
        /// The request (EIP-1559 or legacy fields).
        request: serde_json::Value,
        /// The chain id when the request carries none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chain_id: Option<u64>,
        /// A non-hardened BIP-32 path such as `m/44/60/0/0/0`; the root key if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        derivation_path: Option<String>,
    },
    /// An EIP-191 `personal_sign` message, hex of its bytes.
    EvmPersonalMessage {
        /// `0x…` or plain hex.
        message_hex: String,
        /// As above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        derivation_path: Option<String>,
    },
    /// `eth_signTypedData_v4` typed data.
    EvmTypedData {
        /// The typed-data object.
        typed_data: serde_json::Value,
        /// As above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        derivation_path: Option<String>,
    },
    /// A serialized Solana transaction (legacy or v0), base64.
    SolanaTransaction {
        /// base64 wire bytes.
        transaction_base64: String,
    },
    /// A bare serialized Solana message, base64.
    SolanaMessage {
        /// base64 message bytes.
        message_base64: String,
    },
    /// A Solana off-chain message (the enclave adds the standard header), base64.
    SolanaOffchainMessage {
        /// base64 of the text.
        message_base64: String,
    },
    /// One Taproot key-path input of a PSBT.
    BitcoinPsbtInput {
        /// base64 of the binary PSBT.
        psbt_base64: String,
        /// The input to sign.
        input: u32,
    },
    /// A bare digest; only for wallets whose policy allows raw signing.
    RawDigest {
        /// 64 hex digits.
        digest_hex: String,
    },
}

impl PayloadJson {
    /// The payload the enclave parses.
    pub fn to_payload(&self) -> Result<ChainPayload, BodyError> {
        let json = |v: &serde_json::Value, field: &str| -> Result<Vec<u8>, BodyError> {
            let bytes = serde_json::to_vec(v).map_err(|_| bad(format!("{field} does not encode")))?;
            if bytes.len() > MAX_PAYLOAD_FIELD_BYTES {
                return Err(bad(format!("{field} is longer than {MAX_PAYLOAD_FIELD_BYTES} bytes")));
            }
            Ok(bytes)
        };
        let field = |t: &str, name: &str| unb64(t, name, MAX_PAYLOAD_FIELD_BYTES);
        Ok(match self {
            PayloadJson::EvmTransaction { request, chain_id, derivation_path } => ChainPayload::EvmTransaction {
                request_json: json(request, "request")?,
                chain_id: *chain_id,
                derivation_path: derivation_path.clone(),
            },
            PayloadJson::EvmPersonalMessage { message_hex, derivation_path } => {
                let text = message_hex.strip_prefix("0x").unwrap_or(message_hex);
                if text.len() > 2 * MAX_PAYLOAD_FIELD_BYTES {
                    return Err(bad(format!("message_hex is longer than {MAX_PAYLOAD_FIELD_BYTES} bytes")));
                }
                let message = hex::decode(text).map_err(|_| bad("message_hex must be hex"))?;
                ChainPayload::EvmPersonalMessage { message, derivation_path: derivation_path.clone() }
            }
            PayloadJson::EvmTypedData { typed_data, derivation_path } => ChainPayload::EvmTypedData {
                json: json(typed_data, "typed_data")?,
                derivation_path: derivation_path.clone(),
            },
            PayloadJson::SolanaTransaction { transaction_base64 } => {
                ChainPayload::SolanaTransaction { wire: field(transaction_base64, "transaction_base64")? }
            }
            PayloadJson::SolanaMessage { message_base64 } => {
                ChainPayload::SolanaMessage { message: field(message_base64, "message_base64")? }
            }
            PayloadJson::SolanaOffchainMessage { message_base64 } => {
                ChainPayload::SolanaOffchainMessage { message: field(message_base64, "message_base64")? }
            }
            PayloadJson::BitcoinPsbtInput { psbt_base64, input } => ChainPayload::BitcoinPsbtInput {
                psbt: unb64(psbt_base64, "psbt_base64", MAX_PSBT_BYTES)?,
                input: *input,
            },
            PayloadJson::RawDigest { digest_hex } => {
                ChainPayload::RawDigest { digest: hex32(digest_hex, "digest_hex")? }
            }
        })
    }

    /// The JSON form of a payload (`None` for [`ChainPayload::EpochCheck`], which only the
    /// service asks for).
    pub fn from_payload(payload: &ChainPayload) -> Result<Option<PayloadJson>, BodyError> {
        let value = |bytes: &[u8], field: &str| -> Result<serde_json::Value, BodyError> {
            serde_json::from_slice(bytes).map_err(|_| bad(format!("{field} is not JSON")))
        };
        Ok(Some(match payload {
            ChainPayload::EvmTransaction { request_json, chain_id, derivation_path } => PayloadJson::EvmTransaction {
                request: value(request_json, "request")?,
                chain_id: *chain_id,
                derivation_path: derivation_path.clone(),
            },
            ChainPayload::EvmPersonalMessage { message, derivation_path } => PayloadJson::EvmPersonalMessage {
                message_hex: format!("0x{}", hex::encode(message)),
                derivation_path: derivation_path.clone(),
            },
            ChainPayload::EvmTypedData { json, derivation_path } => PayloadJson::EvmTypedData {
                typed_data: value(json, "typed_data")?,
                derivation_path: derivation_path.clone(),
            },
            ChainPayload::SolanaTransaction { wire } => {
                PayloadJson::SolanaTransaction { transaction_base64: b64(wire) }
            }
            ChainPayload::SolanaMessage { message } => PayloadJson::SolanaMessage { message_base64: b64(message) },
            ChainPayload::SolanaOffchainMessage { message } => {
                PayloadJson::SolanaOffchainMessage { message_base64: b64(message) }
            }
            ChainPayload::BitcoinPsbtInput { psbt, input } => {
                PayloadJson::BitcoinPsbtInput { psbt_base64: b64(psbt), input: *input }
            }
            ChainPayload::RawDigest { digest } => PayloadJson::RawDigest { digest_hex: hex::encode(digest) },
            ChainPayload::EpochCheck { .. } => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tssw_channel::IdentityKey;

    #[test]
    fn payloads_round_trip_and_bad_fields_are_named() {
        let payloads = [
            ChainPayload::EvmTransaction {
                request_json: br#"{"to":"0x0000000000000000000000000000000000000001","value":"0x1"}"#.to_vec(),
                chain_id: Some(1),
                derivation_path: Some("m/44/60/0/0/0".into()),
            },
            ChainPayload::EvmPersonalMessage { message: b"hi".to_vec(), derivation_path: None },
            ChainPayload::EvmTypedData { json: br#"{"types":{}}"#.to_vec(), derivation_path: None },
            ChainPayload::SolanaTransaction { wire: vec![1, 2, 3] },
            ChainPayload::SolanaMessage { message: vec![4] },
            ChainPayload::SolanaOffchainMessage { message: b"hello".to_vec() },
            ChainPayload::BitcoinPsbtInput { psbt: vec![0x70, 0x73], input: 2 },
            ChainPayload::RawDigest { digest: [7; 32] },
        ];
        for p in payloads {
            let json = PayloadJson::from_payload(&p).unwrap().unwrap();
            let text = serde_json::to_string(&json).unwrap();
            let back: PayloadJson = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_payload().unwrap(), p, "{text}");
        }
        assert_eq!(PayloadJson::from_payload(&ChainPayload::EpochCheck { epoch: 2 }).unwrap(), None);

        let bad_cases = [
            (r#"{"kind":"raw_digest","digest_hex":"zz"}"#, "digest_hex"),
            (r#"{"kind":"solana_message","message_base64":"!!"}"#, "message_base64"),
            (r#"{"kind":"evm_personal_message","message_hex":"0xzz"}"#, "message_hex"),
        ];
        for (text, field) in bad_cases {
            let json: PayloadJson = serde_json::from_str(text).unwrap();
            assert!(json.to_payload().unwrap_err().0.contains(field), "{text}");
        }
        let long = format!(r#"{{"kind":"solana_message","message_base64":"{}"}}"#, "A".repeat(200_000));
        let json: PayloadJson = serde_json::from_str(&long).unwrap();
        assert!(json.to_payload().unwrap_err().0.contains("longer"));
        // Unknown kinds and unknown fields are refused by the parser.
        assert!(serde_json::from_str::<PayloadJson>(r#"{"kind":"nope"}"#).is_err());
        assert!(serde_json::from_str::<PayloadJson>(r#"{"kind":"raw_digest","digest_hex":"00","x":1}"#).is_err());
    }

    #[test]
    fn contributions_round_trip_and_forgeries_are_refused() {
        let key = IdentityKey::random();
        let (c, _eph) = Contribution::new(&key, &mut rand_core::OsRng);
        let index = PartyIndex::new(1).unwrap();
        let pc = PartyContribution::new(index, &c).unwrap();
        assert_eq!(pc.decode().unwrap(), (index, c));

        let mut forged = c;
        forged.nonce[0] ^= 1;
        let pc = PartyContribution::new(index, &forged).unwrap();
        assert!(pc.decode().unwrap_err().0.contains("signature"));
        let garbage = PartyContribution { index: 1, contribution: b64(&[1, 2, 3]) };
        assert!(garbage.decode().is_err());
        let zero = PartyContribution { index: 0, contribution: b64(&[]) };
        assert!(zero.decode().is_err());
        let long = PartyContribution { index: 1, contribution: "A".repeat(1_000) };
        assert!(long.decode().unwrap_err().0.contains("longer"));
    }
}
