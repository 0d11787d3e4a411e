//! Statements the engine runs itself: CREATE SCHEMA and the DDL it hands to `ddl`,
//! SET, RESET and SHOW, TRUNCATE, VACUUM and ANALYZE, transaction control, DISCARD.

use super::*;

fn expr_text(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        ast::Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

impl Engine {
    pub(super) async fn command(
        &self,
        session: &Session,
        stmt: &Statement,
        attrs: Option<&TableAttributes>,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        match stmt {
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let name = match schema_name {
                    SchemaName::Simple(n) => name_key(n),
                    other => {
                        return Err(LeaderError::Unsupported(format!("CREATE SCHEMA {other}")));
                    }
                };
                match self.commits.create_schema(&name) {
                    Err(blueshift_storage::StorageError::SchemaExists(_)) if *if_not_exists => {}
                    other => other?,
                }
                Ok(Outcome::done("CREATE SCHEMA"))
            }
            Statement::CreateTable(_) => {
                self.create_table(session, stmt, attrs.cloned().unwrap_or_default(), interrupt)
                    .await
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => self.drop(*object_type, *if_exists, names, *cascade),
            Statement::Set(set) => {
                match set {
                    Set::SingleAssignment {
                        variable, values, ..
                    } => {
                        let name = variable.to_string();
                        let value = values.iter().map(expr_text).collect::<Vec<_>>().join(", ");
                        if value.eq_ignore_ascii_case("default") {
                            session.reset(Some(&name))?;
                        } else {
                            session.set(&name, &value)?;
                        }
                    }
                    Set::SetTimeZone { value, .. } => session.set("timezone", &expr_text(value))?,
                    Set::SetNames { charset_name, .. } => {
                        session.set("client_encoding", &charset_name.value)?
                    }
                    other => {
                        return Err(LeaderError::Unsupported(format!("{other}")));
                    }
                }
                Ok(Outcome::done("SET"))
            }
            Statement::Reset(r) => {
                match &r.reset {
                    ast::Reset::ALL => session.reset(None)?,
                    ast::Reset::ConfigurationParameter(name) => {
                        session.reset(Some(&name.to_string()))?
                    }
                }
                Ok(Outcome::done("RESET"))
            }
            Statement::ShowVariable { variable } => {
                let name = show_name(variable);
                let batch = if name == "all" {
                    let all = session.show_all();
                    let schema = Arc::new(Schema::new(vec![
                        Field::new("name", DataType::Utf8, false),
                        Field::new("setting", DataType::Utf8, false),
                    ]));
                    RecordBatch::try_new(
                        schema,
                        vec![
                            Arc::new(StringArray::from_iter_values(all.iter().map(|(k, _)| k))),
                            Arc::new(StringArray::from_iter_values(all.iter().map(|(_, v)| v))),
                        ],
                    )
                    .map_err(|e| LeaderError::DataFusion(e.into()))?
                } else {
                    one_column(&name, vec![session.show(&name)?])?
                };
                self.batch_rows(batch).await
            }
            Statement::Truncate(t) => {
                // Resolve every name first, so a missing table truncates none.
                let mut ids = Vec::new();
                for target in &t.table_names {
                    let (schema, table) = object_reference(&target.name)?;
                    match self.catalog.table(&schema, &table)? {
                        Some(def) => ids.push(def.id),
                        None if t.if_exists => {}
                        None => {
                            return Err(
                                blueshift_storage::StorageError::TableNotFound(table).into()
                            );
                        }
                    }
                }
                for id in ids {
                    self.commits.truncate(id)?;
                }
                self.collect_garbage_when_idle();
                Ok(Outcome::done("TRUNCATE TABLE"))
            }
            Statement::Vacuum(v) => self.vacuum(session, v, interrupt).await,
            Statement::AlterTable(alter) => self.alter_table(session, alter, attrs).await,
            Statement::Analyze(a) => self.analyze(session, a, interrupt).await,
            Statement::StartTransaction { .. } => {
                session.begin_block();
                Ok(Outcome::began("BEGIN"))
            }
            Statement::Commit { .. } => {
                session.end_block();
                Ok(Outcome::ended("COMMIT"))
            }
            // Every statement commits on its own: a ROLLBACK after one that changed
            // something cannot undo it, and says so rather than answer ROLLBACK.
            Statement::Rollback { .. } if session.end_block() => Err(LeaderError::Unsupported(
                "ROLLBACK of a transaction block whose statements changed data or tables \
                 (each statement commits on its own; its changes are kept)"
                    .into(),
            )),
            Statement::Rollback { .. } => Ok(Outcome::ended("ROLLBACK")),
            Statement::Discard { .. } => {
                session.reset(None)?;
                Ok(Outcome::done("DISCARD ALL"))
            }
            other => Err(LeaderError::Unsupported(statement_name(other))),
        }
    }
}
