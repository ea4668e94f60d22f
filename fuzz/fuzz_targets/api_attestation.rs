//! Attestation documents a client receives, of either kind (dev postcard, Nitro COSE_Sign1):
//! never a panic, and nothing but the real recorded Nitro document (or a re-encoding of the
//! same signed content) verifies under the AWS Nitro root at its time.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tssw_api::attest::nitro::{AWS_NITRO_ROOT_G1, NitroDocument, decode_nitro_document, verify_nitro_document};
use tssw_api::attest::{NitroTrust, PcrPolicy, TrustPolicy, decode_attestation, verify_attestation};

/// The recorded document the unit tests use (blocky/nitrite's fixture) and a time inside its
/// validity.
const REAL_B64: &str = include_str!("../../crates/api/src/attest/testdata/nitrite-2024-09-07.b64");
const NOW: u64 = 1_725_719_900;

fn real() -> &'static NitroDocument {
    static REAL: OnceLock<NitroDocument> = OnceLock::new();
    REAL.get_or_init(|| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(REAL_B64.trim()).unwrap_or_default();
        verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, NOW).unwrap_or_else(|e| panic!("the fixture verifies: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_attestation(data);
    let _ = decode_nitro_document(data);
    if let Ok(doc) = verify_nitro_document(data, AWS_NITRO_ROOT_G1, NOW) {
        assert_eq!(&doc, real(), "a document other than the recorded one verified under the AWS root");
    }
    let images = vec![PcrPolicy::pcr0(real().pcrs.get(&0).copied().unwrap_or([0; 48]))];
    let policy = TrustPolicy {
        dev: None,
        nitro: Some(NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images }),
    };
    // The recorded document's nonce is 1024 bytes, never a 32-byte one: nothing may pass.
    assert!(verify_attestation(data, &policy, &[1; 32], NOW).is_err());
});
