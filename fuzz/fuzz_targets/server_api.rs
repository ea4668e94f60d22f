//! The server's decoders of untrusted input: bearer tokens (JWT header, claims, signature)
//! and API request bodies. Nothing may panic; nothing but a token the dev issuer minted may
//! authenticate. The ceremony bodies (contributions, chain payloads, reshare members)
//! decode and convert without panicking.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tssw_api::http;
use tssw_server::{Authenticator, DevIssuer};

fuzz_target!(|data: &[u8]| {
    let dev = DevIssuer::from_seed([7; 32]);
    let auth = Authenticator::new(vec![dev.config()]);
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(auth.verify(text).is_err(), "arbitrary text authenticated");
    }
    // As a JWT's header and claims (split at the first 0xff), with a junk signature.
    let mut parts = data.splitn(2, |b| *b == 0xff);
    let header = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
    let claims = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
    let token = format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
    assert!(auth.verify(&token).is_err(), "a junk signature authenticated");
    let _ = tssw_server::api::parse_register_device(data);
    if let Ok(body) = serde_json::from_slice::<http::SignWallet>(data) {
        let _ = body.payload.to_payload();
        for c in &body.contributions {
            let _ = c.decode();
        }
    }
    if let Ok(body) = serde_json::from_slice::<http::SignBatch>(data) {
        for p in &body.payloads {
            let _ = p.to_payload();
        }
        for c in &body.contributions {
            let _ = c.decode();
        }
    }
    if let Ok(body) = serde_json::from_slice::<http::CreateWallet>(data) {
        let _ = body.contribution.decode();
    }
    let _ = serde_json::from_slice::<http::ReshareWallet>(data);
    if let Ok(payload) = serde_json::from_slice::<http::PayloadJson>(data)
        && let Ok(parsed) = payload.to_payload()
    {
        // What converts must convert back to the same payload.
        let back = http::PayloadJson::from_payload(&parsed).expect("a parsed payload converts back");
        assert_eq!(back.map(|b| b.to_payload().expect("round trip")), Some(parsed));
    }
});
