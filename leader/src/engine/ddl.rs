//! DDL statements of the [`Engine`]: CREATE TABLE (with Redshift attributes, and AS
//! SELECT), DROP TABLE and DROP SCHEMA.

use std::collections::HashMap;

use arrow_pg::datatypes::into_pg_type;
use blueshift_storage::catalog::{ColumnDef, DistStyle, SortStyle, TableDef, TableVersion};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};
use pgwire::api::results::{Response, Tag};

use super::{Engine, name_key, object_reference, resolve, statement_name};
use crate::error::LeaderError;
use crate::interrupt::Interrupt;
use crate::session::Session;
use crate::sql::redshift_ddl::TableAttributes;
use crate::table::SliceSink;

impl Engine {
    pub(super) fn drop(
        &self,
        object_type: ObjectType,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
    ) -> Result<Response, LeaderError> {
        use blueshift_storage::StorageError as S;
        match object_type {
            ObjectType::Table => {
                for name in names {
                    let (schema, table) = object_reference(name)?;
                    match self.catalog.drop_table(&schema, &table) {
                        Err(S::TableNotFound(_)) if if_exists => {}
                        Err(S::TableNotFound(_)) => {
                            return Err(S::TableNotFound(table).into());
                        }
                        other => {
                            other?;
                        }
                    }
                }
                self.collect_garbage_when_idle();
                Ok(Response::Execution(Tag::new("DROP TABLE")))
            }
            ObjectType::Schema => {
                for name in names {
                    let schema = name_key(name);
                    if !self.catalog.schema_exists(&schema)? {
                        if if_exists {
                            continue;
                        }
                        return Err(S::SchemaNotFound(schema).into());
                    }
                    if cascade {
                        for t in self.catalog.tables_in(&schema)? {
                            self.catalog.drop_table(&schema, &t.name)?;
                        }
                    }
                    self.catalog.drop_schema(&schema)?;
                }
                Ok(Response::Execution(Tag::new("DROP SCHEMA")))
            }
            other => Err(LeaderError::Unsupported(format!("DROP {other}"))),
        }
    }

    pub(super) async fn create_table(
        &self,
        session: &Session,
        stmt: &Statement,
        attrs: TableAttributes,
        interrupt: Interrupt,
    ) -> Result<Response, LeaderError> {
        let Statement::CreateTable(ct) = stmt else {
            return Err(LeaderError::Unsupported(statement_name(stmt)));
        };
        let state = self.state_for(session);
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(stmt.clone())))
            .await?;
        let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
            return Err(LeaderError::Unsupported(statement_name(stmt)));
        };
        let (schema, table) = resolve(&create.name)?;
        if !self.catalog.schema_exists(&schema)? {
            return Err(blueshift_storage::StorageError::SchemaNotFound(schema).into());
        }
        if self.catalog.table(&schema, &table)?.is_some() {
            if create.if_not_exists {
                return Ok(Response::Execution(Tag::new("CREATE TABLE")));
            }
            return Err(blueshift_storage::StorageError::TableExists(table).into());
        }
        let input_schema = create.input.schema().as_arrow().clone();
        let declared: HashMap<String, String> = ct
            .columns
            .iter()
            .map(|c| {
                let name = if c.name.quote_style.is_some() {
                    c.name.value.clone()
                } else {
                    c.name.value.to_lowercase()
                };
                (name, c.data_type.to_string().to_lowercase())
            })
            .collect();
        let columns: Vec<ColumnDef> = input_schema
            .fields()
            .iter()
            .map(|f| ColumnDef {
                name: f.name().clone(),
                data_type: f.data_type().clone(),
                nullable: f.is_nullable() || ct.query.is_some(),
                declared_type: declared.get(f.name()).cloned().unwrap_or_else(|| {
                    into_pg_type(f.data_type())
                        .map(|t| t.name().to_string())
                        .unwrap_or_else(|_| f.data_type().to_string())
                }),
                encoding: attrs.encodings.get(f.name()).cloned(),
            })
            .collect();
        let def = table_def(schema, table, columns, &attrs)?;
        let is_ctas = ct.query.is_some();
        if !is_ctas {
            self.catalog.create_table(def, None)?;
            return Ok(Response::Execution(Tag::new("CREATE TABLE")));
        }
        // CREATE TABLE AS: stage the rows, then create the table and its first
        // version in one catalog transaction.
        let (state, _guard) = self.admit(session).await?;
        let physical = state.create_physical_plan(&create.input).await?;
        let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
        let sink = SliceSink::new(def.clone(), self.catalog.clone(), self.cluster.clone());
        let (rows, segments) = interrupt.run(sink.stage(stream)).await?;
        let version = TableVersion {
            version: 0,
            slices: segments,
        };
        self.catalog.create_table(def, Some(version))?;
        Ok(Response::Execution(
            Tag::new("SELECT").with_rows(rows as usize),
        ))
    }
}

/// Builds a table definition from columns and Redshift attributes, checking them as
/// Redshift does.
fn table_def(
    schema: String,
    name: String,
    columns: Vec<ColumnDef>,
    attrs: &TableAttributes,
) -> Result<TableDef, LeaderError> {
    let index_of = |col: &str, what: &str| {
        columns.iter().position(|c| c.name == col).ok_or_else(|| {
            LeaderError::DataFusion(datafusion::error::DataFusionError::SchemaError(
                Box::new(datafusion::common::SchemaError::FieldNotFound {
                    field: Box::new(datafusion::common::Column::from_name(col)),
                    valid_fields: vec![],
                }),
                Box::new(Some(format!(
                    "column \"{col}\" named in {what} does not exist"
                ))),
            ))
        })
    };
    let dist_key = attrs
        .dist_key
        .as_deref()
        .map(|c| index_of(c, "DISTKEY"))
        .transpose()?;
    let dist_style = match (attrs.dist_style, dist_key) {
        (None, Some(_)) | (Some(DistStyle::Key), Some(_)) => DistStyle::Key,
        (Some(DistStyle::Key), None) => {
            return Err(LeaderError::InvalidDefinition(
                "DISTSTYLE KEY needs a DISTKEY column".into(),
            ));
        }
        (Some(style), Some(_)) => {
            return Err(LeaderError::InvalidDefinition(format!(
                "DISTKEY cannot be used with DISTSTYLE {}",
                style.name()
            )));
        }
        (Some(style), None) => style,
        (None, None) => DistStyle::Auto,
    };
    let sort_key = attrs
        .sort_key
        .iter()
        .map(|c| index_of(c, "SORTKEY"))
        .collect::<Result<Vec<_>, _>>()?;
    let sort_style = attrs.sort_style.unwrap_or(SortStyle::Compound);
    if sort_style == SortStyle::Interleaved && sort_key.len() > 8 {
        return Err(LeaderError::InvalidDefinition(
            "an INTERLEAVED SORTKEY has at most 8 columns".into(),
        ));
    }
    if sort_key.len() > 400 {
        return Err(LeaderError::InvalidDefinition(
            "a SORTKEY has at most 400 columns".into(),
        ));
    }
    Ok(TableDef {
        id: 0,
        schema,
        name,
        columns,
        dist_style,
        dist_key,
        sort_key,
        sort_style,
        backup: attrs.backup.unwrap_or(true),
    })
}
