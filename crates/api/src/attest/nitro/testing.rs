//! Nitro documents made by the tests themselves (feature `test-helpers`): a P-384 chain
//! root → intermediate → leaf under a test root, payloads with any fields, COSE_Sign1 with
//! the leaf key. Nothing here is trusted by a production verifier: its root is not
//! [`super::AWS_NITRO_ROOT_G1`].
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use coset::cbor::value::Value;
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, iana};
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, Signature, SigningKey};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::Encode;
use x509_cert::der::asn1::{GeneralizedTime, UtcTime};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use super::PCR_BYTES;

/// What kind of certificate to issue.
#[derive(Clone, Debug)]
pub struct CertSpec {
    pub subject: String,
    pub not_before: u64,
    pub not_after: u64,
    /// `None`: no basic constraints; `Some((ca, path_len))` otherwise.
    pub basic: Option<(bool, Option<u8>)>,
    pub key_usage: Option<KeyUsage>,
    /// An extra extension marked critical that no verifier knows.
    pub unknown_critical: bool,
}

impl CertSpec {
    pub fn ca(subject: &str, not_before: u64, not_after: u64, path_len: Option<u8>) -> CertSpec {
        CertSpec {
            subject: subject.into(),
            not_before,
            not_after,
            basic: Some((true, path_len)),
            key_usage: Some(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature)),
            unknown_critical: false,
        }
    }
    pub fn leaf(subject: &str, not_before: u64, not_after: u64) -> CertSpec {
        CertSpec {
            subject: subject.into(),
            not_before,
            not_after,
            basic: Some((false, None)),
            key_usage: Some(KeyUsage(KeyUsages::DigitalSignature.into())),
            unknown_critical: false,
        }
    }
}

struct Profile {
    issuer: Name,
    subject: Name,
    spec: CertSpec,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _: SubjectPublicKeyInfoRef<'_>,
        _: SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut out = Vec::new();
        if let Some((ca, path_len_constraint)) = self.spec.basic {
            out.push(BasicConstraints { ca, path_len_constraint }.to_extension(tbs.subject(), &out)?);
        }
        if let Some(usage) = self.spec.key_usage {
            out.push(usage.to_extension(tbs.subject(), &out)?);
        }
        if self.spec.unknown_critical {
            out.push(Extension {
                extn_id: x509_cert::der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
                critical: true,
                extn_value: x509_cert::der::asn1::OctetString::new(vec![5, 0]).unwrap(),
            });
        }
        Ok(out)
    }
}

fn time(secs: u64) -> Time {
    let d = Duration::from_secs(secs);
    match UtcTime::from_unix_duration(d) {
        Ok(t) => Time::UtcTime(t),
        Err(_) => Time::GeneralTime(GeneralizedTime::from_unix_duration(d).unwrap()),
    }
}

/// A deterministic P-384 key (`seed` 1..=200).
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 48]).unwrap()
}

/// Issues `spec` for `subject_key`, signed by `issuer_key` under `issuer_name`.
pub fn issue(spec: &CertSpec, subject_key: &SigningKey, issuer_name: &str, issuer_key: &SigningKey) -> Vec<u8> {
    let profile = Profile {
        issuer: Name::from_str(issuer_name).unwrap(),
        subject: Name::from_str(&spec.subject).unwrap(),
        spec: spec.clone(),
    };
    let spki = SubjectPublicKeyInfo::from_key(subject_key.verifying_key()).unwrap();
    let validity = Validity::new(time(spec.not_before), time(spec.not_after));
    let serial = SerialNumber::new(&[1, u8::try_from(spec.subject.len() % 256).unwrap()]).unwrap();
    let builder = CertificateBuilder::new(profile, serial, validity, spki).unwrap();
    let cert: Certificate = builder.build::<_, DerSignature>(issuer_key).unwrap();
    cert.to_der().unwrap()
}

/// A test chain: self-signed root, one intermediate, a leaf.
#[derive(Clone, Debug)]
pub struct TestPki {
    pub root: Vec<u8>,
    pub intermediate: Vec<u8>,
    pub leaf: Vec<u8>,
    pub leaf_key: SigningKey,
}

pub const ROOT_NAME: &str = "CN=tssw test nitro root,O=tss-wallet tests";
pub const INTERMEDIATE_NAME: &str = "CN=tssw test nitro intermediate,O=tss-wallet tests";
pub const LEAF_NAME: &str = "CN=tssw test enclave,O=tss-wallet tests";

impl TestPki {
    /// Certificates valid from `not_before` for ten years (the leaf: for three hours, as AWS's).
    pub fn new(not_before: u64) -> TestPki {
        let (root_key, inter_key, leaf_key) = (key(1), key(2), key(3));
        let ten_years = not_before + 10 * 365 * 86_400;
        let root = issue(&CertSpec::ca(ROOT_NAME, not_before, ten_years, None), &root_key, ROOT_NAME, &root_key);
        let intermediate =
            issue(&CertSpec::ca(INTERMEDIATE_NAME, not_before, ten_years, Some(0)), &inter_key, ROOT_NAME, &root_key);
        let leaf = issue(
            &CertSpec::leaf(LEAF_NAME, not_before, not_before + 3 * 3600),
            &leaf_key,
            INTERMEDIATE_NAME,
            &inter_key,
        );
        TestPki { root, intermediate, leaf, leaf_key }
    }

    /// A signed document with these fields and this chain.
    pub fn document(&self, fields: &Fields) -> Vec<u8> {
        sign(&payload(fields, &self.leaf, &[self.root.clone(), self.intermediate.clone()]), &self.leaf_key)
    }
}

/// The payload fields of a test document.
#[derive(Clone, Debug)]
pub struct Fields {
    pub module_id: String,
    pub timestamp_ms: u64,
    pub pcrs: BTreeMap<u8, [u8; PCR_BYTES]>,
    pub public_key: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub nonce: Option<Vec<u8>>,
}

impl Fields {
    /// PCR0/1/2 from `pcr0` (PCR1 and PCR2 are `pcr0` + 1 and + 2 in every byte), the rest of
    /// the NSM's 16 PCRs zero.
    pub fn new(timestamp_ms: u64, pcr0: [u8; PCR_BYTES]) -> Fields {
        let mut pcrs: BTreeMap<u8, [u8; PCR_BYTES]> = (0..16).map(|i| (i, [0; PCR_BYTES])).collect();
        pcrs.insert(0, pcr0);
        pcrs.insert(1, pcr0.map(|b| b.wrapping_add(1)));
        pcrs.insert(2, pcr0.map(|b| b.wrapping_add(2)));
        Fields {
            module_id: "i-0123456789abcdef0-enc0123456789abcdef".into(),
            timestamp_ms,
            pcrs,
            public_key: None,
            user_data: None,
            nonce: None,
        }
    }
}

fn opt(b: &Option<Vec<u8>>) -> Value {
    b.as_ref().map_or(Value::Null, |b| Value::Bytes(b.clone()))
}

/// The payload map an NSM would write.
pub fn payload(f: &Fields, leaf: &[u8], cabundle: &[Vec<u8>]) -> Value {
    let text = |s: &str| Value::Text(s.into());
    Value::Map(vec![
        (text("module_id"), text(&f.module_id)),
        (text("digest"), text("SHA384")),
        (text("timestamp"), Value::Integer(f.timestamp_ms.into())),
        (
            text("pcrs"),
            Value::Map(f.pcrs.iter().map(|(i, v)| (Value::Integer((*i).into()), Value::Bytes(v.to_vec()))).collect()),
        ),
        (text("certificate"), Value::Bytes(leaf.to_vec())),
        (text("cabundle"), Value::Array(cabundle.iter().map(|c| Value::Bytes(c.clone())).collect())),
        (text("public_key"), opt(&f.public_key)),
        (text("user_data"), opt(&f.user_data)),
        (text("nonce"), opt(&f.nonce)),
    ])
}

/// CBOR bytes of a value.
pub fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(value, &mut out).unwrap();
    out
}

/// COSE_Sign1 (untagged, as the NSM writes it) over `payload`, ES384 with `key`.
pub fn sign(payload: &Value, key: &SigningKey) -> Vec<u8> {
    sign_bytes(cbor(payload), key, iana::Algorithm::ES384)
}

/// COSE_Sign1 over raw payload bytes, claiming `alg` (signed with P-384 whatever it claims).
pub fn sign_bytes(payload: Vec<u8>, key: &SigningKey, alg: iana::Algorithm) -> Vec<u8> {
    CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .payload(payload)
        .create_signature(b"", |data| {
            let sig: Signature = key.sign(data);
            sig.to_bytes().to_vec()
        })
        .build()
        .to_vec()
        .unwrap()
}
