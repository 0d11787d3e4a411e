//! Statements the engine runs itself: CREATE SCHEMA and the DDL it hands to `ddl`,
//! SET, RESET and SHOW, TRUNCATE, VACUUM and ANALYZE, transaction control, DISCARD.

use super::*;

/// An identifier as a name: lower case unless quoted.
fn ident_text(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

impl Engine {
    /// The user an `OWNER TO` names.
    fn owner_name(&self, session: &Session, owner: &ast::Owner) -> String {
        match owner {
            ast::Owner::Ident(i) => ident_text(i),
            ast::Owner::CurrentRole | ast::Owner::CurrentUser | ast::Owner::SessionUser => {
                session.current_user()
            }
        }
    }
}

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

/// The access mode `modes` name (READ ONLY: true), if any; isolation levels are all
/// serializable and change nothing.
fn read_only_mode(modes: &[ast::TransactionMode]) -> Option<bool> {
    modes.iter().rev().find_map(|m| match m {
        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly) => Some(true),
        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite) => Some(false),
        ast::TransactionMode::IsolationLevel(_) => None,
    })
}

impl Engine {
    /// COMMIT: the session's block commits (see [`Session::commit_block`]); a
    /// refused commit leaves its staged segments to the garbage collector.
    pub(super) fn commit_block(&self, session: &Session) -> Result<&'static str, LeaderError> {
        session.commit_block().map_err(|e| {
            self.collect_garbage_when_idle();
            e.into()
        })
    }

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
                match self
                    .commits_of(session)
                    .create_schema(&name, session.user_id())
                {
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
            } => self.drop(session, *object_type, *if_exists, names, *cascade),
            Statement::CreateView(create) if create.materialized => {
                self.create_materialized_view(session, create, attrs, interrupt)
                    .await
            }
            Statement::CreateView(create) => self.create_view(session, create, attrs).await,
            Statement::Comment {
                object_type,
                object_name,
                comment,
                if_exists: false,
            } => self.comment(session, object_type, object_name, comment.as_deref()),
            Statement::Kill { modifier, id } => self.cancel_statement(session, *modifier, *id),
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
                    // Every isolation level is serializable on Redshift; the access
                    // mode applies to the open block, or with SESSION to the blocks
                    // the session begins from now on.
                    Set::SetTransaction {
                        modes,
                        snapshot: None,
                        session: characteristics,
                    } => {
                        if let Some(read_only) = read_only_mode(modes) {
                            if *characteristics {
                                let value = if read_only { "on" } else { "off" };
                                session.set("default_transaction_read_only", value)?;
                            } else {
                                session.set_block_read_only(read_only);
                            }
                        }
                    }
                    Set::SetSessionAuthorization(param) => {
                        let user = match &param.kind {
                            ast::SetSessionAuthorizationParamKind::Default => None,
                            ast::SetSessionAuthorizationParamKind::User(u) => Some(ident_text(u)),
                        };
                        return self.set_authorization(session, user.as_deref());
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
                if name == "grants" {
                    return Err(LeaderError::Unsupported("SHOW GRANTS".into()));
                }
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
                let catalog = self.catalog_of(session);
                for target in &t.table_names {
                    let (schema, table) = self.relation_name(session, &target.name)?;
                    match catalog.table(&schema, &table)? {
                        Some(def) => ids.push(def.id),
                        None if t.if_exists => {}
                        None => {
                            return Err(
                                blueshift_storage::StorageError::TableNotFound(table).into()
                            );
                        }
                    }
                }
                // As on Redshift, TRUNCATE commits the transaction block it runs in
                // (and the block ends).
                let ended_block = session.in_block();
                self.commit_block(session)?;
                for id in ids {
                    self.commits_of(session).truncate(id)?;
                }
                self.collect_garbage_when_idle();
                Ok(if ended_block {
                    Outcome::ended("TRUNCATE TABLE")
                } else {
                    Outcome::done("TRUNCATE TABLE")
                })
            }
            // VACUUM rewrites segments under every transaction's feet, so (as on
            // Redshift and PostgreSQL) it runs only on its own.
            Statement::Vacuum(_) if session.in_block() => {
                Err(LeaderError::InTransactionBlock("VACUUM".into()))
            }
            Statement::Vacuum(v) => self.vacuum(session, v, interrupt).await,
            Statement::AlterTable(alter)
                if alter
                    .operations
                    .iter()
                    .any(|o| matches!(o, ast::AlterTableOperation::OwnerTo { .. })) =>
            {
                let [ast::AlterTableOperation::OwnerTo { new_owner }] = alter.operations.as_slice()
                else {
                    return Err(LeaderError::Unsupported(
                        "ALTER TABLE ... OWNER TO with other changes".into(),
                    ));
                };
                let (schema, table) = object_reference(&alter.name)?;
                let owner = self.owner_name(session, new_owner);
                self.change_owner(session, &schema, Some(&table), &owner)
            }
            Statement::AlterTable(alter) => self.alter_table(session, alter, attrs).await,
            Statement::AlterSchema(alter) => {
                let [ast::AlterSchemaOperation::OwnerTo { owner }] = alter.operations.as_slice()
                else {
                    return Err(LeaderError::Unsupported(format!("{stmt}")));
                };
                let schema = name_key(&alter.name);
                let owner = self.owner_name(session, owner);
                self.change_owner(session, &schema, None, &owner)
            }
            Statement::Analyze(a) => self.analyze(session, a, interrupt).await,
            // Boxed: MERGE's future holds its steps' plans (too large for the stack
            // of every statement otherwise).
            Statement::Merge(merge) => Box::pin(self.merge(session, merge, interrupt)).await,
            Statement::StartTransaction { modes, .. } => {
                let read_only =
                    read_only_mode(modes).unwrap_or(session.default_transaction_read_only());
                session.begin_block(&self.catalog, read_only);
                Ok(Outcome::began("BEGIN"))
            }
            // Savepoints and chained transactions are not there yet: refused rather
            // than run as a plain COMMIT or ROLLBACK of the whole block.
            Statement::Commit { chain: true, .. } => {
                Err(LeaderError::Unsupported("COMMIT AND CHAIN".into()))
            }
            Statement::Rollback { chain: true, .. } => {
                Err(LeaderError::Unsupported("ROLLBACK AND CHAIN".into()))
            }
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Err(LeaderError::Unsupported("ROLLBACK TO SAVEPOINT".into())),
            Statement::Commit { .. } => Ok(Outcome::ended(self.commit_block(session)?)),
            // The block's view is dropped with its changes: nothing was written to
            // the catalog, and its staged segments become garbage.
            Statement::Rollback { .. } => {
                if session.rollback_block() {
                    self.collect_garbage_when_idle();
                }
                Ok(Outcome::ended("ROLLBACK"))
            }
            Statement::Discard { .. } => {
                session.reset(None)?;
                Ok(Outcome::done("DISCARD ALL"))
            }
            other => Err(LeaderError::Unsupported(statement_name(other))),
        }
    }
}
