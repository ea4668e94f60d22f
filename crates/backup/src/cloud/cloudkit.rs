//! iCloud through CloudKit Web Services: one record per blob in the user's *private*
//! database, record type [`RECORD_TYPE`], the envelope in a `Bytes` field `envelope`
//! (base64 in JSON, as CloudKit's `CKValue` documents it; a record holds up to 1 MB, and an
//! envelope at most 512 KiB). Calls, as Apple documents them
//! (`[base]/database/1/[container]/[environment]/private/records/…?ckAPIToken=…&ckWebAuthToken=…`):
//!
//! - put: `records/modify` with one `forceReplace` operation (atomic per record)
//! - get: `records/lookup` `{"records": [{"recordName": …}]}`
//! - delete: `records/modify` with one `forceDelete` operation
//! - list: `records/query` `{"query": {"recordType": …}, "resultsLimit": 200}`, following
//!   `continuationMarker`
//!
//! A per-record failure comes back as `{"recordName", "serverErrorCode", "reason"}`;
//! `NOT_FOUND` maps to [`CloudError::NotFound`], `AUTHENTICATION_REQUIRED` and
//! `AUTHENTICATION_FAILED` to [`CloudError::Unauthorized`]. The record type must exist in the
//! container's schema (create it in CloudKit Dashboard with a `Bytes` field `envelope`).
//! CloudKit may rotate the web auth token; the embedding app owns it and passes the current one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{CloudError, CloudProvider, MAX_BLOB_BYTES, check_name, check_size, http_error};
use crate::client::{http_client, read_body};

/// Where CloudKit Web Services live.
pub const CLOUDKIT_API: &str = "https://api.apple-cloudkit.com";
/// The record type backups are stored as.
pub const RECORD_TYPE: &str = "TsswBackup";
const FIELD: &str = "envelope";
/// Bound on an answer: a record with a base64 envelope and some JSON around it.
const MAX_ANSWER_BYTES: usize = MAX_BLOB_BYTES / 3 * 4 + 64 * 1024;
/// Bound on pages followed in one listing.
const MAX_PAGES: usize = 100;

/// How to reach the container.
#[derive(Clone)]
pub struct CloudKitConfig {
    /// The container id (`iCloud.…`).
    pub container: String,
    /// `development` or `production`.
    pub environment: String,
    /// The app's API token (CloudKit Dashboard).
    pub api_token: Zeroizing<String>,
    /// The signed-in user's web auth token.
    pub web_auth_token: Zeroizing<String>,
    /// [`CLOUDKIT_API`] (tests point it at a local server).
    pub api_base: String,
}

impl std::fmt::Debug for CloudKitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudKitConfig")
            .field("container", &self.container)
            .field("environment", &self.environment)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl CloudKitConfig {
    /// Apple's endpoint for this container, environment and tokens.
    pub fn new(container: &str, environment: &str, api_token: &str, web_auth_token: &str) -> CloudKitConfig {
        CloudKitConfig {
            container: container.into(),
            environment: environment.into(),
            api_token: Zeroizing::new(api_token.into()),
            web_auth_token: Zeroizing::new(web_auth_token.into()),
            api_base: CLOUDKIT_API.into(),
        }
    }
}

/// Blobs as records in the user's private CloudKit database.
#[derive(Clone, Debug)]
pub struct CloudKit {
    http: reqwest::Client,
    config: CloudKitConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Records {
    #[serde(default)]
    records: Vec<Value>,
    continuation_marker: Option<String>,
}

fn record_error(record: &Value, name: &str) -> Option<CloudError> {
    let code = record.get("serverErrorCode")?.as_str().unwrap_or("UNKNOWN");
    let reason = record.get("reason").and_then(Value::as_str).unwrap_or_default();
    Some(match code {
        "NOT_FOUND" => CloudError::NotFound(name.into()),
        "AUTHENTICATION_REQUIRED" | "AUTHENTICATION_FAILED" => CloudError::Unauthorized(reason.into()),
        _ => CloudError::Provider(format!("CloudKit {code}: {reason}")),
    })
}

impl CloudKit {
    /// A provider with this configuration.
    pub fn new(config: CloudKitConfig) -> Result<CloudKit, CloudError> {
        let segment_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !segment_ok(&config.container) || !matches!(config.environment.as_str(), "development" | "production") {
            return Err(CloudError::Provider(
                "CloudKit container must be an id like iCloud.com.example.app and environment development or production"
                    .into(),
            ));
        }
        Ok(CloudKit { http: http_client().map_err(CloudError::Provider)?, config })
    }

    async fn call(&self, operation: &str, body: &Value) -> Result<Records, CloudError> {
        let url = format!(
            "{}/database/1/{}/{}/private/records/{operation}",
            self.config.api_base.trim_end_matches('/'),
            self.config.container,
            self.config.environment
        );
        let response = self
            .http
            .post(url)
            .query(&[
                ("ckAPIToken", self.config.api_token.as_str()),
                ("ckWebAuthToken", self.config.web_auth_token.as_str()),
            ])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| CloudError::Provider(format!("cannot reach CloudKit: {e}")))?;
        let status = response.status().as_u16();
        let bytes = read_body(response, MAX_ANSWER_BYTES).await.map_err(CloudError::Provider)?;
        if status != 200 {
            // Request-level errors carry the same serverErrorCode shape.
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            if let Some(e @ CloudError::Unauthorized(_)) = parsed.as_ref().and_then(|v| record_error(v, "")) {
                return Err(e);
            }
            return Err(http_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| CloudError::Provider(format!("CloudKit answer: {e}")))
    }

    fn single<'a>(records: &'a Records, name: &str) -> Result<&'a Value, CloudError> {
        let record =
            records.records.first().ok_or_else(|| CloudError::Provider("CloudKit answered no record".into()))?;
        if let Some(e) = record_error(record, name) {
            return Err(e);
        }
        Ok(record)
    }
}

impl CloudProvider for CloudKit {
    async fn put(&self, name: &str, blob: &[u8]) -> Result<(), CloudError> {
        check_name(name)?;
        check_size(blob.len())?;
        let body = json!({"operations": [{
            "operationType": "forceReplace",
            "record": {
                "recordName": name,
                "recordType": RECORD_TYPE,
                "fields": {FIELD: {"value": STANDARD.encode(blob), "type": "BYTES"}},
            },
        }]});
        let records = self.call("modify", &body).await?;
        CloudKit::single(&records, name).map(|_| ())
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, CloudError> {
        check_name(name)?;
        let records = self.call("lookup", &json!({"records": [{"recordName": name}]})).await?;
        let record = CloudKit::single(&records, name)?;
        let value = record
            .pointer(&format!("/fields/{FIELD}/value"))
            .and_then(Value::as_str)
            .ok_or_else(|| CloudError::Provider(format!("CloudKit record {name} has no {FIELD} field")))?;
        if value.len() > MAX_ANSWER_BYTES {
            return Err(CloudError::TooLarge { len: value.len() / 4 * 3, max: MAX_BLOB_BYTES });
        }
        let bytes =
            STANDARD.decode(value).map_err(|_| CloudError::Provider(format!("CloudKit record {name}: bad base64")))?;
        check_size(bytes.len())?;
        Ok(bytes)
    }

    async fn delete(&self, name: &str) -> Result<(), CloudError> {
        check_name(name)?;
        let body = json!({"operations": [{"operationType": "forceDelete", "record": {"recordName": name}}]});
        let records = self.call("modify", &body).await?;
        CloudKit::single(&records, name).map(|_| ())
    }

    async fn list(&self) -> Result<Vec<String>, CloudError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({"query": {"recordType": RECORD_TYPE}, "resultsLimit": 200});
            if let Some(m) = marker.take() {
                body["continuationMarker"] = Value::String(m);
            }
            let records = self.call("query", &body).await?;
            names.extend(
                records
                    .records
                    .iter()
                    .filter_map(|r| r.get("recordName").and_then(Value::as_str))
                    .filter(|n| check_name(n).is_ok())
                    .map(str::to_string),
            );
            match records.continuation_marker {
                Some(m) => marker = Some(m),
                None => {
                    names.sort();
                    names.dedup();
                    return Ok(names);
                }
            }
        }
        Err(CloudError::Provider(format!("CloudKit listing longer than {MAX_PAGES} pages")))
    }
}
