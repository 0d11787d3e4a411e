//! DELETE and UPDATE of the [`Engine`], by delete vectors.
//!
//! DataFusion plans the statement (its filter, subqueries, UPDATE ... FROM joins and
//! new values). We pin the table's current version, swap the target's scan for one of
//! that version with the row-id column ([`SliceTable::for_dml`]), and run the plan on
//! the cluster like a query:
//!
//! - DELETE reads the ids of the rows to delete and commits them as delete vectors.
//! - UPDATE reads each row's new values and its id; the new rows are written as new
//!   segments (routed by the table's distribution), and one commit installs both the
//!   delete vectors and the new segments.
//!
//! A commit that finds another statement deleted the same rows, or rewrote a segment,
//! since the version was pinned is refused with SQLSTATE 40001, as Redshift's
//! serializable isolation does.

use super::outcome::Outcome;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::compute::filter_record_batch;
use arrow::datatypes::UInt64Type;
use blueshift_operators::scan::{ROW_ID_COLUMN, split_row_id};
use blueshift_storage::catalog::{DistStyle, TableChange, TableDef, TableVersion};
use blueshift_storage::deletes::DeleteVector;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ParamValues, unqualified_field_not_found};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::dml::WriteOp;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, Projection, TableScanBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{self, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::StreamExt;

use super::{Engine, resolve};
use crate::engine::admission::StatementKind;
use crate::error::LeaderError;
use crate::interrupt::Interrupt;
use crate::planner::table::{SliceSink, SliceTable};
use crate::session::Session;

impl Engine {
    /// Runs a planned DELETE or UPDATE (a DataFusion `Dml` plan).
    pub(super) async fn delete_or_update(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let plan = super::results::bound(plan, params)?;
        let LogicalPlan::Dml(DmlStatement {
            table_name,
            op,
            input,
            ..
        }) = &plan
        else {
            return Err(LeaderError::Unsupported(format!("the statement {plan}")));
        };
        let (schema, name) = resolve(table_name)?;
        let def = self
            .catalog_of(session)
            .table(&schema, &name)?
            .ok_or_else(|| LeaderError::Unsupported(format!("{op} on the system table {name}")))?;
        let version = self.catalog_of(session).version(def.id)?;
        let provider = Arc::new(SliceTable::for_dml(
            def.clone(),
            version.clone(),
            self.catalog_of(session),
            self.cluster.clone(),
        ));
        let input = with_row_ids(input.as_ref().clone(), table_name, provider)?;
        let (state, _guard) = self.admit(session, StatementKind::DeleteOrUpdate).await?;
        match op {
            WriteOp::Delete => {
                let row_id = row_id_column(&input)?;
                let input = LogicalPlan::Projection(Projection::try_new(
                    vec![Expr::Column(row_id)],
                    Arc::new(input),
                )?);
                let stream = DataFrame::new(state, input).execute_stream().await?;
                let ids = interrupt
                    .run(async move {
                        let mut ids = Vec::new();
                        let mut stream = stream;
                        while let Some(batch) = stream.next().await {
                            let batch = batch?;
                            let column = batch.column(0).as_primitive::<UInt64Type>();
                            ids.extend(column.values().iter().copied());
                        }
                        Ok(ids)
                    })
                    .await?;
                let deleted = delete_vectors(&def, &version, ids, self.cluster.layout())?;
                let rows = deleted.rows;
                let change = TableChange {
                    deleted: deleted.vectors,
                    ..TableChange::default()
                };
                if !change.is_empty() {
                    self.commits_of(session)
                        .apply(def.id, &def.qualified_name(), &change)?;
                }
                Ok(Outcome::done_rows("DELETE", rows as u64))
            }
            WriteOp::Update => {
                let LogicalPlan::Projection(projection) = &input else {
                    return Err(LeaderError::Unsupported(format!("the UPDATE plan {input}")));
                };
                let row_id = row_id_column(projection.input.as_ref())?;
                let mut exprs = projection.expr.clone();
                exprs.push(Expr::Column(row_id));
                let input = LogicalPlan::Projection(Projection::try_new(
                    exprs,
                    Arc::clone(&projection.input),
                )?);
                let columns = def.columns.len();
                let stream = DataFrame::new(state, input).execute_stream().await?;
                // Split each batch into the new rows (to the sink) and their ids; a
                // row a join matched twice is updated once.
                let ids = Arc::new(Mutex::new(HashSet::new()));
                let seen = Arc::clone(&ids);
                let new_rows = stream.map(move |batch| {
                    let batch = batch?;
                    let id_column = batch.column(columns).as_primitive::<UInt64Type>();
                    let mut seen = seen.lock().map_err(|_| {
                        datafusion::error::DataFusionError::Internal("row id set poisoned".into())
                    })?;
                    let keep: arrow::array::BooleanArray = id_column
                        .values()
                        .iter()
                        .map(|id| Some(seen.insert(*id)))
                        .collect();
                    let rows = batch.project(&(0..columns).collect::<Vec<_>>())?;
                    Ok(filter_record_batch(&rows, &keep)?)
                });
                let schema = Arc::new(def.arrow_schema());
                let new_rows = Box::pin(RecordBatchStreamAdapter::new(schema, new_rows));
                let sink =
                    SliceSink::new(def.clone(), self.commits_of(session), self.cluster.clone());
                let (_, added) = interrupt.run(sink.stage(new_rows)).await?;
                let ids: Vec<u64> = ids
                    .lock()
                    .map_err(|_| LeaderError::Unsupported("a poisoned UPDATE".into()))?
                    .iter()
                    .copied()
                    .collect();
                let deleted = delete_vectors(&def, &version, ids, self.cluster.layout())?;
                let rows = deleted.rows;
                let change = TableChange {
                    deleted: deleted.vectors,
                    added,
                    ..TableChange::default()
                };
                if !change.is_empty() {
                    self.commits_of(session)
                        .apply(def.id, &def.qualified_name(), &change)?;
                }
                Ok(Outcome::done_rows("UPDATE", rows as u64))
            }
            other => Err(LeaderError::Unsupported(format!("{other}"))),
        }
    }
}

/// `plan` with the first scan of `table` (the DML target) reading `provider`, and
/// every schema above it recomputed to carry the row-id column.
fn with_row_ids(
    plan: LogicalPlan,
    table: &datafusion::common::TableReference,
    provider: Arc<SliceTable>,
) -> Result<LogicalPlan, LeaderError> {
    let mut replaced = false;
    let plan = plan
        .transform_down(|node| match node {
            LogicalPlan::TableScan(scan) if !replaced && &scan.table_name == table => {
                replaced = true;
                let source = provider_as_source(provider.clone());
                let scan = TableScanBuilder::new(scan.table_name.clone(), source)
                    .with_filters(scan.filters.clone())
                    .with_fetch(scan.fetch)
                    .build()?;
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    if !replaced {
        return Err(LeaderError::Unsupported(format!(
            "DELETE or UPDATE of {table}: its scan was not found"
        )));
    }
    Ok(plan
        .transform_up(|node| Ok(Transformed::yes(node.recompute_schema()?)))?
        .data)
}

/// The row-id column in `plan`'s output.
fn row_id_column(plan: &LogicalPlan) -> Result<Column, LeaderError> {
    let (qualifier, field) = plan
        .schema()
        .qualified_field_with_unqualified_name(ROW_ID_COLUMN)?;
    Ok(Column::new(qualifier.cloned(), field.name()))
}

/// The delete vectors of one statement, and how many rows they delete.
struct Deleted {
    vectors: BTreeMap<(u32, usize), (String, DeleteVector)>,
    rows: usize,
}

/// Turns row ids read from `version` into delete vectors per segment. A DISTSTYLE ALL
/// table is read on one node; the same rows are deleted from every node's copy.
fn delete_vectors(
    def: &TableDef,
    version: &TableVersion,
    mut ids: Vec<u64>,
    layout: blueshift_storage::catalog::ClusterLayout,
) -> Result<Deleted, LeaderError> {
    ids.sort_unstable();
    ids.dedup();
    let rows = ids.len();
    let mut positions: BTreeMap<(u32, usize), Vec<u32>> = BTreeMap::new();
    let mut ids = ids.into_iter().peekable();
    while let Some(&first) = ids.peek() {
        let (slice, _) = split_row_id(first);
        let segments = version.slices.get(&slice).map(Vec::as_slice).unwrap_or(&[]);
        let mut base = 0u64;
        for (index, segment) in segments.iter().enumerate() {
            let end = base + segment.rows;
            while let Some(&id) = ids.peek() {
                let (s, position) = split_row_id(id);
                if s != slice || position >= end {
                    break;
                }
                positions
                    .entry((slice, index))
                    .or_default()
                    .push((position - base) as u32);
                ids.next();
            }
            base = end;
        }
        // Ids past the slice's rows cannot come from this version's scan.
        if let Some(&id) = ids.peek()
            && split_row_id(id).0 == slice
        {
            return Err(LeaderError::Unsupported(format!(
                "row id {id} of table {} is not in the version that was read",
                def.qualified_name()
            )));
        }
    }
    let copies: Vec<u32> = match def.dist_style {
        DistStyle::All => (0..layout.nodes)
            .map(|n| layout.first_slice_of(n))
            .collect(),
        _ => vec![],
    };
    let mut vectors = BTreeMap::new();
    for ((slice, index), rows) in positions {
        let name = version.slices[&slice][index].name.clone();
        let vector = DeleteVector::from_positions(rows);
        if copies.is_empty() {
            vectors.insert((slice, index), (name, vector));
        } else {
            for &copy in &copies {
                vectors.insert((copy, index), (name.clone(), vector.clone()));
            }
        }
    }
    Ok(Deleted { vectors, rows })
}

/// `expr` with the columns qualified by `from` qualified by `to` instead.
pub(super) fn requalify(expr: &ast::Expr, from: &str, to: &ast::ObjectName) -> ast::Expr {
    use ast::{VisitMut, VisitorMut};
    struct Rename<'a>(&'a str, &'a ast::ObjectName);
    impl VisitorMut for Rename<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut ast::Expr) -> std::ops::ControlFlow<()> {
            if let ast::Expr::CompoundIdentifier(parts) = e
                && parts.len() == 2
                && parts[0].value.eq_ignore_ascii_case(self.0)
            {
                let mut idents: Vec<ast::Ident> = self
                    .1
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().cloned())
                    .collect();
                idents.push(parts[1].clone());
                *e = ast::Expr::CompoundIdentifier(idents);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut out = expr.clone();
    let _ = VisitMut::visit(&mut out, &mut Rename(from, to));
    out
}

/// Redshift's `DELETE FROM t USING u WHERE cond` as `DELETE FROM t WHERE EXISTS
/// (SELECT 1 FROM u WHERE cond)`, which DataFusion plans as a semi join; and `DELETE
/// FROM t AS a WHERE a.x ...` as `DELETE FROM t WHERE t.x ...` (DataFusion's DELETE
/// takes no alias).
pub(super) fn delete_using_as_exists(stmt: Statement) -> Statement {
    use datafusion::sql::sqlparser::ast::{FromTable, TableFactor};
    let Statement::Delete(mut delete) = stmt else {
        return stmt;
    };
    if let FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) = &mut delete.from
        && let [only] = tables.as_mut_slice()
        && let TableFactor::Table { name, alias, .. } = &mut only.relation
        && let Some(alias) = alias.take()
        && let Some(selection) = &delete.selection
    {
        delete.selection = Some(requalify(selection, &alias.name.value, name));
    }
    let Some(using) = delete.using.take() else {
        return Statement::Delete(delete);
    };
    let from = using
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let condition = delete
        .selection
        .as_ref()
        .map(|c| format!(" WHERE {c}"))
        .unwrap_or_default();
    let sql = format!("SELECT 1 FROM {from}{condition}");
    let query = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query());
    match query {
        Ok(subquery) => {
            delete.selection = Some(ast::Expr::Exists {
                subquery,
                negated: false,
            });
        }
        // Leave USING in place: DataFusion's planner then reports it.
        Err(_) => delete.using = Some(using),
    }
    Statement::Delete(delete)
}

impl Engine {
    /// Plans Redshift's `UPDATE t SET ... FROM u WHERE ...` (which DataFusion's planner
    /// refuses) as the query of the new rows, `SELECT <each column's new value> FROM t,
    /// u WHERE ...`, under an UPDATE of `t`.
    pub(super) async fn plan_update_from(
        &self,
        session: &Session,
        update: ast::Update,
    ) -> Result<LogicalPlan, LeaderError> {
        let ast::TableFactor::Table { name, alias, .. } = &update.table.relation else {
            return Err(LeaderError::Unsupported(
                "UPDATE of something other than a table".into(),
            ));
        };
        let (schema, table) = self.relation_name(session, name)?;
        let def = self
            .catalog
            .table(&schema, &table)?
            .ok_or_else(|| blueshift_storage::StorageError::TableNotFound(table.clone()))?;
        let qualifier = match alias {
            Some(a) => a.name.to_string(),
            None => name.to_string(),
        };
        let mut assigned = HashMap::new();
        for assignment in &update.assignments {
            let ast::AssignmentTarget::ColumnName(column) = &assignment.target else {
                return Err(LeaderError::Unsupported("UPDATE SET (a, b) = ...".into()));
            };
            let column = column
                .0
                .last()
                .and_then(|part| part.as_ident())
                .map(|ident| match ident.quote_style {
                    Some(_) => ident.value.clone(),
                    None => ident.value.to_lowercase(),
                })
                .unwrap_or_default();
            if !def.columns.iter().any(|c| c.name == column) {
                return Err(unqualified_field_not_found(
                    &column,
                    &datafusion::common::DFSchema::empty(),
                )
                .into());
            }
            super::identity::check_targets(&def, std::slice::from_ref(&column), |_| true)?;
            assigned.insert(column, assignment.value.to_string());
        }
        let select_list = def
            .columns
            .iter()
            .map(|c| match assigned.remove(&c.name) {
                Some(value) => format!("{value} AS \"{}\"", c.name),
                None => format!("{qualifier}.\"{}\" AS \"{}\"", c.name, c.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let from = match &update.from {
            Some(
                ast::UpdateTableFromKind::BeforeSet(f) | ast::UpdateTableFromKind::AfterSet(f),
            ) => f.iter().map(|t| format!(", {t}")).collect::<String>(),
            None => String::new(),
        };
        let condition = update
            .selection
            .as_ref()
            .map(|c| format!(" WHERE {c}"))
            .unwrap_or_default();
        let sql = format!(
            "SELECT {select_list} FROM {}{from}{condition}",
            update.table
        );
        let query = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| LeaderError::Syntax {
                message: format!("UPDATE ... FROM: {e}"),
                position: None,
            })?;
        let plan = self
            .plan_with_datafusion(session, Statement::Query(query))
            .await?;
        // The target is the first table of the FROM list: the first scan.
        let mut target = None;
        plan.apply(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                target = Some(scan.table_name.clone());
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let target = target.ok_or_else(|| {
            LeaderError::Unsupported(format!("UPDATE of {table}: its scan was not found"))
        })?;
        let source = provider_as_source(Arc::new(SliceTable::new(
            def,
            self.catalog_of(session),
            self.cluster.clone(),
        )));
        Ok(LogicalPlan::Dml(DmlStatement::new(
            target,
            source,
            WriteOp::Update,
            Arc::new(plan),
        )))
    }
}
