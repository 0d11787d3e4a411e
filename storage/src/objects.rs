//! Object stores, shared by COPY (its sources), UNLOAD (its targets) and snapshots:
//! `s3://bucket/key` through object_store's AmazonS3 (any S3-compatible endpoint),
//! `file:///path` on the local file system. Errors come back as [`StorageError`]s of
//! the object store variants, by kind. [`faults::FaultyStore`] wraps any store to inject failures in tests; setting
//! `BLUESHIFT_STORE_FAULTS` (see [`faults::Faults::parse`]) wraps every store
//! [`open`] returns.

pub mod faults;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;

/// How to reach an object store: S3 credentials and endpoint settings. Local
/// (`file://`) sources need none of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// An S3-compatible endpoint instead of AWS (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// Address buckets as `endpoint/bucket/key` (path style) rather than
    /// `bucket.endpoint/key`.
    pub path_style: bool,
}

impl std::fmt::Display for StoreConfig {
    /// The settings without the secrets, for EXPLAIN and logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "region={}, endpoint={}",
            self.region.as_deref().unwrap_or("default"),
            self.endpoint.as_deref().unwrap_or("aws")
        )
    }
}

/// A store and the path of `url` in it.
#[derive(Clone, Debug)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    /// The key as written (object_store's `Path` drops a trailing `/`).
    pub key: String,
    /// `s3://bucket/` or `file:///`: what goes before a path to make a URL.
    pub base: String,
}

impl Location {
    /// The URL of `path` in this location's store.
    pub fn url_of(&self, path: &Path) -> String {
        format!("{}{}", self.base, path)
    }
}

/// Opens the store holding `url`.
pub fn open(url: &str, config: &StoreConfig) -> Result<Location, StorageError> {
    let bad = |reason: &str| StorageError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket name"));
        }
        let mut builder = AmazonS3Builder::new()
            // A large object streams for as long as the load takes to consume it:
            // no overall request timeout (object_store's default, 30 s, cut loads
            // of big files), but a bounded connect. (Set first: it replaces the
            // client options that `with_allow_http` sets.)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(Duration::from_secs(10)),
            )
            .with_bucket_name(bucket)
            .with_region(config.region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(key), Some(secret)) => {
                builder = builder
                    .with_access_key_id(key)
                    .with_secret_access_key(secret);
                if let Some(token) = &config.session_token {
                    builder = builder.with_token(token);
                }
            }
            _ => builder = builder.with_skip_signature(true),
        }
        let store = builder.build().map_err(|e| bad(&e.to_string()))?;
        let path = Path::parse(key).map_err(|e| bad(&e.to_string()))?;
        Ok(Location {
            store: faults::from_env(Arc::new(store)),
            path,
            key: key.to_string(),
            base: format!("s3://{bucket}/"),
        })
    } else if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(bad("a file:// location needs an absolute path"));
        }
        let path = Path::parse(rest.trim_start_matches('/')).map_err(|e| bad(&e.to_string()))?;
        Ok(Location {
            store: faults::from_env(Arc::new(LocalFileSystem::new())),
            path,
            key: rest.trim_start_matches('/').to_string(),
            base: "file:///".into(),
        })
    } else {
        Err(bad("expected s3://bucket/prefix or file:///path"))
    }
}

/// The objects whose keys start with `url`'s key, in key order, with their sizes.
pub async fn list_prefix(
    url: &str,
    config: &StoreConfig,
) -> Result<Vec<(String, u64)>, StorageError> {
    use futures::TryStreamExt;
    let location = open(url, config)?;
    let mut key = location.path.as_ref().to_string();
    // A prefix that ends in a slash matches only the keys in that folder (the
    // object_store path drops the slash).
    if url.ends_with('/') && !key.is_empty() {
        key.push('/');
    }
    // object_store lists whole path segments: list the parent, keep what matches.
    let parent = key
        .trim_end_matches('/')
        .rfind('/')
        .map(|i| Path::from(&key[..i]));
    let objects: Vec<_> = location
        .store
        .list(parent.as_ref())
        .try_collect()
        .await
        .map_err(|e| StorageError::from_object_store(url, e))?;
    let mut found: Vec<(String, u64)> = objects
        .into_iter()
        .filter(|o| o.location.as_ref().starts_with(&key))
        .map(|o| (location.url_of(&o.location), o.size))
        .collect();
    found.sort();
    Ok(found)
}

/// The size of the object at `url`, or `None` when it does not exist.
pub async fn size_of(url: &str, config: &StoreConfig) -> Result<Option<u64>, StorageError> {
    let location = open(url, config)?;
    match location.store.head(&location.path).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => match StorageError::from_object_store(url, e) {
            StorageError::ObjectNotFound { .. } => Ok(None),
            other => Err(other),
        },
    }
}

/// The whole object at `url` (a manifest or a JSONPaths file).
pub async fn read_all(url: &str, config: &StoreConfig) -> Result<bytes::Bytes, StorageError> {
    let location = open(url, config)?;
    let result = location
        .store
        .get(&location.path)
        .await
        .map_err(|e| StorageError::from_object_store(url, e))?;
    result
        .bytes()
        .await
        .map_err(|e| StorageError::from_object_store(url, e))
}
