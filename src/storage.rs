//! Where files live: a local directory by default, any S3-compatible store by configuration,
//! both through `object_store`. Keys are chosen by the server, never by clients.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::{StorageBackend, StorageSettings};
use secrecy::ExposeSecret;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl Storage {
    pub fn open(settings: &StorageSettings) -> anyhow::Result<Self> {
        match settings.backend {
            StorageBackend::Local => {
                std::fs::create_dir_all(&settings.local_dir).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create storage directory {}: {e}",
                        settings.local_dir
                    )
                })?;
                let store = LocalFileSystem::new_with_prefix(&settings.local_dir)?;
                Ok(Self {
                    store: Arc::new(store),
                    description: format!("local directory {}", settings.local_dir),
                })
            }
            StorageBackend::S3 => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&settings.s3_bucket)
                    .with_region(&settings.s3_region)
                    .with_allow_http(settings.s3_allow_http)
                    .with_access_key_id(
                        (settings.s3_access_key_id.as_ref())
                            .map(ExposeSecret::expose_secret)
                            .unwrap_or_default(),
                    )
                    .with_secret_access_key(
                        (settings.s3_secret_access_key.as_ref())
                            .map(ExposeSecret::expose_secret)
                            .unwrap_or_default(),
                    );
                if !settings.s3_endpoint.is_empty() {
                    builder = builder.with_endpoint(&settings.s3_endpoint);
                }
                Ok(Self {
                    store: Arc::new(builder.build()?),
                    description: format!("S3 bucket {}", settings.s3_bucket),
                })
            }
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.store
            .put(&Path::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The object, or None when it is not there (say, a local file on another machine).
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<bytes::Bytes>> {
        match self.store.get(&Path::from(key)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
