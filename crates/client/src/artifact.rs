//! The signed result of an input, in its chain's standard encoding, so any other tool can
//! check or broadcast it: a raw EIP-2718 transaction, a 65-byte message signature, a
//! base64 Solana transaction or a signature, a finalized Bitcoin transaction with the
//! outputs it spends. Assembly is the chains crate's, and it verifies every signature
//! against the wallet's key before anything is returned.

use serde::Serialize;
use tssw_api::{ChainPayload, PayloadError};
use tssw_chains::{ChainSignature, Payload, SigningPayload, address};
use tssw_protocol::{Scheme, Signature};

use crate::input::SignInput;

/// A signed artifact and the address that signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// The signing address: EIP-55 for EVM, base58 for Solana, P2TR for Bitcoin (on the
    /// input's network).
    pub address: String,
    /// The signed result.
    #[serde(flatten)]
    pub signed: Signed,
}

/// The signed result, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signed {
    /// What `eth_sendRawTransaction` takes.
    EvmTransaction {
        /// The EIP-2718 encoding, `0x`-hex.
        raw_transaction: String,
        /// Its hash, `0x`-hex.
        transaction_hash: String,
    },
    /// What `personal_sign` and `eth_signTypedData_v4` return.
    EvmSignature {
        /// r ‖ s ‖ v (v = 27 + parity), `0x`-hex.
        signature: String,
    },
    /// A Solana transaction carrying this wallet's signature.
    SolanaTransaction {
        /// The wire encoding, base64 (`sendTransaction` with `encoding: "base64"`).
        transaction_base64: String,
        /// This wallet's signature, base58 (for the fee payer, the transaction id).
        signature: String,
        /// False while another required signer has yet to sign.
        complete: bool,
    },
    /// An Ed25519 signature of a bare Solana message or an off-chain message.
    SolanaSignature {
        /// The signature, base58.
        signature: String,
    },
    /// A finalized Bitcoin transaction.
    BitcoinTransaction {
        /// The consensus encoding, hex.
        transaction_hex: String,
        /// The txid.
        txid: String,
        /// What each input spends (verifiers need it: BIP-341 commits to all of them).
        spent_outputs: Vec<SpentOutput>,
    },
    /// A PSBT with this wallet's inputs signed and finalized; other signers' inputs remain.
    BitcoinPsbt {
        /// The PSBT, base64.
        psbt_base64: String,
        /// What each input spends.
        spent_outputs: Vec<SpentOutput>,
    },
}

/// One spent output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpentOutput {
    /// Its value in satoshis.
    pub value_sat: u64,
    /// Its scriptPubKey, hex.
    pub script_pubkey: String,
}

/// Why an artifact could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// Not one signature per payload.
    #[error("{got} signature(s) for {expected} payload(s)")]
    Count {
        /// Payloads.
        expected: usize,
        /// Signatures.
        got: usize,
    },
    /// The payload was refused.
    #[error("{0}")]
    Payload(#[from] PayloadError),
    /// Assembly refused a signature (it does not verify) or the payload.
    #[error("{0}")]
    Chain(#[from] tssw_chains::Error),
}

/// Assembles the artifact of `input` from its ceremonies' signatures (one per payload, in
/// order).
pub fn assemble(input: &SignInput, signatures: &[Signature]) -> Result<Artifact, ArtifactError> {
    let payloads = input.payloads();
    let (Some(first), true) = (payloads.first(), payloads.len() == signatures.len()) else {
        return Err(ArtifactError::Count { expected: payloads.len(), got: signatures.len() });
    };
    let key = input.key();
    let parsed = first.parse(key)?;
    let address = match key.scheme() {
        Scheme::Ecdsa => address::evm_address_checksummed(parsed.signer.as_bytes())?,
        Scheme::Ed25519 => address::solana_address(parsed.signer.as_bytes())?,
        Scheme::Bip340 => {
            let internal = key.taproot_internal_key().ok_or(PayloadError::Key("no taproot internal key".into()))?;
            address::taproot_address(&internal, key.public_key().as_bytes(), input.options().network)?
        }
    };
    let sigs: Vec<ChainSignature> = signatures.iter().map(chain_signature).collect();
    let signed = match &parsed.chain {
        Some(Payload::EvmTransaction(tx)) => {
            let signed = tx.assemble(&sigs)?;
            Signed::EvmTransaction {
                raw_transaction: signed.raw_hex(),
                transaction_hash: format!("0x{}", hex::encode(signed.hash)),
            }
        }
        Some(Payload::EvmPersonalMessage(m)) => {
            Signed::EvmSignature { signature: format!("0x{}", hex::encode(m.assemble(&sigs)?)) }
        }
        Some(Payload::EvmTypedData(t)) => {
            Signed::EvmSignature { signature: format!("0x{}", hex::encode(t.assemble(&sigs)?)) }
        }
        Some(Payload::SolanaTransaction(tx)) => {
            let signed = tx.assemble(&sigs)?;
            match first {
                ChainPayload::SolanaMessage { .. } => Signed::SolanaSignature { signature: signed.signature_base58() },
                _ => Signed::SolanaTransaction {
                    transaction_base64: signed.to_base64(),
                    signature: signed.signature_base58(),
                    complete: signed.complete,
                },
            }
        }
        Some(Payload::SolanaOffchainMessage(m)) => {
            Signed::SolanaSignature { signature: bs58::encode(m.assemble(&sigs)?).into_string() }
        }
        Some(Payload::BitcoinPsbt(psbt)) => {
            // The payloads must be this wallet's inputs, each once, in the PSBT's order.
            let asked: Vec<Option<usize>> = payloads
                .iter()
                .map(|p| match p {
                    ChainPayload::BitcoinPsbtInput { input, .. } => usize::try_from(*input).ok(),
                    _ => None,
                })
                .collect();
            let owned: Vec<Option<usize>> = psbt.owned_inputs().iter().map(|o| Some(o.index)).collect();
            if asked != owned {
                return Err(
                    PayloadError::Key(format!("signatures for inputs {asked:?}, the wallet's are {owned:?}")).into()
                );
            }
            let spent_outputs = psbt
                .spent_outputs()
                .iter()
                .map(|o| SpentOutput {
                    value_sat: o.value.to_sat(),
                    script_pubkey: hex::encode(o.script_pubkey.as_bytes()),
                })
                .collect();
            if owned.len() == psbt.psbt().inputs.len() {
                let tx = psbt.assemble(&sigs)?;
                Signed::BitcoinTransaction { transaction_hex: tx.to_hex(), txid: tx.txid, spent_outputs }
            } else {
                let raw: Vec<Vec<u8>> = signatures.iter().map(Signature::to_bytes).collect();
                let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
                Signed::BitcoinPsbt { psbt_base64: psbt.sign_psbt_base64(&refs)?, spent_outputs }
            }
        }
        None => return Err(PayloadError::Key("a raw digest has no chain artifact".into()).into()),
    };
    Ok(Artifact { address, signed })
}

fn chain_signature(signature: &Signature) -> ChainSignature {
    match *signature {
        Signature::Ecdsa { r, s, recovery_id } => ChainSignature::Ecdsa { r, s, recovery_id },
        Signature::Ed25519(sig) => ChainSignature::Ed25519(sig),
        Signature::Bip340(sig) => ChainSignature::Bip340(sig),
    }
}
