//! INSERT's forms DataFusion does not plan, completed from the table's definition:
//! `INSERT INTO t DEFAULT VALUES`, `DEFAULT` in a VALUES row (the column's DEFAULT,
//! or NULL), and VALUES rows shorter than the table without a column list (the
//! first N columns, as PostgreSQL and Redshift take them; the rest get their
//! DEFAULTs). An IDENTITY column's DEFAULT is its next value, and a plain IDENTITY
//! column takes no other (`super::identity`).

use datafusion::sql::sqlparser::ast::{Expr, Ident, SetExpr, TableObject, Value};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::*;

/// A bare `DEFAULT` in a VALUES row (sqlparser reads it as a column named so).
fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(id) if id.quote_style.is_none()
        && id.value.eq_ignore_ascii_case("default"))
}

impl Engine {
    /// `stmt` with its DEFAULT VALUES, DEFAULTs and short VALUES rows completed.
    pub(super) fn complete_insert(
        &self,
        session: &Session,
        stmt: Statement,
    ) -> Result<Statement, LeaderError> {
        if let Statement::Update(update) = &stmt {
            self.check_update(session, update)?;
        }
        let Statement::Insert(mut insert) = stmt else {
            return Ok(stmt);
        };
        let TableObject::TableName(name) = &insert.table else {
            return Ok(Statement::Insert(insert));
        };
        let (schema, table) = resolve(&TableReference::from(name_key(name)))?;
        let Some(def) = self.catalog_of(session).table(&schema, &table)? else {
            return Ok(Statement::Insert(insert));
        };
        let default_of = |column: &str| -> Result<Expr, LeaderError> {
            let text = def
                .columns
                .iter()
                .find(|c| c.name == column)
                .and_then(|c| super::identity::insert_default(c, def.id));
            match text {
                Some(text) => Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_expr())
                    .map_err(|e| {
                        LeaderError::InvalidDefinition(format!(
                            "the DEFAULT of column \"{column}\" ({text}): {e}"
                        ))
                    }),
                None => Ok(Expr::Value(Value::Null.into())),
            }
        };
        let all: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
        if insert.source.is_none() && insert.assignments.is_empty() {
            // DEFAULT VALUES: one row of every column's DEFAULT.
            let row = all
                .iter()
                .map(|c| default_of(c))
                .collect::<Result<Vec<_>, _>>()?;
            let values = all.iter().map(|_| "NULL").collect::<Vec<_>>().join(", ");
            let mut query = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&format!("VALUES ({values})"))
                .and_then(|mut p| p.parse_query())
                .map_err(|e| LeaderError::InvalidDefinition(e.to_string()))?;
            if let SetExpr::Values(v) = query.body.as_mut()
                && let Some(first) = v.rows.first_mut()
            {
                first.content = row;
            }
            insert.columns = all
                .iter()
                .map(|c| ObjectName::from(vec![Ident::new(c.clone())]))
                .collect();
            insert.source = Some(query);
            return Ok(Statement::Insert(insert));
        }
        let Some(source) = insert.source.as_mut() else {
            return Ok(Statement::Insert(insert));
        };
        let SetExpr::Values(values) = source.body.as_mut() else {
            // INSERT ... SELECT gives every target column a value.
            let targets: Vec<String> = if insert.columns.is_empty() {
                all
            } else {
                insert.columns.iter().map(name_key).collect()
            };
            super::identity::check_targets(&def, &targets, |_| true)?;
            return Ok(Statement::Insert(insert));
        };
        let width = values
            .rows
            .iter()
            .map(|r| r.content.len())
            .max()
            .unwrap_or(0);
        if insert.columns.is_empty()
            && width < all.len()
            && values.rows.iter().all(|r| r.content.len() == width)
        {
            insert.columns = all[..width]
                .iter()
                .map(|c| ObjectName::from(vec![Ident::new(c.clone())]))
                .collect();
        }
        let target_count = if insert.columns.is_empty() {
            all.len()
        } else {
            insert.columns.len()
        };
        if width > target_count {
            return Err(LeaderError::Syntax {
                message: "INSERT has more expressions than target columns".into(),
                position: None,
            });
        }
        let targets: Vec<String> = if insert.columns.is_empty() {
            all.clone()
        } else {
            insert.columns.iter().map(name_key).collect()
        };
        super::identity::check_targets(&def, &targets, |i| {
            values
                .rows
                .iter()
                .any(|r| r.content.get(i).is_some_and(|v| !is_default(v)))
        })?;
        for row in &mut values.rows {
            for (value, column) in row.content.iter_mut().zip(&targets) {
                if is_default(value) {
                    *value = default_of(column)?;
                }
            }
        }
        Ok(Statement::Insert(insert))
    }

    /// Refuses an UPDATE that sets a plain IDENTITY column.
    fn check_update(
        &self,
        session: &Session,
        update: &datafusion::sql::sqlparser::ast::Update,
    ) -> Result<(), LeaderError> {
        use datafusion::sql::sqlparser::ast::{AssignmentTarget, TableFactor};
        let TableFactor::Table { name, .. } = &update.table.relation else {
            return Ok(());
        };
        let (schema, table) = resolve(&TableReference::from(name_key(name)))?;
        let Some(def) = self.catalog_of(session).table(&schema, &table)? else {
            return Ok(());
        };
        let targets: Vec<String> = update
            .assignments
            .iter()
            .filter_map(|a| match &a.target {
                AssignmentTarget::ColumnName(c) => {
                    c.0.last()
                        .and_then(|p| p.as_ident())
                        .map(|i| match i.quote_style {
                            Some(_) => i.value.clone(),
                            None => i.value.to_lowercase(),
                        })
                }
                AssignmentTarget::Tuple(_) => None,
            })
            .collect();
        super::identity::check_targets(&def, &targets, |_| true)
    }
}
