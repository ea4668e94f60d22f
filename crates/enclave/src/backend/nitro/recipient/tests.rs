#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cbc::cipher::BlockModeEncrypt;
use cms::enveloped_data::{
    EncryptedContentInfo, EncryptedKey, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfos,
};
use der::Encode;
use der::asn1::{Any, OctetString, SetOfVec};
use rsa::pkcs8::DecodePublicKey;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::*;

/// What KMS would send, built with the same crates: `root` wrapped for `public_der`.
pub(crate) struct Envelope {
    ktri: Vec<u8>,
    content_alg: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn alg(oid: ObjectIdentifier, params: Option<Any>) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters: params }
}

pub(crate) fn envelope(public_der: &[u8], plaintext: &[u8]) -> Envelope {
    let public = rsa::PublicKey::from_public_key_der(public_der).unwrap();
    let cek = [0x5a; 32];
    let iv = [0x1c; 16];
    let mut rng = getrandom::SysRng;
    let enc_key = public.encrypt(&mut rng, Oaep::<rsa::sha2::Sha256>::new(), &cek).unwrap();
    let ktri = KeyTransRecipientInfo {
        version: cms::content_info::CmsVersion::V2,
        rid: RecipientIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(OctetString::new(vec![7; 20]).unwrap())),
        key_enc_alg: alg(ID_RSAES_OAEP, None),
        enc_key: EncryptedKey::new(enc_key).unwrap(),
    };
    let content_alg = alg(ID_AES256_CBC, Some(Any::encode_from(&OctetString::new(iv.to_vec()).unwrap()).unwrap()));
    let mut ciphertext = plaintext.to_vec();
    ciphertext.resize(plaintext.len() + 16, 0);
    let len = cbc::Encryptor::<aes::Aes256>::new(&cek.into(), &iv.into())
        .encrypt_padded::<Pkcs7>(&mut ciphertext, plaintext.len())
        .unwrap()
        .len();
    ciphertext.truncate(len);
    Envelope { ktri: ktri.to_der().unwrap(), content_alg: content_alg.to_der().unwrap(), ciphertext }
}

impl Envelope {
    /// Definite-length DER through the `cms` types.
    pub(crate) fn der(&self) -> Vec<u8> {
        let ktri = KeyTransRecipientInfo::from_der(&self.ktri).unwrap();
        let enveloped = EnvelopedData {
            version: cms::content_info::CmsVersion::V2,
            originator_info: None,
            recip_infos: RecipientInfos(SetOfVec::try_from(vec![RecipientInfo::Ktri(ktri)]).unwrap()),
            encrypted_content: EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg: AlgorithmIdentifierOwned::from_der(&self.content_alg).unwrap(),
                encrypted_content: Some(OctetString::new(self.ciphertext.clone()).unwrap()),
            },
            unprotected_attrs: None,
        };
        ContentInfo { content_type: ID_ENVELOPED_DATA, content: Any::encode_from(&enveloped).unwrap() }
            .to_der()
            .unwrap()
    }

    /// BER as KMS writes it: indefinite lengths for ContentInfo, `[0]`, EnvelopedData and
    /// EncryptedContentInfo, and the content as a constructed `[0]` of OCTET STRING chunks.
    pub(crate) fn ber(&self) -> Vec<u8> {
        let oid = |o: ObjectIdentifier| o.to_der().unwrap();
        let (head, tail) = self.ciphertext.split_at(self.ciphertext.len() / 2);
        let chunks = [def(0x04, head), def(0x04, tail)].concat();
        let content_info = [oid(ID_DATA), self.content_alg.clone(), indef(0xa0, &chunks)].concat();
        let recipients = def(0x31, &self.ktri);
        let enveloped = [def(0x02, &[2]), recipients, indef(0x30, &content_info)].concat();
        indef(0x30, &[oid(ID_ENVELOPED_DATA), indef(0xa0, &indef(0x30, &enveloped))].concat())
    }
}

fn def(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn indef(tag: u8, content: &[u8]) -> Vec<u8> {
    [&[tag, 0x80][..], content, &[0, 0]].concat()
}

#[test]
fn opens_der_and_kms_style_ber() {
    for ber in [false, true] {
        let key = RecipientKey::generate().unwrap();
        let e = envelope(key.public_key_der(), &[0x33; 32]);
        let bytes = if ber { e.ber() } else { e.der() };
        assert_eq!(key.open(&bytes).unwrap().as_slice(), &[0x33; 32], "ber: {ber}");
    }
    // The public key is SubjectPublicKeyInfo, rsaEncryption, 3072 bits.
    let key = RecipientKey::generate().unwrap();
    let spki = spki::SubjectPublicKeyInfoRef::from_der(key.public_key_der()).unwrap();
    assert_eq!(spki.algorithm.oid, ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"));
    assert_eq!(rsa::traits::PublicKeyParts::size(&key.key.to_public_key()), 384);
    assert!(format!("{key:?}").contains("redacted"));
}

#[test]
fn refuses_other_recipients_and_tampering() {
    let key = RecipientKey::generate().unwrap();
    let other = RecipientKey::generate().unwrap();
    let e = envelope(other.public_key_der(), &[0x33; 32]);
    assert_eq!(key.open(&e.ber()).unwrap_err(), RecipientError::WrongRecipient);

    let e = envelope(RecipientKey::generate().unwrap().public_key_der(), &[0x33; 32]);
    let good = e.ber();
    // Every byte flipped: a typed error, never a panic (one key per attempt, as in use).
    let key = RecipientKey::generate().unwrap();
    let public = key.public_key_der().to_vec();
    let e = envelope(&public, &[0x33; 32]);
    let bytes = e.ber();
    let last = bytes.len() - 1;
    let mut key = Some(key);
    for i in (0..bytes.len()).step_by(37).chain([last - 2, last - 3]) {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        let k = key
            .take()
            .unwrap_or_else(|| RecipientKey { key: PrivateKey::try_generate().unwrap(), public_der: Vec::new() });
        assert!(k.open(&t).is_err(), "byte {i}");
    }
    for cut in [0, 1, 10, good.len() / 2, good.len() - 1] {
        let k = RecipientKey::generate().unwrap();
        assert!(k.open(&good[..cut]).is_err(), "cut {cut}");
    }
    let k = RecipientKey::generate().unwrap();
    assert_eq!(
        k.open(&vec![0x30; MAX_ENVELOPE_BYTES + 1]).unwrap_err(),
        RecipientError::TooLarge(MAX_ENVELOPE_BYTES + 1)
    );
}

#[test]
fn refuses_other_algorithms() {
    let key = RecipientKey::generate().unwrap();
    let mut e = envelope(key.public_key_der(), &[0x33; 32]);
    let iv = Any::encode_from(&OctetString::new(vec![1; 16]).unwrap()).unwrap();
    e.content_alg = alg(ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2"), Some(iv)).to_der().unwrap();
    assert_eq!(key.open(&e.ber()).unwrap_err(), RecipientError::Malformed("content is not AES-256-CBC data"));
    let key = RecipientKey::generate().unwrap();
    let mut e = envelope(key.public_key_der(), &[0x33; 32]);
    let mut ktri = KeyTransRecipientInfo::from_der(&e.ktri).unwrap();
    ktri.key_enc_alg.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    e.ktri = ktri.to_der().unwrap();
    assert_eq!(key.open(&e.der()).unwrap_err(), RecipientError::Malformed("key encryption is not RSAES-OAEP"));
}
