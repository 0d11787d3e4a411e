//! How a segment's rows are laid out in Parquet: row groups and pages of at most
//! [`ROW_GROUP_ROWS`] and [`PAGE_ROWS`] rows, and each column's Redshift encoding
//! (ENCODE) as the closest Parquet encoding and compression, with the page statistics
//! the zone maps use.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// Rows per Parquet page, at most: the unit page-level skipping reads.
pub const PAGE_ROWS: usize = 8 * 1024;

/// Rows per Parquet row group: the unit the zone maps describe.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Field metadata key of a column's Redshift encoding (ENCODE) in the schema given to
/// `SliceStore::write_segment`.
pub const ENCODING_METADATA_KEY: &str = "blueshift.encoding";

/// How each Redshift column encoding is written in Parquet. Every column also gets
/// page statistics (the zone maps).
///
/// | ENCODE | Parquet |
/// |---|---|
/// | AUTO (none given) | as Redshift assigns it: AZ64 for integers, dates, timestamps and DECIMAL; LZO for CHAR and VARCHAR; RAW for the rest (booleans, REAL, DOUBLE PRECISION) |
/// | AZ64 | integers, dates, timestamps and DECIMAL up to 18 digits: delta binary packed, uncompressed; wider DECIMAL: dictionary, zstd |
/// | LZO | CHAR and VARCHAR under AUTO: dictionary, LZ4; given explicitly: plain, LZ4 (Parquet has no LZO writer in Rust) |
/// | ZSTD | dictionary, zstd |
/// | RAW | plain, uncompressed |
/// | DELTA, DELTA32K, MOSTLY8, MOSTLY16, MOSTLY32 | integers, dates, timestamps and DECIMAL up to 18 digits: delta binary packed, uncompressed; others: plain |
/// | BYTEDICT, RUNLENGTH, TEXT255, TEXT32K | dictionary (run-length encoded indices), uncompressed |
///
/// Columns with a dictionary under AUTO or ZSTD whose `rows` are mostly distinct
/// (comments) skip it: it would only grow until the writer falls back to plain values.
pub fn writer_properties(schema: &SchemaRef, rows: &RecordBatch) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(PAGE_ROWS)
        // A page's rows at once: fewer, larger steps through the column writers.
        .set_write_batch_size(PAGE_ROWS)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for (i, field) in schema.fields().iter().enumerate() {
        let encoding = field
            .metadata()
            .get(ENCODING_METADATA_KEY)
            .map_or("auto", String::as_str);
        let path = ColumnPath::from(field.name().as_str());
        // Stored as Parquet INT32 or INT64, which delta binary packing takes.
        let integer_like = field.data_type().is_integer()
            || matches!(
                field.data_type(),
                DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(_, _)
                    | DataType::Decimal32(_, _)
                    | DataType::Decimal64(_, _)
            )
            || matches!(field.data_type(), DataType::Decimal128(p, _) if *p <= 18);
        let text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        // AZ64 under AUTO (DECIMALs up to 18 digits are also `integer_like`).
        let wide_decimal = matches!(
            field.data_type(),
            DataType::Decimal128(_, _) | DataType::Decimal256(_, _)
        );
        let distinct = || {
            rows.columns()
                .get(i)
                .is_some_and(|column| mostly_distinct(column.as_ref()))
        };
        let (dictionary, parquet_encoding, compression) = match encoding {
            "raw" => (false, Some(Encoding::PLAIN), Compression::UNCOMPRESSED),
            "az64" | "auto" if integer_like => (
                false,
                Some(Encoding::DELTA_BINARY_PACKED),
                Compression::UNCOMPRESSED,
            ),
            "auto" if text => (!distinct(), None, Compression::LZ4_RAW),
            "auto" if !wide_decimal => (false, Some(Encoding::PLAIN), Compression::UNCOMPRESSED),
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
            // ZSTD, and AZ64 (or AUTO) of wide DECIMALs.
            _ => (!distinct(), None, Compression::ZSTD(ZstdLevel::default())),
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
        assert_eq!(az64.compression(), Compression::UNCOMPRESSED);
        assert_eq!(raw.compression(), Compression::UNCOMPRESSED);
        assert!(!raw.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert!(dict.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert_eq!(lzo.compression(), Compression::LZ4_RAW);
        Ok(())
    }

    #[test]
    fn auto_is_what_redshift_assigns() -> Result<()> {
        use arrow::array::{Decimal128Array, Float64Array, Int64Array};
        let zstd = [(ENCODING_METADATA_KEY.to_string(), "zstd".to_string())].into();
        let az64 = [(ENCODING_METADATA_KEY.to_string(), "az64".to_string())].into();
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Int64, false),
            Field::new("price", DataType::Decimal128(15, 2), false),
            Field::new("mode", DataType::Utf8, false),
            Field::new("ratio", DataType::Float64, false),
            Field::new("note", DataType::Utf8, false).with_metadata(zstd),
            Field::new("big", DataType::Decimal128(38, 2), false).with_metadata(az64),
            Field::new("wide", DataType::Decimal128(38, 2), false),
        ]));
        let rows = 100;
        let prices = Decimal128Array::from_iter_values((0..rows).map(|i| 100_000 + i * 37))
            .with_precision_and_scale(15, 2)
            .expect("valid decimal");
        let bigs = Decimal128Array::from_iter_values((0..rows).map(|i| i * 10i128.pow(30)))
            .with_precision_and_scale(38, 2)
            .expect("valid decimal");
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(prices),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["AIR", "MAIL"][i as usize % 2]),
                )),
                Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64))),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["x", "y"][i as usize % 2]),
                )),
                Arc::new(bigs.clone()),
                Arc::new(bigs),
            ],
        )
        .expect("valid batch");
        let rg = written_row_group(Arc::clone(&schema), batch.clone())?;
        let delta = |c: usize| {
            rg.column(c)
                .encodings()
                .any(|e| e == Encoding::DELTA_BINARY_PACKED)
        };
        let dictionary = |c: usize| {
            rg.column(c)
                .encodings()
                .any(|e| e == Encoding::RLE_DICTIONARY)
        };
        // AZ64: integers and DECIMALs up to 18 digits.
        assert!(delta(0) && delta(1));
        assert_eq!(rg.column(0).compression(), Compression::UNCOMPRESSED);
        // LZO for text, with a dictionary where values repeat.
        assert!(dictionary(2));
        assert_eq!(rg.column(2).compression(), Compression::LZ4_RAW);
        // RAW for floating point.
        assert!(!dictionary(3) && !delta(3));
        assert_eq!(rg.column(3).compression(), Compression::UNCOMPRESSED);
        // An explicit ZSTD, and AZ64 of a DECIMAL too wide for delta packing.
        assert!(matches!(rg.column(4).compression(), Compression::ZSTD(_)));
        assert!(!delta(5));
        assert!(matches!(rg.column(5).compression(), Compression::ZSTD(_)));
        // AUTO of a wide DECIMAL is AZ64 too.
        assert!(matches!(rg.column(6).compression(), Compression::ZSTD(_)));

        // The values read back as written.
        let dir = tempfile::tempdir()?;
        let store = SliceStore::open(dir.path())?;
        let seg = store
            .write_segment(
                0,
                Arc::clone(&schema),
                std::slice::from_ref(&batch),
                &SortKey::default(),
            )?
            .expect("rows were written");
        let read = store.read_segment(0, &seg.name, None)?;
        let read = arrow::compute::concat_batches(&schema, &read)
            .map_err(|e| StorageError::Catalog(e.to_string()))?;
        assert_eq!(read, batch);
        Ok(())
    }

    #[test]
    fn mostly_distinct_columns_skip_the_dictionary() -> Result<()> {
        let zstd = [(ENCODING_METADATA_KEY.to_string(), "zstd".to_string())].into();
        let schema = Arc::new(Schema::new(vec![
            Field::new("comment", DataType::Utf8, false),
            Field::new("mode", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false).with_metadata(zstd),
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
        assert_eq!(rg.column(0).compression(), Compression::LZ4_RAW);
        Ok(())
    }
}
