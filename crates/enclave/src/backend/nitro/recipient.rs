//! The enclave's side of a KMS `Recipient` exchange: an ephemeral RSA key pair made inside
//! the enclave, its public half (DER SubjectPublicKeyInfo) put in an attestation document as
//! `public_key`, and the opening of what KMS returns as `CiphertextForRecipient`.
//!
//! That reply is CMS `EnvelopedData` (RFC 5652), BER-encoded (KMS uses indefinite lengths):
//! one `KeyTransRecipientInfo` (version 2, subject key identifier) whose key is RSAES-OAEP
//! with SHA-256 and MGF1-SHA-256, and content encrypted with AES-256-CBC (PKCS #7 padding)
//! — as the AWS Nitro Enclaves SDK for C parses it (`source/cms.c`). The key is consumed by
//! its one opening, so a host cannot use it as a decryption oracle.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use der::asn1::ObjectIdentifier;
use der::{Decode, EncodingRules};
use rsa::pkcs8::EncodePublicKey;
use rsa::{Generate, Oaep, PrivateKey};
use zeroize::Zeroizing;

/// Largest `CiphertextForRecipient` accepted (a 32-byte key wraps to ≈ 800 bytes).
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024;

const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
const ID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// Why a `CiphertextForRecipient` was refused. Says nothing about the key inside.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientError {
    /// No key pair is waiting (never requested, or already used once).
    #[error("no KMS recipient key is waiting: request a new attestation document first")]
    NoKey,
    /// The key pair could not be made.
    #[error("cannot generate the RSA recipient key")]
    KeyGeneration,
    /// Over [`MAX_ENVELOPE_BYTES`].
    #[error("CiphertextForRecipient of {0} bytes is over the size bound")]
    TooLarge(usize),
    /// Not the CMS structure KMS sends.
    #[error("CiphertextForRecipient is not KMS's CMS EnvelopedData: {0}")]
    Malformed(&'static str),
    /// The wrapped key does not open under this enclave's key (meant for another one, or
    /// altered).
    #[error("CiphertextForRecipient does not open under this enclave's recipient key")]
    WrongRecipient,
    /// KMS released something other than a 32-byte key (a data key of another spec).
    #[error("KMS released {0} bytes, not a 32-byte key (use KeySpec AES_256)")]
    KeyLength(usize),
    /// The content does not decrypt (altered, or a wrong key).
    #[error("CiphertextForRecipient content does not decrypt")]
    BadContent,
}

/// An ephemeral RSA-3072 key pair (rsa's default size), private half only in enclave memory (zeroized on drop).
pub struct RecipientKey {
    key: PrivateKey,
    public_der: Vec<u8>,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecipientKey(<redacted>)")
    }
}

impl RecipientKey {
    /// A fresh key pair from the operating system's RNG.
    pub fn generate() -> Result<RecipientKey, RecipientError> {
        let key = PrivateKey::try_generate().map_err(|_| RecipientError::KeyGeneration)?;
        let public_der = key.to_public_key().to_public_key_der().map_err(|_| RecipientError::KeyGeneration)?.into_vec();
        Ok(RecipientKey { key, public_der })
    }

    /// The public key as DER SubjectPublicKeyInfo, the form KMS reads from `public_key`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Opens KMS's `CiphertextForRecipient`, consuming the key.
    pub fn open(self, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecipientError> {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(RecipientError::TooLarge(envelope.len()));
        }
        let bad = RecipientError::Malformed;
        let info = ContentInfo::from_ber(envelope).map_err(|_| bad("ContentInfo"))?;
        if info.content_type != ID_ENVELOPED_DATA {
            return Err(bad("not enveloped-data"));
        }
        let enveloped: EnvelopedData =
            info.content.decode_as_encoding(EncodingRules::Ber).map_err(|_| bad("EnvelopedData"))?;
        let mut recipients = enveloped.recip_infos.0.iter();
        let (Some(RecipientInfo::Ktri(ktri)), None) = (recipients.next(), recipients.next()) else {
            return Err(bad("not exactly one key-transport recipient"));
        };
        if ktri.key_enc_alg.oid != ID_RSAES_OAEP {
            return Err(bad("key encryption is not RSAES-OAEP"));
        }
        let content = &enveloped.encrypted_content;
        if content.content_type != ID_DATA || content.content_enc_alg.oid != ID_AES256_CBC {
            return Err(bad("content is not AES-256-CBC data"));
        }
        let iv = content
            .content_enc_alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::OctetString>().ok())
            .ok_or(bad("IV"))?;
        let iv: [u8; 16] = iv.as_bytes().try_into().map_err(|_| bad("IV is not 16 bytes"))?;
        let ciphertext = content.encrypted_content.as_ref().ok_or(bad("no encrypted content"))?;

        let cek = Zeroizing::new(
            self.key
                .decrypt(Oaep::<rsa::sha2::Sha256>::new(), ktri.enc_key.as_bytes())
                .map_err(|_| RecipientError::WrongRecipient)?,
        );
        let cek: &[u8; 32] = cek.as_slice().try_into().map_err(|_| RecipientError::WrongRecipient)?;
        let mut buf = Zeroizing::new(ciphertext.as_bytes().to_vec());
        let plain_len = cbc::Decryptor::<aes::Aes256>::new(cek.into(), &iv.into())
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map_err(|_| RecipientError::BadContent)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

#[cfg(test)]
pub(crate) mod tests;
