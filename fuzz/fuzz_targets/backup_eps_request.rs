//! The EPS's request decoders (JSON bodies, path segments) and what a device types as a
//! recovery code: bounded, typed errors, never a panic; whatever decodes re-encodes to
//! something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_backup::RecoveryCode;
use tssw_backup::api::{self, BlindedRequest, VerifierRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = api::parse::<BlindedRequest>(data) {
        let again = serde_json::to_vec(&request).unwrap();
        assert_eq!(api::parse::<BlindedRequest>(&again).unwrap(), request);
    }
    if let Ok(request) = api::parse::<VerifierRequest>(data) {
        let again = serde_json::to_vec(&request).unwrap();
        assert_eq!(api::parse::<VerifierRequest>(&again).unwrap(), request);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = api::parse_registration(text) {
            assert_eq!(hex::encode(id), text);
        }
        if let Ok(code) = RecoveryCode::parse(text) {
            assert!(RecoveryCode::parse(&code.display()).is_ok());
        }
    }
});
