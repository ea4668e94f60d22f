//! Keystore files as another program may have left them: the header, sealed records and
//! wallet metadata never panic; a record never opens under a key that did not seal it (the
//! seeds were sealed under another key); whatever decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tssw_api::WalletId;
use tssw_client::keystore::format::{self, Header, Kind, Label, StoreKey, WalletMeta};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = Header::from_bytes(data) {
        assert_eq!(header.to_bytes().ok().as_deref(), Some(data), "header re-encodes differently");
    }
    if let Ok(meta) = WalletMeta::from_bytes(data) {
        assert_eq!(meta.to_bytes().ok().as_deref().map(|b| &b[..]), Some(data), "metadata re-encodes differently");
    }
    let key = StoreKey::from_bytes(Zeroizing::new([0x5a; 32]));
    let Ok(wallet) = WalletId::new("w1") else { return };
    for kind in [Kind::Check, Kind::Identity, Kind::Meta, Kind::Share] {
        let label = Label { kind, wallet: Some(&wallet), epoch: 1 };
        assert!(format::open(&key, label, data).is_err(), "a record opened under a key that never sealed it");
    }
});
