//! Bitcoin Taproot key-path spends from PSBTs (BIP-174/371): one BIP-341 sighash per input
//! this wallet owns, BIP-340 signatures in, finalized transaction out.

use ::bitcoin::Psbt;
use ::bitcoin::consensus::encode::serialize as consensus_serialize;
use ::bitcoin::hashes::Hash as _;
use ::bitcoin::psbt::Input;
use ::bitcoin::secp256k1::{Message, Secp256k1, schnorr};
use ::bitcoin::sighash::{Prevouts, SighashCache};
use ::bitcoin::{TapSighashType, Transaction, TxOut, Witness, taproot};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use crate::address::TaprootKey;
pub use ::bitcoin::Network;

use crate::error::check_size;
use crate::{ChainSignature, Error, SigningDigest, SigningPayload};

/// One input this wallet signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedInput {
    /// Index in the PSBT / transaction.
    pub index: usize,
    /// SIGHASH_DEFAULT or SIGHASH_ALL, from the PSBT input's `sighash_type`.
    pub sighash_type: TapSighashType,
    /// The BIP-341 key-path sighash.
    pub sighash: [u8; 32],
}

/// A PSBT with the sighashes of this wallet's inputs.
#[derive(Clone, Debug)]
pub struct TaprootPsbt {
    psbt: Psbt,
    key: TaprootKey,
    owned: Vec<OwnedInput>,
    spent: Vec<TxOut>,
}

/// The finalized transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizedTransaction {
    /// Consensus-encoded transaction (with witnesses).
    pub raw: Vec<u8>,
    /// Transaction id as block explorers display it.
    pub txid: String,
}

impl FinalizedTransaction {
    /// Hex of the raw transaction (`sendrawtransaction` input).
    pub fn to_hex(&self) -> String {
        hex::encode(&self.raw)
    }
}

impl TaprootPsbt {
    /// Largest binary PSBT accepted: a few hundred inputs with full previous transactions.
    pub const MAX_LEN: usize = 512 * 1024;

    /// Parses a base64 PSBT (the BIP-174 text form).
    pub fn from_base64(text: &str, key: &TaprootKey) -> Result<Self, Error> {
        check_size("PSBT (base64)", text.len(), Self::MAX_LEN * 4 / 3 + 4)?;
        let bytes = BASE64.decode(text.trim()).map_err(|e| Error::malformed("PSBT (base64)", e))?;
        Self::from_bytes(&bytes, key)
    }

    /// Parses a binary PSBT and works out which inputs are ours.
    ///
    /// An input is ours when its `tap_internal_key` is our internal key P or, without one,
    /// when its `witness_utxo` pays to our output key Q. An input that names P but whose
    /// `witness_utxo` pays elsewhere (or that lacks one) is refused, as is one paying to Q
    /// under another internal key: signing either would sign something other than what the
    /// PSBT claims. Other inputs are left for their owners.
    pub fn from_bytes(bytes: &[u8], key: &TaprootKey) -> Result<Self, Error> {
        check_size("PSBT", bytes.len(), Self::MAX_LEN)?;
        let psbt = Psbt::deserialize(bytes).map_err(|e| Error::malformed("PSBT", e))?;
        Self::new(psbt, key)
    }

    /// Takes an already decoded PSBT (e.g. built by the client's coin selection).
    pub fn new(psbt: Psbt, key: &TaprootKey) -> Result<Self, Error> {
        let prevouts = prevouts(&psbt)?;
        let in_value = prevouts.iter().try_fold(0u64, |sum, o| sum.checked_add(o.value.to_sat()));
        let out_value = psbt.unsigned_tx.output.iter().try_fold(0u64, |sum, o| sum.checked_add(o.value.to_sat()));
        match (in_value, out_value) {
            (Some(i), Some(o)) if i >= o => {}
            _ => return Err(Error::malformed("PSBT", "outputs exceed inputs")),
        }

        let our_script = key.script_pubkey();
        let mut cache = SighashCache::new(&psbt.unsigned_tx);
        let mut owned = Vec::new();
        for (index, (input, prevout)) in psbt.inputs.iter().zip(&prevouts).enumerate() {
            let names_p = input.tap_internal_key == Some(key.internal_key());
            let pays_q = input.witness_utxo.as_ref().is_some_and(|o| o.script_pubkey == our_script);
            let refuse = |reason: &str| Error::ForeignInput { index, reason: reason.into() };
            match (names_p, pays_q, input.tap_internal_key) {
                (true, false, _) => {
                    return Err(refuse("witness_utxo does not pay to our Taproot output key"));
                }
                (false, true, Some(_)) => {
                    return Err(refuse("tap_internal_key is not our internal key"));
                }
                (false, false, _) => continue,
                _ => {}
            }
            if prevout.script_pubkey != our_script {
                return Err(refuse("previous output does not pay to our key"));
            }
            if input.tap_merkle_root.is_some() || !input.tap_scripts.is_empty() {
                return Err(refuse("script trees are not supported; key path only"));
            }
            if input.final_script_witness.is_some() || input.tap_key_sig.is_some() {
                return Err(refuse("input is already signed"));
            }
            let sighash_type = match input.sighash_type {
                None => TapSighashType::Default,
                Some(t) => match t.taproot_hash_ty() {
                    Ok(t @ (TapSighashType::Default | TapSighashType::All)) => t,
                    _ => {
                        return Err(Error::Unsupported(format!(
                            "input {index}: sighash type {t} (only DEFAULT and ALL)"
                        )));
                    }
                },
            };
            let sighash = cache
                .taproot_key_spend_signature_hash(index, &Prevouts::All(&prevouts), sighash_type)
                .map_err(|e| Error::malformed("PSBT", e))?;
            owned.push(OwnedInput { index, sighash_type, sighash: sighash.to_byte_array() });
        }
        if owned.is_empty() {
            return Err(Error::Unsupported("no input of this PSBT is spendable by this key".into()));
        }
        Ok(Self { psbt, key: *key, owned, spent: prevouts })
    }

    /// The output each input spends, in input order: what a verifier needs besides the
    /// transaction (BIP-341 sighashes commit to every spent amount and script).
    pub fn spent_outputs(&self) -> &[TxOut] {
        &self.spent
    }

    /// The inputs to sign, in ascending input order (the order of `digests` and `assemble`).
    pub fn owned_inputs(&self) -> &[OwnedInput] {
        &self.owned
    }

    /// The decoded PSBT, for policy checks (outputs, amounts) and display.
    pub fn psbt(&self) -> &Psbt {
        &self.psbt
    }

    /// Each output as `(address on network, or the script in hex when it has none, value in
    /// sats)`, and the fee (what the inputs spend minus what the outputs pay; `None` if the
    /// outputs pay more), for a confirmation screen.
    pub fn outputs(&self, network: Network) -> (Vec<(String, u64)>, Option<u64>) {
        let outputs = self
            .psbt
            .unsigned_tx
            .output
            .iter()
            .map(|o| {
                let to = ::bitcoin::Address::from_script(&o.script_pubkey, network)
                    .map_or_else(|_| o.script_pubkey.to_hex_string(), |a| a.to_string());
                (to, o.value.to_sat())
            })
            .collect::<Vec<_>>();
        let spent = self.spent.iter().try_fold(0u64, |sum, o| sum.checked_add(o.value.to_sat()));
        let paid = outputs.iter().try_fold(0u64, |sum, (_, v)| sum.checked_add(*v));
        let fee = spent.zip(paid).and_then(|(s, p)| s.checked_sub(p));
        (outputs, fee)
    }

    /// Attaches signatures given as bytes (64 bytes, or 65 with the input's sighash type
    /// appended) and finalizes our inputs; returns the PSBT for other signers.
    pub fn sign_psbt(&self, signatures: &[&[u8]]) -> Result<Psbt, Error> {
        if signatures.len() != self.owned.len() {
            return Err(Error::SignatureCount { scheme: "bip340", expected: self.owned.len(), got: signatures.len() });
        }
        let secp = Secp256k1::verification_only();
        let q = self.key.output_key().to_x_only_public_key();
        let mut psbt = self.psbt.clone();
        for (pos, (owned, raw)) in self.owned.iter().zip(signatures).enumerate() {
            let bad = |reason: String| Error::bad_sig(Some(pos), reason);
            let signature = match raw.len() {
                64 => schnorr::Signature::from_slice(raw).map_err(|e| bad(e.to_string()))?,
                65 => {
                    let sig = taproot::Signature::from_slice(raw).map_err(|e| bad(e.to_string()))?;
                    // BIP-341: a 65-byte signature must not carry 0x00, and the type must be
                    // the one the sighash was computed with.
                    if raw.get(64) == Some(&0) || sig.sighash_type != owned.sighash_type {
                        return Err(bad("sighash type byte does not match the input".into()));
                    }
                    sig.signature
                }
                n => return Err(bad(format!("{n} bytes; expected 64 or 65"))),
            };
            secp.verify_schnorr(&signature, &Message::from_digest(owned.sighash), &q)
                .map_err(|_| bad("does not verify for the output key".into()))?;
            let input = psbt.inputs.get_mut(owned.index).ok_or_else(|| bad("input missing".into()))?;
            finalize_key_spend(input, taproot::Signature { signature, sighash_type: owned.sighash_type });
        }
        Ok(psbt)
    }

    /// [`Self::sign_psbt`] in base64.
    pub fn sign_psbt_base64(&self, signatures: &[&[u8]]) -> Result<String, Error> {
        Ok(BASE64.encode(self.sign_psbt(signatures)?.serialize()))
    }

    /// Attaches signatures given as bytes and extracts the finalized transaction; every input
    /// must then be final (so use [`Self::sign_psbt`] when others still have to sign).
    pub fn finalize(&self, signatures: &[&[u8]]) -> Result<FinalizedTransaction, Error> {
        let psbt = self.sign_psbt(signatures)?;
        let pending: Vec<usize> = psbt
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| i.final_script_witness.is_none() && i.final_script_sig.is_none())
            .map(|(n, _)| n)
            .collect();
        if !pending.is_empty() {
            return Err(Error::Unsupported(format!(
                "inputs {pending:?} belong to other signers; return the PSBT instead"
            )));
        }
        // Refuses an absurd fee rate (> 25 000 sat/vB), the usual fat-finger guard.
        let tx: Transaction = psbt.extract_tx().map_err(|e| Error::Unsupported(e.to_string()))?;
        Ok(FinalizedTransaction { raw: consensus_serialize(&tx), txid: tx.compute_txid().to_string() })
    }
}

impl SigningPayload for TaprootPsbt {
    type Output = FinalizedTransaction;

    fn digests(&self) -> Vec<SigningDigest> {
        self.owned.iter().map(|o| SigningDigest::Bip340 { sighash: o.sighash }).collect()
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<FinalizedTransaction, Error> {
        let raw: Vec<&[u8]> = signatures
            .iter()
            .filter_map(|s| match s {
                ChainSignature::Bip340(b) => Some(&b[..]),
                _ => None,
            })
            .collect();
        if raw.len() != signatures.len() {
            return Err(Error::SignatureCount { scheme: "bip340", expected: self.owned.len(), got: raw.len() });
        }
        self.finalize(&raw)
    }
}

/// The spent outputs of every input: BIP-341 sighashes commit to all of them.
fn prevouts(psbt: &Psbt) -> Result<Vec<TxOut>, Error> {
    psbt.inputs
        .iter()
        .zip(&psbt.unsigned_tx.input)
        .enumerate()
        .map(|(index, (input, txin))| {
            if let Some(out) = &input.witness_utxo {
                return Ok(out.clone());
            }
            let missing = Error::malformed("PSBT", format!("input {index} has no spent output"));
            let prev = input.non_witness_utxo.as_ref().ok_or(missing)?;
            if prev.compute_txid() != txin.previous_output.txid {
                return Err(Error::malformed(
                    "PSBT",
                    format!("input {index}: non_witness_utxo is not the spent transaction"),
                ));
            }
            let vout = usize::try_from(txin.previous_output.vout).unwrap_or(usize::MAX);
            prev.output
                .get(vout)
                .cloned()
                .ok_or_else(|| Error::malformed("PSBT", format!("input {index}: vout out of range")))
        })
        .collect()
}

/// The BIP-174 finalizer role for a key-path spend: the witness is the signature alone, and
/// the fields only signers need are cleared.
fn finalize_key_spend(input: &mut Input, sig: taproot::Signature) {
    input.final_script_witness = Some(Witness::p2tr_key_spend(&sig));
    input.tap_key_sig = None;
    input.partial_sigs.clear();
    input.sighash_type = None;
    input.redeem_script = None;
    input.witness_script = None;
    input.bip32_derivation.clear();
    input.tap_script_sigs.clear();
    input.tap_scripts.clear();
    input.tap_key_origins.clear();
    input.tap_internal_key = None;
    input.tap_merkle_root = None;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key() -> TaprootKey {
        let p = hex::decode("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115").unwrap();
        let q = hex::decode("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap();
        TaprootKey::new(&p, &q).unwrap()
    }

    #[test]
    fn malformed_psbts_are_errors() {
        let k = key();
        for bad in ["", "cHNidP8=", "cHNidP8BAAoCAAAAAAAAAAAAAA==", "!!!", "AAAA"] {
            assert!(TaprootPsbt::from_base64(bad, &k).is_err(), "{bad}");
        }
        let big = "A".repeat(TaprootPsbt::MAX_LEN * 2);
        assert!(matches!(TaprootPsbt::from_base64(&big, &k), Err(Error::TooLarge { .. })));
    }
}
