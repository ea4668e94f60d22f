//! Decodes arbitrary bytes as a setup and verifies it against the deterministic test
//! coordinator and expectation; re-encoding a decoded setup must give the input back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_channel::Setup;
use tssw_channel::testing::{fixed_coordinator, fixed_expectation};

fuzz_target!(|data: &[u8]| {
    let Ok(setup) = Setup::decode(data) else { return };
    assert_eq!(setup.encode(), data, "decode followed by encode changed the bytes");
    let _ = setup.verify(&fixed_coordinator().party_id(), 0, &fixed_expectation());
});
