//! What wallets hand over to be signed, parsed from bytes or text into the structured
//! [`ChainPayload`]s the wallet server forwards to the enclave: one payload per signature
//! (a PSBT gives one per input of this wallet). Each payload is checked here with the
//! same code the enclave runs ([`ChainPayload::sign_request`]), so a payload the enclave
//! would refuse is refused before any ceremony, with the reason.
//!
//! | kind | input | scheme |
//! |---|---|---|
//! | `evm-tx` | `eth_sendTransaction` JSON: the transaction object, the `params` array, or the whole JSON-RPC request (EIP-1559 or legacy) | ECDSA |
//! | `eip712` | `eth_signTypedData_v4` JSON: the typed data (object or JSON string), `[address, typedData]`, or the whole request | ECDSA |
//! | `message` | text or `0x`-hex: EIP-191 `personal_sign` for ECDSA, a Solana off-chain message for Ed25519 | ECDSA, Ed25519 |
//! | `solana-tx` | a Solana transaction or bare message: base64, base58 or raw bytes | Ed25519 |
//! | `psbt` | a PSBT: base64 or raw bytes | BIP-340 |
//!
//! Text messages are signed as their exact bytes (a trailing newline included); a `0x`-hex
//! message (surrounding whitespace ignored) is decoded first, as `personal_sign` does.

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tssw_api::{ChainPayload, PayloadError};
use tssw_chains::bitcoin::{Network, TaprootKey, TaprootPsbt};
use tssw_protocol::{Scheme, SignRequest, WalletKey};

/// Bound on any input, checked before it is parsed (a base64 PSBT at its own 512 KiB
/// bound is ≈ 700 KB).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// What kind of payload an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// An EVM transaction request.
    EvmTx,
    /// EIP-712 typed data.
    Eip712,
    /// A message (EIP-191 or Solana off-chain, by the wallet's scheme).
    Message,
    /// A Solana transaction or message.
    SolanaTx,
    /// A PSBT with Taproot key-path inputs.
    Psbt,
}

impl InputKind {
    /// Every kind.
    pub const ALL: [InputKind; 5] =
        [InputKind::EvmTx, InputKind::Eip712, InputKind::Message, InputKind::SolanaTx, InputKind::Psbt];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::EvmTx => "evm-tx",
            InputKind::Eip712 => "eip712",
            InputKind::Message => "message",
            InputKind::SolanaTx => "solana-tx",
            InputKind::Psbt => "psbt",
        }
    }

    /// The schemes whose wallets can sign it.
    pub fn schemes(self) -> &'static [Scheme] {
        match self {
            InputKind::EvmTx | InputKind::Eip712 => &[Scheme::Ecdsa],
            InputKind::Message => &[Scheme::Ecdsa, Scheme::Ed25519],
            InputKind::SolanaTx => &[Scheme::Ed25519],
            InputKind::Psbt => &[Scheme::Bip340],
        }
    }

    fn needs(self) -> &'static str {
        match self {
            InputKind::EvmTx | InputKind::Eip712 => "an ECDSA (secp256k1, EVM) wallet",
            InputKind::Message => {
                "an ECDSA wallet (EIP-191) or an Ed25519 wallet (Solana off-chain message); \
                 BIP-340 wallets have no message format here (BIP-322 is not supported)"
            }
            InputKind::SolanaTx => "an Ed25519 (Solana) wallet",
            InputKind::Psbt => "a BIP-340 (Bitcoin Taproot) wallet",
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputKind {
    type Err = InputError;
    fn from_str(s: &str) -> Result<InputKind, InputError> {
        InputKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| InputError::UnknownKind(s.to_string()))
    }
}

/// What the input itself may lack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputOptions {
    /// EVM: the chain id when the transaction request carries none (must match if it does).
    pub chain_id: Option<u64>,
    /// EVM: a non-hardened BIP-32 path (`m/44/60/0/0/0`) of the account that signs.
    pub derivation_path: Option<String>,
    /// Bitcoin: the network, for the wallet's address.
    pub network: Network,
}

impl Default for InputOptions {
    fn default() -> InputOptions {
        InputOptions { chain_id: None, derivation_path: None, network: Network::Bitcoin }
    }
}

/// An input parsed for one wallet: the payloads to sign, one per ceremony, in order, and
/// what each ceremony will sign.
#[derive(Clone, Debug)]
pub struct SignInput {
    kind: InputKind,
    key: WalletKey,
    options: InputOptions,
    payloads: Vec<ChainPayload>,
    requests: Vec<SignRequest>,
}

impl SignInput {
    /// The input's kind.
    pub fn kind(&self) -> InputKind {
        self.kind
    }
    /// The wallet key it was parsed for.
    pub fn key(&self) -> &WalletKey {
        &self.key
    }
    /// The options it was parsed with.
    pub fn options(&self) -> &InputOptions {
        &self.options
    }
    /// The payloads to send, one per signature.
    pub fn payloads(&self) -> &[ChainPayload] {
        &self.payloads
    }
    /// What each payload's ceremony signs (the enclave derives the same).
    pub fn requests(&self) -> &[SignRequest] {
        &self.requests
    }
}

/// Why an input was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Not one of the kinds.
    #[error("unknown input kind `{0}` (expected evm-tx, eip712, message, solana-tx or psbt)")]
    UnknownKind(String),
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("input of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The wallet's scheme cannot sign this kind.
    #[error("{kind} needs {needs}; this wallet is {scheme}")]
    WrongScheme {
        /// The input kind.
        kind: InputKind,
        /// What it needs.
        needs: &'static str,
        /// The wallet's scheme.
        scheme: Scheme,
    },
    /// The input does not decode.
    #[error("malformed {kind} input: {reason}")]
    Malformed {
        /// The input kind.
        kind: InputKind,
        /// Why.
        reason: String,
    },
    /// The input names another signer than this wallet.
    #[error("{0}")]
    SignerMismatch(String),
    /// The payload itself was refused (what the enclave would refuse).
    #[error("{0}")]
    Payload(#[from] PayloadError),
}

/// Parses `bytes` as a `kind` input for the wallet of `key`.
pub fn parse(kind: InputKind, bytes: &[u8], key: &WalletKey, options: &InputOptions) -> Result<SignInput, InputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { len: bytes.len(), max: MAX_INPUT_BYTES });
    }
    if !kind.schemes().contains(&key.scheme()) {
        return Err(InputError::WrongScheme { kind, needs: kind.needs(), scheme: key.scheme() });
    }
    let malformed = |reason: String| InputError::Malformed { kind, reason };
    let path = options.derivation_path.clone();
    let payloads = match kind {
        InputKind::EvmTx => {
            let tx = match rpc_value(bytes, "eth_sendTransaction").map_err(malformed)? {
                Rpc::Value(v) => v,
                Rpc::Params(params) => match params.as_slice() {
                    [tx] => tx.get().as_bytes(),
                    _ => return Err(malformed(format!("{} params, expected [transaction]", params.len()))),
                },
            };
            vec![ChainPayload::EvmTransaction {
                request_json: tx.to_vec(),
                chain_id: options.chain_id,
                derivation_path: path,
            }]
        }
        InputKind::Eip712 => {
            let (address, data) = match rpc_value(bytes, "eth_signTypedData_v4").map_err(malformed)? {
                Rpc::Value(v) => (None, v),
                Rpc::Params(params) => match params.as_slice() {
                    [address, data] => {
                        let address: String = serde_json::from_str(address.get())
                            .map_err(|_| malformed("params[0] is not an address string".into()))?;
                        (Some(address), data.get().as_bytes())
                    }
                    _ => return Err(malformed(format!("{} params, expected [address, typedData]", params.len()))),
                },
            };
            let payload = ChainPayload::EvmTypedData { json: data.to_vec(), derivation_path: path };
            if let Some(named) = address {
                check_evm_signer(&payload, key, &named)?;
            }
            vec![payload]
        }
        InputKind::Message => {
            let message = message_bytes(bytes);
            match key.scheme() {
                Scheme::Ecdsa => vec![ChainPayload::EvmPersonalMessage { message, derivation_path: path }],
                _ => vec![ChainPayload::SolanaOffchainMessage { message }],
            }
        }
        InputKind::SolanaTx => vec![solana_payload(bytes, key)?],
        InputKind::Psbt => psbt_payloads(bytes, key)?,
    };
    let requests = payloads.iter().map(|p| p.sign_request(key, false)).collect::<Result<Vec<_>, _>>()?;
    Ok(SignInput { kind, key: key.clone(), options: options.clone(), payloads, requests })
}

/// A JSON value as wallets pass it: the value itself or the params of a JSON-RPC call.
enum Rpc<'a> {
    Value(&'a [u8]),
    Params(Vec<&'a RawValue>),
}

/// Unwraps a JSON-RPC request for `method` or a bare `params` array, keeping each inner
/// value's exact bytes (they are what the enclave parses).
fn rpc_value<'a>(bytes: &'a [u8], method: &str) -> Result<Rpc<'a>, String> {
    let raw: &RawValue = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let text = raw.get();
    if text.starts_with('[') {
        return serde_json::from_str(text).map(Rpc::Params).map_err(|e| e.to_string());
    }
    if !text.starts_with('{') {
        return Ok(Rpc::Value(text.as_bytes()));
    }
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Some(called) = fields.get("method") else { return Ok(Rpc::Value(text.as_bytes())) };
    let called: String = serde_json::from_str(called.get()).map_err(|_| "`method` is not a string".to_string())?;
    if called != method {
        return Err(format!("a JSON-RPC request for `{called}`, expected `{method}`"));
    }
    let params = fields.get("params").ok_or("JSON-RPC request without `params`")?;
    serde_json::from_str(params.get()).map(Rpc::Params).map_err(|_| "`params` is not an array".to_string())
}

/// EIP-712's `[address, typedData]` names the signer: it must be this wallet (at the path).
fn check_evm_signer(payload: &ChainPayload, key: &WalletKey, named: &str) -> Result<(), InputError> {
    let signer = payload.parse(key)?.signer;
    let ours = tssw_chains::address::evm_address(signer.as_bytes()).map_err(PayloadError::from)?;
    let theirs = tssw_chains::evm::Address::from_str(named)
        .map_err(|e| InputError::Malformed { kind: InputKind::Eip712, reason: format!("address `{named}`: {e}") })?;
    if theirs != ours {
        return Err(InputError::SignerMismatch(format!("typed data is for {theirs}, this wallet signs as {ours}")));
    }
    Ok(())
}

/// `0x`-hex (whitespace around it ignored) is decoded; anything else is the exact bytes.
fn message_bytes(bytes: &[u8]) -> Vec<u8> {
    let hexed =
        std::str::from_utf8(bytes).ok().and_then(|t| t.trim().strip_prefix("0x").map(hex::decode)).and_then(Result::ok);
    hexed.unwrap_or_else(|| bytes.to_vec())
}

/// Text is base64 or base58 of the wire bytes; anything else is the wire bytes. Each
/// decoding is tried as a transaction, then as a bare message.
fn solana_payload(bytes: &[u8], key: &WalletKey) -> Result<ChainPayload, InputError> {
    let mut candidates = Vec::new();
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = text.trim();
            if let Ok(b) = BASE64.decode(text) {
                candidates.push(b);
            }
            if let Ok(b) = bs58::decode(text).into_vec() {
                candidates.push(b);
            }
        }
        Err(_) => candidates.push(bytes.to_vec()),
    }
    if candidates.is_empty() {
        return Err(InputError::Malformed { kind: InputKind::SolanaTx, reason: "neither base64 nor base58".into() });
    }
    let mut first_error = None;
    for wire in candidates {
        for payload in [
            ChainPayload::SolanaTransaction { wire: wire.clone() },
            ChainPayload::SolanaMessage { message: wire.clone() },
        ] {
            match payload.sign_request(key, false) {
                Ok(_) => return Ok(payload),
                // A payload that parsed but names other signers says more than a parse error.
                Err(e @ PayloadError::Chain(tssw_chains::Error::SignerMismatch(_))) => return Err(e.into()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    Err(match first_error {
        Some(e) => InputError::Malformed {
            kind: InputKind::SolanaTx,
            reason: format!("not a Solana transaction or message: {e}"),
        },
        None => InputError::Malformed { kind: InputKind::SolanaTx, reason: "empty".into() },
    })
}

/// One payload per input of this wallet, in input order.
fn psbt_payloads(bytes: &[u8], key: &WalletKey) -> Result<Vec<ChainPayload>, InputError> {
    let malformed = |reason: String| InputError::Malformed { kind: InputKind::Psbt, reason };
    let psbt = if bytes.starts_with(b"psbt\xff") {
        bytes.to_vec()
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| malformed("neither base64 text nor a binary PSBT".into()))?;
        BASE64.decode(text.trim()).map_err(|e| malformed(format!("base64: {e}")))?
    };
    let internal = key.taproot_internal_key().ok_or(PayloadError::Key(
        "PSBT signing needs the wallet's taproot internal key (P), not only its output key".into(),
    ))?;
    let taproot = TaprootKey::new(&internal, key.public_key().as_bytes()).map_err(PayloadError::from)?;
    let parsed = TaprootPsbt::from_bytes(&psbt, &taproot).map_err(PayloadError::from)?;
    parsed
        .owned_inputs()
        .iter()
        .map(|o| {
            let input = u32::try_from(o.index).map_err(|_| malformed("input index out of range".into()))?;
            Ok(ChainPayload::BitcoinPsbtInput { psbt: psbt.clone(), input })
        })
        .collect()
}
