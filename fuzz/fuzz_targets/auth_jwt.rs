//! What the server and the EPS take from outside for authentication: a bearer token from
//! any client, and a JWK set from the identity provider's URL. Never a panic; a token
//! verifies only as the subject the dev issuer signed, and a JWK set that parses still
//! vouches for nothing the dev key did not sign.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tssw_server::{Authenticator, DevIssuer, IssuerConfig};

const NOW: u64 = 1_800_000_000;

fn auth() -> &'static (Authenticator, String) {
    static AUTH: OnceLock<(Authenticator, String)> = OnceLock::new();
    AUTH.get_or_init(|| {
        let dev = DevIssuer::from_seed([7; 32]);
        let token = dev.mint("fuzz", NOW, 3_600).unwrap_or_default();
        (Authenticator::new(vec![dev.config()]), token)
    })
}

fuzz_target!(|data: &[u8]| {
    let (auth, token) = auth();
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            if let Ok(principal) = auth.verify(text) {
                assert_eq!(principal.subject, "fuzz", "a token the dev issuer never signed verified");
            }
        }
    } else if let Ok(config) = IssuerConfig::from_jwks_json("https://idp.example", "tssw", rest) {
        // Keys from the provider's URL: the dev issuer's token must not verify under them
        // unless the set holds the dev key itself.
        let other = Authenticator::new(vec![config]);
        let _ = other.verify(token);
    }
});
