//! Batch signing: every item is a signature of its own request that an independent
//! verifier accepts, a full batch fits in a message, and bad batches are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tssw_protocol::{CeremonyId, Error, KeyShare, MAX_MESSAGE_BYTES, Scheme, SignRequest, max_batch, testing};

fn signers(shares: &[KeyShare]) -> Vec<tssw_protocol::PartyIndex> {
    shares.iter().map(KeyShare::index).collect()
}

fn batch(shares: &[KeyShare], requests: &[SignRequest]) -> Vec<tssw_protocol::Signature> {
    let id = CeremonyId::random();
    let all = shares
        .iter()
        .map(|s| tssw_protocol::sign_batch(id, s, &signers(shares), requests.to_vec()))
        .collect::<Result<_, _>>()
        .unwrap();
    let (mut outputs, _) = testing::run(all).unwrap();
    let first = outputs.pop().unwrap();
    assert!(outputs.iter().all(|o| *o == first), "the signers agree on every signature");
    first
}

#[test]
fn every_item_is_a_valid_signature_of_its_own_request() {
    for scheme in [Scheme::Ecdsa, Scheme::Ed25519, Scheme::Bip340] {
        let shares = testing::dkg(scheme, 2, 3).unwrap();
        let pair = [shares[0].clone(), shares[2].clone()];
        let requests: Vec<SignRequest> = (0..5).map(|_| testing::random_request(scheme)).collect();
        let signatures = batch(&pair, &requests);
        assert_eq!(signatures.len(), requests.len());
        for (s, r) in signatures.iter().zip(&requests) {
            tssw_verify::verify(&shares[0].public_key(), r, s).unwrap();
        }
        // Each item is bound to its own request: item 0's signature does not verify item 1's.
        assert!(tssw_verify::verify(&shares[0].public_key(), &requests[1], &signatures[0]).is_err());
    }
}

#[test]
fn a_full_batch_of_each_scheme_fits_in_a_message() {
    for scheme in [Scheme::Ecdsa, Scheme::Ed25519, Scheme::Bip340] {
        full_batch(scheme);
    }
}

fn full_batch(scheme: Scheme) {
    let shares = testing::dkg(scheme, 2, 2).unwrap();
    let requests: Vec<SignRequest> = (0..max_batch(scheme)).map(|_| testing::random_request(scheme)).collect();
    let id = CeremonyId::random();
    let all = shares
        .iter()
        .map(|s| tssw_protocol::sign_batch(id, s, &signers(&shares), requests.clone()))
        .collect::<Result<_, _>>()
        .unwrap();
    let mut largest = 0;
    let (results, _) = testing::run_with(all, |_, m| {
        largest = largest.max(m.encode().len());
        Some(m)
    });
    for (_, r) in results {
        assert_eq!(r.unwrap().len(), max_batch(scheme));
    }
    assert!(largest <= MAX_MESSAGE_BYTES, "{scheme}: largest batch message {largest} bytes");
}

#[test]
fn empty_oversized_and_mixed_batches_are_refused() {
    let shares = testing::dkg(Scheme::Ed25519, 2, 2).unwrap();
    let too_many: Vec<SignRequest> =
        (0..=max_batch(Scheme::Ed25519)).map(|_| testing::random_request(Scheme::Ed25519)).collect();
    let mixed = vec![testing::random_request(Scheme::Ed25519), testing::random_request(Scheme::Ecdsa)];
    for requests in [Vec::new(), too_many, mixed] {
        let err = tssw_protocol::sign_batch(CeremonyId::random(), &shares[0], &signers(&shares), requests).unwrap_err();
        assert!(matches!(err, Error::InvalidParameters(_)), "{err:?}");
    }
}

#[test]
fn a_batch_message_with_the_wrong_item_count_is_malformed() {
    let shares = testing::dkg(Scheme::Ed25519, 2, 2).unwrap();
    let id = CeremonyId::random();
    let requests = vec![testing::random_request(Scheme::Ed25519), testing::random_request(Scheme::Ed25519)];
    let (_, first) = tssw_protocol::sign_batch(id, &shares[0], &signers(&shares), requests.clone()).unwrap();
    let msg = &first[0];
    let items: Vec<Vec<u8>> = postcard::from_bytes(msg.payload()).unwrap();
    let one = postcard::to_stdvec(&items[..1]).unwrap();
    let three = postcard::to_stdvec(&[items[0].clone(), items[1].clone(), items[1].clone()]).unwrap();
    for payload in [one, three, vec![0xff; 7], Vec::new()] {
        let (mut other, _) = tssw_protocol::sign_batch(id, &shares[1], &signers(&shares), requests.clone()).unwrap();
        let err = other.handle(testing::forge(msg, None, None, None, Some(payload))).unwrap_err();
        assert!(matches!(err, Error::MalformedPayload { .. }), "{err:?}");
    }
}
