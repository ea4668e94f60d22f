//! The host's half of releasing the Nitro enclave's sealing key (feature `nitro`): the enclave
//! has no network, so the host calls AWS KMS for it, with the enclave's attestation document
//! as `Recipient`, and hands the reply — encrypted to a key only the enclave holds — back in.
//!
//! [`KmsClient`] signs `TrentService.Decrypt` / `TrentService.GenerateDataKey` (JSON 1.1) with
//! SigV4 (`aws-sigv4`) and POSTs them with reqwest (rustls, ring). Credentials come from the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`,
//! `AWS_REGION`): on a Nitro parent instance, export the instance role's credentials there
//! (the instance metadata service is not read by this code). [`unlock`] runs the exchange:
//! the first start asks `GenerateDataKey` (AES_256) and stores the returned `CiphertextBlob`
//! (the root key encrypted under the KMS key: useless without KMS and the key policy); later
//! starts `Decrypt` that blob. The key policy should admit only the enclave image's PCR0
//! (`kms:RecipientAttestation:PCR0`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, EnclaveClient};

/// Largest KMS response body read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Largest stored key blob (a KMS ciphertext blob is ≈ 200 bytes).
const MAX_BLOB_BYTES: u64 = 6 * 1024;

/// Why a KMS call or the unlock exchange failed. Never holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// A setting is missing.
    #[error("KMS configuration: {0}")]
    Config(String),
    /// The request could not be signed.
    #[error("cannot sign the KMS request: {0}")]
    Signing(String),
    /// The HTTP exchange failed.
    #[error("KMS request failed: {0}")]
    Http(String),
    /// KMS answered with an error.
    #[error("KMS refused {operation} ({status}): {kind}: {message}")]
    Refused {
        /// `Decrypt` or `GenerateDataKey`.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// KMS's `__type`.
        kind: String,
        /// KMS's message.
        message: String,
    },
    /// KMS's answer is not what the API promises.
    #[error("unexpected KMS response: {0}")]
    Response(&'static str),
    /// The stored key blob could not be read or written.
    #[error("key blob {}: {kind}", path.display())]
    Blob {
        /// Its path.
        path: PathBuf,
        /// The error kind.
        kind: std::io::ErrorKind,
    },
    /// The enclave refused a step.
    #[error("enclave: {0}")]
    Enclave(#[from] ClientError),
}

/// AWS credentials. `Debug` shows the key id only.
#[derive(Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: zeroize::Zeroizing<String>,
    /// `AWS_SESSION_TOKEN` (temporary credentials, e.g. an instance role's).
    pub session_token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl Credentials {
    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Credentials, KmsError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let missing = |name: &str| KmsError::Config(format!("{name} is not set"));
        Ok(Credentials {
            access_key_id: var("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_access_key: zeroize::Zeroizing::new(
                var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
            ),
            session_token: var("AWS_SESSION_TOKEN").map(zeroize::Zeroizing::new),
        })
    }
}

/// A KMS client for one region.
#[derive(Debug)]
pub struct KmsClient {
    endpoint: String,
    region: String,
    credentials: Credentials,
    http: reqwest::Client,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Recipient {
    attestation_document: String,
    key_encryption_algorithm: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptRequest<'a> {
    ciphertext_blob: String,
    key_id: &'a str,
    recipient: Recipient,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyRequest<'a> {
    key_id: &'a str,
    key_spec: &'static str,
    recipient: Recipient,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KmsReply {
    ciphertext_for_recipient: Option<String>,
    ciphertext_blob: Option<String>,
    /// KMS returns no plaintext when `Recipient` is set; one here means it ignored it.
    plaintext: Option<String>,
}

#[derive(Deserialize)]
struct KmsFault {
    #[serde(rename = "__type")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// A new root key from `GenerateDataKey`.
#[derive(Debug)]
pub struct NewDataKey {
    /// Store this: KMS decrypts it again on the next start.
    pub ciphertext_blob: Vec<u8>,
    /// Hand this to the enclave.
    pub ciphertext_for_recipient: Vec<u8>,
}

impl KmsClient {
    /// A client for `https://kms.{region}.amazonaws.com/`.
    pub fn new(region: &str, credentials: Credentials) -> Result<KmsClient, KmsError> {
        KmsClient::with_endpoint(&format!("https://kms.{region}.amazonaws.com/"), region, credentials)
    }

    /// A client for another endpoint (a VPC endpoint, or a local server in tests).
    pub fn with_endpoint(endpoint: &str, region: &str, credentials: Credentials) -> Result<KmsClient, KmsError> {
        if region.is_empty() {
            return Err(KmsError::Config("the region is empty".into()));
        }
        // reqwest takes the process's rustls provider; the project uses ring (never aws-lc-rs).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| KmsError::Http(e.to_string()))?;
        Ok(KmsClient { endpoint: endpoint.into(), region: region.into(), credentials, http })
    }

    fn recipient(document: &[u8]) -> Recipient {
        Recipient { attestation_document: B64.encode(document), key_encryption_algorithm: "RSAES_OAEP_SHA_256" }
    }

    /// `Decrypt` of a stored blob for the enclave that made `attestation_document`; returns
    /// `CiphertextForRecipient`.
    pub async fn decrypt(&self, key_id: &str, blob: &[u8], attestation_document: &[u8]) -> Result<Vec<u8>, KmsError> {
        let body = DecryptRequest {
            ciphertext_blob: B64.encode(blob),
            key_id,
            recipient: Self::recipient(attestation_document),
        };
        let reply = self.call("Decrypt", &body).await?;
        decode(reply.ciphertext_for_recipient, "no CiphertextForRecipient")
    }

    /// `GenerateDataKey` (AES_256) for the enclave that made `attestation_document`.
    pub async fn generate_data_key(&self, key_id: &str, attestation_document: &[u8]) -> Result<NewDataKey, KmsError> {
        let body =
            GenerateDataKeyRequest { key_id, key_spec: "AES_256", recipient: Self::recipient(attestation_document) };
        let reply = self.call("GenerateDataKey", &body).await?;
        Ok(NewDataKey {
            ciphertext_blob: decode(reply.ciphertext_blob, "no CiphertextBlob")?,
            ciphertext_for_recipient: decode(reply.ciphertext_for_recipient, "no CiphertextForRecipient")?,
        })
    }

    async fn call(&self, operation: &'static str, body: &impl Serialize) -> Result<KmsReply, KmsError> {
        let body = serde_json::to_vec(body).map_err(|e| KmsError::Signing(e.to_string()))?;
        let request = self.signed(operation, body, SystemTime::now())?;
        let request = reqwest::Request::try_from(request).map_err(|e| KmsError::Http(e.to_string()))?;
        let mut response = self.http.execute(request).await.map_err(|e| KmsError::Http(e.to_string()))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| KmsError::Http(e.to_string()))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(KmsError::Response("response over the size bound"));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let fault: KmsFault = serde_json::from_slice(&bytes).unwrap_or(KmsFault { kind: None, message: None });
            return Err(KmsError::Refused {
                operation,
                status: status.as_u16(),
                kind: fault.kind.unwrap_or_default(),
                message: fault.message.unwrap_or_default(),
            });
        }
        let reply: KmsReply = serde_json::from_slice(&bytes).map_err(|_| KmsError::Response("not KMS JSON"))?;
        if reply.plaintext.is_some() {
            return Err(KmsError::Response("KMS returned the plaintext key: the Recipient was not honoured"));
        }
        Ok(reply)
    }

    /// The HTTP request for `operation`, signed with SigV4 at `time`.
    fn signed(&self, operation: &str, body: Vec<u8>, time: SystemTime) -> Result<http::Request<Vec<u8>>, KmsError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let sig = |e: &dyn std::fmt::Display| KmsError::Signing(e.to_string());
        let target = format!("TrentService.{operation}");
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let c = &self.credentials;
        let identity = aws_credential_types::Credentials::new(
            c.access_key_id.as_str(),
            c.secret_access_key.as_str(),
            c.session_token.as_ref().map(|t| t.to_string()),
            None,
            "tssw-enclave",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| sig(&e))?
            .into();
        let signable =
            SignableRequest::new("POST", &self.endpoint, headers.iter().copied(), SignableBody::Bytes(&body))
                .map_err(|e| sig(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| sig(&e))?.into_parts();
        let mut builder = http::Request::builder().method("POST").uri(&self.endpoint);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut request = builder.body(body).map_err(|e| sig(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

fn decode(field: Option<String>, missing: &'static str) -> Result<Vec<u8>, KmsError> {
    let text = field.ok_or(KmsError::Response(missing))?;
    B64.decode(text).map_err(|_| KmsError::Response("a field is not base64"))
}

/// Releases the sealing key to a Nitro enclave: asks it for a recipient document, has KMS
/// decrypt the blob at `blob` for it (or, when there is no blob yet, generate a new key and
/// store its blob there, mode 0600, written atomically), and hands the reply to the enclave.
pub async fn unlock(enclave: &EnclaveClient, kms: &KmsClient, key_id: &str, blob: &Path) -> Result<(), KmsError> {
    let document = enclave.kms_recipient().await?;
    let ciphertext_for_recipient = match read_blob(blob)? {
        Some(stored) => kms.decrypt(key_id, &stored, &document).await?,
        None => {
            let new = kms.generate_data_key(key_id, &document).await?;
            write_blob(blob, &new.ciphertext_blob)?;
            tracing::info!(path = %blob.display(), "generated a new sealing root key with KMS and stored its blob");
            new.ciphertext_for_recipient
        }
    };
    enclave.kms_release(ciphertext_for_recipient).await?;
    Ok(())
}

fn read_blob(path: &Path) -> Result<Option<Vec<u8>>, KmsError> {
    use std::io::Read;
    let err = |e: std::io::Error| KmsError::Blob { path: path.to_owned(), kind: e.kind() };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_BLOB_BYTES + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.is_empty() || bytes.len() as u64 > MAX_BLOB_BYTES {
        return Err(KmsError::Blob { path: path.to_owned(), kind: std::io::ErrorKind::InvalidData });
    }
    Ok(Some(bytes))
}

fn write_blob(path: &Path, bytes: &[u8]) -> Result<(), KmsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| KmsError::Blob { path: path.to_owned(), kind: e.kind() };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(err)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    // A hard link fails rather than replace a blob another host process wrote meanwhile.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(err)
}

#[cfg(test)]
mod tests;
