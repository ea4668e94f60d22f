//! Opens arbitrary bytes as a frame with a fixed session (party 2 of the deterministic
//! test setup). Seeds in corpus/channel_open are real frames from party 1, so mutations
//! reach past the header into AEAD and the inner-message checks. Must never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tssw_channel::{Opened, Session, testing::fixed_sessions};

static TEMPLATE: OnceLock<Option<Session>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(template) = TEMPLATE.get_or_init(|| fixed_sessions().ok().map(|(_, two)| two)) else { return };
    // A fresh copy per input: the session remembers opened ids, and state carried between
    // inputs would make crashes irreproducible.
    let mut two = template.fork_for_tests();
    let first = two.open(data);
    let second = two.open(data);
    // Whatever opened once is a duplicate the second time; whatever failed fails again.
    match first {
        Ok(Opened::Message(_)) => assert!(matches!(second, Ok(Opened::Duplicate))),
        Ok(_) => {}
        Err(_) => assert!(second.is_err()),
    }
});
