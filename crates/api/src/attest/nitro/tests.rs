#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use sha2::{Digest, Sha256};
use tssw_channel::PartyId;

use super::testing::{self, CertSpec, Fields, TestPki};
use super::*;
use crate::attest::{
    AttestationError, Measurement, NITRO_NOTICE, NitroTrust, Pcr, PcrPolicy, TeeMode, TrustPolicy, decode_attestation,
    nitro_identity_user_data, verify_attestation,
};

/// A real document from the NSM of an AWS Nitro enclave (us-east-1, 2024-09-07 14:37:39 UTC;
/// `public_key`, `user_data` and `nonce` each 1024 bytes of 0x01), published as a test
/// fixture by blocky/nitrite (`testdata/nitro_attestation.b64`, MIT). Its leaf certificate is
/// valid 14:37:36–17:37:39 UTC that day.
const REAL_B64: &str = include_str!("../testdata/nitrite-2024-09-07.b64");
/// 2024-09-07 14:37:39.545 UTC.
const REAL_TIMESTAMP_MS: u64 = 1_725_719_859_545;
const REAL_PCR0: &str =
    "e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a";

fn real() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(REAL_B64.trim()).unwrap()
}

fn real_pcr0() -> [u8; PCR_BYTES] {
    hex::decode(REAL_PCR0).unwrap().try_into().unwrap()
}

#[test]
fn pinned_root_is_the_published_one() {
    assert_eq!(hex::encode(Sha256::digest(AWS_NITRO_ROOT_G1)), AWS_NITRO_ROOT_G1_SHA256);
    let root = Certificate::from_der(AWS_NITRO_ROOT_G1).unwrap();
    assert_eq!(root.tbs_certificate().subject().to_string(), "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US");
}

#[test]
fn real_document_verifies_inside_its_validity() {
    let bytes = real();
    let now = REAL_TIMESTAMP_MS / 1000 + 60;
    let doc = verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, now).unwrap();
    assert_eq!(doc.module_id, "i-0a22e5c5f24d22174-enc0191cceb4289903f");
    assert_eq!(doc.timestamp_ms, REAL_TIMESTAMP_MS);
    assert_eq!(doc.pcrs.len(), 16);
    assert_eq!(doc.pcr(0), Some(&real_pcr0()));
    assert_eq!(doc.pcr(3), Some(&[0; PCR_BYTES]));
    for field in [&doc.public_key, &doc.user_data, &doc.nonce] {
        assert_eq!(field.as_deref(), Some(&[1u8; 1024][..]));
    }
    // The whole validity window of the leaf, and not a second outside it.
    let (not_before, not_after) = (1_725_719_856, 1_725_730_659);
    assert!(verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, not_before).is_ok());
    assert!(verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, not_after).is_ok());
    assert!(matches!(
        verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, not_after + 1),
        Err(NitroError::Validity { index: 4, .. })
    ));
    // Later still, an intermediate has expired too (the first failure in chain order).
    for late in [now + 86_400, 1_900_000_000] {
        assert!(matches!(verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, late), Err(NitroError::Validity { .. })));
    }
    assert!(matches!(
        verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, not_before - 1),
        Err(NitroError::Validity { index: 4, .. })
    ));
}

#[test]
fn real_document_policy_and_tampering() {
    let bytes = real();
    let now = REAL_TIMESTAMP_MS / 1000 + 60;
    let doc = verify_nitro_document(&bytes, AWS_NITRO_ROOT_G1, now).unwrap();
    let right = NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images: vec![PcrPolicy::pcr0(real_pcr0())] };
    let pcr1 = Pcr(*doc.pcr(1).unwrap());
    assert!(
        matches!(right.check_measurement(&doc), Ok(Measurement::Nitro { pcr0, pcr1: p1, .. }) if pcr0.0 == real_pcr0() && p1 == pcr1)
    );
    let mut wrong_pcr0 = real_pcr0();
    wrong_pcr0[47] ^= 1;
    let wrong = NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images: vec![PcrPolicy::pcr0(wrong_pcr0)] };
    assert!(matches!(wrong.check_measurement(&doc), Err(AttestationError::UnknownMeasurement(_))));
    // PCR0 right but a pinned PCR2 wrong.
    let mut image = PcrPolicy::pcr0(real_pcr0());
    image.pcr2 = Some(Pcr([9; PCR_BYTES]));
    let wrong2 = NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images: vec![image] };
    assert!(matches!(wrong2.check_measurement(&doc), Err(AttestationError::UnknownMeasurement(_))));

    // Through the full verifier: the right image is admitted, then its 1024-byte nonce is
    // not one a tssw client sends; a wrong image is refused first.
    let policy = TrustPolicy { dev: None, nitro: Some(right) };
    assert_eq!(verify_attestation(&bytes, &policy, &[1; 32], now), Err(AttestationError::WrongNonce));
    let policy = TrustPolicy { dev: None, nitro: Some(wrong) };
    assert!(matches!(verify_attestation(&bytes, &policy, &[1; 32], now), Err(AttestationError::UnknownMeasurement(_))));
    assert_eq!(
        verify_attestation(&bytes, &TrustPolicy::default(), &[1; 32], now),
        Err(AttestationError::NitroNotAccepted)
    );

    // Another root: refused.
    let pki = TestPki::new(now - 3600);
    assert_eq!(verify_nitro_document(&bytes, &pki.root, now), Err(NitroError::UntrustedRoot));

    // Any flipped bit fails, and never panics. Every 29th byte keeps the test quick; the
    // signature and the PCRs are covered in full.
    let sig_start = bytes.len() - 96;
    let pcr0_at = bytes.windows(PCR_BYTES).position(|w| w == real_pcr0()).unwrap();
    let positions: Vec<usize> =
        (0..bytes.len()).step_by(29).chain(sig_start..bytes.len()).chain(pcr0_at..pcr0_at + PCR_BYTES).collect();
    for i in positions {
        let mut t = bytes.clone();
        t[i] ^= 0x10;
        assert!(verify_nitro_document(&t, AWS_NITRO_ROOT_G1, now).is_err(), "byte {i}");
    }
    let mut t = bytes.clone();
    t[pcr0_at] ^= 1;
    assert_eq!(verify_nitro_document(&t, AWS_NITRO_ROOT_G1, now), Err(NitroError::BadSignature));
    let mut t = bytes.clone();
    t[sig_start + 5] ^= 1;
    assert_eq!(verify_nitro_document(&t, AWS_NITRO_ROOT_G1, now), Err(NitroError::BadSignature));
    for cut in (0..bytes.len()).step_by(13) {
        assert!(verify_nitro_document(&bytes[..cut], AWS_NITRO_ROOT_G1, now).is_err(), "cut {cut}");
        let _ = decode_attestation(&bytes[..cut]);
    }
}

const T0: u64 = 1_750_000_000;

fn pki_policy(pki: &TestPki, pcr0: [u8; PCR_BYTES]) -> TrustPolicy {
    TrustPolicy { dev: None, nitro: Some(NitroTrust { root: pki.root.clone(), images: vec![PcrPolicy::pcr0(pcr0)] }) }
}

fn good_fields(identity: &PartyId, nonce: &[u8; 32]) -> Fields {
    let mut f = Fields::new(T0 * 1000 + 500, [0x42; PCR_BYTES]);
    f.user_data = Some(nitro_identity_user_data(identity));
    f.nonce = Some(nonce.to_vec());
    f
}

#[test]
fn built_document_binds_identity_pcrs_and_nonce() {
    let pki = TestPki::new(T0 - 60);
    let (id, nonce) = (PartyId([7; 32]), [9u8; 32]);
    let bytes = pki.document(&good_fields(&id, &nonce));
    let policy = pki_policy(&pki, [0x42; PCR_BYTES]);
    let ok = verify_attestation(&bytes, &policy, &nonce, T0).unwrap();
    assert_eq!(
        (ok.tee_mode, ok.notice.as_str(), ok.identity, ok.timestamp, ok.nonce),
        (TeeMode::Nitro, NITRO_NOTICE, id, T0, nonce)
    );
    assert!(
        matches!(ok.measurement, Measurement::Nitro { pcr0, pcr2, .. } if pcr0.0 == [0x42; 48] && pcr2.0 == [0x44; 48])
    );
    assert_eq!(decode_attestation(&bytes).unwrap(), ok);
    // Tagged COSE_Sign1 (tag 18) is the same document.
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&bytes);
    assert_eq!(verify_attestation(&tagged, &policy, &nonce, T0).unwrap(), ok);

    assert_eq!(verify_attestation(&bytes, &policy, &[8; 32], T0), Err(AttestationError::WrongNonce));
    assert!(matches!(
        verify_attestation(&bytes, &pki_policy(&pki, [0x43; PCR_BYTES]), &nonce, T0),
        Err(AttestationError::UnknownMeasurement(_))
    ));
    // The production policy (AWS root) refuses the test chain.
    let aws = TrustPolicy::nitro(vec![PcrPolicy::pcr0([0x42; PCR_BYTES])]);
    assert_eq!(verify_attestation(&bytes, &aws, &nonce, T0), Err(AttestationError::Nitro(NitroError::UntrustedRoot)));
    // A dev-only policy refuses Nitro documents.
    let dev = TrustPolicy::dev([1; 32], vec![[2; 32]]);
    assert_eq!(verify_attestation(&bytes, &dev, &nonce, T0), Err(AttestationError::NitroNotAccepted));
    // Expired leaf (3 h) and not yet valid.
    assert!(matches!(
        verify_attestation(&bytes, &policy, &nonce, T0 + 4 * 3600),
        Err(AttestationError::Nitro(NitroError::Validity { index: 2, .. }))
    ));
    assert!(matches!(
        verify_attestation(&bytes, &policy, &nonce, T0 - 3600),
        Err(AttestationError::Nitro(NitroError::Validity { index: 0, .. }))
    ));
}

#[test]
fn built_document_field_rejections() {
    let pki = TestPki::new(T0 - 60);
    let (id, nonce) = (PartyId([7; 32]), [9u8; 32]);
    let policy = pki_policy(&pki, [0x42; PCR_BYTES]);
    let check = |f: &Fields| verify_attestation(&pki.document(f), &policy, &nonce, T0);

    let mut f = good_fields(&id, &nonce);
    f.user_data = None;
    assert_eq!(check(&f), Err(AttestationError::NoIdentity));
    f.user_data = Some(vec![1; 63]);
    assert_eq!(check(&f), Err(AttestationError::NoIdentity));
    let mut f = good_fields(&id, &nonce);
    f.nonce = None;
    assert_eq!(check(&f), Err(AttestationError::WrongNonce));
    f.nonce = Some(nonce[..31].to_vec());
    assert_eq!(check(&f), Err(AttestationError::WrongNonce));
    // Debug-mode enclaves report zero PCRs.
    let mut f = good_fields(&id, &nonce);
    f.pcrs.insert(0, [0; PCR_BYTES]);
    let zero = pki_policy(&pki, [0; PCR_BYTES]);
    assert_eq!(verify_attestation(&pki.document(&f), &zero, &nonce, T0), Err(AttestationError::DebugEnclave));
    let mut f = good_fields(&id, &nonce);
    f.pcrs.remove(&2);
    assert!(matches!(check(&f), Err(AttestationError::Nitro(NitroError::Payload(_)))));
    let mut f = good_fields(&id, &nonce);
    f.public_key = Some(vec![0; MAX_FIELD_BYTES + 1]);
    assert_eq!(check(&f), Err(AttestationError::Nitro(NitroError::Payload("public_key"))));
}

/// A payload edited as a CBOR value, then signed properly by the leaf.
fn with_payload(pki: &TestPki, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let fields = good_fields(&PartyId([7; 32]), &[9; 32]);
    let Value::Map(mut map) = testing::payload(&fields, &pki.leaf, &[pki.root.clone(), pki.intermediate.clone()])
    else {
        unreachable!()
    };
    edit(&mut map);
    testing::sign(&Value::Map(map), &pki.leaf_key)
}

fn set(map: &mut [(Value, Value)], key: &str, value: Value) {
    let entry = map.iter_mut().find(|(k, _)| k.as_text() == Some(key)).unwrap();
    entry.1 = value;
}

type Edit = dyn Fn(&mut Vec<(Value, Value)>);

#[test]
fn malformed_payloads() {
    let pki = TestPki::new(T0 - 60);
    let verify = |bytes: &[u8]| verify_nitro_document(bytes, &pki.root, T0);
    let payload_err = |edit: &Edit| {
        let bytes = with_payload(&pki, |m| edit(m));
        match verify(&bytes) {
            Err(NitroError::Payload(why)) => why,
            other => panic!("expected a payload error, got {other:?}"),
        }
    };
    assert_eq!(payload_err(&|m| set(m, "digest", Value::Text("SHA256".into()))), "digest is not SHA384");
    assert_eq!(payload_err(&|m| set(m, "module_id", Value::Text(String::new()))), "module_id");
    assert_eq!(payload_err(&|m| set(m, "timestamp", Value::Integer(0.into()))), "timestamp");
    assert_eq!(payload_err(&|m| set(m, "timestamp", Value::Integer((-5).into()))), "timestamp");
    assert_eq!(payload_err(&|m| set(m, "pcrs", Value::Map(vec![]))), "pcr count");
    assert_eq!(
        payload_err(&|m| set(m, "pcrs", Value::Map(vec![(Value::Integer(0.into()), Value::Bytes(vec![1; 32]))]))),
        "pcr value is not 48 bytes"
    );
    assert_eq!(
        payload_err(&|m| set(m, "pcrs", Value::Map(vec![(Value::Integer(32.into()), Value::Bytes(vec![1; 48]))]))),
        "pcr index"
    );
    assert_eq!(
        payload_err(&|m| set(
            m,
            "pcrs",
            Value::Map(vec![
                (Value::Integer(0.into()), Value::Bytes(vec![1; 48])),
                (Value::Integer(0.into()), Value::Bytes(vec![2; 48]))
            ])
        )),
        "duplicate pcr"
    );
    assert_eq!(payload_err(&|m| set(m, "cabundle", Value::Array(vec![]))), "cabundle");
    assert_eq!(payload_err(&|m| set(m, "cabundle", Value::Array(vec![Value::Bytes(vec![1]); 9]))), "cabundle");
    assert_eq!(payload_err(&|m| set(m, "cabundle", Value::Array(vec![Value::Text("x".into())]))), "cabundle entry");
    assert_eq!(payload_err(&|m| set(m, "certificate", Value::Null)), "certificate");
    assert_eq!(payload_err(&|m| set(m, "nonce", Value::Text("n".into()))), "nonce");
    assert_eq!(payload_err(&|m| m.retain(|(k, _)| k.as_text() != Some("pcrs"))), "pcrs");
    assert_eq!(payload_err(&|m| m.push((Value::Text("digest".into()), Value::Text("SHA384".into())))), "duplicate key");
    assert_eq!(payload_err(&|m| m.push((Value::Integer(1.into()), Value::Null))), "a key is not text");
    // An unknown field is signed like the rest and ignored.
    assert!(verify(&with_payload(&pki, |m| m.push((Value::Text("future".into()), Value::Bool(true))))).is_ok());

    // Not a map, trailing bytes in the payload, no payload, another algorithm, not COSE.
    let key = &pki.leaf_key;
    let not_map = testing::sign(&Value::Array(vec![]), key);
    assert_eq!(verify(&not_map), Err(NitroError::Payload("not a map")));
    let mut trailing = testing::cbor(&testing::payload(
        &good_fields(&PartyId([7; 32]), &[9; 32]),
        &pki.leaf,
        &[pki.root.clone(), pki.intermediate.clone()],
    ));
    trailing.push(0);
    assert_eq!(
        verify(&testing::sign_bytes(trailing, key, coset::iana::Algorithm::ES384)),
        Err(NitroError::Payload("bytes after the document"))
    );
    let good = pki.document(&good_fields(&PartyId([7; 32]), &[9; 32]));
    let mut sign1 = CoseSign1::from_slice(&good).unwrap();
    sign1.payload = None;
    assert_eq!(verify(&sign1.to_vec().unwrap()), Err(NitroError::Payload("no payload")));
    let es256 = testing::sign_bytes(
        testing::cbor(&testing::payload(
            &good_fields(&PartyId([7; 32]), &[9; 32]),
            &pki.leaf,
            &[pki.root.clone(), pki.intermediate.clone()],
        )),
        key,
        coset::iana::Algorithm::ES256,
    );
    assert_eq!(verify(&es256), Err(NitroError::Algorithm));
    assert_eq!(verify(&[0x84, 0x40]), Err(NitroError::Cose));
    assert_eq!(verify(&[]), Err(NitroError::Cose));
    assert_eq!(verify(&vec![0x84; MAX_ATTESTATION_BYTES + 1]), Err(NitroError::TooLarge(MAX_ATTESTATION_BYTES + 1)));
    // Signed by a key other than the leaf's.
    let forged = testing::sign(
        &testing::payload(
            &good_fields(&PartyId([7; 32]), &[9; 32]),
            &pki.leaf,
            &[pki.root.clone(), pki.intermediate.clone()],
        ),
        &testing::key(9),
    );
    assert_eq!(verify(&forged), Err(NitroError::BadSignature));
}

/// A document whose chain is `root` + `bundle` + `leaf` (leaf key 3).
fn chained(root: &[u8], bundle: &[Vec<u8>], leaf: &[u8]) -> Vec<u8> {
    let mut cabundle = vec![root.to_vec()];
    cabundle.extend_from_slice(bundle);
    testing::sign(&testing::payload(&good_fields(&PartyId([7; 32]), &[9; 32]), leaf, &cabundle), &testing::key(3))
}

#[test]
fn chain_rejections() {
    use testing::{INTERMEDIATE_NAME as INTER, LEAF_NAME as LEAF, ROOT_NAME as ROOT, issue, key};
    let (nb, na) = (T0 - 60, T0 + 86_400);
    let root = issue(&CertSpec::ca(ROOT, nb, na, None), &key(1), ROOT, &key(1));
    let inter = issue(&CertSpec::ca(INTER, nb, na, Some(0)), &key(2), ROOT, &key(1));
    let leaf = issue(&CertSpec::leaf(LEAF, nb, na), &key(3), INTER, &key(2));
    let verify = |doc: &[u8]| verify_nitro_document(doc, &root, T0);
    assert!(verify(&chained(&root, std::slice::from_ref(&inter), &leaf)).is_ok());
    // Leaf straight under the root works too (no intermediate needed by the verifier).
    let leaf_under_root = issue(&CertSpec::leaf(LEAF, nb, na), &key(3), ROOT, &key(1));
    assert!(verify(&chained(&root, &[], &leaf_under_root)).is_ok());

    // The intermediate skipped: the leaf's issuer is not the root.
    assert!(matches!(verify(&chained(&root, &[], &leaf)), Err(NitroError::Certificate { index: 1, .. })));
    // Issuer name right, key wrong.
    let impostor = issue(&CertSpec::ca(INTER, nb, na, Some(0)), &key(2), ROOT, &key(4));
    assert_eq!(verify(&chained(&root, &[impostor], &leaf)), Err(NitroError::ChainSignature(1)));
    let leaf_wrong_key = issue(&CertSpec::leaf(LEAF, nb, na), &key(3), INTER, &key(5));
    assert_eq!(
        verify(&chained(&root, std::slice::from_ref(&inter), &leaf_wrong_key)),
        Err(NitroError::ChainSignature(2))
    );
    // An intermediate that is not a CA.
    let mut not_ca = CertSpec::ca(INTER, nb, na, None);
    not_ca.basic = None;
    let not_ca = issue(&not_ca, &key(2), ROOT, &key(1));
    assert!(matches!(
        verify(&chained(&root, &[not_ca], &leaf)),
        Err(NitroError::Certificate { index: 1, why: "issues certificates but is not a CA" })
    ));
    // A CA without keyCertSign.
    let mut no_sign = CertSpec::ca(INTER, nb, na, None);
    no_sign.key_usage = Some(x509_cert::ext::pkix::KeyUsage(x509_cert::ext::pkix::KeyUsages::DigitalSignature.into()));
    let no_sign = issue(&no_sign, &key(2), ROOT, &key(1));
    assert!(matches!(verify(&chained(&root, &[no_sign], &leaf)), Err(NitroError::Certificate { index: 1, .. })));
    // Path length: the intermediate allows no CA below it.
    let sub = "CN=sub,O=tss-wallet tests";
    let sub_ca = issue(&CertSpec::ca(sub, nb, na, None), &key(6), INTER, &key(2));
    let leaf_under_sub = issue(&CertSpec::leaf(LEAF, nb, na), &key(3), sub, &key(6));
    assert!(matches!(
        verify(&chained(&root, &[inter.clone(), sub_ca.clone()], &leaf_under_sub)),
        Err(NitroError::Certificate { index: 2, why: "exceeds its issuer's path length" })
    ));
    let inter_any = issue(&CertSpec::ca(INTER, nb, na, None), &key(2), ROOT, &key(1));
    assert!(verify(&chained(&root, &[inter_any, sub_ca], &leaf_under_sub)).is_ok());
    // A CA as the signing certificate.
    let ca_leaf = issue(&CertSpec::ca(LEAF, nb, na, None), &key(3), INTER, &key(2));
    assert!(matches!(
        verify(&chained(&root, std::slice::from_ref(&inter), &ca_leaf)),
        Err(NitroError::Certificate { index: 2, why: "the signing certificate is a CA" })
    ));
    // A leaf without digitalSignature.
    let mut no_ds = CertSpec::leaf(LEAF, nb, na);
    no_ds.key_usage = Some(x509_cert::ext::pkix::KeyUsage(x509_cert::ext::pkix::KeyUsages::KeyAgreement.into()));
    let no_ds = issue(&no_ds, &key(3), INTER, &key(2));
    assert!(matches!(
        verify(&chained(&root, std::slice::from_ref(&inter), &no_ds)),
        Err(NitroError::Certificate { index: 2, .. })
    ));
    // An unknown critical extension.
    let mut crit = CertSpec::leaf(LEAF, nb, na);
    crit.unknown_critical = true;
    let crit = issue(&crit, &key(3), INTER, &key(2));
    assert!(matches!(
        verify(&chained(&root, std::slice::from_ref(&inter), &crit)),
        Err(NitroError::Certificate { index: 2, why: "unknown critical extension" })
    ));
    // An expired intermediate.
    let old = issue(&CertSpec::ca(INTER, nb - 1000, T0 - 1, Some(0)), &key(2), ROOT, &key(1));
    assert!(matches!(verify(&chained(&root, &[old], &leaf)), Err(NitroError::Validity { index: 1, .. })));
    // Garbage as a certificate.
    assert!(matches!(
        verify(&chained(&root, &[vec![0x30, 0x03, 1, 2, 3]], &leaf)),
        Err(NitroError::Certificate { index: 1, why: "does not parse" })
    ));
    // cabundle[0] must be the pinned root itself, not a look-alike.
    let other_root = issue(&CertSpec::ca(ROOT, nb, na, None), &key(8), ROOT, &key(8));
    assert_eq!(verify(&chained(&other_root, &[inter], &leaf)), Err(NitroError::UntrustedRoot));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let pki = TestPki::new(T0 - 60);
    let good = pki.document(&good_fields(&PartyId([7; 32]), &[9; 32]));
    let policy = pki_policy(&pki, [0x42; PCR_BYTES]);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..1000 {
        let mut t = good.clone();
        for _ in 0..=(round % 5) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % t.len();
            t[i] = (state >> 32) as u8;
        }
        if round % 3 == 0 {
            t.truncate((state as usize) % t.len());
        }
        let _ = verify_attestation(&t, &policy, &[9; 32], T0);
        let _ = decode_attestation(&t);
    }
}

/// Writes fuzz seeds for `api_attestation` when `TSSW_FUZZ_SEEDS` names the fuzz corpus
/// directory: the recorded document, one built here, and a dev document.
#[test]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("TSSW_FUZZ_SEEDS") else { return };
    let dir = std::path::Path::new(&dir).join("api_attestation");
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::new(T0 - 60);
    let built = pki.document(&good_fields(&PartyId([7; 32]), &[9; 32]));
    let dev_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let dev = crate::attest::sign_dev_attestation(&dev_key, &PartyId([5; 32]), [6; 32], T0, &[7; 32]).unwrap();
    for (name, bytes) in [("nitro-recorded", real()), ("nitro-built", built), ("dev", dev)] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
