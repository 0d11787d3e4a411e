//! Zone maps: a segment's Parquet row-group statistics, as DataFusion's pruning
//! predicate reads them, to skip row groups a filter excludes.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::SchemaRef;
use blueshift_storage::segment::Selection;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::physical_plan::parquet::{
    PagePruningAccessPlanFilter, ParquetAccessPlan, ParquetFileMetrics,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;
use tracing::debug;

/// The row-group statistics of one segment.
struct RowGroupStats<'a> {
    schema: &'a SchemaRef,
    metadata: &'a ParquetMetaData,
}

impl RowGroupStats<'_> {
    fn converter(&self, column: &Column) -> Option<StatisticsConverter<'_>> {
        StatisticsConverter::try_new(
            &column.name,
            self.schema,
            self.metadata.file_metadata().schema_descr(),
        )
        .ok()
    }
}

impl PruningStatistics for RowGroupStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(column)?
            .row_group_mins(self.metadata.row_groups().iter())
            .ok()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.converter(column)?
            .row_group_maxes(self.metadata.row_groups().iter())
            .ok()
    }

    fn num_containers(&self) -> usize {
        self.metadata.num_row_groups()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts = self
            .converter(column)?
            .row_group_null_counts(self.metadata.row_groups().iter())
            .ok()?;
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts: Vec<u64> = self
            .metadata
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .collect();
        Some(Arc::new(arrow::array::UInt64Array::from(counts)))
    }

    #[allow(clippy::mutable_key_type)]
    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// A filter turned into a zone-map test, built once per scan: row groups by their
/// statistics, then pages by the page index.
#[derive(Debug, Clone)]
pub struct ZoneMapFilter {
    predicate: Arc<PruningPredicate>,
    pages: Arc<PagePruningAccessPlanFilter>,
}

impl ZoneMapFilter {
    /// A zone-map test for `filter` over rows of `table_schema`, or `None` when the
    /// filter says nothing zone maps can use.
    pub fn try_new(filter: &Arc<dyn PhysicalExpr>, table_schema: &SchemaRef) -> Option<Self> {
        let predicate = PruningPredicateBuilder::new()
            .with_file_schema(Arc::clone(table_schema))
            .build(Arc::clone(filter));
        if predicate.is_none() {
            debug!("filter {filter} cannot use zone maps");
        }
        let pages = Arc::new(PagePruningAccessPlanFilter::new(
            filter,
            Arc::clone(table_schema),
        ));
        predicate.map(|predicate| ZoneMapFilter { predicate, pages })
    }

    /// What of a segment may hold matching rows: its row groups whose statistics do
    /// not exclude the filter and, when the segment has a page index, the pages of
    /// those whose page statistics do not; `None` means all.
    pub fn select(&self, schema: &SchemaRef, metadata: &ParquetMetaData) -> Option<Selection> {
        let stats = RowGroupStats { schema, metadata };
        let keep = self.predicate.prune(&stats).ok()?;
        let mut plan = ParquetAccessPlan::new_all(metadata.num_row_groups());
        for (group, keep) in keep.iter().enumerate() {
            if !keep {
                plan.skip(group);
            }
        }
        if metadata.column_index().is_some() && metadata.offset_index().is_some() {
            let metrics = ExecutionPlanMetricsSet::new();
            let file_metrics = ParquetFileMetrics::new(0, "segment", &metrics);
            plan = self.pages.prune_plan_with_page_index(
                plan,
                schema,
                metadata.file_metadata().schema_descr(),
                metadata,
                &file_metrics,
            );
        }
        let row_groups = plan.row_group_indexes();
        let rows = plan
            .into_overall_row_selection(metadata.row_groups())
            .ok()
            .flatten();
        Some(Selection { row_groups, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use blueshift_storage::segment::{PAGE_ROWS, ROW_GROUP_ROWS, ScanOptions, SliceStore, SortKey};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};

    #[test]
    fn a_range_filter_reads_only_the_row_groups_it_can_match() -> datafusion::error::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = SliceStore::open(dir.path())
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let n = (ROW_GROUP_ROWS * 3) as i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values((0..n).rev()))],
        )?;
        let seg = store
            .write_segment(
                0,
                Arc::clone(&schema),
                &[batch],
                &SortKey {
                    columns: vec![0],
                    interleaved: false,
                },
            )
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
            .expect("rows");
        // a >= 2.5 row groups' worth: only the last (sorted) row group can match.
        let filter: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            col("a", &schema)?,
            Operator::GtEq,
            lit(ScalarValue::Int64(Some(n - (ROW_GROUP_ROWS as i64) / 2))),
        ));
        let zone_maps = ZoneMapFilter::try_new(&filter, &schema).expect("usable filter");
        let scan_with = |page_index: bool| {
            store
                .scan_segment(
                    0,
                    &seg.name,
                    ScanOptions {
                        page_index,
                        ..ScanOptions::default()
                    },
                    |s, m| zone_maps.select(s, m),
                )
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
        };
        // Row-group statistics alone: the whole last row group.
        let scan = scan_with(false)?;
        assert_eq!(scan.row_groups_total, 3);
        assert_eq!(scan.row_groups_read, 1);
        let rows: usize = scan.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, ROW_GROUP_ROWS);
        // With the page index: only the pages of its upper half.
        let scan = scan_with(true)?;
        assert_eq!(scan.row_groups_read, 1);
        let rows: usize = scan.batches.iter().map(|b| b.num_rows()).sum();
        assert!(
            (ROW_GROUP_ROWS / 2..=ROW_GROUP_ROWS / 2 + PAGE_ROWS).contains(&rows),
            "{rows} rows read"
        );
        assert_eq!(scan.rows_read as usize, rows);
        Ok(())
    }
}
