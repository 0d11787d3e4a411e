//! Reading Parquet input from an object store: [`ObjectReader`] fetches ranges (a row
//! group's column chunks coalesced), and [`parquet_row_groups`] sizes a file's row
//! groups so the leader can split it over slices.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

use super::store;
use blueshift_storage::StorageError;

/// A Parquet, ORC or Avro file in an object store, read by ranges.
#[derive(Clone)]
pub(super) struct ObjectReader {
    pub(super) location: store::Location,
    pub(super) size: u64,
}

impl parquet::arrow::async_reader::AsyncFileReader for ObjectReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.location
                .store
                .get_range(&self.location.path, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    /// The column chunks of a row group in one request where they are close
    /// (object_store coalesces nearby ranges), not one request each.
    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        async move {
            self.location
                .store
                .get_ranges(&self.location.path, &ranges)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// A stream builder over `reader` that reads strings as the table keeps them (Utf8),
/// not as views (Parquet's default) to be copied afterwards.
pub(super) async fn stream_builder(
    mut reader: ObjectReader,
) -> parquet::errors::Result<ParquetRecordBatchStreamBuilder<ObjectReader>> {
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
    let plain = Schema::new(
        metadata
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
                DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
    .with_metadata(metadata.schema().metadata().clone());
    let metadata = if plain == *metadata.schema().as_ref() {
        metadata
    } else {
        ArrowReaderMetadata::try_new(
            Arc::clone(metadata.metadata()),
            ArrowReaderOptions::new().with_schema(Arc::new(plain)),
        )?
    };
    Ok(ParquetRecordBatchStreamBuilder::new_with_metadata(
        reader, metadata,
    ))
}

/// The compressed size of each row group of the Parquet file at `url` (to split it
/// over slices).
pub async fn parquet_row_groups(
    url: &str,
    size: u64,
    config: &super::spec::StoreConfig,
) -> std::result::Result<Vec<u64>, StorageError> {
    use parquet::arrow::async_reader::AsyncFileReader;
    let location = store::open(url, config)?;
    let mut reader = ObjectReader { location, size };
    let metadata = reader
        .get_metadata(None)
        .await
        .map_err(|e| StorageError::BadData {
            url: url.to_string(),
            reason: format!("not a Parquet file: {e}"),
        })?;
    Ok(metadata
        .row_groups()
        .iter()
        .map(|g| g.compressed_size().max(0) as u64)
        .collect())
}
