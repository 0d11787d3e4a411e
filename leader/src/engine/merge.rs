//! MERGE, as Redshift has it: `MERGE INTO target [AS t] USING source [AS s] ON
//! condition WHEN MATCHED [AND p] THEN UPDATE SET ... | DELETE WHEN NOT MATCHED
//! [AND p] THEN INSERT [(columns)] VALUES (...)`. It runs as the statements it
//! means, in one transaction (the session's block, or one of its own): the matched
//! rows' UPDATE or DELETE first, then the INSERT of the source rows no target row
//! matches. The tag is `MERGE n`, the rows changed and inserted.

use datafusion::sql::sqlparser::ast::{
    Expr, Merge, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor,
};

use super::dml::requalify;
use super::*;

/// `name [AS alias]` of a MERGE's target or source, and the name its columns are
/// qualified by.
fn relation(factor: &TableFactor, what: &str) -> Result<(String, String), LeaderError> {
    match factor {
        TableFactor::Table { name, alias, .. } => Ok(match alias {
            Some(a) => (format!("{name} AS {}", a.name), a.name.to_string()),
            None => (name.to_string(), name.to_string()),
        }),
        TableFactor::Derived {
            subquery,
            alias: Some(a),
            ..
        } if what == "source" => Ok((format!("({subquery}) AS {}", a.name), a.name.to_string())),
        other => Err(LeaderError::Unsupported(format!(
            "MERGE with {what} {other}"
        ))),
    }
}

/// The statements `merge` means, in the order they run.
fn statements(merge: &Merge) -> Result<Vec<String>, LeaderError> {
    let TableFactor::Table {
        name: target_name, ..
    } = &merge.table
    else {
        return Err(LeaderError::Unsupported("MERGE into a subquery".into()));
    };
    let (target, target_ref) = relation(&merge.table, "target")?;
    let (source, _) = relation(&merge.source, "source")?;
    let on = &merge.on;
    let and = |p: &Option<Expr>| {
        p.as_ref()
            .map(|p| format!(" AND ({p})"))
            .unwrap_or_default()
    };
    let mut changes = vec![];
    let mut inserts = vec![];
    for clause in &merge.clauses {
        match (&clause.clause_kind, &clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                let assignments: Vec<String> =
                    update.assignments.iter().map(ToString::to_string).collect();
                changes.push(format!(
                    "UPDATE {target} SET {} FROM {source} WHERE ({on}){}",
                    assignments.join(", "),
                    and(&clause.predicate)
                ));
            }
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                // DELETE takes no alias: the condition names the table itself.
                let on = requalify(on, &target_ref, target_name);
                let predicate = clause
                    .predicate
                    .as_ref()
                    .map(|p| requalify(p, &target_ref, target_name));
                changes.push(format!(
                    "DELETE FROM {target_name} WHERE EXISTS (SELECT 1 FROM {source} WHERE ({on}){})",
                    and(&predicate)
                ));
            }
            (
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                MergeAction::Insert(insert),
            ) => {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(LeaderError::Unsupported("MERGE ... INSERT ROW".into()));
                };
                let [row] = values.rows.as_slice() else {
                    return Err(LeaderError::InvalidParameter(
                        "MERGE's INSERT takes one row of VALUES".into(),
                    ));
                };
                let columns = if insert.columns.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> =
                        insert.columns.iter().map(ToString::to_string).collect();
                    format!(" ({})", names.join(", "))
                };
                let values: Vec<String> = row.content.iter().map(ToString::to_string).collect();
                inserts.push(format!(
                    "INSERT INTO {target_name}{columns} SELECT {} FROM {source} \
                     WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {on}){}",
                    values.join(", "),
                    and(&clause.predicate)
                ));
            }
            (kind, action) => {
                return Err(LeaderError::Unsupported(format!(
                    "MERGE ... WHEN {kind} THEN {action}"
                )));
            }
        }
    }
    changes.extend(inserts);
    Ok(changes)
}

impl Engine {
    /// Runs `merge` as its statements, all or none.
    pub(super) async fn merge(
        &self,
        session: &Session,
        merge: &Merge,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let statements = statements(merge)?;
        let own_block = session.begin_block(&self.catalog, false);
        // The statement's cancel and timeout stop whichever step runs.
        let ran = interrupt
            .run(async {
                let mut rows = 0;
                for sql in &statements {
                    let parsed = self
                        .parse_statements(sql)?
                        .pop()
                        .ok_or_else(|| LeaderError::Unsupported(format!("MERGE step {sql}")))?;
                    // Boxed, planning and running: a step is a statement (and a statement
                    // may be a MERGE), whose futures would otherwise all sit on the stack.
                    let planned = Box::pin(self.plan(session, parsed)).await?;
                    let done =
                        Box::pin(self.execute(session, &planned, None, Interrupt::never(), sql))
                            .await?;
                    if let Outcome::Done(done) = done {
                        rows += done.rows.unwrap_or(0);
                    }
                }
                Ok(rows)
            })
            .await;
        let rows = match (ran, own_block) {
            (Ok(rows), true) => {
                self.commit_block(session)?;
                rows
            }
            (Ok(rows), false) => rows,
            (Err(e), true) => {
                if session.rollback_block() {
                    self.collect_garbage_when_idle();
                }
                return Err(e);
            }
            (Err(e), false) => return Err(e),
        };
        Ok(Outcome::done_rows("MERGE", rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn merge_means_an_update_and_an_insert() {
        let sql = "merge into t using s on t.id = s.id \
                   when matched then update set v = s.v \
                   when not matched then insert (id, v) values (s.id, s.v)";
        let Statement::Merge(merge) = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0)
        else {
            panic!("not a MERGE");
        };
        assert_eq!(
            statements(&merge).expect("supported"),
            vec![
                "UPDATE t SET v = s.v FROM s WHERE (t.id = s.id)".to_string(),
                "INSERT INTO t (id, v) SELECT s.id, s.v FROM s WHERE NOT EXISTS \
                 (SELECT 1 FROM t WHERE t.id = s.id)"
                    .to_string(),
            ]
        );
    }
}
