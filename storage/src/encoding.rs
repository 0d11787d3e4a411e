//! How a segment's columns are written: each Redshift encoding (ENCODE) as the closest
//! Parquet encoding and compression, with the page statistics the zone maps use.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::segment::{PAGE_ROWS, ROW_GROUP_ROWS};

/// Field metadata key of a column's Redshift encoding (ENCODE) in the schema given to
/// [`SliceStore::write_segment`].
pub const ENCODING_METADATA_KEY: &str = "blueshift.encoding";

/// How each Redshift column encoding is written in Parquet. Every column also gets
/// page statistics (the zone maps).
///
/// | ENCODE | Parquet |
/// |---|---|
/// | ZSTD | dictionary, zstd |
/// | RAW | plain, uncompressed |
/// | AZ64, and AUTO (none given) | integers and dates: delta binary packed, zstd; others: dictionary, zstd |
/// | DELTA, DELTA32K, MOSTLY8, MOSTLY16, MOSTLY32 | integers and dates: delta binary packed, uncompressed; others: plain |
/// | BYTEDICT, RUNLENGTH, TEXT255, TEXT32K | dictionary (run-length encoded indices), uncompressed |
/// | LZO | plain, LZ4 (Parquet has no LZO writer in Rust) |
///
/// AUTO and ZSTD columns whose `rows` are mostly distinct (comments, prices) skip the
/// dictionary: it would only grow until the writer falls back to plain values.
pub fn writer_properties(schema: &SchemaRef, rows: &RecordBatch) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for field in schema.fields() {
        // AUTO (no ENCODE) is AZ64 for integers and dates, as on Redshift.
        let encoding = field
            .metadata()
            .get(ENCODING_METADATA_KEY)
            .map_or("az64", String::as_str);
        let path = ColumnPath::from(field.name().as_str());
        let integer_like = field.data_type().is_integer()
            || matches!(
                field.data_type(),
                arrow::datatypes::DataType::Date32
                    | arrow::datatypes::DataType::Date64
                    | arrow::datatypes::DataType::Timestamp(_, _)
            );
        let (dictionary, parquet_encoding, compression) = match encoding {
            "raw" => (false, Some(Encoding::PLAIN), Compression::UNCOMPRESSED),
            "az64" | "auto" if integer_like => (
                false,
                Some(Encoding::DELTA_BINARY_PACKED),
                Compression::ZSTD(ZstdLevel::default()),
            ),
            "delta" | "delta32k" | "mostly8" | "mostly16" | "mostly32" => (
                false,
                Some(if integer_like {
                    Encoding::DELTA_BINARY_PACKED
                } else {
                    Encoding::PLAIN
                }),
                Compression::UNCOMPRESSED,
            ),
            "bytedict" | "runlength" | "text255" | "text32k" => {
                (true, None, Compression::UNCOMPRESSED)
            }
            "lzo" => (false, Some(Encoding::PLAIN), Compression::LZ4_RAW),
            _ => {
                let distinct = schema
                    .index_of(field.name())
                    .ok()
                    .and_then(|i| rows.columns().get(i))
                    .is_some_and(|column| mostly_distinct(column.as_ref()));
                (!distinct, None, Compression::ZSTD(ZstdLevel::default()))
            }
        };
        builder = builder
            .set_column_dictionary_enabled(path.clone(), dictionary)
            .set_column_compression(path.clone(), compression);
        if let Some(e) = parquet_encoding {
            builder = builder.set_column_encoding(path, e);
        }
    }
    builder.build()
}

/// Rows looked at to judge a column's cardinality.
const SAMPLE_ROWS: usize = 4096;

/// Whether more than half of the first [`SAMPLE_ROWS`] values of `column` differ
/// (strings, binary and fixed-width values; others count as not distinct).
fn mostly_distinct(column: &dyn Array) -> bool {
    let rows = column.len().min(SAMPLE_ROWS);
    if rows < 2 {
        return false;
    }
    let column = column.slice(0, rows);
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(rows);
    match column.data_type() {
        DataType::Utf8 => seen.extend(
            column
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::LargeUtf8 => seen.extend(
            column
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::Utf8View => {
            seen.extend(column.as_string_view().iter().flatten().map(str::as_bytes))
        }
        DataType::Binary => seen.extend(column.as_binary::<i32>().iter().flatten()),
        other => {
            let Some(width) = other.primitive_width() else {
                return false;
            };
            let data = column.to_data();
            let Some(values) = data.buffers().first() else {
                return false;
            };
            let start = data.offset() * width;
            let Some(bytes) = values.as_slice().get(start..start + rows * width) else {
                return false;
            };
            let fixed: HashSet<&[u8]> = bytes.chunks_exact(width).collect();
            return fixed.len() * 2 > rows;
        }
    }
    seen.len() * 2 > rows
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::error::{Result, StorageError};
    use crate::segment::{SliceStore, SortKey};

    /// The first row group's metadata of the segment `batch` is written as.
    fn written_row_group(
        schema: Arc<Schema>,
        batch: RecordBatch,
    ) -> Result<parquet::file::metadata::RowGroupMetaData> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir()?;
        let store = SliceStore::open(dir.path())?;
        let seg = store
            .write_segment(0, schema, &[batch], &SortKey::default())?
            .expect("rows were written");
        let file = fs::File::open(store.segment_path(0, &seg.name))?;
        let reader =
            SerializedFileReader::new(file).map_err(|e| StorageError::Catalog(e.to_string()))?;
        Ok(reader.metadata().row_group(0).clone())
    }

    #[test]
    fn encodings_map_to_parquet() -> Result<()> {
        let with = |name: &str, ty: DataType, enc: &str| {
            Field::new(name, ty, true)
                .with_metadata([(ENCODING_METADATA_KEY.to_string(), enc.to_string())].into())
        };
        let schema = Arc::new(Schema::new(vec![
            with("c0", DataType::Int32, "az64"),
            with("c1", DataType::Utf8, "raw"),
            with("c2", DataType::Utf8, "bytedict"),
            with("c3", DataType::Int32, "lzo"),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec!["a", "b", "a"])),
                Arc::new(StringArray::from(vec!["x", "x", "y"])),
                Arc::new(Int32Array::from(vec![7, 8, 9])),
            ],
        )
        .expect("valid batch");
        let rg = written_row_group(schema, batch)?;
        let (az64, raw, dict, lzo) = (rg.column(0), rg.column(1), rg.column(2), rg.column(3));
        assert!(az64.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED));
        assert!(matches!(az64.compression(), Compression::ZSTD(_)));
        assert_eq!(raw.compression(), Compression::UNCOMPRESSED);
        assert!(!raw.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert!(dict.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert_eq!(lzo.compression(), Compression::LZ4_RAW);
        Ok(())
    }

    #[test]
    fn mostly_distinct_columns_skip_the_dictionary() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("comment", DataType::Utf8, false),
            Field::new("mode", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false),
        ]));
        let rows = 1000;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("comment {i}")),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["AIR", "MAIL", "SHIP"][i % 3]),
                )),
                Arc::new(arrow::array::Float64Array::from_iter_values(
                    (0..rows).map(|i| i as f64 * 1.5),
                )),
            ],
        )
        .expect("valid batch");
        let rg = written_row_group(schema, batch)?;
        let dictionary = |c: usize| {
            rg.column(c)
                .encodings()
                .any(|e| e == Encoding::RLE_DICTIONARY)
        };
        assert!(!dictionary(0), "unique comments are stored plain");
        assert!(dictionary(1), "three modes get a dictionary");
        assert!(!dictionary(2), "unique prices are stored plain");
        assert!(matches!(rg.column(0).compression(), Compression::ZSTD(_)));
        Ok(())
    }
}
