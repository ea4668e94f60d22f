//! Cloud providers against local HTTP servers that implement the endpoints as Google and
//! Apple document them, checking each request's shape (method, path, query, headers,
//! multipart framing, JSON operations) and refusing anything else; plus the file provider
//! and the independent-recovery path (device share + cloud share sign without the service).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tssw_backup::cloud::{
    CloudError, CloudKit, CloudKitConfig, CloudProvider, FileProvider, GoogleDrive, GoogleDriveConfig, MAX_BLOB_BYTES,
};
use tssw_backup::{RecoveryCode, RecoverySecret, WalletId, WalletMeta, recovery};
use tssw_protocol::{Scheme, SignRequest};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The same contract for every provider: put, replace, get, list (several pages), delete,
/// and refusals.
async fn contract(p: &impl CloudProvider) {
    let blob = |i: u8| vec![i; 1000 + usize::from(i)];
    for (i, name) in ["c.tssw", "a.tssw", "b.tssw", "d.tssw", "e.tssw"].iter().enumerate() {
        p.put(name, &blob(i as u8)).await.unwrap();
    }
    assert_eq!(p.get("a.tssw").await.unwrap(), blob(1));
    p.put("a.tssw", b"replaced").await.unwrap();
    assert_eq!(p.get("a.tssw").await.unwrap(), b"replaced");
    assert_eq!(p.list().await.unwrap(), ["a.tssw", "b.tssw", "c.tssw", "d.tssw", "e.tssw"]);
    p.delete("b.tssw").await.unwrap();
    assert!(matches!(p.get("b.tssw").await, Err(CloudError::NotFound(_))));
    assert!(matches!(p.delete("b.tssw").await, Err(CloudError::NotFound(_))));
    assert_eq!(p.list().await.unwrap(), ["a.tssw", "c.tssw", "d.tssw", "e.tssw"]);
    assert!(matches!(p.put("../x", b"x").await, Err(CloudError::BadName)));
    assert!(matches!(p.get("a'b").await, Err(CloudError::BadName)));
    assert!(matches!(p.put("big", &vec![0; MAX_BLOB_BYTES + 1]).await, Err(CloudError::TooLarge { .. })));
    // The largest envelope goes through.
    p.put("max", &vec![7; MAX_BLOB_BYTES]).await.unwrap();
    assert_eq!(p.get("max").await.unwrap().len(), MAX_BLOB_BYTES);
}

// ---------------------------------------------------------------- Google Drive v3

const DRIVE_TOKEN: &str = "ya29.drive-test-token";

#[derive(Default)]
struct Drive {
    files: Mutex<BTreeMap<String, (String, Vec<u8>)>>,
    next_id: Mutex<u32>,
    log: Mutex<Vec<String>>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {DRIVE_TOKEN}"))
}

fn drive_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": status.as_u16(), "message": message}}))).into_response()
}

async fn drive_list(
    State(d): State<Arc<Drive>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return drive_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
    }
    if q.get("spaces").map(String::as_str) != Some("appDataFolder")
        || q.get("fields").map(String::as_str) != Some("nextPageToken,files(id,name)")
    {
        return drive_error(StatusCode::BAD_REQUEST, "expected spaces=appDataFolder and the fields mask");
    }
    let query = q.get("q").cloned().unwrap_or_default();
    let wanted = if query == "trashed = false" {
        None
    } else if let Some(rest) = query.strip_prefix("name = '").and_then(|r| r.strip_suffix("' and trashed = false")) {
        Some(rest.to_string())
    } else {
        return drive_error(StatusCode::BAD_REQUEST, &format!("unsupported q {query}"));
    };
    let files: Vec<(String, String)> = d
        .files
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, (name, _))| wanted.as_ref().is_none_or(|w| w == name))
        .map(|(id, (name, _))| (id.clone(), name.clone()))
        .collect();
    // Two per page, whatever pageSize asks: clients must follow nextPageToken.
    let start: usize = q.get("pageToken").map_or(0, |t| t.parse().unwrap());
    let page: Vec<Value> = files.iter().skip(start).take(2).map(|(id, name)| json!({"id": id, "name": name})).collect();
    let mut answer = json!({"files": page});
    if start + 2 < files.len() {
        answer["nextPageToken"] = Value::String((start + 2).to_string());
    }
    d.log.lock().unwrap().push("list".into());
    axum::Json(answer).into_response()
}

/// Parses `multipart/related` exactly as Drive's multipart upload documents it.
fn parse_related(content_type: &str, body: &[u8]) -> Option<(Value, Vec<u8>)> {
    let boundary = content_type.strip_prefix("multipart/related; boundary=")?;
    let head = format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n");
    let rest = body.strip_prefix(head.as_bytes())?;
    let mid = format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n");
    let split = rest.windows(mid.len()).position(|w| w == mid.as_bytes())?;
    let metadata: Value = serde_json::from_slice(&rest[..split]).ok()?;
    let data = rest[split + mid.len()..].strip_suffix(format!("\r\n--{boundary}--\r\n").as_bytes())?;
    Some((metadata, data.to_vec()))
}

async fn drive_create(
    State(d): State<Arc<Drive>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        return drive_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
    }
    if q.get("uploadType").map(String::as_str) != Some("multipart") {
        return drive_error(StatusCode::BAD_REQUEST, "uploadType must be multipart");
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some((metadata, data)) = parse_related(content_type, &body) else {
        return drive_error(StatusCode::BAD_REQUEST, "malformed multipart/related body");
    };
    if metadata["parents"] != json!(["appDataFolder"]) || !metadata["name"].is_string() {
        return drive_error(StatusCode::BAD_REQUEST, "expected name and parents [appDataFolder]");
    }
    let id = {
        let mut n = d.next_id.lock().unwrap();
        *n += 1;
        format!("1Abc_{n}-x")
    };
    d.files.lock().unwrap().insert(id.clone(), (metadata["name"].as_str().unwrap().to_string(), data));
    d.log.lock().unwrap().push("create".into());
    axum::Json(json!({"id": id})).into_response()
}

async fn drive_update(
    State(d): State<Arc<Drive>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        return drive_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
    }
    if q.get("uploadType").map(String::as_str) != Some("media")
        || headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/octet-stream")
    {
        return drive_error(StatusCode::BAD_REQUEST, "expected a media upload");
    }
    let mut files = d.files.lock().unwrap();
    let Some(file) = files.get_mut(&id) else { return drive_error(StatusCode::NOT_FOUND, "File not found") };
    file.1 = body.to_vec();
    d.log.lock().unwrap().push("update".into());
    axum::Json(json!({"id": id})).into_response()
}

async fn drive_file(
    State(d): State<Arc<Drive>>,
    method: axum::http::Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return drive_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
    }
    let mut files = d.files.lock().unwrap();
    if method == axum::http::Method::DELETE {
        return match files.remove(&id) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => drive_error(StatusCode::NOT_FOUND, "File not found"),
        };
    }
    if q.get("alt").map(String::as_str) != Some("media") {
        return drive_error(StatusCode::BAD_REQUEST, "download needs alt=media");
    }
    match files.get(&id) {
        Some((_, data)) => ([("content-type", "application/octet-stream")], data.clone()).into_response(),
        None => drive_error(StatusCode::NOT_FOUND, "File not found"),
    }
}

async fn drive_server() -> (String, Arc<Drive>) {
    let d = Arc::new(Drive::default());
    let app = Router::new()
        .route("/drive/v3/files", get(drive_list))
        .route("/drive/v3/files/{id}", get(drive_file).delete(drive_file))
        .route("/upload/drive/v3/files", post(drive_create))
        .route("/upload/drive/v3/files/{id}", axum::routing::patch(drive_update))
        .layer(axum::extract::DefaultBodyLimit::max(2 * MAX_BLOB_BYTES))
        .with_state(d.clone());
    (serve(app).await, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_drive_provider_speaks_drive_v3() {
    let (url, drive) = drive_server().await;
    let mut config = GoogleDriveConfig::new(DRIVE_TOKEN);
    config.api_base = url.clone();
    let provider = GoogleDrive::new(config).unwrap();
    contract(&provider).await;
    // A second put of a name updates the file in place (a new revision), never a duplicate.
    let log = drive.log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| *l == "create").count(), 6);
    assert_eq!(log.iter().filter(|l| *l == "update").count(), 1);
    assert_eq!(drive.files.lock().unwrap().len(), 5);
    // An expired token is a typed error.
    let mut bad = GoogleDriveConfig::new("expired");
    bad.api_base = url;
    assert!(matches!(GoogleDrive::new(bad).unwrap().get("a.tssw").await, Err(CloudError::Unauthorized(_))));
}

// ---------------------------------------------------------------- CloudKit Web Services

const CK_API: &str = "ck-api-token";
const CK_USER: &str = "ck-web-auth-token";
const CONTAINER: &str = "iCloud.org.tssw.test";

#[derive(Default)]
struct Kit {
    records: Mutex<BTreeMap<String, Value>>,
}

fn ck_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"uuid": "test", "serverErrorCode": code, "reason": code}))).into_response()
}

async fn cloudkit(
    State(k): State<Arc<Kit>>,
    Path((container, environment, database, operation)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if q.get("ckAPIToken").map(String::as_str) != Some(CK_API) {
        return ck_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_FAILED");
    }
    if q.get("ckWebAuthToken").map(String::as_str) != Some(CK_USER) {
        return ck_error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED");
    }
    if container != CONTAINER || environment != "development" || database != "private" {
        return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    };
    let mut records = k.records.lock().unwrap();
    let not_found =
        |name: &Value| json!({"recordName": name, "serverErrorCode": "NOT_FOUND", "reason": "Record not found"});
    let answer = match operation.as_str() {
        "modify" => {
            let Some([op]) = request["operations"].as_array().map(Vec::as_slice) else {
                return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
            };
            let record = &op["record"];
            let name = record["recordName"].as_str().unwrap_or_default().to_string();
            match op["operationType"].as_str() {
                Some("forceReplace") => {
                    let field = &record["fields"]["envelope"];
                    let ok = record["recordType"] == "TsswBackup"
                        && field["type"] == "BYTES"
                        && field["value"].as_str().is_some_and(|v| STANDARD.decode(v).is_ok());
                    if !ok {
                        return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
                    }
                    let mut stored = record.clone();
                    stored["recordChangeTag"] = json!("tag-1");
                    records.insert(name, stored.clone());
                    json!({"records": [stored]})
                }
                Some("forceDelete") => match records.remove(&name) {
                    Some(_) => json!({"records": [{"recordName": name, "deleted": true}]}),
                    None => json!({"records": [not_found(&record["recordName"])]}),
                },
                _ => return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            }
        }
        "lookup" => {
            let name = &request["records"][0]["recordName"];
            match records.get(name.as_str().unwrap_or_default()) {
                Some(r) => json!({"records": [r]}),
                None => json!({"records": [not_found(name)]}),
            }
        }
        "query" => {
            if request["query"]["recordType"] != "TsswBackup" {
                return ck_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
            }
            let start: usize = request["continuationMarker"].as_str().map_or(0, |m| m.parse().unwrap());
            let all: Vec<&Value> = records.values().collect();
            let page: Vec<&Value> = all.iter().skip(start).take(2).copied().collect();
            let mut answer = json!({"records": page});
            if start + 2 < all.len() {
                answer["continuationMarker"] = json!((start + 2).to_string());
            }
            answer
        }
        _ => return ck_error(StatusCode::NOT_FOUND, "NOT_FOUND"),
    };
    axum::Json(answer).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudkit_provider_speaks_cloudkit_web_services() {
    let kit = Arc::new(Kit::default());
    let app = Router::new()
        .route("/database/1/{container}/{environment}/{database}/records/{operation}", post(cloudkit))
        .layer(axum::extract::DefaultBodyLimit::max(2 * MAX_BLOB_BYTES))
        .with_state(kit.clone());
    let url = serve(app).await;
    let config = |user: &str| {
        let mut c = CloudKitConfig::new(CONTAINER, "development", CK_API, user);
        c.api_base = url.clone();
        c
    };
    let provider = CloudKit::new(config(CK_USER)).unwrap();
    contract(&provider).await;
    assert_eq!(kit.records.lock().unwrap().len(), 5);
    assert!(matches!(CloudKit::new(config("stale")).unwrap().list().await, Err(CloudError::Unauthorized(_))));
    assert!(CloudKit::new(CloudKitConfig::new("iCloud/../x", "development", CK_API, CK_USER)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_provider_is_atomic_private_and_bounded() {
    use std::os::unix::fs::MetadataExt;
    let dir = common::temp_dir("files");
    let provider = FileProvider::new(&dir).unwrap();
    contract(&provider).await;
    assert_eq!(std::fs::metadata(dir.join("a.tssw")).unwrap().mode() & 0o777, 0o600);
    // No temporary file is left behind, and strangers in the directory are not listed.
    std::fs::write(dir.join(".tmp-stale"), b"x").unwrap();
    assert!(!provider.list().await.unwrap().iter().any(|n| n.starts_with('.')));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_share_signs_with_the_device_share_without_the_service() {
    // A 2-of-3 wallet: share 1 on the device, 3 in the cloud under a recovery code.
    let shares = tssw_protocol::testing::dkg(Scheme::Ed25519, 2, 3).unwrap();
    let wallet = WalletId::new("w-2of3").unwrap();
    let cloud_meta = WalletMeta::of_share(wallet.clone(), &shares[2]).unwrap();
    let code = RecoveryCode::generate();
    let written_down = code.display().to_string();
    let blob = recovery::seal(&shares[2], &cloud_meta, &RecoverySecret::Code(code)).unwrap();
    let dir = common::temp_dir("cloud-share");
    let cloud = FileProvider::new(&dir).unwrap();
    cloud.put("w-2of3.share3", &blob).await.unwrap();

    // Later: the user types the code; no EPS, no server.
    let typed = RecoverySecret::Code(RecoveryCode::parse(&written_down).unwrap());
    let restored = recovery::open(&cloud.get("w-2of3.share3").await.unwrap(), &cloud_meta, &typed).unwrap();
    let request = SignRequest::Ed25519 { message: b"independent recovery".to_vec() };
    let signature = tssw_protocol::testing::sign(&[&shares[0], &restored], &request).unwrap();
    tssw_verify::verify(&shares[0].public_key(), &request, &signature).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
