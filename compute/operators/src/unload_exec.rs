//! [`UnloadExec`]: an UNLOAD whose query runs wholly on the slices writes its files
//! on the compute nodes. Each partition (a slice's part of the query) writes its rows
//! with an [`UnloadWriter`] straight into the object store; only the list of files
//! goes to the leader, which writes the manifest.
//!
//! Output: one row per file written: `url`, `bytes`, `rows`.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::load::StoreConfig;
use crate::load::store;
use crate::unload::{UnloadOptions, UnloadWriter, UnloadedFile};

/// Where and how an UNLOAD writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnloadTarget {
    /// The `TO` prefix.
    pub url: String,
    pub store: StoreConfig,
    pub options: UnloadOptions,
    /// The result's schema as the user sees it (column names), as datafusion-proto
    /// bytes.
    pub schema: Vec<u8>,
}

/// Writes its input's partitions as UNLOAD files (see the module docs).
#[derive(Debug)]
pub struct UnloadExec {
    input: Arc<dyn ExecutionPlan>,
    target: Arc<UnloadTarget>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

/// The output: the files written.
pub fn unloaded_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
    ]))
}

/// `files` as rows of [`unloaded_schema`].
fn files_batch(files: &[UnloadedFile]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.url.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.bytes))),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.rows))),
    ];
    Ok(RecordBatch::try_new(unloaded_schema(), columns)?)
}

/// The files listed in a batch of [`unloaded_schema`] rows.
pub fn unloaded_files(batch: &RecordBatch) -> Result<Vec<UnloadedFile>> {
    use arrow::array::AsArray;
    use arrow::datatypes::UInt64Type;
    let bad =
        || DataFusionError::Internal("an UNLOAD reported its files in an unexpected form".into());
    let [urls, bytes, rows] = batch.columns() else {
        return Err(bad());
    };
    let (Some(urls), Some(bytes), Some(rows)) = (
        urls.as_string_opt::<i32>(),
        bytes.as_primitive_opt::<UInt64Type>(),
        rows.as_primitive_opt::<UInt64Type>(),
    ) else {
        return Err(bad());
    };
    Ok((0..batch.num_rows())
        .map(|i| UnloadedFile {
            url: urls.value(i).to_string(),
            bytes: bytes.value(i),
            rows: rows.value(i),
        })
        .collect())
}

impl UnloadExec {
    /// Unloads `input`'s rows to `target`.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, target: UnloadTarget) -> Result<Self> {
        let schema = crate::schema_bytes::schema_from_bytes(&target.schema)?;
        if schema.fields().len() != input.schema().fields().len() {
            return Err(DataFusionError::Plan(format!(
                "UNLOAD of {} columns over a query of {}",
                schema.fields().len(),
                input.schema().fields().len()
            )));
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(unloaded_schema()),
            Partitioning::UnknownPartitioning(input.properties().partitioning.partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(UnloadExec {
            input,
            target: Arc::new(target),
            schema: Arc::new(schema),
            properties,
        })
    }

    pub fn target(&self) -> &UnloadTarget {
        &self.target
    }
}

impl DisplayAs for UnloadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "UnloadExec: to={}", self.target.url)
    }
}

impl ExecutionPlan for UnloadExec {
    fn name(&self) -> &str {
        "UnloadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("UnloadExec needs an input".into()))?;
        Ok(Arc::new(UnloadExec {
            input,
            target: Arc::clone(&self.target),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let target = Arc::clone(&self.target);
        let schema = Arc::clone(&self.schema);
        let external = |e: Box<dyn std::error::Error + Send + Sync>| DataFusionError::External(e);
        let write = async move {
            let location =
                store::open(&target.url, &target.store).map_err(|e| external(Box::new(e)))?;
            let mut writer =
                UnloadWriter::new(location, schema, target.options.clone(), partition as u32);
            while let Some(batch) = input.next().await {
                writer
                    .write(&batch?)
                    .await
                    .map_err(|e| external(Box::new(e)))?;
            }
            let files = writer.finish().await.map_err(|e| external(Box::new(e)))?;
            files_batch(&files)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            unloaded_schema(),
            futures::stream::once(write),
        )))
    }
}
