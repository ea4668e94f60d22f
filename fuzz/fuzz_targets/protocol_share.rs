//! Stored key shares and public packages (read back from disk or a backup): never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_protocol::{KeyShare, PublicPackage};

fuzz_target!(|data: &[u8]| {
    let _ = KeyShare::from_bytes(data);
    let _ = PublicPackage::from_bytes(data);
});
