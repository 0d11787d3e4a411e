//! [`LoadExec`]: the leaf of a COPY plan; partition *i* loads the files the leader
//! gave slice *i*.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, ZstdDecoder};
use blueshift_proto::{LoadErrorRecord, LoadFileStats};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncBufRead, BufReader};
use tokio::sync::mpsc::Sender;

use super::columnar::{Source, value_text};
use super::convert::{BATCH_ROWS, Rejection};
use super::convert::{Input, RowConverter, RowError};
use super::fields::Splitter;
use super::json;
use super::records::{RecordMode, RecordReader};
use super::spec::{Compression, FilePart, LoadFile, LoadFormat, LoadPartition, LoadSpec};
use super::store;
use blueshift_storage::StorageError;

use crate::error::OperatorError;

/// STL_LOAD_ERRORS keeps this much of a line or field.
const RAW_CHARS: usize = 1024;

/// What a load has done so far: its files and its rejected rows.
#[derive(Default)]
struct Progress {
    files: Vec<LoadFileStats>,
    errors: Vec<LoadErrorRecord>,
}

/// Loads one COPY's files; one output partition per slice.
pub struct LoadExec {
    spec: Arc<LoadSpec>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    progress: Arc<Mutex<Progress>>,
    /// For COPY FROM STDIN: the client's data, read by the one partition.
    stdin: Option<SharedReader>,
}

/// Input bytes, possibly decompressed.
pub type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

/// A reader handed to the partition that takes it.
type SharedReader = Arc<Mutex<Option<Reader>>>;

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("files", &self.files.len())
            .field("errors", &self.errors.len())
            .finish()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn store_error(e: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(OperatorError::Store(e)))
}

fn truncated(s: &str) -> String {
    s.chars().take(RAW_CHARS).collect()
}

impl LoadExec {
    pub fn new(spec: LoadSpec) -> Self {
        let schema = Arc::new(Schema::new(
            spec.columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
                .collect::<Vec<_>>(),
        ));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(spec.partitions.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        LoadExec {
            spec: Arc::new(spec),
            schema,
            properties,
            progress: Arc::default(),
            stdin: None,
        }
    }

    /// A load of the bytes `reader` gives (COPY FROM STDIN), in one partition
    /// named `stdin`. It runs where it is built: the data cannot be shipped.
    pub fn from_reader(mut spec: LoadSpec, reader: Reader) -> Self {
        spec.partitions = vec![LoadPartition {
            slice: 0,
            files: vec![LoadFile::whole(STDIN.into(), 0)],
        }];
        let mut load = LoadExec::new(spec);
        load.stdin = Some(Arc::new(Mutex::new(Some(reader))));
        load
    }

    pub fn spec(&self) -> &LoadSpec {
        &self.spec
    }

    /// The slice each partition loads for.
    pub fn slices(&self) -> Vec<u32> {
        self.spec.partitions.iter().map(|p| p.slice).collect()
    }

    /// The load in `plan`, if it has one.
    pub fn find(plan: &Arc<dyn ExecutionPlan>) -> Option<&LoadExec> {
        if let Some(load) = plan.downcast_ref::<LoadExec>() {
            return Some(load);
        }
        plan.children().into_iter().find_map(LoadExec::find)
    }

    /// The files read so far.
    pub fn files(&self) -> Vec<LoadFileStats> {
        self.progress
            .lock()
            .map(|p| p.files.clone())
            .unwrap_or_default()
    }

    /// The rows rejected so far.
    pub fn errors(&self) -> Vec<LoadErrorRecord> {
        self.progress
            .lock()
            .map(|p| p.errors.clone())
            .unwrap_or_default()
    }
}

impl fmt::Debug for LoadExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadExec")
            .field("table", &self.spec.table_name)
            .finish_non_exhaustive()
    }
}

/// The file name of COPY FROM STDIN's data (STL_LOAD_ERRORS.filename).
pub const STDIN: &str = "stdin";

impl DisplayAs for LoadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.spec.partitions.iter().map(|p| p.files.len()).sum();
        write!(
            f,
            "LoadExec: table={}, format={:?}, files={files}, {}",
            self.spec.table_name, self.spec.format, self.spec.store
        )
    }
}

impl ExecutionPlan for LoadExec {
    fn name(&self) -> &str {
        "LoadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStream::builder(Arc::clone(&self.schema), 2);
        let tx = builder.tx();
        let loader = PartitionLoader {
            spec: Arc::clone(&self.spec),
            schema: Arc::clone(&self.schema),
            progress: Arc::clone(&self.progress),
            slice: self.spec.partitions.get(partition).map_or(0, |p| p.slice),
            errors: 0,
            tx,
            stdin: self.stdin.clone(),
        };
        builder.spawn(loader.run(partition));
        Ok(builder.build())
    }
}

/// Loads one partition's files.
struct PartitionLoader {
    spec: Arc<LoadSpec>,
    schema: SchemaRef,
    progress: Arc<Mutex<Progress>>,
    slice: u32,
    /// Rows rejected by this partition.
    errors: u64,
    tx: Sender<Result<RecordBatch>>,
    stdin: Option<SharedReader>,
}

impl PartitionLoader {
    async fn run(mut self, partition: usize) -> Result<()> {
        let files = self
            .spec
            .partitions
            .get(partition)
            .map(|p| p.files.clone())
            .unwrap_or_default();
        let mut converter = RowConverter::try_new(&self.spec.columns, &self.spec.options)
            .map_err(DataFusionError::Plan)?;
        // Every file is listed from the start, so progress shows what is left.
        let indices: Vec<usize> = files.iter().map(|f| self.add_file(f)).collect();
        for (file, index) in files.iter().zip(indices) {
            let open = if self.spec.format.is_text() {
                self.load_text(file, index, &mut converter).await
            } else {
                self.load_columnar(file, index).await
            };
            let done = open?;
            self.update(index, |f| {
                f.complete = true;
                f.bytes_read = f.size;
            });
            if !done || self.over_limit() {
                break;
            }
        }
        if converter.rows() > 0 {
            self.emit(&mut converter).await?;
        }
        Ok(())
    }

    fn over_limit(&self) -> bool {
        self.errors > self.spec.options.max_error
    }

    fn add_file(&self, file: &LoadFile) -> usize {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.files.push(LoadFileStats {
            slice: self.slice,
            url: file.url.clone(),
            size: file.weight(),
            end_micros: now_micros(),
            offset: file.offset(),
            partial: file.part.is_some(),
            ..LoadFileStats::default()
        });
        progress.files.len() - 1
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut LoadFileStats)) {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stats) = progress.files.get_mut(index) {
            f(stats);
            stats.end_micros = now_micros();
        }
    }

    /// Sends the converted rows on; false when nobody reads them any more.
    async fn emit(&self, converter: &mut RowConverter) -> Result<bool> {
        let columns = converter.finish()?;
        if self.spec.options.no_load {
            return Ok(true);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        Ok(self.tx.send(Ok(batch)).await.is_ok())
    }

    async fn open(&self, file: &LoadFile, read: Arc<AtomicU64>) -> Result<Reader> {
        let location = store::open(&file.url, &self.spec.store).map_err(store_error)?;
        // A part of a file is read from the byte before it (to find where its first
        // record starts) to the end of the file, as far as its records go.
        let options = match file.part {
            Some(FilePart::Bytes { start, .. }) if start > 0 => object_store::GetOptions {
                range: Some(object_store::GetRange::Offset(start - 1)),
                ..Default::default()
            },
            _ => object_store::GetOptions::default(),
        };
        let result = location
            .store
            .get_opts(&location.path, options)
            .await
            .map_err(|e| store_error(StorageError::from_object_store(&file.url, e)))?;
        let url = file.url.clone();
        let bytes = result
            .into_stream()
            .inspect_ok(move |b| {
                read.fetch_add(b.len() as u64, Ordering::Relaxed);
            })
            .map_err(move |e| std::io::Error::other(StorageError::from_object_store(&url, e)));
        let raw = tokio_util::io::StreamReader::new(bytes);
        Ok(match self.spec.compression {
            Compression::None => Box::pin(raw),
            Compression::Gzip => {
                let mut decoder = GzipDecoder::new(raw);
                decoder.multiple_members(true);
                Box::pin(BufReader::with_capacity(64 * 1024, decoder))
            }
            Compression::Bzip2 => {
                Box::pin(BufReader::with_capacity(64 * 1024, BzDecoder::new(raw)))
            }
            Compression::Zstd => {
                let mut decoder = ZstdDecoder::new(raw);
                decoder.multiple_members(true);
                Box::pin(BufReader::with_capacity(64 * 1024, decoder))
            }
        })
    }

    /// Records a rejected row.
    #[allow(clippy::too_many_arguments)]
    fn reject(
        &mut self,
        index: usize,
        file: &LoadFile,
        line: u64,
        raw_line: &str,
        column: Option<usize>,
        raw_field: &str,
        position: usize,
        code: i32,
        reason: String,
    ) {
        self.errors += 1;
        let (colname, column_type, col_length) = match column.and_then(|c| self.spec.columns.get(c))
        {
            Some(c) => (
                c.name.clone(),
                c.data_type.to_string(),
                c.max_bytes.map_or(-1, |n| n as i64),
            ),
            None => (String::new(), String::new(), -1),
        };
        let record = LoadErrorRecord {
            slice: self.slice,
            url: file.url.clone(),
            line_number: line,
            colname,
            column_type,
            col_length,
            position: position as u64,
            raw_line: truncated(raw_line),
            raw_field_value: truncated(raw_field),
            err_code: code,
            err_reason: reason,
            micros: now_micros(),
            table_id: self.spec.table_id,
            partial: file.part.is_some(),
            start_offset: file.offset(),
        };
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.errors.push(record);
        if let Some(f) = progress.files.get_mut(index) {
            f.errors += 1;
        }
    }

    /// Loads a text, CSV or JSON file; false when the output is closed.
    async fn load_text(
        &mut self,
        file: &LoadFile,
        index: usize,
        converter: &mut RowConverter,
    ) -> Result<bool> {
        let read = Arc::new(AtomicU64::new(0));
        let given = self
            .stdin
            .as_ref()
            .and_then(|s| s.lock().ok().and_then(|mut r| r.take()));
        let reader = match given {
            Some(reader) => reader,
            None => self.open(file, Arc::clone(&read)).await?,
        };
        let options = self.spec.options.clone();
        let (mode, splitter) = match &self.spec.format {
            LoadFormat::Text => (
                RecordMode::Text {
                    escape: options.escape,
                },
                Some(Splitter::Text {
                    delimiter: options.delimiter,
                    escape: options.escape,
                    remove_quotes: options.remove_quotes,
                    control_escapes: options.postgres_text,
                }),
            ),
            LoadFormat::Csv { quote } => (
                RecordMode::Csv {
                    quote: u8::try_from(*quote).unwrap_or(b'"'),
                },
                Some(Splitter::Csv {
                    delimiter: options.delimiter,
                    quote: *quote,
                }),
            ),
            LoadFormat::Json(_) => (RecordMode::Json, None),
            LoadFormat::Parquet | LoadFormat::Orc | LoadFormat::Avro(_) => {
                return Err(DataFusionError::Internal(format!(
                    "{} is not read as text",
                    self.spec.format.name()
                )));
            }
        };
        let json_names = json::keys(&self.spec);
        // Reading the object failed (the store's error), or its bytes are bad (a
        // corrupt gzip stream, a record too long): the file's fault.
        let io = |e: std::io::Error| {
            let url = file.url.clone();
            let error = match e.get_ref().and_then(|i| i.downcast_ref::<StorageError>()) {
                Some(StorageError::ObjectNotFound { url }) => {
                    StorageError::ObjectNotFound { url: url.clone() }
                }
                Some(StorageError::AccessDenied { url, reason }) => StorageError::AccessDenied {
                    url: url.clone(),
                    reason: reason.clone(),
                },
                Some(StorageError::ObjectIo { url, reason })
                | Some(StorageError::BadUrl { url, reason })
                | Some(StorageError::BadData { url, reason }) => StorageError::ObjectIo {
                    url: url.clone(),
                    reason: reason.clone(),
                },
                Some(other) => StorageError::ObjectIo {
                    url,
                    reason: other.to_string(),
                },
                None => StorageError::BadData {
                    url,
                    reason: e.to_string(),
                },
            };
            store_error(error)
        };
        let mut records = RecordReader::new(reader, mode);
        // A part's records are those that start in its bytes: after the end of the
        // line that runs into it (read from the byte before the part), up to its
        // end. Where a record may span lines (a quoted newline in CSV, an object
        // over several lines in JSON), that line end may be inside a record: the
        // part reports where it started and where it stopped, and the leader checks
        // that each part starts where the one before it stopped.
        let base = match file.part {
            Some(FilePart::Bytes { start, .. }) => start.saturating_sub(1),
            _ => 0,
        };
        if let Some(FilePart::Bytes { start, end }) = file.part {
            if start > 0 {
                records.skip_lines(1).await.map_err(io)?;
            }
            records.set_limit(end - base);
        }
        let first_record = base + records.bytes();
        if file.offset() == 0 {
            records
                .skip_lines(options.ignore_header)
                .await
                .map_err(io)?;
        }
        let mut buf = Vec::new();
        let mut loaded = 0u64;
        let input_fields = self.spec.input_fields;
        // Whether the input (or the part) was read to its end.
        let mut to_end = false;
        loop {
            let Some(line) = records.next_record(&mut buf).await.map_err(io)? else {
                to_end = true;
                break;
            };
            if options.postgres_text && buf == b"\\." {
                to_end = true;
                break;
            }
            let text: Cow<str> = match std::str::from_utf8(&buf) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => match options.accept_inv_chars {
                    Some(c) => Cow::Owned(replace_invalid(&buf, c)),
                    None => {
                        let lossy = String::from_utf8_lossy(&buf).into_owned();
                        self.reject(
                            index,
                            file,
                            line,
                            &lossy,
                            None,
                            "",
                            0,
                            1220,
                            "String contains invalid or unsupported UTF8 codepoints".into(),
                        );
                        if self.over_limit() {
                            break;
                        }
                        continue;
                    }
                },
            };
            let outcome: Result<(), Rejection> = match splitter {
                Some(splitter) => {
                    let mut fields = Vec::with_capacity(input_fields);
                    match splitter.split(&text, &mut fields) {
                        Err(e) => Err((None, String::new(), e.offset, 1216, e.reason.to_string())),
                        Ok(()) if fields.len() > input_fields => Err((
                            None,
                            String::new(),
                            fields.get(input_fields).map_or(0, |f| f.offset),
                            1202,
                            format!(
                                "Extra column(s) found: {} fields, {input_fields} expected",
                                fields.len()
                            ),
                        )),
                        Ok(()) if fields.len() < input_fields && !options.fill_record => Err((
                            None,
                            String::new(),
                            text.len(),
                            1214,
                            format!(
                                "Delimiter not found: {} fields, {input_fields} expected",
                                fields.len()
                            ),
                        )),
                        Ok(()) => converter
                            .push_row(|i| {
                                fields.get(i).map(|f| Input {
                                    text: Some(f.text.as_ref()),
                                    checks: !f.quoted,
                                    raw: f.raw,
                                })
                            })
                            .map_err(|RowError { column, error }| {
                                let at = self.spec.columns[column].input;
                                let field = at.and_then(|i| fields.get(i));
                                (
                                    Some(column),
                                    field.map_or(String::new(), |f| f.raw.to_string()),
                                    field.map_or(0, |f| f.offset),
                                    error.code,
                                    error.reason,
                                )
                            }),
                    }
                }
                None => json::row(&self.spec, &text, &json_names, converter),
            };
            match outcome {
                Ok(()) => loaded += 1,
                Err((column, raw_field, position, code, reason)) => {
                    self.reject(
                        index, file, line, &text, column, &raw_field, position, code, reason,
                    );
                    if self.over_limit() {
                        break;
                    }
                }
            }
            if converter.rows() >= BATCH_ROWS {
                let lines = records.lines();
                let bytes = read.load(Ordering::Relaxed);
                self.update(index, |f| {
                    f.lines_scanned = lines;
                    f.rows_loaded = loaded;
                    f.bytes_read = bytes;
                });
                if !self.emit(converter).await? {
                    return Ok(false);
                }
            }
        }
        let lines = records.lines();
        let next_record = to_end.then(|| base + records.bytes());
        self.update(index, |f| {
            f.lines_scanned = lines;
            f.rows_loaded = loaded;
            f.first_record = first_record;
            f.next_record = next_record;
        });
        Ok(true)
    }

    /// Loads a Parquet, ORC or Avro file (or part of one) through its reader
    /// ([`Source`]).
    async fn load_columnar(&mut self, file: &LoadFile, index: usize) -> Result<bool> {
        let name = self.spec.format.name();
        // Row numbers in errors count from the start of the part a slice reads.
        let part = match file.part {
            Some(FilePart::Bytes { start, .. }) => format!(" (in the part from byte {start})"),
            Some(FilePart::RowGroups { start, .. }) => {
                format!(" (in the part from row group {start})")
            }
            None => String::new(),
        };
        let bad = |reason: String| {
            store_error(StorageError::BadData {
                url: file.url.clone(),
                reason: format!("COPY from {name}: {reason}{part}"),
            })
        };
        let location = store::open(&file.url, &self.spec.store).map_err(store_error)?;
        let mut source = Source::open(&self.spec, file, location)
            .await
            .map_err(bad)?;
        // Avro's bad values reject their rows, up to MAXERROR; Parquet's and ORC's fail
        // the COPY, as on Redshift.
        let rows_rejected = matches!(self.spec.format, LoadFormat::Avro(_));
        let (mut scanned, mut loaded) = (0u64, 0u64);
        while let Some(batch) = source.batches.next().await {
            let batch = batch.map_err(bad)?;
            let columns = match source.table_columns(&self.spec, &batch, scanned) {
                Ok(columns) => columns,
                Err(_) if rows_rejected => {
                    let good = self.reject_rows(&source, file, index, &batch, scanned);
                    let good = arrow::compute::take_record_batch(&batch, &good)?;
                    source
                        .table_columns(&self.spec, &good, scanned)
                        .map_err(|e| bad(e.to_string()))?
                }
                Err(e) => return Err(bad(e.to_string())),
            };
            scanned += batch.num_rows() as u64;
            loaded += columns.first().map_or(0, |c| c.len()) as u64;
            self.update(index, |f| {
                f.rows_loaded = loaded;
                f.lines_scanned = scanned;
            });
            if self.over_limit() {
                return Ok(true);
            }
            if self.spec.options.no_load {
                continue;
            }
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
            if self.tx.send(Ok(batch)).await.is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks `batch`, which has a bad value, row by row: records each bad row (its
    /// number in the file counting from 1, after `scanned` rows) and returns the
    /// good rows' positions. Stops at the row past MAXERROR.
    fn reject_rows(
        &mut self,
        source: &Source,
        file: &LoadFile,
        index: usize,
        batch: &RecordBatch,
        scanned: u64,
    ) -> UInt32Array {
        let mut good = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let number = scanned + row as u64;
            match source.table_columns(&self.spec, &batch.slice(row, 1), number) {
                Ok(_) => good.push(row as u32),
                Err(e) => {
                    let line: Vec<String> =
                        batch.columns().iter().map(|c| value_text(c, row)).collect();
                    let (column, code, raw) = (Some(e.column), e.code, e.raw.clone());
                    let line = line.join("|");
                    self.reject(
                        index,
                        file,
                        number + 1,
                        &line,
                        column,
                        &raw,
                        0,
                        code,
                        e.reason,
                    );
                    if self.over_limit() {
                        break;
                    }
                }
            }
        }
        UInt32Array::from(good)
    }
}

/// `bytes` with each byte of every invalid UTF-8 sequence replaced by `c`.
fn replace_invalid(bytes: &[u8], c: char) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(c);
        }
    }
    out
}
