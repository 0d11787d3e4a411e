//! Functions catalog queries call, answered from the statement's catalog:
//! `pg_get_userbyid`, `pg_get_viewdef`, `obj_description`, `col_description` and
//! Redshift's `format_encoding` (scalar functions), and Redshift's
//! `pg_get_late_binding_view_cols()` (a table function).
//!
//! Relations and schemas are named by the oids pg_catalog shows
//! (`system_tables::pg_types`).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use blueshift_storage::catalog::{Catalog, CommentTarget, Constraint, TableDef, ViewDef};
use datafusion::catalog::{Session, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use tracing::warn;

use crate::session::TEMP_SCHEMA_PREFIX;
use crate::system_tables::constraints;
use crate::system_tables::pg_types::{
    ENCODING_NUMBERS, from_arrow, namespace_oid, pg_type, relation_id, relation_oid,
    view_definition,
};

type RowFn = Arc<dyn Fn(&Catalog, &[ScalarValue]) -> Result<ScalarValue> + Send + Sync>;

/// A scalar function computed row by row over the catalog.
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    catalog: Catalog,
    row: RowFn,
}

impl std::fmt::Debug for CatalogFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for CatalogFunction {}
impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        blueshift_operators::functions::row_by_row(&args, &self.returns, |values| {
            if values.iter().any(ScalarValue::is_null) {
                return ScalarValue::try_from(&self.returns);
            }
            (self.row)(&self.catalog, values)
        })
    }
}

fn storage(e: blueshift_storage::StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn as_i64(v: &ScalarValue) -> Option<i64> {
    match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

fn as_text(v: &ScalarValue) -> Option<String> {
    match v.cast_to(&DataType::Utf8).ok()? {
        ScalarValue::Utf8(v) => v,
        _ => None,
    }
}

/// The view an oid or a (possibly qualified) name names.
fn view_named(catalog: &Catalog, arg: &ScalarValue) -> Result<Option<ViewDef>> {
    if let Some(oid) = as_i64(arg).filter(|_| !matches!(arg, ScalarValue::Utf8(_))) {
        let Some(id) = relation_id(oid) else {
            return Ok(None);
        };
        let views = catalog.all_views().map_err(storage)?;
        return Ok(views.into_iter().find(|v| v.id == id));
    }
    let name = as_text(arg).unwrap_or_default().to_lowercase();
    let (schema, view) = name.rsplit_once('.').unwrap_or(("public", &name));
    catalog.view(schema, view).map_err(storage)
}

/// The comment on relation `oid` (or its column `column`, 1-based).
/// The constraint whose oid is `arg`: every table, the index of its table, and it.
fn constraint_by_oid(
    catalog: &Catalog,
    arg: &ScalarValue,
) -> Result<Option<(Vec<TableDef>, usize, Constraint)>> {
    let Some(id) = as_i64(arg).and_then(relation_id) else {
        return Ok(None);
    };
    let tables = catalog.all_tables().map_err(storage)?;
    let found = tables.iter().enumerate().find_map(|(i, t)| {
        t.constraints
            .iter()
            .find(|c| c.id == id)
            .map(|c| (i, c.clone()))
    });
    Ok(found.map(|(i, c)| (tables, i, c)))
}

fn relation_comment(catalog: &Catalog, oid: i64, column: Option<i64>) -> Result<ScalarValue> {
    let Some(id) = relation_id(oid) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let column = match column {
        None => None,
        Some(n) => {
            let position = usize::try_from(n - 1).ok();
            let table = catalog
                .all_tables()
                .map_err(storage)?
                .into_iter()
                .find(|t| t.id == id);
            match (table, position) {
                (Some(t), Some(p)) => match t.columns.get(p) {
                    Some(c) => Some(c.id),
                    None => return Ok(ScalarValue::Utf8(None)),
                },
                (None, Some(p)) => Some(p as u32),
                (_, None) => return Ok(ScalarValue::Utf8(None)),
            }
        }
    };
    let comment = catalog
        .comment(&CommentTarget::Relation { id, column })
        .map_err(storage)?;
    Ok(ScalarValue::Utf8(comment))
}

/// The bytes of the segments of table `oid` (0 for a view or an unknown oid).
fn relation_bytes(catalog: &Catalog, oid: i64) -> Result<i64> {
    let Some(id) = relation_id(oid) else {
        return Ok(0);
    };
    let Ok(version) = catalog.version(id) else {
        return Ok(0);
    };
    let bytes: u64 = version.slices.values().flatten().map(|s| s.bytes).sum();
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// PostgreSQL's `pg_size_pretty`: bytes, kB, MB, GB, TB, rounded, 1024 apart.
fn size_pretty(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes;
    let mut unit = 0;
    // PostgreSQL moves to the next unit at 10 * 1024 of the current one.
    while size.abs() >= 10 * 1024 && unit + 1 < units.len() {
        size = (size + if size < 0 { -512 } else { 512 }) / 1024;
        unit += 1;
    }
    format!("{size} {}", units[unit])
}

fn signature(shapes: Vec<Vec<DataType>>) -> Signature {
    Signature::one_of(
        shapes.into_iter().map(TypeSignature::Exact).collect(),
        Volatility::Stable,
    )
}

/// Registers the catalog functions over `catalog` in `state`.
pub fn register(state: &mut SessionState, catalog: &Catalog) {
    use DataType::{Boolean, Int32, Int64, Utf8};
    let functions: Vec<(&'static str, Signature, RowFn)> = vec![
        (
            "pg_get_userbyid",
            signature(vec![vec![Int64], vec![Int32]]),
            Arc::new(|catalog, args| {
                let id = as_i64(&args[0]).unwrap_or(0);
                let user = i32::try_from(id)
                    .ok()
                    .map(|id| catalog.user_by_id(id))
                    .transpose()
                    .map_err(storage)?
                    .flatten();
                Ok(ScalarValue::Utf8(Some(match user {
                    Some(u) => u.name,
                    None => format!("unknown (OID={id})"),
                })))
            }),
        ),
        (
            "pg_get_viewdef",
            signature(vec![
                vec![Int64],
                vec![Int64, Boolean],
                vec![Utf8],
                vec![Utf8, Boolean],
            ]),
            Arc::new(|catalog, args| {
                Ok(ScalarValue::Utf8(
                    view_named(catalog, &args[0])?.map(|v| view_definition(&v)),
                ))
            }),
        ),
        (
            "pg_get_constraintdef",
            signature(vec![vec![Int64], vec![Int64, Boolean]]),
            Arc::new(|catalog, args| {
                let found = constraint_by_oid(catalog, &args[0])?;
                Ok(ScalarValue::Utf8(found.map(|(tables, t, c)| {
                    constraints::constraint_definition(&tables, &tables[t], &c)
                })))
            }),
        ),
        (
            // A regclass as PostgreSQL prints it: the relation's name, qualified
            // outside `public` (catalog queries' `conrelid::regclass`).
            "regclassout",
            signature(vec![vec![Int64]]),
            Arc::new(|catalog, args| {
                let oid = as_i64(&args[0]).unwrap_or(0);
                if oid == 0 {
                    return Ok(ScalarValue::Utf8(Some("-".into())));
                }
                let Some(id) = relation_id(oid) else {
                    return Ok(ScalarValue::Utf8(Some(oid.to_string())));
                };
                let tables = catalog.all_tables().map_err(storage)?;
                let views = catalog.all_views().map_err(storage)?;
                let named = tables
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| (t.schema.clone(), t.name.clone()))
                    .or_else(|| {
                        views
                            .iter()
                            .find(|v| v.id == id)
                            .map(|v| (v.schema.clone(), v.name.clone()))
                    })
                    .or_else(|| {
                        tables.iter().find_map(|t| {
                            let c = t.constraints.iter().find(|c| c.id == id)?;
                            Some((t.schema.clone(), c.name.clone()))
                        })
                    });
                Ok(ScalarValue::Utf8(Some(match named {
                    Some((schema, name))
                        if schema == "public" || schema.starts_with(TEMP_SCHEMA_PREFIX) =>
                    {
                        constraints::quote_ident(&name)
                    }
                    Some((schema, name)) => format!(
                        "{}.{}",
                        constraints::quote_ident(&schema),
                        constraints::quote_ident(&name)
                    ),
                    None => oid.to_string(),
                })))
            }),
        ),
        (
            // What SHOW TABLE answers: the table's CREATE TABLE statement.
            "show_table_ddl",
            signature(vec![vec![Utf8, Utf8]]),
            Arc::new(|catalog, args| {
                let schema = as_text(&args[0]).unwrap_or_default();
                let name = as_text(&args[1]).unwrap_or_default();
                let tables = catalog.all_tables().map_err(storage)?;
                let Some(t) = tables.iter().find(|t| t.schema == schema && t.name == name) else {
                    return Err(storage(blueshift_storage::StorageError::TableNotFound(
                        format!("{schema}.{name}"),
                    )));
                };
                Ok(ScalarValue::Utf8(Some(constraints::table_ddl(&tables, t))))
            }),
        ),
        (
            // What SHOW VIEW answers: the view's definition.
            "show_view_ddl",
            signature(vec![vec![Utf8, Utf8]]),
            Arc::new(|catalog, args| {
                let schema = as_text(&args[0]).unwrap_or_default();
                let name = as_text(&args[1]).unwrap_or_default();
                match catalog.view(&schema, &name).map_err(storage)? {
                    Some(v) => Ok(ScalarValue::Utf8(Some(view_definition(&v)))),
                    None => Err(storage(blueshift_storage::StorageError::TableNotFound(
                        format!("{schema}.{name}"),
                    ))),
                }
            }),
        ),
        (
            // `adbin` (pg_attrdef) holds a default's SQL text: it is the expression.
            "pg_get_expr",
            signature(vec![vec![Utf8, Int64], vec![Utf8, Int64, Boolean]]),
            Arc::new(|_, args| Ok(ScalarValue::Utf8(as_text(&args[0])))),
        ),
        (
            // Blueshift has no triggers (pg_trigger is empty): psql's `\d` names
            // the function all the same.
            "pg_get_triggerdef",
            signature(vec![vec![Int64], vec![Int64, Boolean]]),
            Arc::new(|_, _| Ok(ScalarValue::Utf8(None))),
        ),
        (
            "pg_get_indexdef",
            signature(vec![vec![Int64], vec![Int64, Int64, Boolean]]),
            Arc::new(|catalog, args| {
                // A primary key or unique constraint is its index here.
                let found = constraint_by_oid(catalog, &args[0])?;
                Ok(ScalarValue::Utf8(found.and_then(|(tables, t, c)| {
                    let table = &tables[t];
                    let column = as_i64(args.get(1)?).unwrap_or(0);
                    let names: Vec<String> = c
                        .columns
                        .iter()
                        .filter_map(|id| table.columns.iter().find(|x| x.id == *id))
                        .map(|x| constraints::quote_ident(&x.name))
                        .collect();
                    if column > 0 {
                        return names.get(column as usize - 1).cloned();
                    }
                    Some(format!(
                        "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
                        constraints::quote_ident(&c.name),
                        constraints::quote_ident(&table.schema),
                        constraints::quote_ident(&table.name),
                        names.join(", ")
                    ))
                })))
            }),
        ),
        (
            "obj_description",
            signature(vec![vec![Int64], vec![Int64, Utf8]]),
            Arc::new(|catalog, args| {
                let oid = as_i64(&args[0]).unwrap_or(0);
                let class = args.get(1).and_then(as_text).unwrap_or_default();
                if class == "pg_namespace" {
                    let schemas = catalog.schemas().map_err(storage)?;
                    let Some(name) = schemas
                        .into_iter()
                        .find(|s| i64::from(namespace_oid(s)) == oid)
                    else {
                        return Ok(ScalarValue::Utf8(None));
                    };
                    let comment = catalog
                        .comment(&CommentTarget::Schema(name))
                        .map_err(storage)?;
                    return Ok(ScalarValue::Utf8(comment));
                }
                relation_comment(catalog, oid, None)
            }),
        ),
        (
            "col_description",
            signature(vec![vec![Int64, Int64]]),
            Arc::new(|catalog, args| {
                let oid = as_i64(&args[0]).unwrap_or(0);
                relation_comment(catalog, oid, as_i64(&args[1]))
            }),
        ),
        (
            "format_encoding",
            signature(vec![vec![Int64]]),
            Arc::new(|_, args| {
                let n = as_i64(&args[0]).unwrap_or(-1);
                Ok(ScalarValue::Utf8(
                    ENCODING_NUMBERS
                        .iter()
                        .find(|(k, _)| i64::from(*k) == n)
                        .map(|(_, name)| name.to_string()),
                ))
            }),
        ),
    ];
    let sizes: Vec<(&'static str, Signature, RowFn)> = [
        "pg_relation_size",
        "pg_table_size",
        "pg_total_relation_size",
    ]
    .into_iter()
    .map(|name| {
        let row: RowFn = Arc::new(|catalog: &Catalog, args: &[ScalarValue]| {
            Ok(ScalarValue::Int64(Some(relation_bytes(
                catalog,
                as_i64(&args[0]).unwrap_or(0),
            )?)))
        });
        (name, signature(vec![vec![Int64], vec![Int32]]), row)
    })
    .collect();
    // The database's size: the bytes of every table's segments.
    let database_size: RowFn = Arc::new(|catalog: &Catalog, args: &[ScalarValue]| {
        if let ScalarValue::Utf8(Some(name)) = &args[0]
            && name != crate::session::DATABASE
        {
            return Err(DataFusionError::Plan(format!(
                "database \"{name}\" does not exist"
            )));
        }
        let mut total: i64 = 0;
        for t in catalog.all_tables().map_err(storage)? {
            total = total.saturating_add(relation_bytes(catalog, relation_oid(t.id).into())?);
        }
        Ok(ScalarValue::Int64(Some(total)))
    });
    let pretty: RowFn = Arc::new(|_, args| {
        Ok(ScalarValue::Utf8(Some(size_pretty(
            as_i64(&args[0]).unwrap_or(0),
        ))))
    });
    let typed = functions
        .into_iter()
        .map(|(n, s, r)| (n, s, r, Utf8))
        .chain(sizes.into_iter().map(|(n, s, r)| (n, s, r, Int64)))
        .chain([("pg_size_pretty", signature(vec![vec![Int64]]), pretty, Utf8)])
        .chain([(
            "pg_database_size",
            signature(vec![vec![Int64], vec![Utf8]]),
            database_size,
            Int64,
        )]);
    for (name, signature, row, returns) in typed {
        let udf = CatalogFunction {
            name,
            signature,
            returns,
            catalog: catalog.clone(),
            row,
        };
        if let Err(e) = state.register_udf(Arc::new(ScalarUDF::new_from_impl(udf))) {
            warn!("registering {name}: {e}");
        }
    }
    state.register_udtf("current_database", Arc::new(CurrentDatabase));
    state.register_udtf(
        "pg_get_late_binding_view_cols",
        Arc::new(LateBindingViewColumns(catalog.clone())),
    );
}

/// `FROM current_database()` (redshift_connector's `get_catalogs`): one row, the
/// database's name, in the column `current_database`.
#[derive(Debug)]
struct CurrentDatabase;

impl TableFunctionImpl for CurrentDatabase {
    fn call(&self, _args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "current_database",
            DataType::Utf8,
            false,
        )]));
        let names: ArrayRef = Arc::new(StringArray::from(vec![crate::session::DATABASE]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![names])?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// `pg_get_late_binding_view_cols()`: the columns of every late-binding view, as
/// they resolve now (view_schema, view_name, col_name, col_type, col_num).
#[derive(Debug)]
struct LateBindingViewColumns(Catalog);

impl TableFunctionImpl for LateBindingViewColumns {
    fn call(&self, _args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        Ok(Arc::new(LateBindingColumnsTable(self.0.clone())))
    }
}

#[derive(Debug)]
struct LateBindingColumnsTable(Catalog);

fn late_binding_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("view_schema", DataType::Utf8, false),
        Field::new("view_name", DataType::Utf8, false),
        Field::new("col_name", DataType::Utf8, false),
        Field::new("col_type", DataType::Utf8, false),
        Field::new("col_num", DataType::Int32, false),
    ]))
}

#[async_trait]
impl TableProvider for LateBindingColumnsTable {
    fn schema(&self) -> SchemaRef {
        late_binding_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let session_state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| {
                DataFusionError::Internal("pg_get_late_binding_view_cols needs a session".into())
            })?;
        let mut rows: Vec<(String, String, String, String, i32)> = vec![];
        for v in self.0.all_views().map_err(storage)? {
            if !v.late_binding {
                continue;
            }
            // A view whose tables are gone has no columns now; it is left out.
            let Ok(plan) = session_state.create_logical_plan(&v.query).await else {
                continue;
            };
            let declared = crate::planner::views::declared_types(&plan);
            for (i, (field, declared)) in plan.schema().fields().iter().zip(declared).enumerate() {
                let name = v.column_names.get(i).unwrap_or(field.name()).clone();
                let ty = match declared {
                    Some(d) => pg_type(&d, field.data_type()),
                    None => from_arrow(field.data_type()),
                };
                rows.push((
                    v.schema.clone(),
                    v.name.clone(),
                    name,
                    ty.name,
                    i as i32 + 1,
                ));
            }
        }
        let text = |f: fn(&(String, String, String, String, i32)) -> &String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        let batch = RecordBatch::try_new(
            late_binding_schema(),
            vec![
                text(|r| &r.0),
                text(|r| &r.1),
                text(|r| &r.2),
                text(|r| &r.3),
                Arc::new(arrow::array::Int32Array::from_iter_values(
                    rows.iter().map(|r| r.4),
                )),
            ],
        )?;
        MemTable::try_new(late_binding_schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
