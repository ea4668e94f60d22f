//! The KMS client against a local HTTP server that checks each request's shape the way KMS
//! does (target, content type, SigV4 authorization, Recipient) and answers as KMS would, with
//! a CiphertextForRecipient built for the attested public key; then the whole unlock exchange
//! with an in-process Nitro enclave on a test NSM, across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tssw_api::attest::nitro::verify_nitro_document;

use super::*;
use crate::backend::nitro::tests::{T0, TestNsm};
use crate::backend::nitro::{KMS_RECIPIENT_TAG, NitroBackend};
use crate::enclave::{Enclave, Limits};

const KEY_ID: &str = "arn:aws:kms:us-east-1:111122223333:key/test";
const ROOT: [u8; 32] = [0x77; 32];

#[derive(Default)]
struct Seen {
    targets: Vec<String>,
    problems: Vec<String>,
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: zeroize::Zeroizing::new("secret/test".into()),
        session_token: Some(zeroize::Zeroizing::new("session-token".into())),
    }
}

/// What the fake KMS checks in every request; problems are recorded, and answered 400.
fn check(headers: &HeaderMap, body: &[u8], root_cert: &[u8]) -> Result<(String, serde_json::Value, Vec<u8>), String> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if h("content-type") != "application/x-amz-json-1.1" {
        return Err(format!("content-type {:?}", h("content-type")));
    }
    let target = h("x-amz-target");
    let auth = h("authorization");
    let date = h("x-amz-date");
    let day = date.get(..8).unwrap_or_default();
    let prefix = format!("AWS4-HMAC-SHA256 Credential=AKIDTEST/{day}/us-east-1/kms/aws4_request, SignedHeaders=");
    let Some(rest) = auth.strip_prefix(&prefix) else { return Err(format!("authorization {auth:?}")) };
    let (signed, signature) = rest.split_once(", Signature=").ok_or("no signature")?;
    for needed in ["content-type", "host", "x-amz-date", "x-amz-target", "x-amz-security-token"] {
        if !signed.split(';').any(|s| s == needed) {
            return Err(format!("{needed} not signed ({signed})"));
        }
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("signature {signature:?}"));
    }
    if h("x-amz-security-token") != "session-token" || date.len() != 16 {
        return Err("security token or date".into());
    }
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if json["KeyId"] != KEY_ID || json["Recipient"]["KeyEncryptionAlgorithm"] != "RSAES_OAEP_SHA_256" {
        return Err(format!("body {json}"));
    }
    let document =
        B64.decode(json["Recipient"]["AttestationDocument"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
    // KMS verifies the document and encrypts to its public key.
    let stated = verify_nitro_document(&document, root_cert, T0).map_err(|e| e.to_string())?;
    if !stated.user_data.unwrap_or_default().starts_with(KMS_RECIPIENT_TAG) {
        return Err("not a recipient document".into());
    }
    let public = stated.public_key.ok_or("no public key")?;
    Ok((target, json, public))
}

/// A KMS stand-in on a loopback port: GenerateDataKey hands out [`ROOT`] with a blob naming it,
/// Decrypt accepts only that blob.
async fn fake_kms(root_cert: Vec<u8>) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let seen = state.clone();
        let root_cert = root_cert.clone();
        async move {
            let fault = |kind: &str, message: String| {
                let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
                (StatusCode::BAD_REQUEST, body)
            };
            let (target, json, public) = match check(&headers, &body, &root_cert) {
                Ok(ok) => ok,
                Err(problem) => {
                    seen.lock().unwrap().problems.push(problem.clone());
                    return fault("ValidationException", problem);
                }
            };
            seen.lock().unwrap().targets.push(target.clone());
            let for_recipient = B64.encode(crate::backend::nitro::recipient::tests::envelope(&public, &ROOT).ber());
            let reply = match target.as_str() {
                "TrentService.GenerateDataKey" if json["KeySpec"] == "AES_256" => serde_json::json!({
                    "KeyId": KEY_ID,
                    "CiphertextBlob": B64.encode(b"blob-of-the-root"),
                    "CiphertextForRecipient": for_recipient,
                }),
                "TrentService.Decrypt" if json["CiphertextBlob"] == B64.encode(b"blob-of-the-root") => {
                    serde_json::json!({
                        "KeyId": KEY_ID,
                        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                        "CiphertextForRecipient": for_recipient,
                    })
                }
                "TrentService.Decrypt" => return fault("InvalidCiphertextException", "unknown blob".into()),
                other => return fault("UnknownOperationException", other.into()),
            };
            (StatusCode::OK, reply.to_string())
        }
    };
    let app = axum::Router::new().route("/", post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn nitro_enclave(dir: &Path, name: &str) -> (EnclaveClient, Arc<Enclave>) {
    let backend = NitroBackend::with_nsm(Box::new(TestNsm::new())).unwrap();
    let enclave = Arc::new(Enclave::new(Box::new(backend), Limits::default()));
    let socket = dir.join(name);
    let listener = crate::bind(&socket).await.unwrap();
    tokio::spawn(crate::serve(listener, enclave.clone(), std::future::pending()));
    (EnclaveClient::new(&socket), enclave)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_generates_then_decrypts_across_a_restart() {
    let dir = crate::backend::dev::temp_dir("kms").unwrap();
    let (url, seen) = fake_kms(TestNsm::new().pki.root.clone()).await;
    let kms = KmsClient::with_endpoint(&url, "us-east-1", creds()).unwrap();
    let blob = dir.join("sealing-root.kms");

    let (client, enclave) = nitro_enclave(&dir, "a.sock").await;
    assert!(!client.health().await.unwrap().unlocked);
    unlock(&client, &kms, KEY_ID, &blob).await.unwrap();
    assert!(client.health().await.unwrap().unlocked);
    assert_eq!(std::fs::read(&blob).unwrap(), b"blob-of-the-root");
    assert_eq!(std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&blob).unwrap()) & 0o777, 0o600);
    let share = tssw_protocol::testing::dkg(tssw_protocol::Scheme::Ed25519, 2, 2).unwrap().remove(0);
    let wallet = tssw_api::WalletId::new("wallet-kms").unwrap();
    let sealed = enclave.sealer().unwrap().seal(&wallet, &share).unwrap();

    // A restarted enclave (new recipient key) gets the same root through Decrypt.
    let (client, enclave) = nitro_enclave(&dir, "b.sock").await;
    unlock(&client, &kms, KEY_ID, &blob).await.unwrap();
    assert!(enclave.sealer().unwrap().open(&sealed, &wallet, 1).is_ok());
    // Once unlocked, another release is refused.
    let again = unlock(&client, &kms, KEY_ID, &blob).await.unwrap_err();
    assert!(matches!(&again, KmsError::Enclave(e) if e.code() == Some(crate::ErrorCode::BadRequest)), "{again}");

    let seen = seen.lock().unwrap();
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(seen.targets, ["TrentService.GenerateDataKey", "TrentService.Decrypt", "TrentService.Decrypt"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_refusals_and_bad_requests_are_typed() {
    let dir = crate::backend::dev::temp_dir("kms-refused").unwrap();
    let (url, seen) = fake_kms(TestNsm::new().pki.root.clone()).await;
    let kms = KmsClient::with_endpoint(&url, "us-east-1", creds()).unwrap();
    let (client, enclave) = nitro_enclave(&dir, "c.sock").await;
    let document = client.kms_recipient().await.unwrap();
    let e = kms.decrypt(KEY_ID, b"some other blob", &document).await.unwrap_err();
    assert!(
        matches!(&e, KmsError::Refused { operation: "Decrypt", status: 400, kind, .. } if kind == "InvalidCiphertextException"),
        "{e}"
    );
    // A document that is not a recipient document (no public key): the fake KMS refuses, as KMS does.
    let identity_doc = client.attest([1; 32]).await.unwrap();
    assert!(matches!(kms.generate_data_key(KEY_ID, &identity_doc).await, Err(KmsError::Refused { .. })));
    assert_eq!(seen.lock().unwrap().problems, ["not a recipient document"]);
    // A stored blob that is empty is refused before any call.
    let blob = dir.join("empty.kms");
    std::fs::write(&blob, b"").unwrap();
    assert!(matches!(unlock(&client, &kms, KEY_ID, &blob).await, Err(KmsError::Blob { .. })));
    assert!(!enclave.unlocked());
    // No server at all.
    let nowhere = KmsClient::with_endpoint("http://127.0.0.1:9/", "us-east-1", creds()).unwrap();
    assert!(matches!(nowhere.decrypt(KEY_ID, b"x", &document).await, Err(KmsError::Http(_))));
    assert!(matches!(KmsClient::with_endpoint(&url, "", creds()), Err(KmsError::Config(_))));
    assert!(!format!("{:?}", creds()).contains("secret"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn signed_request_shape() {
    let kms = KmsClient::with_endpoint("https://kms.eu-west-1.amazonaws.com/", "eu-west-1", creds()).unwrap();
    // 2024-01-02T03:04:05Z
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645);
    let request = kms.signed("Decrypt", b"{}".to_vec(), time).unwrap();
    let h = |n: &str| request.headers().get(n).unwrap().to_str().unwrap().to_string();
    assert_eq!(request.method(), "POST");
    assert_eq!(h("x-amz-target"), "TrentService.Decrypt");
    assert_eq!(h("x-amz-date"), "20240102T030405Z");
    assert!(h("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/eu-west-1/kms/aws4_request"));
    // Deterministic for the same input, and the body is covered by the signature.
    let again = kms.signed("Decrypt", b"{}".to_vec(), time).unwrap();
    assert_eq!(again.headers().get("authorization"), request.headers().get("authorization"));
    let other = kms.signed("Decrypt", b"{ }".to_vec(), time).unwrap();
    assert_ne!(other.headers().get("authorization"), request.headers().get("authorization"));
}
