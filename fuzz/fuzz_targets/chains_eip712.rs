//! `eth_signTypedData_v4` JSON and `personal_sign` parameters must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_chains::SigningPayload;
use tssw_chains::evm::{Address, PersonalMessage, TypedData};

fuzz_target!(|data: &[u8]| {
    if let Ok(typed) = TypedData::from_json(data, Address::ZERO) {
        let _ = typed.digests();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PersonalMessage::from_rpc_param(text, Address::ZERO).map(|m| m.digests());
    }
});
