//! UNLOAD: runs the query and writes its rows to S3 (or a local path) with
//! [`UnloadWriter`]: one writer per output partition of the plan (PARALLEL ON, the
//! slices' streams), or one for the whole ordered result (PARALLEL OFF). With
//! PARALLEL ON, a query that runs wholly on the slices (no join, aggregation or sort
//! finished on the leader) writes its files on the compute nodes ([`UnloadExec`]).

use super::outcome::Outcome;
use std::sync::Arc;

use blueshift_operators::load::store::{self, Location};
use blueshift_operators::schema_bytes::schema_to_bytes;
use blueshift_operators::unload::{UnloadFormat, UnloadOptions, UnloadWriter, UnloadedFile};
use blueshift_operators::unload_exec::{UnloadExec, UnloadTarget, unloaded_files};
use blueshift_storage::StorageError;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::column_names::{ClientNames, client_schema};
use super::{Engine, Parsed};
use crate::engine::admission::StatementKind;
use crate::error::{ErrorKind, LeaderError};
use crate::interrupt::Interrupt;
use crate::planner::fragment::RemoteFragmentExec;
use crate::session::Session;
use crate::sql::copy::UnloadStatement;

/// Redshift's MAXFILESIZE default and maximum: 6.2 GB.
const MAX_FILE_SIZE: u64 = 6_657_199_308;

impl Engine {
    pub(super) async fn unload(
        &self,
        session: &Session,
        stmt: &UnloadStatement,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let mut parsed = self.parse_statements(&stmt.query)?;
        let query = match (parsed.len(), parsed.pop()) {
            (1, Some(Parsed::Sql(q, _)))
                if matches!(*q, datafusion::sql::sqlparser::ast::Statement::Query(_)) =>
            {
                *q
            }
            _ => {
                return Err(LeaderError::InvalidParameter(
                    "UNLOAD takes one SELECT statement".into(),
                ));
            }
        };
        let store = self.s3.store_for(&stmt.auth)?;
        if stmt.target.starts_with("s3://") && store.access_key_id.is_none() {
            return Err(LeaderError::InvalidParameter(
                "UNLOAD to S3 needs IAM_ROLE, ACCESS_KEY_ID and SECRET_ACCESS_KEY, or CREDENTIALS"
                    .into(),
            ));
        }
        let mut query = query;
        self.qualify_temp_tables(session, &mut query)?;
        let names = ClientNames::alias_select_lists(&mut query);
        let logical = self.plan_with_datafusion(session, query).await?;
        self.authorize_plan(session, &logical)?;
        let logical = names.tag(logical)?;
        // The files' header and manifest name the columns as a client sees them.
        let schema = Arc::new(client_schema(logical.schema().as_arrow()));
        let mut partition_by = Vec::new();
        for name in &stmt.partition_by {
            let at = schema.index_of(name).map_err(|_| LeaderError::Failure {
                kind: ErrorKind::UndefinedColumn,
                message: format!("PARTITION BY column \"{name}\" is not in the query's result"),
            })?;
            partition_by.push(at);
        }
        if !partition_by.is_empty() && partition_by.len() == schema.fields().len() && !stmt.include
        {
            return Err(LeaderError::InvalidParameter(
                "PARTITION BY cannot name every column of the result".into(),
            ));
        }
        let target = store::open(&stmt.target, &store).map_err(LeaderError::from)?;
        self.check_unload_target(&stmt.target, &store, stmt).await?;
        let options = UnloadOptions {
            format: stmt.format,
            delimiter: stmt.delimiter.unwrap_or(match stmt.format {
                UnloadFormat::Csv => ',',
                _ => '|',
            }),
            null_as: stmt.null_as.clone().unwrap_or_default(),
            header: stmt.header,
            add_quotes: stmt.add_quotes,
            escape: stmt.escape,
            compression: stmt.compression,
            max_file_size: stmt.max_file_size.unwrap_or(MAX_FILE_SIZE),
            row_group_rows: stmt.row_group_size.map(|b| (b / 64).max(1024) as usize),
            partition_by,
            include: stmt.include,
            serial: !stmt.parallel,
        };
        let (state, _guard) = self.admit(session, StatementKind::Unload).await?;
        let physical = state.create_physical_plan(&logical).await?;
        let physical: Arc<dyn ExecutionPlan> =
            if !stmt.parallel && physical.properties().partitioning.partition_count() > 1 {
                Arc::new(CoalescePartitionsExec::new(physical))
            } else {
                physical
            };
        // A query that runs wholly on the slices writes its files there.
        // (DataFusion wraps a plan's top in a CooperativeExec, which only yields.)
        let mut top = &physical;
        while let Some(inner) = top
            .downcast_ref::<datafusion::physical_plan::coop::CooperativeExec>()
            .map(|c| c.input())
        {
            top = inner;
        }
        let on_slices = match top.downcast_ref::<RemoteFragmentExec>() {
            Some(remote) if stmt.parallel => {
                let unload = UnloadExec::try_new(
                    Arc::clone(remote.fragment()),
                    UnloadTarget {
                        url: stmt.target.clone(),
                        store: store.clone(),
                        options: options.clone(),
                        schema: schema_to_bytes(&schema)?,
                    },
                )?;
                Some(Arc::new(RemoteFragmentExec::try_new(
                    Arc::new(unload),
                    self.cluster.clone(),
                )?))
            }
            _ => None,
        };
        let task_ctx = state.task_ctx();
        if let Some(remote) = on_slices {
            let run = async {
                let partitions = remote.properties().partitioning.partition_count();
                let mut files = Vec::new();
                let streams = (0..partitions)
                    .map(|i| remote.execute(i, Arc::clone(&task_ctx)))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut all = futures::stream::select_all(streams);
                while let Some(batch) = all.next().await {
                    files.extend(unloaded_files(&batch?)?);
                }
                files.sort_by(|a, b| a.url.cmp(&b.url));
                Ok::<_, LeaderError>(files)
            };
            let files = interrupt.run(run).await?;
            return self.unloaded(&target, &files, &schema, stmt).await;
        }
        let partitions = physical.properties().partitioning.partition_count();
        let run = async {
            let writers = (0..partitions).map(|i| {
                let physical = Arc::clone(&physical);
                let task_ctx = Arc::clone(&task_ctx);
                let target = target.clone();
                let options = options.clone();
                let schema = Arc::clone(&schema);
                async move {
                    let mut stream = physical.execute(i, task_ctx)?;
                    let mut writer = UnloadWriter::new(target, schema, options, i as u32);
                    while let Some(batch) = stream.next().await {
                        writer.write(&batch?).await.map_err(LeaderError::from)?;
                    }
                    writer.finish().await.map_err(LeaderError::from)
                }
            });
            let written: Vec<Vec<UnloadedFile>> = futures::future::try_join_all(writers).await?;
            Ok::<_, LeaderError>(written.into_iter().flatten().collect::<Vec<_>>())
        };
        let files = interrupt.run(run).await?;
        self.unloaded(&target, &files, &schema, stmt).await
    }

    /// The UNLOAD wrote `files`: the manifest, if asked for, and the command tag.
    async fn unloaded(
        &self,
        target: &Location,
        files: &[UnloadedFile],
        schema: &SchemaRef,
        stmt: &UnloadStatement,
    ) -> Result<Outcome, LeaderError> {
        if stmt.manifest {
            write_manifest(target, files, schema, stmt.manifest_verbose).await?;
        }
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        Ok(Outcome::done_rows("UNLOAD", rows))
    }

    /// Refuses to overwrite files under the target unless ALLOWOVERWRITE; removes
    /// them first with CLEANPATH.
    async fn check_unload_target(
        &self,
        url: &str,
        store: &blueshift_operators::load::StoreConfig,
        stmt: &UnloadStatement,
    ) -> Result<(), LeaderError> {
        if stmt.allow_overwrite {
            return Ok(());
        }
        let existing = match store::list_prefix(url, store).await {
            Ok(found) => found,
            Err(StorageError::ObjectNotFound { .. }) if url.starts_with("file://") => vec![],
            Err(e) => return Err(e.into()),
        };
        if existing.is_empty() {
            return Ok(());
        }
        if !stmt.clean_path {
            return Err(LeaderError::Failure {
                kind: ErrorKind::DuplicateFile,
                message: format!(
                    "Specified unload destination '{url}' is not empty ({} objects). Use a \
                     different prefix, remove the files, or use ALLOWOVERWRITE or CLEANPATH.",
                    existing.len()
                ),
            });
        }
        for (object, _) in existing {
            let location = store::open(&object, store).map_err(LeaderError::from)?;
            location
                .store
                .delete(&location.path)
                .await
                .map_err(|e| LeaderError::from(StorageError::from_object_store(&object, e)))?;
        }
        Ok(())
    }
}

/// `<prefix>manifest`: the files written (and, VERBOSE, their sizes, row counts and
/// the result's columns).
async fn write_manifest(
    target: &Location,
    files: &[UnloadedFile],
    schema: &arrow::datatypes::Schema,
    verbose: bool,
) -> Result<(), LeaderError> {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            if verbose {
                serde_json::json!({"url": f.url, "meta": {"content_length": f.bytes, "record_count": f.rows}})
            } else {
                serde_json::json!({"url": f.url})
            }
        })
        .collect();
    let mut manifest = serde_json::json!({ "entries": entries });
    if verbose {
        manifest["schema"] = serde_json::json!({
            "elements": schema.fields().iter().map(|f| serde_json::json!({
                "name": f.name(),
                "type": {"base": f.data_type().to_string()},
            })).collect::<Vec<_>>()
        });
        manifest["meta"] = serde_json::json!({
            "content_length": files.iter().map(|f| f.bytes).sum::<u64>(),
            "record_count": files.iter().map(|f| f.rows).sum::<u64>(),
        });
        manifest["author"] =
            serde_json::json!({"name": "Blueshift", "version": env!("CARGO_PKG_VERSION")});
    }
    let path = object_store::path::Path::parse(format!("{}manifest", target.key))
        .map_err(|e| LeaderError::InvalidParameter(e.to_string()))?;
    let url = target.url_of(&path);
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| LeaderError::Failure {
        kind: ErrorKind::IoError,
        message: e.to_string(),
    })?;
    target
        .store
        .put(&path, body.into())
        .await
        .map_err(|e| LeaderError::from(StorageError::from_object_store(&url, e)))?;
    Ok(())
}
