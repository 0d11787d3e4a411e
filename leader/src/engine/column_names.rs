//! Result column names as PostgreSQL gives them.

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;

use crate::error::LeaderError;

/// The name PostgreSQL gives a result column: a function call is named after the
/// function (`count(*)` is `count`), any other expression `?column?`.
fn postgres_name(name: &str) -> Option<String> {
    let is_ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    if is_ident(name) {
        return None;
    }
    match name.split_once('(') {
        Some((func, _))
            if is_ident(func) && name.ends_with(')') && !func.contains(char::is_uppercase) =>
        {
            Some(func.to_string())
        }
        _ => Some("?column?".to_string()),
    }
}

/// Renames a query's result columns as PostgreSQL names them, except where two
/// would then share a name (DataFusion needs unique names).
pub(super) fn postgres_column_names(plan: LogicalPlan) -> Result<LogicalPlan, LeaderError> {
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
    let schema = Arc::clone(plan.schema());
    let renames: Vec<Option<String>> = schema
        .fields()
        .iter()
        .map(|f| postgres_name(f.name()))
        .collect();
    if renames.iter().all(Option::is_none) {
        return Ok(plan);
    }
    let proposed: Vec<String> = schema
        .fields()
        .iter()
        .zip(&renames)
        .map(|(f, r)| r.clone().unwrap_or_else(|| f.name().clone()))
        .collect();
    // Where two columns would share a name, both keep DataFusion's.
    let names: Vec<String> = proposed
        .iter()
        .zip(schema.fields())
        .map(|(p, f)| {
            if proposed.iter().filter(|q| *q == p).count() > 1 {
                f.name().clone()
            } else {
                p.clone()
            }
        })
        .collect();
    let exprs: Vec<Expr> = schema
        .iter()
        .zip(names)
        .map(|((qualifier, field), name)| {
            Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ))
            .alias(name)
        })
        .collect();
    Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}
