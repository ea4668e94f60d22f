//! Google Drive v3 REST, in the app's hidden `appDataFolder` (OAuth scope
//! `https://www.googleapis.com/auth/drive.appdata`; the embedding app obtains and refreshes
//! the access token). Calls, as Google documents them:
//!
//! - list / find: `GET /drive/v3/files?spaces=appDataFolder&q=…&fields=nextPageToken,files(id,name)&pageSize=100[&pageToken=…]`
//! - create: `POST /upload/drive/v3/files?uploadType=multipart&fields=id`, body
//!   `multipart/related` with the JSON metadata `{"name", "parents": ["appDataFolder"]}`
//!   then the bytes (`application/octet-stream`)
//! - replace: `PATCH /upload/drive/v3/files/{id}?uploadType=media` (a new revision of the
//!   same file: readers see the old bytes or the new, never a mix)
//! - download: `GET /drive/v3/files/{id}?alt=media`
//! - delete: `DELETE /drive/v3/files/{id}`
//!
//! Every call sends `Authorization: Bearer <token>`.

use rand_core::RngCore;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{CloudError, CloudProvider, MAX_BLOB_BYTES, check_name, check_size, http_error};
use crate::client::{http_client, read_body};

/// Where Google's API lives.
pub const GOOGLE_API: &str = "https://www.googleapis.com";
/// The app data folder's alias.
const APP_DATA: &str = "appDataFolder";
/// Bound on a listing page's JSON.
const MAX_LISTING_BYTES: usize = 1 << 20;
/// Bound on pages followed in one listing.
const MAX_PAGES: usize = 100;

/// How to reach Drive.
#[derive(Clone)]
pub struct GoogleDriveConfig {
    /// An OAuth 2.0 access token with the `drive.appdata` scope.
    pub access_token: Zeroizing<String>,
    /// [`GOOGLE_API`] (tests point it at a local server).
    pub api_base: String,
}

impl std::fmt::Debug for GoogleDriveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleDriveConfig").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl GoogleDriveConfig {
    /// Google's API with this access token.
    pub fn new(access_token: &str) -> GoogleDriveConfig {
        GoogleDriveConfig { access_token: Zeroizing::new(access_token.into()), api_base: GOOGLE_API.into() }
    }
}

/// Blobs as files in the app's Drive `appDataFolder`.
#[derive(Clone, Debug)]
pub struct GoogleDrive {
    http: reqwest::Client,
    config: GoogleDriveConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileList {
    #[serde(default)]
    files: Vec<File>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct File {
    id: String,
    name: String,
}

fn net(e: reqwest::Error) -> CloudError {
    CloudError::Provider(format!("cannot reach Google Drive: {e}"))
}

impl GoogleDrive {
    /// A provider with this configuration.
    pub fn new(config: GoogleDriveConfig) -> Result<GoogleDrive, CloudError> {
        Ok(GoogleDrive { http: http_client().map_err(CloudError::Provider)?, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    async fn files(&self, query: &str) -> Result<Vec<File>, CloudError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = vec![
                ("spaces", APP_DATA.to_string()),
                ("q", query.to_string()),
                ("fields", "nextPageToken,files(id,name)".to_string()),
                ("pageSize", "100".to_string()),
            ];
            if let Some(token) = page.take() {
                params.push(("pageToken", token));
            }
            let response = self
                .http
                .get(self.url("/drive/v3/files"))
                .bearer_auth(self.config.access_token.as_str())
                .query(&params)
                .send()
                .await
                .map_err(net)?;
            let status = response.status().as_u16();
            let body = read_body(response, MAX_LISTING_BYTES).await.map_err(CloudError::Provider)?;
            if status != 200 {
                return Err(http_error(status, &body));
            }
            let list: FileList =
                serde_json::from_slice(&body).map_err(|e| CloudError::Provider(format!("Drive file list: {e}")))?;
            out.extend(list.files);
            match list.next_page_token {
                Some(token) => page = Some(token),
                None => return Ok(out),
            }
        }
        Err(CloudError::Provider(format!("Drive listing longer than {MAX_PAGES} pages")))
    }

    async fn find(&self, name: &str) -> Result<Option<String>, CloudError> {
        // `name` passed check_name: no quote or backslash to escape in the literal.
        let files = self.files(&format!("name = '{name}' and trashed = false")).await?;
        Ok(files.into_iter().find(|f| f.name == name).map(|f| f.id))
    }

    fn file_url(&self, id: &str) -> Result<String, CloudError> {
        // Drive ids are URL-safe; refuse anything else rather than build an odd path.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(CloudError::Provider("Drive returned a malformed file id".into()));
        }
        Ok(self.url(&format!("/drive/v3/files/{id}")))
    }
}

/// A `multipart/related` body: JSON metadata, then the bytes. The boundary is random and
/// checked not to occur in the data.
fn multipart(metadata: &serde_json::Value, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = loop {
        let mut r = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut r);
        let b = format!("tssw-{}", hex::encode(r));
        if !data.windows(b.len()).any(|w| w == b.as_bytes()) {
            break b;
        }
    };
    let mut body = Vec::with_capacity(data.len() + 512);
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n").as_bytes());
    body.extend_from_slice(metadata.to_string().as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

impl CloudProvider for GoogleDrive {
    async fn put(&self, name: &str, blob: &[u8]) -> Result<(), CloudError> {
        check_name(name)?;
        check_size(blob.len())?;
        let token = self.config.access_token.as_str();
        let response = match self.find(name).await? {
            Some(id) => {
                self.file_url(&id)?;
                self.http
                    .patch(self.url(&format!("/upload/drive/v3/files/{id}")))
                    .query(&[("uploadType", "media")])
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(blob.to_vec())
                    .send()
                    .await
            }
            None => {
                let (boundary, body) = multipart(&serde_json::json!({"name": name, "parents": [APP_DATA]}), blob);
                self.http
                    .post(self.url("/upload/drive/v3/files"))
                    .query(&[("uploadType", "multipart"), ("fields", "id")])
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, format!("multipart/related; boundary={boundary}"))
                    .body(body)
                    .send()
                    .await
            }
        }
        .map_err(net)?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_LISTING_BYTES).await.map_err(CloudError::Provider)?;
        if status != 200 {
            return Err(http_error(status, &body));
        }
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, CloudError> {
        check_name(name)?;
        let id = self.find(name).await?.ok_or_else(|| CloudError::NotFound(name.into()))?;
        let response = self
            .http
            .get(self.file_url(&id)?)
            .query(&[("alt", "media")])
            .bearer_auth(self.config.access_token.as_str())
            .send()
            .await
            .map_err(net)?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_BLOB_BYTES).await.map_err(CloudError::Provider)?;
        match status {
            200 => Ok(body),
            404 => Err(CloudError::NotFound(name.into())),
            _ => Err(http_error(status, &body)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), CloudError> {
        check_name(name)?;
        let id = self.find(name).await?.ok_or_else(|| CloudError::NotFound(name.into()))?;
        let response = self
            .http
            .delete(self.file_url(&id)?)
            .bearer_auth(self.config.access_token.as_str())
            .send()
            .await
            .map_err(net)?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_LISTING_BYTES).await.map_err(CloudError::Provider)?;
        match status {
            200 | 204 => Ok(()),
            404 => Err(CloudError::NotFound(name.into())),
            _ => Err(http_error(status, &body)),
        }
    }

    async fn list(&self) -> Result<Vec<String>, CloudError> {
        let mut names: Vec<String> = self
            .files("trashed = false")
            .await?
            .into_iter()
            .map(|f| f.name)
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
