//! Bytes on the enclave's socket: frame splitting, then requests (what the host sends the
//! enclave) and responses (what the host reads back). Never a panic, and whatever decodes
//! re-encodes to the input (one encoding per value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_enclave::frame::split_frame;
use tssw_enclave::{Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((payload, _))) = split_frame(data) {
        let _ = Request::decode(payload);
    }
    if let Ok(request) = Request::decode(data) {
        assert_eq!(request.encode().ok().as_deref(), Some(data), "request re-encodes differently");
    }
    if let Ok(response) = Response::decode(data) {
        assert_eq!(response.encode().ok().as_deref(), Some(data), "response re-encodes differently");
    }
});
