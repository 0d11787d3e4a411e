//! Parquet, ORC and Avro input, read by their own readers as Arrow batches
//! ([`Source`]). Parquet and ORC columns fill the COPY's columns in order, as
//! Redshift loads columnar files; Avro fields fill the columns of their names
//! (`'auto'`, `'auto ignorecase'`) or the columns whose JSONPaths lead to them.
//!
//! Each reader keeps about one unit of the file in memory: a Parquet row group, an
//! ORC stripe, or [`AVRO_READ_BYTES`] of Avro blocks. ORC and Avro parts of a file
//! (byte ranges) hold the stripes, or the blocks, that start in them, so the ranges
//! of a file need no check afterwards.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array, make_array};
use arrow::buffer::NullBuffer;
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, SchemaRef};
use arrow_avro::reader::async_reader::read_header_info;
use arrow_avro::reader::{AsyncAvroFileReader, HeaderInfo};
use bytes::Bytes;
use datafusion::common::ScalarValue;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

use super::parquet::ObjectReader;
use super::spec::{FilePart, JsonPaths, JsonStep, LoadColumn, LoadFile, LoadFormat, LoadSpec};
use super::store;

/// Bytes of Avro blocks read at a time.
pub const AVRO_READ_BYTES: u64 = 8 * 1024 * 1024;

/// A file's batches, and where each of the COPY's input fields is in them.
pub(super) struct Source {
    pub(super) batches: BoxStream<'static, Result<RecordBatch, String>>,
    fields: Fields,
}

/// Where the COPY's input fields (its column list, in order) are in a batch.
enum Fields {
    /// Field *i* is the file's column *i*.
    InOrder,
    /// Field *i* is the file's column `columns[i]`, or NULL when it has none.
    Named(Vec<Option<usize>>),
    /// Field *i* is where JSONPath `paths[i]` leads, or NULL.
    Paths(Vec<Vec<JsonStep>>),
}

impl ObjectReader {
    fn fetch(&self, range: Range<u64>) -> BoxFuture<'static, object_store::Result<Bytes>> {
        let store = Arc::clone(&self.location.store);
        let path = self.location.path.clone();
        async move { store.get_range(&path, range).await }.boxed()
    }
}

impl orc_rust::reader::AsyncChunkReader for ObjectReader {
    fn len(&mut self) -> BoxFuture<'_, std::io::Result<u64>> {
        let size = self.size;
        async move { Ok(size) }.boxed()
    }

    fn get_bytes(&mut self, offset: u64, length: u64) -> BoxFuture<'_, std::io::Result<Bytes>> {
        self.fetch(offset..offset.saturating_add(length))
            .map(|r| r.map_err(std::io::Error::other))
            .boxed()
    }
}

impl arrow_avro::reader::AsyncFileReader for ObjectReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, Result<Bytes, arrow_avro::errors::AvroError>> {
        self.fetch(range)
            .map(|r| r.map_err(|e| arrow_avro::errors::AvroError::External(Box::new(e))))
            .boxed()
    }
}

impl Source {
    /// Opens `file` (or its part), at `location`, in `spec`'s format, which is
    /// Parquet, ORC or Avro. A reader that panics on a malformed file (none did on
    /// the corrupted files of the tests) fails the file with an error instead.
    pub(super) async fn open(
        spec: &LoadSpec,
        file: &LoadFile,
        location: store::Location,
    ) -> Result<Source, String> {
        let failed = format!("the {} reader failed on this file", spec.format.name());
        let source = AssertUnwindSafe(Self::open_reader(spec, file, location))
            .catch_unwind()
            .await
            .map_err(|_| failed.clone())??;
        Ok(Source {
            batches: unwinding_ends(source.batches, failed),
            ..source
        })
    }

    async fn open_reader(
        spec: &LoadSpec,
        file: &LoadFile,
        location: store::Location,
    ) -> Result<Source, String> {
        let reader = ObjectReader {
            location,
            size: file.size,
        };
        let bytes = match file.part {
            Some(FilePart::Bytes { start, end }) => start..end,
            _ => 0..file.size,
        };
        let (schema, batches, fields) = match &spec.format {
            LoadFormat::Parquet => {
                let builder = super::parquet::stream_builder(reader)
                    .await
                    .map_err(|e| format!("not a Parquet file: {e}"))?;
                let builder = match file.part {
                    Some(FilePart::RowGroups { start, end, .. }) => {
                        builder.with_row_groups((start..end).collect())
                    }
                    _ => builder,
                };
                let schema = Arc::clone(builder.schema());
                let batches = builder
                    .with_batch_size(super::convert::BATCH_ROWS)
                    .build()
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
                    .boxed();
                (schema, batches, Fields::InOrder)
            }
            LoadFormat::Orc => {
                let builder = orc_rust::ArrowReaderBuilder::try_new_async(reader)
                    .await
                    .map_err(|e| format!("not an ORC file: {e}"))?;
                let schema = builder.schema();
                let batches = builder
                    .with_file_byte_range(to_usize(bytes.start)..to_usize(bytes.end))
                    .with_batch_size(super::convert::BATCH_ROWS)
                    .build_async()
                    .map_err(|e| e.to_string())
                    .boxed();
                (schema, batches, Fields::InOrder)
            }
            LoadFormat::Avro(paths) => {
                let mut probe = reader.clone();
                let header = read_header_info(&mut probe, file.size, None)
                    .await
                    .map_err(|e| format!("not an Avro file: {e}"))?;
                let schema = avro_reader(reader.clone(), &header, 0..file.size)
                    .map_err(|e| format!("Avro schema: {e}"))?
                    .schema();
                let fields = match paths {
                    JsonPaths::Auto { ignore_case } => {
                        Fields::Named(named(spec, &schema, *ignore_case))
                    }
                    JsonPaths::Paths(paths) => Fields::Paths(paths.clone()),
                };
                (
                    schema,
                    avro_batches(reader, header, bytes, AVRO_READ_BYTES),
                    fields,
                )
            }
            LoadFormat::Text | LoadFormat::Csv { .. } | LoadFormat::Json(_) => {
                return Err(format!("{:?} is not a columnar format", spec.format));
            }
        };
        // FILLRECORD: a file may have fewer columns; the COPY's last ones are NULL.
        let columns = schema.fields().len();
        let fits = columns == spec.input_fields
            || (spec.options.fill_record && columns < spec.input_fields);
        if matches!(fields, Fields::InOrder) && !fits {
            return Err(format!(
                "the file has {columns} columns, the COPY loads {}",
                spec.input_fields
            ));
        }
        Ok(Source { batches, fields })
    }

    /// `batch`'s values as the table's columns (in table order): cast to each
    /// column's type, checked against its length and NOT NULL. `first_row` is the
    /// number of rows read before `batch`, for errors.
    pub(super) fn table_columns(
        &self,
        spec: &LoadSpec,
        batch: &RecordBatch,
        first_row: u64,
    ) -> Result<Vec<ArrayRef>, ColumnError> {
        let rows = batch.num_rows();
        spec.columns
            .iter()
            .enumerate()
            .map(|(at, c)| {
                let Some(input) = c.input else {
                    return default_column(c, rows)
                        .map_err(|reason| ColumnError::of(at, 1216, reason));
                };
                let found = match &self.fields {
                    Fields::InOrder => batch.columns().get(input).cloned(),
                    Fields::Named(columns) => columns
                        .get(input)
                        .copied()
                        .flatten()
                        .and_then(|i| batch.columns().get(i).cloned()),
                    Fields::Paths(paths) => match paths.get(input) {
                        Some(path) => follow(batch, path)
                            .map_err(|reason| ColumnError::of(at, 1216, reason))?,
                        None => None,
                    },
                };
                let raw = |row: usize| found.as_ref().map_or(String::new(), |a| value_text(a, row));
                let array = match &found {
                    Some(array) => {
                        let options = CastOptions {
                            safe: false,
                            ..Default::default()
                        };
                        arrow::compute::cast_with_options(array, &c.data_type, &options).map_err(
                            |e| ColumnError {
                                raw: raw(0),
                                ..ColumnError::of(
                                    at,
                                    cast_code(&c.data_type),
                                    format!("column {}: {e}", c.name),
                                )
                            },
                        )?
                    }
                    None => arrow::array::new_null_array(&c.data_type, rows),
                };
                let array = fit_strings(array, c, spec.options.truncate_columns, first_row)
                    .map_err(|(row, reason)| ColumnError {
                        raw: raw(row),
                        ..ColumnError::of(at, 1204, reason)
                    })?;
                if !c.nullable && array.null_count() > 0 {
                    let row = (0..rows).find(|&r| array.is_null(r)).unwrap_or(0);
                    return Err(ColumnError::of(
                        at,
                        1213,
                        format!(
                            "column {} is NOT NULL but row {} has a null",
                            c.name,
                            first_row + row as u64 + 1
                        ),
                    ));
                }
                Ok(array)
            })
            .collect()
    }
}

/// Why a batch's values do not fit a column.
#[derive(Debug)]
pub(super) struct ColumnError {
    /// The column's position in the table.
    pub(super) column: usize,
    /// Redshift's load error code, as for text input.
    pub(super) code: i32,
    pub(super) reason: String,
    /// The value at fault, as text (exact for a batch of one row).
    pub(super) raw: String,
}

impl ColumnError {
    fn of(column: usize, code: i32, reason: String) -> Self {
        ColumnError {
            column,
            code,
            reason,
            raw: String::new(),
        }
    }
}

impl std::fmt::Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The load error code for a value that does not cast to `to` (as for text).
fn cast_code(to: &DataType) -> i32 {
    match to {
        DataType::Date32 | DataType::Date64 => 1205,
        DataType::Timestamp(_, _) => 1206,
        DataType::Float32 | DataType::Float64 => 1208,
        DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => 1209,
        DataType::Boolean => 1210,
        t if t.is_integer() => 1207,
        _ => 1216,
    }
}

/// `array`'s value at `row`, as text (empty for NULL).
pub(super) fn value_text(array: &ArrayRef, row: usize) -> String {
    let options = arrow::util::display::FormatOptions::default();
    arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &options)
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
}

/// `batches`, ending with the error `failed` if polling them panics.
fn unwinding_ends(
    batches: BoxStream<'static, Result<RecordBatch, String>>,
    failed: String,
) -> BoxStream<'static, Result<RecordBatch, String>> {
    AssertUnwindSafe(batches)
        .catch_unwind()
        .map(move |batch| batch.unwrap_or_else(|_| Err(failed.clone())))
        .boxed()
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A column the COPY does not load: its DEFAULT, or NULL.
fn default_column(c: &LoadColumn, rows: usize) -> Result<ArrayRef, String> {
    match &c.default {
        Some(text) => ScalarValue::try_from_string(text.clone(), &c.data_type)
            .and_then(|v| v.to_array_of_size(rows))
            .map_err(|e| format!("column {} DEFAULT: {e}", c.name)),
        None => Ok(arrow::array::new_null_array(&c.data_type, rows)),
    }
}

/// Strings longer than `c`'s declared length: cut at the length (on a character
/// boundary) with TRUNCATECOLUMNS, else an error naming the column.
fn fit_strings(
    array: ArrayRef,
    c: &LoadColumn,
    truncate: bool,
    first_row: u64,
) -> Result<ArrayRef, (usize, String)> {
    let (Some(max), DataType::Utf8) = (c.max_bytes, array.data_type()) else {
        return Ok(array);
    };
    let strings = array.as_string::<i32>();
    // Lengths from the offsets; a NULL's slot may hold bytes, so it is skipped.
    let Some(long) = strings
        .value_offsets()
        .windows(2)
        .enumerate()
        .position(|(i, w)| matches!(w, [a, b] if (b - a) as usize > max) && strings.is_valid(i))
    else {
        return Ok(array);
    };
    if !truncate {
        let len = strings.value(long).len();
        return Err((
            long,
            format!(
                "column {}: row {}: string length exceeds DDL length: {len} > {max}",
                c.name,
                first_row + long as u64 + 1
            ),
        ));
    }
    let cut: arrow::array::StringArray = strings
        .iter()
        .map(|s| s.map(|s| super::convert::cut_to(s, max)))
        .collect();
    Ok(Arc::new(cut))
}

/// For each input field, the column of `schema` of the same name (any case with
/// `ignore_case`).
fn named(spec: &LoadSpec, schema: &SchemaRef, ignore_case: bool) -> Vec<Option<usize>> {
    let mut by_input = vec![None; spec.input_fields];
    for c in &spec.columns {
        let Some(input) = c.input else { continue };
        let found = schema.fields().iter().position(|f| {
            if ignore_case {
                f.name().eq_ignore_ascii_case(&c.name)
            } else {
                *f.name() == c.name
            }
        });
        if let Some(slot) = by_input.get_mut(input) {
            *slot = found;
        }
    }
    by_input
}

/// Where `steps` lead in `batch`: a field, then fields of records and elements of
/// arrays; `None` when the batch has no such field.
fn follow(batch: &RecordBatch, steps: &[JsonStep]) -> Result<Option<ArrayRef>, String> {
    let mut steps = steps.iter();
    let mut array = match steps.next() {
        Some(JsonStep::Key(name)) => match batch.column_by_name(name) {
            Some(array) => Arc::clone(array),
            None => return Ok(None),
        },
        Some(JsonStep::Index(_)) => {
            return Err("an Avro JSONPath must start with a field name".into());
        }
        None => return Ok(None),
    };
    for step in steps {
        array = match (step, array.data_type()) {
            (JsonStep::Key(name), DataType::Struct(_)) => {
                let record = array.as_struct();
                let Some(child) = record.column_by_name(name) else {
                    return Ok(None);
                };
                // A field of a NULL record is NULL.
                let nulls = NullBuffer::union(record.nulls(), child.nulls());
                let data = child.to_data().into_builder().nulls(nulls).build();
                make_array(data.map_err(|e| e.to_string())?)
            }
            (JsonStep::Index(n), DataType::List(_)) => {
                let list = array.as_list::<i32>();
                let offsets = list.value_offsets();
                element(list.values(), list.nulls(), offsets, *n)?
            }
            (JsonStep::Index(n), DataType::LargeList(_)) => {
                let list = array.as_list::<i64>();
                let offsets = list.value_offsets();
                element(list.values(), list.nulls(), offsets, *n)?
            }
            _ => return Ok(None),
        };
    }
    Ok(Some(array))
}

/// Element `n` of each list (`offsets` into `values`), NULL where a list is NULL
/// or shorter.
fn element<O: arrow::array::OffsetSizeTrait>(
    values: &ArrayRef,
    nulls: Option<&NullBuffer>,
    offsets: &[O],
    n: usize,
) -> Result<ArrayRef, String> {
    let indices: UInt64Array = offsets
        .windows(2)
        .enumerate()
        .map(|(row, pair)| {
            let [start, end] = pair else { return None };
            let at = start.as_usize() + n;
            let valid = nulls.is_none_or(|nulls| nulls.is_valid(row));
            (valid && at < end.as_usize()).then_some(at as u64)
        })
        .collect();
    arrow::compute::take(values.as_ref(), &indices, None).map_err(|e| e.to_string())
}

/// A reader of the Avro blocks that start in `range`.
fn avro_reader(
    reader: ObjectReader,
    header: &HeaderInfo,
    range: Range<u64>,
) -> Result<AsyncAvroFileReader<ObjectReader>, arrow_avro::errors::AvroError> {
    let size = reader.size;
    AsyncAvroFileReader::builder(reader, size, super::convert::BATCH_ROWS)
        .with_range(range)
        .build_with_header(header.clone())
}

/// Bytes fetched at a time while looking for a sync marker.
const SCAN_BYTES: u64 = 64 * 1024;

/// Where the first sync marker at or after `at` starts, or `end` (the file's last
/// marker, which no block follows) when none does before it.
async fn marker_from(
    reader: &ObjectReader,
    sync: &[u8; 16],
    at: u64,
    end: u64,
) -> Result<u64, String> {
    let mut pos = at;
    while pos < end {
        // 15 bytes more than the step, so a marker across the step is found.
        let bytes = reader
            .fetch(pos..(pos + SCAN_BYTES + 15).min(end + 16))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(i) = bytes.windows(16).position(|w| w == sync) {
            return Ok((pos + i as u64).min(end));
        }
        pos += SCAN_BYTES;
    }
    Ok(end)
}

/// The batches of the Avro blocks that start in `bytes`, read `step` bytes (and up
/// to the next block) at a time.
///
/// A block belongs to the range its sync marker (the 16 bytes before it) starts
/// in. arrow-avro's reader, given a range, starts at the first marker in it and
/// reads blocks until its bytes run out, so a block whose marker straddles a
/// range's start would be read by neither range. Each range read is therefore cut
/// at markers: from the first marker at or after its start to the end of the first
/// marker at or after its end.
fn avro_batches(
    reader: ObjectReader,
    header: HeaderInfo,
    bytes: Range<u64>,
    step: u64,
) -> BoxStream<'static, Result<RecordBatch, String>> {
    let sync = header.sync();
    // The file ends with the marker after its last block.
    let end = reader
        .size
        .saturating_sub(16)
        .max(header.header_len().saturating_sub(16));
    let mut cuts: Vec<u64> = (bytes.start..bytes.end)
        .step_by(to_usize(step.max(1)))
        .collect();
    cuts.push(bytes.end);
    let first = cuts.first().copied().unwrap_or(bytes.end);
    let state = (reader, header, 1usize, None::<u64>);
    stream::try_unfold(state, move |(reader, header, next, from)| {
        let cuts = cuts.clone();
        async move {
            let Some(&cut) = cuts.get(next) else {
                return Ok::<_, String>(None);
            };
            let from = match from {
                Some(from) => from,
                None => marker_from(&reader, &sync, first, end).await?,
            };
            let to = marker_from(&reader, &sync, cut, end).await?;
            let blocks = if from < to {
                avro_reader(reader.clone(), &header, from..to + 16)
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
                    .boxed()
            } else {
                stream::empty().boxed()
            };
            Ok(Some((blocks, (reader, header, next + 1, Some(to)))))
        }
    })
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    /// Every row of an Avro file of many blocks loads once, however the file is
    /// cut into byte ranges.
    #[tokio::test]
    async fn avro_ranges_read_each_block_once() -> Result<(), Box<dyn std::error::Error>> {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let mut writer = arrow_avro::writer::AvroWriter::new(Vec::new(), schema.clone())?;
        for start in (0..3000i64).step_by(100) {
            let ids = Int64Array::from_iter_values(start..start + 100);
            writer.write(&RecordBatch::try_new(
                Arc::new(schema.clone()),
                vec![Arc::new(ids)],
            )?)?;
        }
        writer.finish()?;
        let bytes = writer.into_inner();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.avro");
        std::fs::write(&path, &bytes)?;
        let url = format!("file://{}", path.display());
        let location = store::open(&url, &Default::default())?;
        let size = bytes.len() as u64;
        let reader = ObjectReader { location, size };
        let header = read_header_info(&mut reader.clone(), size, None).await?;
        // Parts of `split` bytes, each read `step` bytes at a time.
        for (split, step) in [
            (size, size),
            (size, 100),
            (4096, 4096),
            (4096, 333),
            (1000, 17),
            (777, 777),
            (50, 50),
            (17, 17),
        ] {
            let mut ids = Vec::new();
            for start in (0..size).step_by(split as usize) {
                let end = (start + split).min(size);
                let mut batches = avro_batches(reader.clone(), header.clone(), start..end, step);
                while let Some(batch) = batches.next().await {
                    let batch = batch.map_err(|e| format!("split {split}, {start}..{end}: {e}"))?;
                    ids.extend(
                        batch
                            .column(0)
                            .as_primitive::<arrow::datatypes::Int64Type>()
                            .values()
                            .iter()
                            .copied(),
                    );
                }
            }
            ids.sort_unstable();
            let expected: Vec<i64> = (0..3000).collect();
            assert!(
                ids == expected,
                "split {split}, step {step}: {} ids, not each of 0..3000 once",
                ids.len()
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_reader_that_panics_ends_with_an_error() {
        let panicking = stream::once(async {
            if true {
                panic!("a reader's bug");
            }
            Err("not reached".to_string())
        })
        .boxed();
        let out: Vec<_> = unwinding_ends(panicking, "the reader failed".into())
            .collect()
            .await;
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Err(e) if e == "the reader failed"));
    }

    /// A LoadSpec for `format` with an `id` BIGINT and a `name` VARCHAR(20).
    fn spec(format: LoadFormat) -> LoadSpec {
        let column = |name: &str, data_type: DataType, input: usize| LoadColumn {
            name: name.into(),
            data_type,
            nullable: true,
            max_bytes: None,
            input: Some(input),
            default: None,
        };
        LoadSpec {
            table_id: 1,
            table_name: "t".into(),
            columns: vec![
                column("id", DataType::Int64, 0),
                column("name", DataType::Utf8, 1),
            ],
            input_fields: 2,
            format,
            compression: super::super::spec::Compression::None,
            options: Default::default(),
            store: Default::default(),
            partitions: vec![],
        }
    }

    /// Reads all of `bytes` as `spec`'s format: the rows, or the error.
    async fn read_all(
        spec: &LoadSpec,
        bytes: &[u8],
        dir: &std::path::Path,
    ) -> Result<usize, String> {
        let path = dir.join("f");
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let url = format!("file://{}", path.display());
        let file = LoadFile::whole(url.clone(), bytes.len() as u64);
        let location = store::open(&url, &spec.store).map_err(|e| e.to_string())?;
        let mut source = Source::open(spec, &file, location).await?;
        let mut rows = 0;
        while let Some(batch) = source.batches.next().await {
            let batch = batch?;
            rows += source
                .table_columns(spec, &batch, rows as u64)
                .map_err(|e| e.to_string())?
                .first()
                .map_or(0, |c| c.len());
        }
        Ok(rows)
    }

    /// Truncated and corrupted Parquet, ORC and Avro files fail with an error (or
    /// load what they still hold); none panics.
    #[tokio::test(flavor = "multi_thread")]
    async fn broken_files_are_errors_not_panics() -> Result<(), Box<dyn std::error::Error>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..2000)),
                Arc::new(arrow::array::StringArray::from_iter(
                    (0..2000).map(|i| (i % 3 != 0).then(|| format!("name {i}"))),
                )),
            ],
        )?;
        let mut orc = Vec::new();
        let mut writer =
            orc_rust::ArrowWriterBuilder::new(&mut orc, Arc::clone(&schema)).try_build()?;
        writer.write(&batch)?;
        writer.close()?;
        let mut avro = arrow_avro::writer::AvroWriter::new(Vec::new(), schema.as_ref().clone())?;
        avro.write(&batch.slice(0, 1000))?;
        avro.write(&batch.slice(1000, 1000))?;
        avro.finish()?;
        let avro = avro.into_inner();
        let mut parquet = Vec::new();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(700))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut parquet, Arc::clone(&schema), Some(props))?;
        writer.write(&batch)?;
        writer.close()?;
        let mut panics = Vec::new();
        for (format, good) in [
            (LoadFormat::Parquet, parquet),
            (LoadFormat::Orc, orc),
            (
                LoadFormat::Avro(JsonPaths::Auto { ignore_case: false }),
                avro,
            ),
        ] {
            let spec = Arc::new(spec(format));
            let dir = tempfile::tempdir()?;
            assert_eq!(
                read_all(&spec, &good, dir.path()).await,
                Ok(2000),
                "{:?}",
                spec.format
            );
            // A deterministic spread of truncations and single-byte changes.
            let mut seed = 0x2545_f491_u64;
            let mut broken = Vec::new();
            for cut in (0..good.len()).step_by(good.len() / 25 + 1) {
                broken.push(good[..cut].to_vec());
            }
            for _ in 0..300 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % good.len();
                let mut bad = good.clone();
                bad[at] = bad[at].wrapping_add(1 + (seed >> 13) as u8 % 255);
                broken.push(bad);
            }
            for (i, bad) in broken.into_iter().enumerate() {
                let task_spec = Arc::clone(&spec);
                let dir = tempfile::tempdir()?;
                let run = tokio::spawn(async move { read_all(&task_spec, &bad, dir.path()).await });
                if let Err(e) = run.await {
                    panics.push(format!("{:?} case {i}: {e}", spec.format));
                }
            }
        }
        assert!(
            panics.is_empty(),
            "{} panics: {:?}",
            panics.len(),
            panics.iter().take(5).collect::<Vec<_>>()
        );
        Ok(())
    }
}
