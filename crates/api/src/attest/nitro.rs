//! AWS Nitro Enclaves attestation documents: what the Nitro Security Module (NSM) signs, and
//! a verifier for them that reads no clock and no file (the caller passes the time and the
//! trusted root), so it runs in the client, in the browser (wasm32) and in tests of recorded
//! documents, which expire ≈ 3 h after they were made.
//!
//! A document is a COSE_Sign1 (RFC 9052), untagged or tagged 18, signed ES384 (ECDSA P-384,
//! SHA-384). Its payload is a CBOR map: `module_id`, `digest` (`"SHA384"`), `timestamp`
//! (Unix ms), `pcrs` (index → 48-byte SHA-384 register), `certificate` (the leaf, DER),
//! `cabundle` (DER, root first), and optional `public_key`, `user_data`, `nonce`.
//!
//! [`verify_nitro_document`] checks, in order: the size bound and the CBOR shape; the
//! algorithm (ES384 only, no critical headers); that `cabundle[0]` is byte for byte the pinned
//! root; each link root → … → leaf (ecdsa-with-SHA384 by the issuer's P-384 key, issuer name =
//! the issuer's subject, validity at `now`, CA basic constraints and path lengths, key usage,
//! no unknown critical extension); then the COSE signature under the leaf key. Only then does
//! it return what the document states; what to *trust* in it (PCRs, nonce, identity) is the
//! caller's policy ([`super::verify_attestation`]).

use std::collections::BTreeMap;

use coset::cbor::value::Value;
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable, iana};
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::MAX_ATTESTATION_BYTES;

/// The AWS Nitro Enclaves root certificate, G1 (DER), as published by AWS
/// (`AWS_NitroEnclaves_Root-G1.zip`; `CN=aws.nitro-enclaves, OU=AWS, O=Amazon, C=US`, valid
/// 2019-10-28 … 2049-10-28). Its SHA-256 is [`AWS_NITRO_ROOT_G1_SHA256`]; a unit test checks it.
pub const AWS_NITRO_ROOT_G1: &[u8] = include_bytes!("aws-nitro-root-g1.der");

/// SHA-256 fingerprint of [`AWS_NITRO_ROOT_G1`] (the DER certificate, not the zip AWS ships
/// it in), as AWS documents it.
pub const AWS_NITRO_ROOT_G1_SHA256: &str = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// Length of a PCR of a SHA-384 document.
pub const PCR_BYTES: usize = 48;

/// The NSM's bound on `public_key`, `user_data` and `nonce`.
pub const MAX_FIELD_BYTES: usize = 1024;

/// Most certificates in `cabundle` (AWS uses four: root, regional, zonal, instance).
pub const MAX_CABUNDLE: usize = 8;

/// Most PCRs in a document (the NSM has 32).
pub const MAX_PCRS: u64 = 32;

const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// What a Nitro document states, once [`verify_nitro_document`] has checked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NitroDocument {
    /// The enclave's id (`i-…-enc…`).
    pub module_id: String,
    /// When the NSM made the document, Unix milliseconds.
    pub timestamp_ms: u64,
    /// PCR index → value (each [`PCR_BYTES`] long).
    pub pcrs: BTreeMap<u8, [u8; PCR_BYTES]>,
    /// The key the enclave asked to be bound (KMS encrypts to it).
    pub public_key: Option<Vec<u8>>,
    /// Bytes the enclave asked to be bound.
    pub user_data: Option<Vec<u8>>,
    /// The requester's nonce, as the enclave passed it.
    pub nonce: Option<Vec<u8>>,
}

impl NitroDocument {
    /// PCR `index`, if the document has it.
    pub fn pcr(&self, index: u8) -> Option<&[u8; PCR_BYTES]> {
        self.pcrs.get(&index)
    }
}

/// Why a Nitro document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NitroError {
    /// Longer than the attestation size bound.
    #[error("Nitro document of {0} bytes is over the size bound")]
    TooLarge(usize),
    /// Not a COSE_Sign1.
    #[error("not a COSE_Sign1 structure")]
    Cose,
    /// Signed with another algorithm than ES384, or with critical headers.
    #[error("COSE algorithm or headers not accepted (ES384 only, no critical headers)")]
    Algorithm,
    /// The payload is not a well-formed attestation document.
    #[error("attestation payload: {0}")]
    Payload(&'static str),
    /// A certificate does not parse or is not of the accepted kind.
    #[error("certificate {index} of the chain: {why}")]
    Certificate {
        /// Position in the chain, root = 0, leaf last.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// `cabundle[0]` is not the pinned root.
    #[error("the chain does not start at the trusted root")]
    UntrustedRoot,
    /// A certificate is not signed by the one before it.
    #[error("certificate {0} of the chain is not signed by its issuer")]
    ChainSignature(usize),
    /// A certificate is not valid at the verifier's time.
    #[error("certificate {index} of the chain is not valid at {now} (valid {not_before}..{not_after})")]
    Validity {
        /// Position in the chain, root = 0, leaf last.
        index: usize,
        /// The verifier's time, Unix seconds.
        now: u64,
        /// Start of validity, Unix seconds.
        not_before: u64,
        /// End of validity, Unix seconds.
        not_after: u64,
    },
    /// The COSE signature does not verify under the leaf certificate's key.
    #[error("the document's signature does not verify under its certificate")]
    BadSignature,
}

/// The parts of a document before any check beyond its shape.
pub(crate) struct Parsed {
    sign1: CoseSign1,
    pub(crate) doc: NitroDocument,
    certificate: Vec<u8>,
    cabundle: Vec<Vec<u8>>,
}

/// True when `bytes` look like a COSE_Sign1 (an untagged CBOR array of four, or tag 18).
pub fn is_cose_sign1(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x84 | 0xd2))
}

/// Verifies a document against `root` (DER; [`AWS_NITRO_ROOT_G1`] in production) at `now`
/// (Unix seconds) and returns what it states. Checks no PCR, nonce or user data: that is the
/// caller's policy.
pub fn verify_nitro_document(bytes: &[u8], root: &[u8], now: u64) -> Result<NitroDocument, NitroError> {
    let parsed = parse(bytes)?;
    let alg = parsed.sign1.protected.header.alg.as_ref();
    if alg != Some(&coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384))
        || !parsed.sign1.protected.header.crit.is_empty()
        || !parsed.sign1.unprotected.crit.is_empty()
    {
        return Err(NitroError::Algorithm);
    }
    let leaf = verify_chain(root, &parsed.cabundle, &parsed.certificate, now)?;
    parsed.sign1.verify_signature(b"", |sig, data| {
        let sig = Signature::from_slice(sig).map_err(|_| NitroError::BadSignature)?;
        leaf.verify(data, &sig).map_err(|_| NitroError::BadSignature)
    })?;
    Ok(parsed.doc)
}

/// Parses a document without verifying anything but its shape (for display and fuzzing).
pub fn decode_nitro_document(bytes: &[u8]) -> Result<NitroDocument, NitroError> {
    parse(bytes).map(|p| p.doc)
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, NitroError> {
    if bytes.len() > MAX_ATTESTATION_BYTES {
        return Err(NitroError::TooLarge(bytes.len()));
    }
    let sign1 = match bytes.first() {
        Some(0xd2) => CoseSign1::from_tagged_slice(bytes),
        _ => CoseSign1::from_slice(bytes),
    }
    .map_err(|_| NitroError::Cose)?;
    let payload = sign1.payload.as_deref().ok_or(NitroError::Payload("no payload"))?;
    let mut rest = payload;
    let value: Value = coset::cbor::de::from_reader(&mut rest).map_err(|_| NitroError::Payload("not CBOR"))?;
    if !rest.is_empty() {
        return Err(NitroError::Payload("bytes after the document"));
    }
    let Value::Map(entries) = value else { return Err(NitroError::Payload("not a map")) };
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in entries {
        let Value::Text(key) = key else { return Err(NitroError::Payload("a key is not text")) };
        if fields.insert(key, value).is_some() {
            return Err(NitroError::Payload("duplicate key"));
        }
    }
    let mut take = |name: &str| fields.remove(name);
    let module_id = match take("module_id") {
        Some(Value::Text(t)) if !t.is_empty() && t.len() <= 256 => t,
        _ => return Err(NitroError::Payload("module_id")),
    };
    if !matches!(take("digest"), Some(Value::Text(d)) if d == "SHA384") {
        return Err(NitroError::Payload("digest is not SHA384"));
    }
    let timestamp_ms = match take("timestamp") {
        Some(Value::Integer(i)) => u64::try_from(i).ok().filter(|t| *t > 0),
        _ => None,
    }
    .ok_or(NitroError::Payload("timestamp"))?;
    let pcrs = match take("pcrs") {
        Some(Value::Map(m)) => pcrs(m)?,
        _ => return Err(NitroError::Payload("pcrs")),
    };
    let certificate = match take("certificate") {
        Some(Value::Bytes(b)) if !b.is_empty() => b,
        _ => return Err(NitroError::Payload("certificate")),
    };
    let cabundle = match take("cabundle") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_CABUNDLE => a
            .into_iter()
            .map(|c| match c {
                Value::Bytes(b) if !b.is_empty() => Ok(b),
                _ => Err(NitroError::Payload("cabundle entry")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(NitroError::Payload("cabundle")),
    };
    let public_key = optional_bytes(take("public_key"), "public_key")?;
    let user_data = optional_bytes(take("user_data"), "user_data")?;
    let nonce = optional_bytes(take("nonce"), "nonce")?;
    // Fields a later NSM may add are signed by AWS like the rest; ignoring them is safe.
    let doc = NitroDocument { module_id, timestamp_ms, pcrs, public_key, user_data, nonce };
    Ok(Parsed { sign1, doc, certificate, cabundle })
}

fn pcrs(entries: Vec<(Value, Value)>) -> Result<BTreeMap<u8, [u8; PCR_BYTES]>, NitroError> {
    if entries.is_empty() || entries.len() > MAX_PCRS as usize {
        return Err(NitroError::Payload("pcr count"));
    }
    let mut out = BTreeMap::new();
    for (index, value) in entries {
        let index = match index {
            Value::Integer(i) => u64::try_from(i).ok().filter(|i| *i < MAX_PCRS).and_then(|i| u8::try_from(i).ok()),
            _ => None,
        }
        .ok_or(NitroError::Payload("pcr index"))?;
        let value: [u8; PCR_BYTES] = match value {
            Value::Bytes(b) => b.as_slice().try_into().ok(),
            _ => None,
        }
        .ok_or(NitroError::Payload("pcr value is not 48 bytes"))?;
        if out.insert(index, value).is_some() {
            return Err(NitroError::Payload("duplicate pcr"));
        }
    }
    Ok(out)
}

fn optional_bytes(value: Option<Value>, what: &'static str) -> Result<Option<Vec<u8>>, NitroError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) if b.len() <= MAX_FIELD_BYTES => Ok(Some(b)),
        Some(_) => Err(NitroError::Payload(what)),
    }
}

/// Walks root → `cabundle[1..]` → leaf and returns the leaf's key.
fn verify_chain(root: &[u8], cabundle: &[Vec<u8>], leaf: &[u8], now: u64) -> Result<VerifyingKey, NitroError> {
    if cabundle.first().map(Vec::as_slice) != Some(root) {
        return Err(NitroError::UntrustedRoot);
    }
    let chain: Vec<&[u8]> = cabundle.iter().map(Vec::as_slice).chain(std::iter::once(leaf)).collect();
    let certs = chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            Certificate::from_der(der).map_err(|_| NitroError::Certificate { index, why: "does not parse" })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let last = certs.len() - 1;
    // CA certificates still allowed below the current one (basic constraints' path length).
    let mut room: Option<u8> = None;
    for (index, cert) in certs.iter().enumerate() {
        check_validity(cert, index, now)?;
        check_extensions(cert, index, index < last)?;
        if index > 0 {
            let issuer = certs.get(index - 1).ok_or(NitroError::ChainSignature(index))?;
            check_issued(issuer, cert, index)?;
        }
        if index < last {
            if index > 0 {
                room = match room {
                    Some(0) => return Err(NitroError::Certificate { index, why: "exceeds its issuer's path length" }),
                    Some(n) => Some(n - 1),
                    None => None,
                };
            }
            if let Some(limit) = path_len(cert, index)? {
                room = Some(room.map_or(limit, |r| r.min(limit)));
            }
        }
    }
    let leaf = certs.get(last).ok_or(NitroError::Certificate { index: last, why: "missing" })?;
    p384_key(leaf, last)
}

fn check_validity(cert: &Certificate, index: usize, now: u64) -> Result<(), NitroError> {
    let validity = cert.tbs_certificate().validity();
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if now < not_before || now > not_after {
        return Err(NitroError::Validity { index, now, not_before, not_after });
    }
    Ok(())
}

fn check_extensions(cert: &Certificate, index: usize, is_ca: bool) -> Result<(), NitroError> {
    let tbs = cert.tbs_certificate();
    let bad = |why| NitroError::Certificate { index, why };
    // RFC 5280 §4.2: a critical extension we do not understand means "do not use".
    for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
        if ext.critical && ext.extn_id != ID_CE_BASIC_CONSTRAINTS && ext.extn_id != ID_CE_KEY_USAGE {
            return Err(bad("unknown critical extension"));
        }
    }
    let basic = tbs.get_extension::<BasicConstraints>().map_err(|_| bad("basic constraints"))?;
    let usage = tbs.get_extension::<KeyUsage>().map_err(|_| bad("key usage"))?;
    if is_ca {
        if !matches!(basic, Some((_, BasicConstraints { ca: true, .. }))) {
            return Err(bad("issues certificates but is not a CA"));
        }
        if usage.is_some_and(|(_, u)| !u.key_cert_sign()) {
            return Err(bad("issues certificates without the keyCertSign usage"));
        }
    } else {
        if matches!(basic, Some((_, BasicConstraints { ca: true, .. }))) {
            return Err(bad("the signing certificate is a CA"));
        }
        if usage.is_some_and(|(_, u)| !u.digital_signature()) {
            return Err(bad("the signing certificate lacks the digitalSignature usage"));
        }
    }
    Ok(())
}

fn path_len(cert: &Certificate, index: usize) -> Result<Option<u8>, NitroError> {
    let basic = cert
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|_| NitroError::Certificate { index, why: "basic constraints" })?;
    Ok(basic.and_then(|(_, b)| b.path_len_constraint))
}

fn check_issued(issuer: &Certificate, cert: &Certificate, index: usize) -> Result<(), NitroError> {
    let tbs = cert.tbs_certificate();
    let bad = |why| NitroError::Certificate { index, why };
    let ecdsa384 =
        |alg: &x509_cert::spki::AlgorithmIdentifierOwned| alg.oid == ECDSA_WITH_SHA384 && alg.parameters.is_none();
    if !ecdsa384(cert.signature_algorithm()) || cert.signature_algorithm() != tbs.signature() {
        return Err(bad("not signed with ecdsa-with-SHA384"));
    }
    if tbs.issuer() != issuer.tbs_certificate().subject() {
        return Err(bad("issuer name is not its issuer's subject"));
    }
    let key = p384_key(issuer, index - 1)?;
    let sig = cert.signature().as_bytes().ok_or(bad("signature bit string"))?;
    let sig = Signature::from_der(sig).map_err(|_| NitroError::ChainSignature(index))?;
    // x509-cert decodes DER only, so re-encoding gives back the signed bytes.
    let signed = tbs.to_der().map_err(|_| bad("does not re-encode"))?;
    key.verify(&signed, &sig).map_err(|_| NitroError::ChainSignature(index))
}

fn p384_key(cert: &Certificate, index: usize) -> Result<VerifyingKey, NitroError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let bad = NitroError::Certificate { index, why: "key is not P-384" };
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return Err(bad);
    }
    let point = spki.subject_public_key.as_bytes().ok_or(bad.clone())?;
    VerifyingKey::from_sec1_bytes(point).map_err(|_| bad)
}

#[cfg(any(test, feature = "test-helpers"))]
pub mod testing;
#[cfg(test)]
mod tests;
