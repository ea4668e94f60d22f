//! Round payloads from a hostile counterparty: a two-party signing or refresh ceremony of
//! each scheme runs with genuine messages until the chosen round, where party 2's message
//! to party 1 is replaced by fuzz input (signing alone, in a batch of two, or refresh).
//! Party 1 must fail with a typed error, never panic.
#![no_main]

use std::collections::VecDeque;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tssw_protocol::testing::forge;
use tssw_protocol::{Ceremony, CeremonyId, KeyShare, Message, Scheme, SignRequest, Step, testing};

static SHARES: LazyLock<Vec<Vec<KeyShare>>> =
    LazyLock::new(|| Scheme::ALL.iter().map(|s| testing::dkg(*s, 2, 2).unwrap_or_default()).collect());

fn request(scheme: Scheme) -> SignRequest {
    match scheme {
        Scheme::Ecdsa => SignRequest::Ecdsa { prehash: [7; 32], derivation_path: None },
        Scheme::Ed25519 => SignRequest::Ed25519 { message: b"fuzz".to_vec() },
        Scheme::Bip340 => SignRequest::Bip340 { sighash: [7; 32], merkle_root: None },
    }
}

/// Delivers messages between two parties; the first message from party 2 in `round` gets
/// `payload` instead of its own.
fn pump<O>(parties: [(Ceremony<O>, Vec<Message>); 2], round: u8, payload: &[u8]) {
    let [(mut a, out_a), (mut b, out_b)] = parties;
    let mut queue: VecDeque<Message> = out_a.into_iter().chain(out_b).collect();
    let mut forged = false;
    while let Some(mut m) = queue.pop_front() {
        let to_a = m.from() != a.me();
        if to_a && !forged && m.round() == round {
            m = forge(&m, None, None, None, Some(payload.to_vec()));
            forged = true;
        }
        let target = if to_a { &mut a } else { &mut b };
        match target.handle(m) {
            Ok(Step::Send(out)) => queue.extend(out),
            Ok(Step::Done(..)) | Err(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let i = usize::from(selector % 3);
    let scheme = Scheme::ALL[i];
    let Some([a, b]) = SHARES.get(i).and_then(|s| <&[KeyShare; 2]>::try_from(s.as_slice()).ok()) else { return };
    let id = CeremonyId([selector; 32]);
    let round = (selector >> 2) % 4 + 1;
    let signers = [a.index(), b.index()];
    if selector & 0x80 != 0 {
        let (Ok(x), Ok(y)) = (tssw_protocol::refresh(id, a), tssw_protocol::refresh(id, b)) else { return };
        pump([x, y], round, payload);
    } else if selector & 0x40 != 0 {
        let batch = || vec![request(scheme), request(scheme)];
        let (Ok(x), Ok(y)) = (
            tssw_protocol::sign_batch(id, a, &signers, batch()),
            tssw_protocol::sign_batch(id, b, &signers, batch()),
        ) else {
            return;
        };
        pump([x, y], round, payload);
    } else {
        let (Ok(x), Ok(y)) =
            (tssw_protocol::sign(id, a, &signers, request(scheme)), tssw_protocol::sign(id, b, &signers, request(scheme)))
        else {
            return;
        };
        pump([x, y], round, payload);
    }
});
