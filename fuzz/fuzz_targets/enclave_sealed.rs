//! Stored state the host hands back to the enclave (sealed shares) and attestation
//! documents a client receives: never a panic; a decoded blob re-encodes to the input and
//! never opens under a fixed key unless it is authentic (the seeds were sealed under
//! another key, so nothing a mutation makes may open).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_api::attest::decode_attestation;
use tssw_enclave::seal::{Sealer, SealingKey};
use tssw_enclave::{SealedShare, WalletId};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let _ = decode_attestation(data);
    let Ok(blob) = SealedShare::from_bytes(data) else { return };
    assert_eq!(blob.to_bytes().ok().as_deref(), Some(data), "sealed share re-encodes differently");
    let sealer = Sealer::new(&SealingKey::new(Zeroizing::new([0x22; 32])));
    let wallet = blob.wallet_id().clone();
    assert!(sealer.open(&blob, &wallet, blob.epoch()).is_err(), "a blob opened under a key that never sealed it");
    let _ = WalletId::new(wallet.as_str());
});
