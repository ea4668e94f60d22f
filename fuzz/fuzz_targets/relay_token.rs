//! Relay token decoding and verification on arbitrary input: as token text (bounded,
//! base64, signature), and as claim bytes signed by the trusted key (so the claims parser
//! behind the signature is reached too). Also the relay's small wire decoders, both ways. Nothing
//! may panic; an accepted token must round-trip.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use tssw_relay::{Token, wire};

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let issuer = key.verifying_key();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Token::verify(text, &issuer, 0);
        let _ = wire::parse_resume_from(Some(text));
        // A browser's offered subprotocols (the relay token travels there).
        if let Some(token) = wire::bearer_from_protocols(text) {
            assert!(!token.is_empty() && text.contains(token));
        }
    }
    let signed = Token::issue_raw(&key, data);
    if let Ok(claims) = Token::verify(signed.as_str(), &issuer, 0) {
        // Accepted claims have one encoding: issuing them again gives the same token.
        let again = Token::issue(&key, &claims).expect("accepted claims must re-issue");
        assert_eq!(again, signed, "claims accepted under a non-canonical encoding");
    }
    let _ = wire::decode_client(data, 1024);
    let _ = wire::decode_delivery(data);
    // What a (hostile) relay sends a client: deliveries and receipts.
    let _ = wire::decode_relay(data);
});
