//! Solana: legacy and v0 transactions (parsed from the wire or built for a system transfer)
//! and off-chain messages. Ed25519 signs the message bytes themselves, so the "digest" is
//! the exact serialized message.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use solana_hash::Hash;
use solana_message::{Message as LegacyMessage, VersionedMessage, v0};
use solana_offchain_message::OffchainMessage as SolOffchainMessage;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use crate::address::solana_pubkey;
use crate::error::check_size;
use crate::payload::single;
use crate::{ChainSignature, Error, SigningDigest, SigningPayload};

/// The largest serialized transaction the network accepts (one packet).
pub const MAX_TRANSACTION_LEN: usize = 1232;

/// Message format to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageVersion {
    /// Legacy message.
    Legacy,
    /// Version 0 message (address lookup tables possible; none are used by the builder).
    V0,
}

/// A transaction waiting for this wallet's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaTransaction {
    tx: VersionedTransaction,
    message_bytes: Vec<u8>,
    signer: Pubkey,
    signer_index: usize,
}

/// A transaction carrying this wallet's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSolanaTransaction {
    /// The wire encoding (`sendTransaction` takes it as base64 or base58).
    pub wire: Vec<u8>,
    /// This wallet's signature; for the fee payer it is also the transaction id.
    pub signature: [u8; 64],
    /// False while another required signer has yet to sign.
    pub complete: bool,
}

impl SignedSolanaTransaction {
    /// The wire bytes in base64 (`sendTransaction` with `encoding: "base64"`).
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.wire)
    }

    /// The wire bytes in base58 (the RPC's legacy default encoding).
    pub fn to_base58(&self) -> String {
        bs58::encode(&self.wire).into_string()
    }

    /// The transaction id as Solana explorers show it (base58 of the first signature).
    pub fn signature_base58(&self) -> String {
        bs58::encode(&self.signature).into_string()
    }
}

impl SolanaTransaction {
    /// A serialized (unsigned or partly signed) transaction, as dapps hand it to wallets.
    pub fn from_wire(bytes: &[u8], signer: &[u8]) -> Result<Self, Error> {
        check_size("Solana transaction", bytes.len(), MAX_TRANSACTION_LEN)?;
        let tx: VersionedTransaction =
            wincode::deserialize_exact(bytes).map_err(|e| Error::malformed("Solana transaction", e))?;
        Self::new(tx, signer)
    }

    /// [`Self::from_wire`] for base64 text.
    pub fn from_base64(text: &str, signer: &[u8]) -> Result<Self, Error> {
        // 4/3 expansion plus padding.
        check_size("Solana transaction (base64)", text.len(), MAX_TRANSACTION_LEN * 4 / 3 + 4)?;
        let bytes = BASE64.decode(text.trim()).map_err(|e| Error::malformed("Solana transaction (base64)", e))?;
        Self::from_wire(&bytes, signer)
    }

    /// [`Self::from_wire`] for base58 text.
    pub fn from_base58(text: &str, signer: &[u8]) -> Result<Self, Error> {
        // base58 expands by log(256)/log(58) ≈ 1.37.
        check_size("Solana transaction (base58)", text.len(), MAX_TRANSACTION_LEN * 14 / 10)?;
        let bytes =
            bs58::decode(text.trim()).into_vec().map_err(|e| Error::malformed("Solana transaction (base58)", e))?;
        Self::from_wire(&bytes, signer)
    }

    /// A bare serialized message (no signature section).
    pub fn from_message_bytes(bytes: &[u8], signer: &[u8]) -> Result<Self, Error> {
        check_size("Solana message", bytes.len(), MAX_TRANSACTION_LEN)?;
        let message: VersionedMessage =
            wincode::deserialize_exact(bytes).map_err(|e| Error::malformed("Solana message", e))?;
        let required = usize::from(message.header().num_required_signatures);
        let tx = VersionedTransaction { signatures: vec![Signature::default(); required], message };
        Self::new(tx, signer)
    }

    /// A system-program transfer of `lamports` from `from` (the wallet, also fee payer) to `to`.
    pub fn transfer(
        from: &[u8],
        to: &[u8],
        lamports: u64,
        recent_blockhash: [u8; 32],
        version: MessageVersion,
    ) -> Result<Self, Error> {
        let payer = solana_pubkey(from)?;
        let to = solana_pubkey(to)?;
        let ix = solana_system_interface::instruction::transfer(&payer, &to, lamports);
        let blockhash = Hash::new_from_array(recent_blockhash);
        let message = match version {
            MessageVersion::Legacy => {
                VersionedMessage::Legacy(LegacyMessage::new_with_blockhash(&[ix], Some(&payer), &blockhash))
            }
            MessageVersion::V0 => VersionedMessage::V0(
                v0::Message::try_compile(&payer, &[ix], &[], blockhash)
                    .map_err(|e| Error::malformed("Solana message", e))?,
            ),
        };
        let required = usize::from(message.header().num_required_signatures);
        let tx = VersionedTransaction { signatures: vec![Signature::default(); required], message };
        Self::new(tx, from)
    }

    fn new(tx: VersionedTransaction, signer: &[u8]) -> Result<Self, Error> {
        let signer = solana_pubkey(signer)?;
        if matches!(tx.message, VersionedMessage::V1(_)) {
            return Err(Error::Unsupported("Solana v1 messages".into()));
        }
        tx.message.sanitize().map_err(|e| Error::malformed("Solana message", e))?;
        let required = usize::from(tx.message.header().num_required_signatures);
        if tx.signatures.len() != required {
            return Err(Error::malformed(
                "Solana transaction",
                format!("{} signatures for {required} required signers", tx.signatures.len()),
            ));
        }
        // Signers are the first `required` static keys; the signature slot is the key's index.
        let signers = tx.message.static_account_keys().get(..required).unwrap_or_default();
        let mut positions = signers.iter().enumerate().filter(|(_, k)| **k == signer);
        let signer_index = match (positions.next(), positions.next()) {
            (Some((i, _)), None) => i,
            (None, _) => {
                return Err(Error::SignerMismatch(format!("{signer} is not among the transaction's required signers")));
            }
            (Some(_), Some(_)) => {
                return Err(Error::malformed("Solana message", "signer listed twice"));
            }
        };
        // Signing our own re-encoding (rather than the caller's bytes) guarantees the
        // signature covers exactly the message that was checked.
        let message_bytes = wincode::serialize(&tx.message).map_err(|e| Error::malformed("Solana message", e))?;
        Ok(Self { tx, message_bytes, signer, signer_index })
    }

    /// The message bytes the signature covers.
    pub fn message_bytes(&self) -> &[u8] {
        &self.message_bytes
    }

    /// The parsed message, for policy checks and display.
    pub fn message(&self) -> &VersionedMessage {
        &self.tx.message
    }

    /// The message format.
    pub fn version(&self) -> MessageVersion {
        match self.tx.message {
            VersionedMessage::Legacy(_) => MessageVersion::Legacy,
            // `new` refuses v1, so every other message is v0.
            _ => MessageVersion::V0,
        }
    }

    /// This wallet's position in the signer list (0 = fee payer).
    pub fn signer_index(&self) -> usize {
        self.signer_index
    }

    /// The message's System Program transfers (`(from, to, lamports)`, base58) whose two
    /// accounts are in the message itself, for a confirmation screen. Other instructions
    /// (and accounts behind v0 lookup tables) are not decoded: the screen says how many
    /// instructions there are in all.
    pub fn system_transfers(&self) -> Vec<(String, String, u64)> {
        const TRANSFER: [u8; 4] = 2u32.to_le_bytes();
        let keys = self.tx.message.static_account_keys();
        let system = Pubkey::default();
        self.tx
            .message
            .instructions()
            .iter()
            .filter(|ix| keys.get(usize::from(ix.program_id_index)) == Some(&system))
            .filter_map(|ix| {
                let (tag, rest) = ix.data.split_first_chunk::<4>()?;
                let lamports: [u8; 8] = rest.try_into().ok()?;
                let from = keys.get(usize::from(*ix.accounts.first()?))?;
                let to = keys.get(usize::from(*ix.accounts.get(1)?))?;
                (*tag == TRANSFER).then(|| (from.to_string(), to.to_string(), u64::from_le_bytes(lamports)))
            })
            .collect()
    }

    /// How many instructions the message has.
    pub fn instruction_count(&self) -> usize {
        self.tx.message.instructions().len()
    }
}

impl SigningPayload for SolanaTransaction {
    type Output = SignedSolanaTransaction;

    fn digests(&self) -> Vec<SigningDigest> {
        vec![SigningDigest::Ed25519 { message: self.message_bytes.clone() }]
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<SignedSolanaTransaction, Error> {
        let sig = ed25519_signature(signatures, &self.signer, &self.message_bytes)?;
        let mut tx = self.tx.clone();
        let slot =
            tx.signatures.get_mut(self.signer_index).ok_or_else(|| Error::bad_sig(None, "signer slot missing"))?;
        *slot = Signature::from(sig);
        let complete = tx.signatures.iter().all(|s| *s != Signature::default());
        let wire = wincode::serialize(&tx).map_err(|e| Error::malformed("Solana transaction", e))?;
        Ok(SignedSolanaTransaction { wire, signature: sig, complete })
    }
}

/// An off-chain message (the `\xffsolana offchain` signing domain, version 0), which can never
/// be mistaken for a transaction message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffchainMessage {
    serialized: Vec<u8>,
    signer: Pubkey,
}

impl OffchainMessage {
    /// Largest message text accepted (the format's own limit, below one packet).
    pub const MAX_LEN: usize = MAX_TRANSACTION_LEN;

    /// Wraps `message` (printable ASCII or UTF-8) for `signer`.
    pub fn new(message: &[u8], signer: &[u8]) -> Result<Self, Error> {
        check_size("Solana off-chain message", message.len(), Self::MAX_LEN)?;
        let signer = solana_pubkey(signer)?;
        let serialized = SolOffchainMessage::new(0, message)
            .and_then(|m| m.serialize())
            .map_err(|e| Error::malformed("Solana off-chain message", e))?;
        Ok(Self { serialized, signer })
    }

    /// The exact bytes signed: signing domain, header and message.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

impl SigningPayload for OffchainMessage {
    type Output = [u8; 64];

    fn digests(&self) -> Vec<SigningDigest> {
        vec![SigningDigest::Ed25519 { message: self.serialized.clone() }]
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<[u8; 64], Error> {
        ed25519_signature(signatures, &self.signer, &self.serialized)
    }
}

fn ed25519_signature(signatures: &[ChainSignature], signer: &Pubkey, message: &[u8]) -> Result<[u8; 64], Error> {
    let ChainSignature::Ed25519(sig) = single(signatures, "ed25519")? else {
        return Err(Error::bad_sig(None, "not an Ed25519 signature"));
    };
    // Strict verification, as the Solana runtime applies it.
    if !Signature::from(*sig).verify(signer.as_ref(), message) {
        return Err(Error::bad_sig(None, "does not verify for the signer's key"));
    }
    Ok(*sig)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const FROM: [u8; 32] = [7; 32];
    const TO: [u8; 32] = [9; 32];

    #[test]
    fn builder_round_trips_through_the_wire() {
        for version in [MessageVersion::Legacy, MessageVersion::V0] {
            let tx = SolanaTransaction::transfer(&FROM, &TO, 5, [1; 32], version).unwrap();
            assert_eq!(tx.signer_index(), 0);
            let wire = wincode::serialize(&tx.tx).unwrap();
            let again = SolanaTransaction::from_wire(&wire, &FROM).unwrap();
            assert_eq!(again.message_bytes(), tx.message_bytes());
            let from_msg = SolanaTransaction::from_message_bytes(tx.message_bytes(), &FROM).unwrap();
            assert_eq!(from_msg, tx);
            // Not a signer of this transaction.
            assert!(matches!(SolanaTransaction::from_wire(&wire, &TO), Err(Error::SignerMismatch(_))));
        }
    }

    #[test]
    fn transfer_message_encoding_snapshot() {
        let tx = SolanaTransaction::transfer(&FROM, &TO, 5, [1; 32], MessageVersion::Legacy).unwrap();
        // header (1 signer, 0 read-only signed, 1 read-only unsigned), 3 keys (payer,
        // recipient, system program), blockhash, one instruction: program 2, accounts [0, 1],
        // data = u32 LE 2 (Transfer) ‖ u64 LE lamports.
        let mut expected = vec![1, 0, 1, 3];
        expected.extend([7u8; 32]);
        expected.extend([9u8; 32]);
        expected.extend([0u8; 32]);
        expected.extend([1u8; 32]);
        expected.extend([1, 2, 2, 0, 1, 12, 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(tx.message_bytes(), expected);
        let v0 = SolanaTransaction::transfer(&FROM, &TO, 5, [1; 32], MessageVersion::V0).unwrap();
        // Version prefix 0x80, the same body, and an empty lookup-table list.
        let mut expected_v0 = vec![0x80];
        expected_v0.extend(&expected);
        expected_v0.push(0);
        assert_eq!(v0.message_bytes(), expected_v0);
    }

    #[test]
    fn malformed_transactions_are_errors() {
        let tx = SolanaTransaction::transfer(&FROM, &TO, 5, [1; 32], MessageVersion::V0).unwrap();
        let wire = wincode::serialize(&tx.tx).unwrap();
        for cut in 0..wire.len() {
            assert!(SolanaTransaction::from_wire(&wire[..cut], &FROM).is_err());
        }
        let mut trailing = wire.clone();
        trailing.push(0);
        assert!(SolanaTransaction::from_wire(&trailing, &FROM).is_err());
        // No signature slots for a message that requires one.
        let mut unsigned = wire.clone();
        unsigned[0] = 0;
        unsigned.drain(1..65);
        assert!(SolanaTransaction::from_wire(&unsigned, &FROM).is_err());
        assert!(matches!(
            SolanaTransaction::from_wire(&[0u8; MAX_TRANSACTION_LEN + 1], &FROM),
            Err(Error::TooLarge { .. })
        ));
        assert!(SolanaTransaction::from_base64("!!", &FROM).is_err());
        assert!(SolanaTransaction::from_base58("0OIl", &FROM).is_err());
        assert!(SolanaTransaction::from_message_bytes(&[0xff; 40], &FROM).is_err());
        assert!(tx.assemble(&[ChainSignature::Ed25519([0; 64])]).is_err());
        assert!(tx.assemble(&[]).is_err());
    }

    #[test]
    fn offchain_message_has_signing_domain() {
        let m = OffchainMessage::new(b"hello", &FROM).unwrap();
        assert!(m.serialized().starts_with(b"\xffsolana offchain"));
        assert!(m.serialized().ends_with(b"hello"));
        assert!(OffchainMessage::new(&[0u8; MAX_TRANSACTION_LEN + 1], &FROM).is_err());
        assert!(OffchainMessage::new(b"", &FROM).is_err());
    }
}
