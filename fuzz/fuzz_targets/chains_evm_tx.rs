//! `eth_sendTransaction` JSON → digest → assembly must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_chains::evm::{Address, EvmTransaction};
use tssw_chains::{ChainSignature, SigningPayload};

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = EvmTransaction::from_request_json(data, Address::ZERO, Some(1)) {
        let _ = tx.digests();
        let sig = ChainSignature::Ecdsa { r: [1; 32], s: [2; 32], recovery_id: 0 };
        let _ = tx.assemble(&[sig]);
    }
});
