//! COPY: the leader lists the source, spreads its files over the slices and ships a
//! [`LoadExec`] fragment to the compute nodes. There [`LoadWriteExec`] routes the
//! rows each slice parses to their slices and writes them as staged segments; the
//! leader commits them all in one new table version, or none. COPY FROM STDIN parses
//! on the leader and routes through [`SliceSink`].

use super::outcome::Outcome;
use std::collections::BTreeMap;
use std::sync::Arc;

use blueshift_operators::load::spec::JsonStep;
use blueshift_operators::load::store;
use blueshift_operators::load::{
    Compression, JsonPaths, LoadColumn, LoadExec, LoadFile, LoadFormat, LoadPartition, LoadSpec,
    LoadWriteExec, Reader, StoreConfig, WriteTarget,
};
use blueshift_operators::schema_bytes::schema_to_bytes;
use blueshift_storage::catalog::{SegmentRef, SortStyle, TableDef};
use datafusion::execution::context::SessionState;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use serde::Deserialize;

use super::Engine;
use crate::commit::CommitPoint;
use crate::engine::admission::StatementKind;
use crate::error::{ErrorKind, LeaderError};
use crate::interrupt::Interrupt;
use crate::planner::fragment::RemoteFragmentExec;
use crate::planner::table::SliceSink;
use crate::query_log::{QueryEntry, QueryLog};
use crate::session::Session;
use crate::sql::copy::{CopyFormat, CopySource, CopyStatement};

mod split;

use split::{needs_range_check, ranges_line_up, split_files};

#[derive(Deserialize)]
struct Manifest {
    entries: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    url: String,
    #[serde(default)]
    mandatory: bool,
    #[serde(default)]
    meta: Option<ManifestMeta>,
}

#[derive(Deserialize)]
struct ManifestMeta {
    content_length: Option<u64>,
}

#[derive(Deserialize)]
struct JsonPathsFile {
    jsonpaths: Vec<String>,
}

/// `$.a.b[0]`, `$['a']["b"]` → steps.
fn json_path_steps(path: &str) -> Result<Vec<JsonStep>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("JSONPath '{path}' must start with $"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(format!("JSONPath '{path}' has an empty key"));
                }
                steps.push(JsonStep::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(JsonStep::Key(q.to_string()));
                } else {
                    steps.push(JsonStep::Index(inner.parse().map_err(|_| {
                        format!("JSONPath '{path}': '[{inner}]' is not an index or a quoted key")
                    })?));
                }
            }
            other => return Err(format!("JSONPath '{path}': unexpected '{other}'")),
        }
    }
    Ok(steps)
}

impl Engine {
    /// The table's columns as a load fills them: the COPY's column list (all columns
    /// when it has none) in input order; the others take their DEFAULT or NULL.
    fn load_columns(
        def: &TableDef,
        list: Option<&[String]>,
    ) -> Result<(Vec<LoadColumn>, usize), LeaderError> {
        let mut columns: Vec<LoadColumn> = def
            .columns
            .iter()
            .map(|c| LoadColumn {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                nullable: c.nullable,
                max_bytes: c.max_bytes(),
                input: None,
                default: c.missing_value.clone(),
            })
            .collect();
        let inputs = match list {
            None => {
                for (i, c) in columns.iter_mut().enumerate() {
                    c.input = Some(i);
                }
                columns.len()
            }
            Some(names) => {
                for (i, name) in names.iter().enumerate() {
                    let at = def.column_index(name).ok_or_else(|| LeaderError::Failure {
                        kind: ErrorKind::UndefinedColumn,
                        message: format!(
                            "column \"{name}\" of relation \"{}\" does not exist",
                            def.name
                        ),
                    })?;
                    if columns[at].input.is_some() {
                        return Err(LeaderError::DuplicateColumn(name.clone()));
                    }
                    columns[at].input = Some(i);
                }
                names.len()
            }
        };
        Ok((columns, inputs))
    }

    /// The files a COPY reads: the keys under the prefix, or the manifest's entries.
    async fn list_source(
        url: &str,
        manifest: bool,
        store: &StoreConfig,
    ) -> Result<Vec<LoadFile>, LeaderError> {
        if !manifest {
            let found = store::list_prefix(url, store)
                .await
                .map_err(LeaderError::from)?;
            if found.is_empty() {
                return Err(LeaderError::Failure {
                    kind: ErrorKind::UndefinedFile,
                    message: format!("The specified S3 prefix '{url}' does not exist"),
                });
            }
            return Ok(found
                .into_iter()
                .map(|(url, size)| LoadFile::whole(url, size))
                .collect());
        }
        let bytes = store::read_all(url, store)
            .await
            .map_err(LeaderError::from)?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| LeaderError::Failure {
                kind: ErrorKind::BadCopyFileFormat,
                message: format!("Manifest file '{url}' is not valid: {e}"),
            })?;
        let mut files = Vec::with_capacity(manifest.entries.len());
        for entry in manifest.entries {
            let size = match entry.meta.and_then(|m| m.content_length) {
                Some(n) => Some(n),
                None => store::size_of(&entry.url, store)
                    .await
                    .map_err(LeaderError::from)?,
            };
            match size {
                Some(size) => files.push(LoadFile::whole(entry.url, size)),
                None if entry.mandatory => {
                    return Err(LeaderError::Failure {
                        kind: ErrorKind::UndefinedFile,
                        message: format!(
                            "Manifest file '{url}': mandatory entry '{}' does not exist",
                            entry.url
                        ),
                    });
                }
                None => {}
            }
        }
        Ok(files)
    }

    /// Spreads `files` over `slices`: largest first, each to the least loaded slice.
    fn assign_files(mut files: Vec<LoadFile>, slices: u32) -> Vec<LoadPartition> {
        files.sort_by(|a, b| {
            b.weight()
                .cmp(&a.weight())
                .then_with(|| a.url.cmp(&b.url))
                .then_with(|| a.offset().cmp(&b.offset()))
        });
        let mut partitions: Vec<(u64, LoadPartition)> = (0..slices.max(1))
            .map(|slice| {
                (
                    0,
                    LoadPartition {
                        slice,
                        files: vec![],
                    },
                )
            })
            .collect();
        for file in files {
            if let Some((load, partition)) = partitions
                .iter_mut()
                .min_by_key(|(load, p)| (*load, p.slice))
            {
                *load += file.weight().max(1);
                partition.files.push(file);
            }
        }
        partitions
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| !p.files.is_empty())
            .collect()
    }

    /// The format as a compute node reads it.
    async fn load_format(
        format: &CopyFormat,
        store: &StoreConfig,
        inputs: usize,
    ) -> Result<LoadFormat, LeaderError> {
        Ok(match format {
            CopyFormat::Text => LoadFormat::Text,
            CopyFormat::Csv { quote } => LoadFormat::Csv { quote: *quote },
            CopyFormat::Parquet => LoadFormat::Parquet,
            CopyFormat::Orc => LoadFormat::Orc,
            CopyFormat::Json(option) => {
                LoadFormat::Json(Self::json_paths(option, "JSON", store, inputs).await?)
            }
            CopyFormat::Avro(option) => {
                LoadFormat::Avro(Self::json_paths(option, "AVRO", store, inputs).await?)
            }
        })
    }

    /// JSON's or AVRO's option: `'auto'`, `'auto ignorecase'` or a JSONPaths file
    /// with a path for each of the COPY's `inputs` columns.
    async fn json_paths(
        option: &str,
        format: &str,
        store: &StoreConfig,
        inputs: usize,
    ) -> Result<JsonPaths, LeaderError> {
        Ok(match option.to_ascii_lowercase().trim() {
            "auto" => JsonPaths::Auto { ignore_case: false },
            "auto ignorecase" => JsonPaths::Auto { ignore_case: true },
            _ if option.starts_with("s3://") || option.starts_with("file://") => {
                let bytes = store::read_all(option, store)
                    .await
                    .map_err(LeaderError::from)?;
                let bad = |reason: String| LeaderError::Failure {
                    kind: ErrorKind::BadCopyFileFormat,
                    message: format!("JSONPaths file '{option}': {reason}"),
                };
                let file: JsonPathsFile =
                    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
                if file.jsonpaths.len() != inputs {
                    return Err(bad(format!(
                        "it has {} paths but the COPY loads {inputs} columns",
                        file.jsonpaths.len()
                    )));
                }
                let paths = file
                    .jsonpaths
                    .iter()
                    .map(|p| json_path_steps(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                JsonPaths::Paths(paths)
            }
            _ => {
                return Err(LeaderError::InvalidParameter(format!(
                    "{format} must be 'auto', 'auto ignorecase' or the location of a JSONPaths file, not '{option}'"
                )));
            }
        })
    }

    /// The table, columns and load options of a COPY, before its source is read.
    async fn copy_spec(
        &self,
        session: &Session,
        stmt: &CopyStatement,
    ) -> Result<(TableDef, LoadSpec), LeaderError> {
        let def = self.copy_target(session, stmt)?;
        super::identity::check_copy(&def, stmt.options.explicit_ids)?;
        let (mut columns, inputs) = Self::load_columns(&def, stmt.columns.as_deref())?;
        self.fill_defaults(&def, &mut columns).await?;
        let spec = LoadSpec {
            table_id: def.id,
            table_name: def.qualified_name(),
            columns,
            input_fields: inputs,
            format: LoadFormat::Text,
            compression: stmt.compression,
            options: stmt.options.clone(),
            store: StoreConfig::default(),
            partitions: vec![],
        };
        Ok((def, spec))
    }

    /// Runs a COPY from S3 or a local path.
    pub(super) async fn copy(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let CopySource::Url(url) = &stmt.source else {
            return Err(LeaderError::Unsupported("COPY FROM STDIN here".into()));
        };
        let (def, mut spec) = self.copy_spec(session, stmt).await?;
        spec.store = self.s3.store_for(&stmt.auth)?;
        if url.starts_with("s3://") && spec.store.access_key_id.is_none() {
            return Err(LeaderError::InvalidParameter(
                "COPY from S3 needs IAM_ROLE, ACCESS_KEY_ID and SECRET_ACCESS_KEY, or CREDENTIALS"
                    .into(),
            ));
        }
        spec.format = Self::load_format(&stmt.format, &spec.store, spec.input_fields).await?;
        let files = Self::list_source(url, stmt.manifest, &spec.store).await?;
        let split = split_files(files.clone(), &spec).await?;
        let mut check_ranges = needs_range_check(&split, &spec.format);
        spec.partitions = Self::assign_files(split, self.cluster.layout().slice_count());
        let (state, _guard) = self.admit(session, StatementKind::Copy).await?;
        let analyze = self.analyzes_after_load(session, stmt, &def)?;
        let query_id = session.current_query().unwrap_or(0);
        let load = LoadRun {
            commits: self.commits_of(session),
            cluster: self.cluster.clone(),
            query_log: Arc::clone(&self.query_log),
            query_id,
            user_id: session.user_id(),
        };
        let attempts = async {
            loop {
                let plan = self.load_plan(&def, &spec)?;
                match load
                    .run(&state, &def, &spec, plan, None, check_ranges)
                    .await?
                {
                    Loaded::Done(rows) => return Ok(rows),
                    Loaded::Misaligned => {
                        tracing::info!(
                            "COPY {query_id}: a record spans the start of a byte range; loading the files whole"
                        );
                        self.query_log.loads.forget(query_id);
                        self.collect_garbage_when_idle();
                        spec.partitions =
                            Self::assign_files(files.clone(), self.cluster.layout().slice_count());
                        check_ranges = false;
                    }
                }
            }
        };
        let result = interrupt.run(attempts).await;
        load.finish(&result, stmt.format.name());
        if query_id != 0 {
            session.set_last_copy_id(query_id);
        }
        match result {
            Ok(rows) => {
                let rows = rows.unwrap_or(0);
                if analyze && rows > 0 {
                    self.analyze_loaded(session, &state, &def).await;
                }
                Ok(Outcome::done_rows("COPY", rows))
            }
            Err(e) => {
                self.collect_garbage_when_idle();
                Err(e)
            }
        }
    }

    /// Whether a COPY into `def` analyzes it after loading: STATUPDATE ON, or no
    /// STATUPDATE and a table empty before the load (Redshift's rule).
    fn analyzes_after_load(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        def: &TableDef,
    ) -> Result<bool, LeaderError> {
        Ok(match stmt.stat_update {
            Some(on) => on,
            None => self.catalog_of(session).version(def.id)?.rows() == 0,
        })
    }

    /// The plan of a COPY from files: each slice's loader on the compute nodes,
    /// writing what it loads; `None` when there is nothing to load.
    fn load_plan(
        &self,
        def: &TableDef,
        spec: &LoadSpec,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>, LeaderError> {
        if spec.partitions.is_empty() {
            return Ok(None);
        }
        let load: Arc<dyn ExecutionPlan> = Arc::new(LoadExec::new(spec.clone()));
        let exec: Arc<dyn ExecutionPlan> =
            Arc::new(LoadWriteExec::try_new(load, self.write_target(def)?)?);
        Ok(Some(Arc::new(CoalescePartitionsExec::new(Arc::new(
            RemoteFragmentExec::try_new(exec, self.cluster.clone())?,
        )))))
    }

    /// Starts a COPY FROM STDIN: the client's CopyData goes to a load that runs on
    /// the leader; the result comes at CopyDone ([`crate::session::CopyIn`]).
    pub(super) async fn copy_from_stdin(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        entry: &mut Option<QueryEntry>,
    ) -> Result<Outcome, LeaderError> {
        let (def, spec) = self
            .copy_spec(
                session,
                &CopyStatement {
                    compression: Compression::None,
                    ..stmt.clone()
                },
            )
            .await?;
        let mut spec = spec;
        spec.format = match &stmt.format {
            CopyFormat::Text => LoadFormat::Text,
            CopyFormat::Csv { quote } => LoadFormat::Csv { quote: *quote },
            other => {
                return Err(LeaderError::Unsupported(format!(
                    "COPY FROM STDIN in {} format",
                    other.name()
                )));
            }
        };
        let columns = spec.input_fields;
        let (data, received) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let bytes = tokio_stream_of(received);
        let reader: Reader = Box::pin(tokio_util::io::StreamReader::new(bytes));
        let exec = Arc::new(LoadExec::from_reader(spec.clone(), reader));
        let (state, guard) = self.admit(session, StatementKind::Copy).await?;
        let analyze = self
            .analyzes_after_load(session, stmt, &def)?
            .then(|| def.clone());
        let query_id = session.current_query().unwrap_or(0);
        if query_id != 0 {
            session.set_last_copy_id(query_id);
        }
        let load = LoadRun {
            commits: self.commits_of(session),
            cluster: self.cluster.clone(),
            query_log: Arc::clone(&self.query_log),
            query_id,
            user_id: session.user_id(),
        };
        let format_name = stmt.format.name();
        let entry = entry.take();
        let task = tokio::spawn(async move {
            let _slot = guard;
            let plan: Arc<dyn ExecutionPlan> = exec.clone();
            let result = load
                .run(&state, &def, &spec, Some(plan), Some(exec), false)
                .await
                .and_then(|loaded| match loaded {
                    Loaded::Done(rows) => Ok(rows.unwrap_or(0)),
                    // Only byte ranges of files can be misaligned.
                    Loaded::Misaligned => Err(LeaderError::DataFusion(
                        datafusion::error::DataFusionError::Internal(
                            "COPY FROM STDIN has no byte ranges to line up".into(),
                        ),
                    )),
                });
            load.finish(
                &result.as_ref().map(|r| Some(*r)).map_err(|e| e.to_string()),
                format_name,
            );
            super::record(entry, result)
        });
        session.start_copy_in(crate::session::CopyIn {
            data,
            load: task,
            analyze,
        });
        Ok(Outcome::CopyIn { columns })
    }

    /// Where the compute nodes write a COPY into `def`.
    fn write_target(&self, def: &TableDef) -> Result<WriteTarget, LeaderError> {
        Ok(WriteTarget {
            table_id: def.id,
            dist_style: def.dist_style,
            dist_key: def.dist_key,
            dist_hash: def.dist_hash,
            sort_columns: def.sort_key.iter().map(|&c| c as u32).collect(),
            interleaved: def.sort_style == SortStyle::Interleaved,
            layout: self.cluster.layout(),
            nodes: self.cluster.addrs(),
            file_schema: schema_to_bytes(&def.file_schema())?,
        })
    }

    pub(super) fn copy_target(
        &self,
        session: &Session,
        stmt: &CopyStatement,
    ) -> Result<TableDef, LeaderError> {
        let (mut schema, table) = super::access::table_name(&stmt.table)?;
        let catalog = self.catalog_of(session);
        // An unqualified name: the session's temporary table, or search_path's.
        if stmt.table.len() == 1
            && let Some(found) = self.unqualified_schema(session, &table)?
        {
            schema = found;
        }
        catalog
            .table(&schema, &table)?
            .ok_or_else(|| blueshift_storage::StorageError::TableNotFound(table).into())
    }
}

/// What the compute nodes' [`LoadWriteExec`] partitions report: the rows they
/// routed, and the segments they staged, per slice.
async fn written_segments(
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> Result<(u64, BTreeMap<u32, Vec<SegmentRef>>), LeaderError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{UInt32Type, UInt64Type};
    use futures::StreamExt;
    let mut routed = 0;
    let mut written: BTreeMap<u32, Vec<SegmentRef>> = BTreeMap::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let bad = || {
            LeaderError::DataFusion(datafusion::error::DataFusionError::Internal(
                "a load reported segments in an unexpected form".into(),
            ))
        };
        let [slices, names, rows, bytes] = batch.columns() else {
            return Err(bad());
        };
        let (Some(slices), Some(names), Some(rows), Some(bytes)) = (
            slices.as_primitive_opt::<UInt32Type>(),
            names.as_string_opt::<i32>(),
            rows.as_primitive_opt::<UInt64Type>(),
            bytes.as_primitive_opt::<UInt64Type>(),
        ) else {
            return Err(bad());
        };
        for i in 0..batch.num_rows() {
            if names.is_null(i) {
                routed += rows.value(i);
            } else {
                written
                    .entry(slices.value(i))
                    .or_default()
                    .push(SegmentRef::new(
                        names.value(i).to_string(),
                        rows.value(i),
                        bytes.value(i),
                    ));
            }
        }
    }
    Ok((routed, written))
}

/// The bytes the client sends, as a stream a reader can take.
fn tokio_stream_of(
    mut received: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::poll_fn(move |cx| received.poll_recv(cx).map(|b| b.map(Ok)))
}

/// What a load came to.
enum Loaded {
    /// Committed (`Some(rows)`), or only checked (NOLOAD, `None`).
    Done(Option<u64>),
    /// A byte range of a file started inside a record (see [`ranges_line_up`]):
    /// nothing was committed, and the load must run again with the files whole.
    Misaligned,
}

/// What a COPY's load needs after planning, owned (COPY FROM STDIN runs it in a task).
struct LoadRun {
    commits: CommitPoint,
    cluster: crate::cluster::ClusterClient,
    query_log: Arc<QueryLog>,
    query_id: u64,
    user_id: i32,
}

impl LoadRun {
    /// Runs `plan` and commits what it loaded into `def`, unless more rows were
    /// rejected than MAXERROR allows. `plan` is either the compute nodes' fragments,
    /// which write the segments themselves and report them ([`LoadWriteExec`]), or
    /// `local`, a load on the leader (COPY FROM STDIN) whose rows are routed here and
    /// whose files and errors are recorded here (fragments report their own). `None`
    /// for NOLOAD. With `check_ranges`, the byte ranges of split files must line
    /// up before anything is committed or any rejected row counts: else the load is
    /// [`Loaded::Misaligned`] (unless it failed for a reason other than its data).
    async fn run(
        &self,
        state: &SessionState,
        def: &TableDef,
        spec: &LoadSpec,
        plan: Option<Arc<dyn ExecutionPlan>>,
        local: Option<Arc<LoadExec>>,
        check_ranges: bool,
    ) -> Result<Loaded, LeaderError> {
        let Some(plan) = plan else {
            return Ok(Loaded::Done(Some(0)));
        };
        // Every file shows in STV_LOAD_STATE from the start; slices report progress.
        let listed = spec
            .partitions
            .iter()
            .flat_map(|p| {
                p.files.iter().map(|f| blueshift_proto::LoadFileStats {
                    slice: p.slice,
                    url: f.url.clone(),
                    size: f.weight(),
                    offset: f.offset(),
                    partial: f.part.is_some(),
                    ..Default::default()
                })
            })
            .collect();
        self.query_log
            .loads
            .record(self.query_id, self.user_id, listed, vec![]);
        let stream = plan.execute(0, state.task_ctx())?;
        let staged = if local.is_some() {
            SliceSink::new(def.clone(), self.commits.clone(), self.cluster.clone())
                .stage(stream)
                .await
        } else {
            written_segments(stream).await
        };
        if let Some(local) = &local {
            self.query_log
                .loads
                .record(self.query_id, self.user_id, local.files(), local.errors());
        }
        if check_ranges && !ranges_line_up(&self.query_log.loads.files_of(self.query_id)) {
            let data_error = staged
                .as_ref()
                .err()
                .is_none_or(|e| crate::error::sqlstate(e).0.starts_with("22"));
            if data_error {
                return Ok(Loaded::Misaligned);
            }
        }
        let (rows, written) = staged?;
        let errors = self.query_log.loads.errors_of(self.query_id);
        if errors.len() as u64 > spec.options.max_error {
            let first = errors
                .iter()
                .min_by_key(|e| (e.url.clone(), e.line_number))
                .map(|e| {
                    format!(
                        " First error: {} line {}{}: {} (code {}).",
                        e.url,
                        e.line_number,
                        if e.colname.is_empty() {
                            String::new()
                        } else {
                            format!(", column {}", e.colname)
                        },
                        e.err_reason,
                        e.err_code
                    )
                })
                .unwrap_or_default();
            return Err(LeaderError::Failure {
                kind: ErrorKind::BadCopyFileFormat,
                message: format!(
                    "Load into table '{}' failed. Check 'stl_load_errors' system table for details.{first}",
                    def.name
                ),
            });
        }
        if spec.options.no_load {
            return Ok(Loaded::Done(None));
        }
        if !written.is_empty() {
            self.commits.append(def.id, &written)?;
        }
        Ok(Loaded::Done(Some(rows)))
    }

    /// The COPY ended: its files go to STL_LOAD_COMMITS.
    fn finish<T, E>(&self, result: &Result<Option<T>, E>, format: &str) {
        let committed = matches!(result, Ok(Some(_)));
        self.query_log
            .loads
            .finish(self.query_id, committed, format);
    }
}

impl CopyFormat {
    /// STL_LOAD_COMMITS.file_format.
    pub fn name(&self) -> &'static str {
        match self {
            CopyFormat::Text => "Text",
            CopyFormat::Csv { .. } => "CSV",
            CopyFormat::Json(_) => "JSON",
            CopyFormat::Parquet => "Parquet",
            CopyFormat::Orc => "ORC",
            CopyFormat::Avro(_) => "Avro",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_parse() {
        assert_eq!(
            json_path_steps("$.a['b c'][2]"),
            Ok(vec![
                JsonStep::Key("a".into()),
                JsonStep::Key("b c".into()),
                JsonStep::Index(2)
            ])
        );
        assert!(json_path_steps("a.b").is_err());
    }

    #[test]
    fn declared_lengths() {
        use blueshift_storage::catalog::declared_bytes;
        assert_eq!(declared_bytes("varchar(20)"), Some(20));
        assert_eq!(declared_bytes("character varying"), Some(256));
        assert_eq!(declared_bytes("char"), Some(1));
        assert_eq!(declared_bytes("integer"), None);
    }

    #[test]
    fn files_spread_by_size() {
        let files = (1..=5)
            .map(|i| LoadFile::whole(format!("f{i}"), i * 10))
            .collect();
        let parts = Engine::assign_files(files, 2);
        let load: Vec<u64> = parts
            .iter()
            .map(|p| p.files.iter().map(|f| f.size).sum())
            .collect();
        assert_eq!(load.iter().sum::<u64>(), 150);
        assert!(load.iter().all(|&l| (60..=90).contains(&l)), "{load:?}");
    }
}
