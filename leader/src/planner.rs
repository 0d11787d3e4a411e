//! The distributed planner: DataFusion plans over the Blueshift catalog, rewritten so
//! that their slice-local parts run on the compute nodes.
//!
//! ```text
//!  catalog_provider, table,  the catalog's tables as DataFusion tables (SliceTable),
//!  views                     INSERT's writer (SliceSink), views (ViewProvider)
//!  explain, summary          EXPLAIN in Redshift's words; SVL_QUERY_SUMMARY rows
//!  collocate                 placement: joins and aggregations on the slices
//!                            (DS_DIST_NONE, DS_BCAST_INNER, DS_DIST_INNER/OUTER/BOTH)
//!  fragment                  shipping: fragments sent to the compute nodes
//!  merge_join                joins that spill: hash joins as sort-merge joins,
//!                            for a query planned again after running out of memory
//!  locality                  where a slice-by-slice plan's rows are
//!  join_order, semi_join,    logical rules: joins ordered by filtered size, semi joins
//!  aggregate_keys            pushed down, grouped subqueries filtered by join keys
//!  scalar_subquery,          analyzer rules: correlated scalar subqueries aggregated,
//!  datetime_literals,        Redshift's date and time literals read, integer
//!  integer_arithmetic        arithmetic typed and checked as PostgreSQL's
//! ```
//!
//! Modules import only those listed below them; the logical rules stand apart.

pub mod aggregate_keys;
pub mod catalog_provider;
pub mod collocate;
pub mod datetime_literals;
pub mod explain;
pub mod fragment;
pub mod integer_arithmetic;
pub mod join_order;
pub mod locality;
pub mod merge_join;
pub mod pg_catalog;
pub mod scalar_subquery;
pub mod semi_join;
pub mod summary;
pub mod table;
pub mod views;

/// The analyzer rules that run after DataFusion's (type coercion among them).
pub fn after_coercion() -> Vec<std::sync::Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>>
{
    vec![
        std::sync::Arc::new(datetime_literals::DatetimeLiterals),
        std::sync::Arc::new(integer_arithmetic::CheckedArithmetic),
    ]
}
