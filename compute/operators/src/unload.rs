//! UNLOAD writers: turn record batches into files in an object store, as Redshift's
//! UNLOAD lays them out: `<prefix><slice>_part_<nn>` per slice (PARALLEL ON) or
//! `<prefix><nnn>` (PARALLEL OFF), Hive folders `col=value/` for PARTITION BY, a new
//! file whenever one passes MAXFILESIZE; delimited text, CSV, JSON lines or Parquet,
//! compressed with gzip, bzip2 or zstd.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_compression::tokio::write::{BzEncoder, GzipEncoder, ZstdEncoder};
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::WriterProperties;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::load::Compression;
use crate::load::store::Location;
use blueshift_storage::StorageError;

use crate::error::OperatorError;

/// UNLOAD's output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnloadFormat {
    Text,
    Csv,
    Json,
    Parquet,
}

/// How files are written.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnloadOptions {
    pub format: UnloadFormat,
    pub delimiter: char,
    /// What NULL is written as (text and CSV).
    pub null_as: String,
    pub header: bool,
    pub add_quotes: bool,
    pub escape: bool,
    pub compression: Compression,
    /// A file is closed, and the next one started, once it holds this many bytes.
    pub max_file_size: u64,
    /// Rows per Parquet row group.
    pub row_group_rows: Option<usize>,
    /// Indices of the PARTITION BY columns.
    pub partition_by: Vec<usize>,
    /// Keep the partition columns in the files (INCLUDE).
    pub include: bool,
    /// One numbered file sequence (PARALLEL OFF) rather than one per slice.
    pub serial: bool,
}

/// A file an UNLOAD wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct UnloadedFile {
    pub url: String,
    /// The object's size.
    pub bytes: u64,
    pub rows: u64,
}

type Sink = Pin<Box<dyn AsyncWrite + Send>>;

enum Writer {
    Bytes(Sink),
    Parquet(Box<AsyncArrowWriter<BufWriter>>),
}

struct OpenFile {
    writer: Writer,
    url: String,
    bytes: u64,
    rows: u64,
}

/// Writes one slice's (or the whole result's) rows.
pub struct UnloadWriter {
    target: Location,
    options: UnloadOptions,
    /// The result's schema, and the files' (without partition columns unless INCLUDE).
    schema: SchemaRef,
    file_schema: SchemaRef,
    file_columns: Vec<usize>,
    slice: u32,
    /// Partition folder → its open file and how many it has had.
    open: BTreeMap<String, (OpenFile, u32)>,
    done: Vec<UnloadedFile>,
}

fn encode_err(e: impl std::fmt::Display) -> OperatorError {
    OperatorError::Encode(e.to_string())
}

impl UnloadWriter {
    /// A writer of `schema`'s rows under `target` (the UNLOAD's `TO` prefix), named
    /// for `slice`.
    pub fn new(target: Location, schema: SchemaRef, options: UnloadOptions, slice: u32) -> Self {
        let file_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|i| options.include || !options.partition_by.contains(i))
            .collect();
        let file_schema = Arc::new(Schema::new(
            file_columns
                .iter()
                .map(|&i| schema.field(i).clone())
                .collect::<Vec<_>>(),
        ));
        UnloadWriter {
            target,
            options,
            schema,
            file_schema,
            file_columns,
            slice,
            open: BTreeMap::new(),
            done: vec![],
        }
    }

    /// Writes `batch`, split by partition.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.options.partition_by.is_empty() {
            let columns: Vec<ArrayRef> = self
                .file_columns
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect();
            let part =
                RecordBatch::try_new(Arc::clone(&self.file_schema), columns).map_err(encode_err)?;
            return self.write_to(String::new(), &part).await;
        }
        for (folder, rows) in self.partition_rows(batch)? {
            let indices = UInt32Array::from(rows);
            let columns = self
                .file_columns
                .iter()
                .map(|&i| arrow::compute::take(batch.column(i).as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(encode_err)?;
            let part =
                RecordBatch::try_new(Arc::clone(&self.file_schema), columns).map_err(encode_err)?;
            self.write_to(folder, &part).await?;
        }
        Ok(())
    }

    /// The rows of `batch` by partition folder (`col=value/...`).
    fn partition_rows(
        &self,
        batch: &RecordBatch,
    ) -> Result<BTreeMap<String, Vec<u32>>, OperatorError> {
        let formatters = self
            .options
            .partition_by
            .iter()
            .map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &FormatOptions::default()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(encode_err)?;
        let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut folder = String::new();
            for (f, &i) in formatters.iter().zip(&self.options.partition_by) {
                let value = if batch.column(i).is_null(row) {
                    "__HIVE_DEFAULT_PARTITION__".to_string()
                } else {
                    hive_escape(&f.value(row).to_string())
                };
                folder.push_str(&format!("{}={value}/", self.schema.field(i).name()));
            }
            groups.entry(folder).or_default().push(row as u32);
        }
        Ok(groups)
    }

    fn file_name(&self, folder: &str, part: u32) -> String {
        let mut name = String::new();
        let prefix = self.target.key.as_str();
        name.push_str(prefix);
        if !folder.is_empty() {
            if !name.is_empty() && !name.ends_with('/') {
                name.push('/');
            }
            name.push_str(folder);
        }
        if self.options.serial {
            name.push_str(&format!("{part:03}"));
        } else {
            name.push_str(&format!("{:04}_part_{part:02}", self.slice));
        }
        name.push_str(match self.options.format {
            UnloadFormat::Parquet => ".parquet",
            _ => "",
        });
        name.push_str(match self.options.compression {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Bzip2 => ".bz2",
            Compression::Zstd => ".zst",
        });
        name
    }

    /// What opening the next file of `folder` needs, owned, so no borrow of the
    /// writer is held while it opens.
    fn file_to_open(
        &self,
        folder: &str,
        part: u32,
    ) -> (Location, UnloadOptions, SchemaRef, String) {
        (
            self.target.clone(),
            self.options.clone(),
            Arc::clone(&self.file_schema),
            self.file_name(folder, part),
        )
    }

    async fn write_to(&mut self, folder: String, batch: &RecordBatch) -> Result<(), OperatorError> {
        if !self.open.contains_key(&folder) {
            let (target, options, schema, name) = self.file_to_open(&folder, 0);
            let file = open_file(target, options, schema, name).await?;
            self.open.insert(folder.clone(), (file, 0));
        }
        let encoded = match self.options.format {
            UnloadFormat::Parquet => None,
            UnloadFormat::Json => Some(encode_json(batch)?),
            _ => Some(encode_delimited(batch, &self.options)?),
        };
        let Some((file, _)) = self.open.get_mut(&folder) else {
            return Ok(());
        };
        match (&mut file.writer, encoded) {
            (Writer::Parquet(w), _) => {
                w.write(batch).await.map_err(encode_err)?;
                file.bytes = w.bytes_written() as u64 + w.in_progress_size() as u64;
            }
            (Writer::Bytes(sink), Some(bytes)) => {
                sink.write_all(&bytes).await.map_err(encode_err)?;
                file.bytes += bytes.len() as u64;
            }
            (Writer::Bytes(_), None) => {}
        }
        file.rows += batch.num_rows() as u64;
        if file.bytes >= self.options.max_file_size
            && let Some((file, count)) = self.open.remove(&folder)
        {
            self.done.push(close(file, &self.target).await?);
            let (target, options, schema, name) = self.file_to_open(&folder, count + 1);
            let next = open_file(target, options, schema, name).await?;
            self.open.insert(folder, (next, count + 1));
        }
        Ok(())
    }

    /// Closes every file; returns what was written.
    pub async fn finish(mut self) -> Result<Vec<UnloadedFile>, OperatorError> {
        for (_, (file, _)) in std::mem::take(&mut self.open) {
            self.done.push(close(file, &self.target).await?);
        }
        Ok(self.done)
    }
}

async fn open_file(
    target: Location,
    options: UnloadOptions,
    file_schema: SchemaRef,
    name: String,
) -> Result<OpenFile, OperatorError> {
    let path = Path::parse(&name).map_err(encode_err)?;
    let url = target.url_of(&path);
    let upload = BufWriter::new(Arc::clone(&target.store), path);
    let writer = match options.format {
        UnloadFormat::Parquet => {
            let mut props =
                WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY);
            if let Some(rows) = options.row_group_rows {
                props = props.set_max_row_group_row_count(Some(rows.max(1)));
            }
            Writer::Parquet(Box::new(
                AsyncArrowWriter::try_new(upload, Arc::clone(&file_schema), Some(props.build()))
                    .map_err(encode_err)?,
            ))
        }
        _ => Writer::Bytes(match options.compression {
            Compression::None => Box::pin(upload),
            Compression::Gzip => Box::pin(GzipEncoder::new(upload)),
            Compression::Bzip2 => Box::pin(BzEncoder::new(upload)),
            Compression::Zstd => Box::pin(ZstdEncoder::new(upload)),
        }),
    };
    let mut file = OpenFile {
        writer,
        url,
        bytes: 0,
        rows: 0,
    };
    if options.header
        && matches!(options.format, UnloadFormat::Text | UnloadFormat::Csv)
        && let Writer::Bytes(sink) = &mut file.writer
    {
        let mut line = file_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(&options.delimiter.to_string());
        line.push('\n');
        sink.write_all(line.as_bytes()).await.map_err(encode_err)?;
        file.bytes += line.len() as u64;
    }
    Ok(file)
}

async fn close(file: OpenFile, target: &Location) -> Result<UnloadedFile, OperatorError> {
    match file.writer {
        Writer::Parquet(w) => {
            w.close().await.map_err(encode_err)?;
        }
        Writer::Bytes(mut sink) => {
            sink.shutdown().await.map_err(|e| {
                OperatorError::Store(StorageError::ObjectIo {
                    url: file.url.clone(),
                    reason: e.to_string(),
                })
            })?;
        }
    }
    // The object's size as stored (after compression), for the manifest.
    let path = Path::parse(file.url.trim_start_matches(&target.base)).map_err(encode_err)?;
    let meta = target
        .store
        .head(&path)
        .await
        .map_err(|e| OperatorError::Store(StorageError::from_object_store(&file.url, e)))?;
    Ok(UnloadedFile {
        url: file.url,
        bytes: meta.size,
        rows: file.rows,
    })
}

/// A partition value as a folder name: `/` and the like percent-encoded.
fn hive_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || "-_.~ ".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Rows as delimited text or CSV.
fn encode_delimited(
    batch: &RecordBatch,
    options: &UnloadOptions,
) -> Result<Vec<u8>, OperatorError> {
    let format = FormatOptions::default()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
        .with_date_format(Some("%Y-%m-%d"));
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &format))
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode_err)?;
    let booleans: Vec<Option<&BooleanArray>> = batch
        .columns()
        .iter()
        .map(|c| c.as_any().downcast_ref::<BooleanArray>())
        .collect();
    let is_text: Vec<bool> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .collect();
    let csv = options.format == UnloadFormat::Csv;
    let delimiter = options.delimiter;
    let mut out = String::with_capacity(batch.num_rows() * 64);
    let mut value = String::new();
    for row in 0..batch.num_rows() {
        for (i, f) in formatters.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            if batch.column(i).is_null(row) {
                out.push_str(&options.null_as);
                continue;
            }
            value.clear();
            match booleans[i] {
                Some(b) => value.push(if b.value(row) { 't' } else { 'f' }),
                None => {
                    use std::fmt::Write;
                    write!(value, "{}", f.value(row)).map_err(encode_err)?;
                }
            }
            if csv {
                // Quoted when needed, and always when empty (so it is not NULL).
                let quote = options.add_quotes
                    || (is_text[i] && value.is_empty())
                    || value.contains([delimiter, '"', '\n', '\r']);
                if quote {
                    out.push('"');
                    out.push_str(&value.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(&value);
                }
            } else {
                if options.add_quotes {
                    out.push('"');
                }
                if options.escape {
                    for c in value.chars() {
                        if c == delimiter || c == '\\' || c == '\n' || c == '\r' || c == '"' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                } else {
                    out.push_str(&value);
                }
                if options.add_quotes {
                    out.push('"');
                }
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Rows as JSON objects, one per line; NULLs as JSON null.
fn encode_json(batch: &RecordBatch) -> Result<Vec<u8>, OperatorError> {
    let mut out = Vec::new();
    {
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut out);
        writer.write(batch).map_err(encode_err)?;
        writer.finish().map_err(encode_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::Field;

    fn options(format: UnloadFormat) -> UnloadOptions {
        UnloadOptions {
            format,
            delimiter: '|',
            null_as: String::new(),
            header: false,
            add_quotes: false,
            escape: false,
            compression: Compression::None,
            max_file_size: u64::MAX,
            row_group_rows: None,
            partition_by: vec![],
            include: false,
            serial: false,
        }
    }

    #[test]
    fn delimited_rows() -> Result<(), OperatorError> {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("x|y"), Some(""), None])),
            ],
        )
        .map_err(encode_err)?;
        let mut text = options(UnloadFormat::Text);
        text.escape = true;
        text.null_as = "\\N".into();
        assert_eq!(
            String::from_utf8_lossy(&encode_delimited(&batch, &text)?),
            "1|x\\|y\n\\N|\n3|\\N\n"
        );
        let mut csv = options(UnloadFormat::Csv);
        csv.delimiter = ',';
        assert_eq!(
            String::from_utf8_lossy(&encode_delimited(&batch, &csv)?),
            "1,x|y\n,\"\"\n3,\n"
        );
        assert_eq!(hive_escape("a/b c"), "a%2Fb c");
        Ok(())
    }
}
