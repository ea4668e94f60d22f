//! Solana wire transactions, bare messages and off-chain messages must never panic.
//! The first 32 bytes are the signer, so parsing reaches the signer-position checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_chains::solana::{OffchainMessage, SolanaTransaction};
use tssw_chains::{ChainSignature, SigningPayload};

fuzz_target!(|data: &[u8]| {
    let Some((signer, rest)) = data.split_at_checked(32) else {
        return;
    };
    for tx in [SolanaTransaction::from_wire(rest, signer), SolanaTransaction::from_message_bytes(rest, signer)]
        .into_iter()
        .flatten()
    {
        let _ = tx.digests();
        let _ = tx.assemble(&[ChainSignature::Ed25519([7; 64])]);
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = SolanaTransaction::from_base64(text, signer);
        let _ = SolanaTransaction::from_base58(text, signer);
    }
    let _ = OffchainMessage::new(rest, signer).map(|m| m.digests());
});
