//! A directory as a provider: export to / import from a path (a USB stick, a synced
//! folder). Writes are atomic: a private temporary file in the same directory, fsync,
//! rename over the old name, fsync the directory — a crash leaves the old blob or the new
//! one, never half of either. Files are created 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rand_core::RngCore;

use super::{CloudError, CloudProvider, MAX_BLOB_BYTES, check_name, check_size};

/// Blobs are files in one directory.
#[derive(Clone, Debug)]
pub struct FileProvider {
    dir: PathBuf,
}

impl FileProvider {
    /// Blobs in `dir` (created 0700 if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileProvider, CloudError> {
        let dir = dir.into();
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&dir)
            .map_err(|e| CloudError::Io(format!("cannot create {}: {e}", dir.display())))?;
        Ok(FileProvider { dir })
    }
}

const TMP_PREFIX: &str = ".tmp-";

impl CloudProvider for FileProvider {
    async fn put(&self, name: &str, blob: &[u8]) -> Result<(), CloudError> {
        check_name(name)?;
        check_size(blob.len())?;
        let (dir, name, blob) = (self.dir.clone(), name.to_string(), blob.to_vec());
        tokio::task::spawn_blocking(move || {
            let mut suffix = [0u8; 8];
            rand_core::OsRng.fill_bytes(&mut suffix);
            let tmp = dir.join(format!("{TMP_PREFIX}{}-{name}", hex::encode(suffix)));
            let io = |what: &str, e: std::io::Error| CloudError::Io(format!("{what} {}: {e}", tmp.display()));
            let result = (|| {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(|e| io("creating", e))?;
                file.write_all(&blob).map_err(|e| io("writing", e))?;
                file.sync_all().map_err(|e| io("syncing", e))?;
                std::fs::rename(&tmp, dir.join(&name)).map_err(|e| io("renaming", e))?;
                // The rename is durable once the directory entry is.
                std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing the directory of", e))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        })
        .await
        .map_err(|_| CloudError::Io("write task failed".into()))?
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, CloudError> {
        check_name(name)?;
        let path = self.dir.join(name);
        let meta = match tokio::fs::metadata(&path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CloudError::NotFound(name.into())),
            other => other.map_err(|e| CloudError::Io(format!("reading {}: {e}", path.display())))?,
        };
        if meta.len() > MAX_BLOB_BYTES as u64 {
            return Err(CloudError::TooLarge {
                len: usize::try_from(meta.len()).unwrap_or(usize::MAX),
                max: MAX_BLOB_BYTES,
            });
        }
        let bytes =
            tokio::fs::read(&path).await.map_err(|e| CloudError::Io(format!("reading {}: {e}", path.display())))?;
        check_size(bytes.len())?;
        Ok(bytes)
    }

    async fn delete(&self, name: &str) -> Result<(), CloudError> {
        check_name(name)?;
        match tokio::fs::remove_file(self.dir.join(name)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CloudError::NotFound(name.into())),
            other => other.map_err(|e| CloudError::Io(format!("deleting {name}: {e}"))),
        }
    }

    async fn list(&self) -> Result<Vec<String>, CloudError> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| CloudError::Io(format!("listing {}: {e}", self.dir.display())))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| CloudError::Io(format!("listing: {e}")))? {
            // Temporary files start with a dot and fail the name check, like any stranger.
            if let Some(name) = entry.file_name().to_str().filter(|n| check_name(n).is_ok()) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}
