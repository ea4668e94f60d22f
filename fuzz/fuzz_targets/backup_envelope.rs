//! Backup envelopes as the wallet server or a cloud provider hands them back: never a
//! panic; a decoded envelope re-encodes to the input, and nothing a mutation makes opens
//! under keys that never sealed it (the seeds were sealed under other keys).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_backup::{Envelope, RecoveryCode, RecoverySecret, open_with_oprf_output, recovery};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::decode(data) else { return };
    assert_eq!(envelope.encode().ok().as_deref(), Some(data), "envelope re-encodes differently");
    let meta = envelope.meta().clone();
    let pw = Zeroizing::new([0x11; 32]);
    assert!(open_with_oprf_output(data, &meta, &[0x22; 64], Some(&pw)).is_err(), "opened under a made-up key");
    assert!(open_with_oprf_output(data, &meta, &[0x22; 64], None).is_err(), "opened under a made-up key");
    // Recovery copies: a fixed code that never sealed anything. Argon2id makes this slow, so
    // only for the (rare) inputs that decode as such.
    if envelope.info().recovery_passphrase == Some(false) {
        let code = RecoverySecret::Code(RecoveryCode::parse("00000-00000-00000-00000-00000").unwrap());
        assert!(recovery::open(data, &meta, &code).is_err(), "opened under a code that never sealed it");
    }
});
