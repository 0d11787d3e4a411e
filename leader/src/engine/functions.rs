//! Functions the leader answers itself: `version()`, the session's user
//! (`current_user`, `session_user`, `user`), and what the catalog's privileges say
//! (`has_table_privilege`, `has_schema_privilege`, `has_database_privilege`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use tracing::warn;

use crate::session::{Session, SessionRegistry};
use datafusion::arrow::array::{BooleanArray, Int64Array};
use datafusion::error::DataFusionError;

/// What `version()` answers, in the shape Redshift uses (tools look for the words
/// after the PostgreSQL version).
pub fn version_string() -> String {
    format!(
        "PostgreSQL 8.0.2 on x86_64-pc-linux-gnu, compiled by rustc, Blueshift {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Functions that must run on the leader (they are session state or overridden).
pub const LEADER_ONLY: &[&str] = &[
    "version",
    "current_user",
    "session_user",
    "user",
    "pg_backend_pid",
    "pg_cancel_backend",
    "pg_sleep",
    "pg_last_copy_id",
    "pg_last_query_id",
    "has_table_privilege",
    "has_any_column_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "pg_get_userbyid",
    "pg_get_viewdef",
    "obj_description",
    "col_description",
    "format_encoding",
    "pg_relation_size",
    "pg_table_size",
    "pg_total_relation_size",
    "pg_size_pretty",
    super::identity::NEXT,
];

fn constant_udf(
    name: &str,
    value: String,
    volatility: Volatility,
) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        volatility,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// Registers the functions that are the same for every session.
pub fn register_static(
    ctx: &SessionContext,
    sessions: Arc<SessionRegistry>,
    catalog: &blueshift_storage::catalog::Catalog,
) {
    ctx.register_udf(super::identity::udf(catalog.clone()));
    ctx.register_udf(constant_udf(
        "version",
        version_string(),
        Volatility::Immutable,
    ));
    ctx.register_udf(cancel_backend_udf(sessions));
    ctx.register_udf(super::sleep::udf());
}

/// `pg_cancel_backend(pid)`: cancels the running statement of the session with that
/// backend pid; true when there is such a session.
fn cancel_backend_udf(sessions: Arc<SessionRegistry>) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "pg_cancel_backend",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let pids = ColumnarValue::values_to_arrays(args)?;
            let pids = pids
                .first()
                .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
                .ok_or_else(|| {
                    DataFusionError::Plan("pg_cancel_backend takes one integer pid".into())
                })?;
            let cancelled: BooleanArray = pids
                .iter()
                .map(|pid| pid.map(|p| i32::try_from(p).is_ok_and(|p| sessions.cancel(p, None))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(cancelled)))
        }),
    )
}

/// Registers the functions whose answer depends on the session.
pub fn register_session(state: &mut SessionState, session: &Session) {
    for name in ["current_user", "session_user", "user"] {
        let udf = constant_udf(name, session.current_user(), Volatility::Stable);
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            warn!("registering {name}: {e}");
        }
    }
    let pid = session.pid;
    let backend_pid = create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))
        }),
    );
    if let Err(e) = state.register_udf(Arc::new(backend_pid)) {
        warn!("registering pg_backend_pid: {e}");
    }
    for (name, value) in [
        ("pg_last_copy_id", session.last_copy_id()),
        ("pg_last_query_id", session.last_query_id()),
    ] {
        let udf = create_udf(
            name,
            vec![],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(value))))
            }),
        );
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            warn!("registering {name}: {e}");
        }
    }
    let user_id = session.user_id();
    let current_user_id = create_udf(
        "current_user_id",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(user_id))))
        }),
    );
    if let Err(e) = state.register_udf(Arc::new(current_user_id)) {
        warn!("registering current_user_id: {e}");
    }
    if let Err(e) = state.register_udf(Arc::new(current_setting_udf(session))) {
        warn!("registering current_setting: {e}");
    }
}

/// `current_setting(name)`: the session's setting, as SHOW gives it; an unknown
/// name is 42704, as in PostgreSQL.
fn current_setting_udf(session: &Session) -> datafusion::logical_expr::ScalarUDF {
    let settings: std::collections::BTreeMap<String, String> =
        session.show_all().into_iter().collect();
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            blueshift_operators::functions::row_by_row_values(args, &DataType::Utf8, |values| {
                let name = match &values[0] {
                    ScalarValue::Utf8(Some(n)) => n.trim().to_ascii_lowercase(),
                    _ => return Ok(ScalarValue::Utf8(None)),
                };
                match settings.get(&name) {
                    Some(v) => Ok(ScalarValue::Utf8(Some(v.clone()))),
                    None => Err(DataFusionError::External(Box::new(
                        crate::error::LeaderError::UnknownSetting(name),
                    ))),
                }
            })
        }),
    )
}

/// `has_table_privilege([user,] table, privilege)`, `has_schema_privilege([user,]
/// schema, privilege)` and `has_database_privilege([user,] database, privilege)`:
/// what the catalog's ACLs give the user (the session's when none is named).
/// `privilege` is one name or several, comma separated, each optionally `WITH GRANT
/// OPTION`; any of them is enough, as in PostgreSQL.
#[derive(Debug)]
struct HasPrivilege {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
    catalog: blueshift_storage::catalog::Catalog,
    user: i32,
}

impl PartialEq for HasPrivilege {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.user == other.user
    }
}
impl Eq for HasPrivilege {}
impl std::hash::Hash for HasPrivilege {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.user.hash(state);
    }
}

impl HasPrivilege {
    /// Whether `user` (a name, or the session's) holds `privilege` on `object`.
    fn check(
        &self,
        user: Option<&str>,
        object: &str,
        privilege: &str,
    ) -> Result<bool, DataFusionError> {
        use blueshift_storage::catalog::access::{self, Privileges};
        let failed = |e: blueshift_storage::StorageError| DataFusionError::External(Box::new(e));
        let id = match user {
            None => self.user,
            Some(name) => self
                .catalog
                .user(name)
                .map_err(failed)?
                .map(|u| u.id)
                .ok_or_else(|| DataFusionError::Plan(format!("user \"{name}\" does not exist")))?,
        };
        let Some(who) = self.catalog.principal(id).map_err(failed)? else {
            return Ok(false);
        };
        let only_select = || {
            privilege
                .split(',')
                .all(|p| p.trim().eq_ignore_ascii_case("select"))
        };
        // An object named by its oid (`has_table_privilege(c.oid, 'SELECT')`).
        let by_oid = object.parse::<i64>().ok();
        let named;
        let object = match (by_oid, self.name) {
            (Some(oid), "has_schema_privilege") => {
                match self.schema_named(oid).map_err(failed)? {
                    Some(name) => {
                        named = name;
                        named.as_str()
                    }
                    // pg_catalog and information_schema: everyone may use them.
                    None => return Ok(privilege.trim().eq_ignore_ascii_case("usage")),
                }
            }
            (Some(oid), "has_database_privilege") => {
                named = oid.to_string();
                named.as_str()
            }
            (Some(oid), _) => match self.relation_named(oid).map_err(failed)? {
                Some(name) => {
                    named = name;
                    named.as_str()
                }
                // The catalog's own relations: every user may read them.
                None => return Ok(only_select()),
            },
            (None, _) => object,
        };
        let (owner, acl, all) = match self.name {
            "has_schema_privilege" if matches!(object, "pg_catalog" | "information_schema") => {
                return Ok(privilege.trim().eq_ignore_ascii_case("usage"));
            }
            "has_table_privilege" | "has_any_column_privilege" => {
                let (schema, table) = relation_name(object).ok_or_else(|| {
                    DataFusionError::Plan(format!("invalid relation name \"{object}\""))
                })?;
                let (schema, table) = (schema.as_str(), table.as_str());
                // System tables and pg_catalog's: every user may read them (the rows
                // a user may not see are left out).
                if matches!(schema, "public" | "pg_catalog")
                    && crate::system_tables::is_system_table(table)
                    && self.catalog.table(schema, table).map_err(failed)?.is_none()
                {
                    return Ok(only_select());
                }
                let missing =
                    || DataFusionError::Plan(format!("relation \"{object}\" does not exist"));
                match self.catalog.table(schema, table).map_err(failed)? {
                    Some(def) => (def.owner, def.acl, Privileges::ALL_TABLE),
                    None => {
                        let view = self.catalog.view(schema, table).map_err(failed)?;
                        let view = view.ok_or_else(missing)?;
                        (view.owner, view.acl, Privileges::ALL_TABLE)
                    }
                }
            }
            "has_schema_privilege" => {
                let schema = object.to_lowercase();
                if !self.catalog.schema_exists(&schema).map_err(failed)? {
                    return Err(DataFusionError::Plan(format!(
                        "schema \"{object}\" does not exist"
                    )));
                }
                let a = self.catalog.schema_access(&schema).map_err(failed)?;
                (a.owner, a.acl, Privileges::ALL_SCHEMA)
            }
            _ => {
                let a = self.catalog.database_access().map_err(failed)?;
                (a.owner, a.acl, Privileges::ALL_DATABASE)
            }
        };
        let has = access::effective(owner, &acl, &who, all);
        let grantable = access::grantable(owner, &acl, &who, all);
        for wanted in privilege.split(',') {
            let wanted = wanted.trim().to_uppercase();
            let (name, option) = match wanted.strip_suffix("WITH GRANT OPTION") {
                Some(name) => (name.trim().to_string(), true),
                None => (wanted.clone(), false),
            };
            let p = Privileges::named(&name)
                .filter(|p| all.contains(*p))
                .ok_or_else(|| {
                    DataFusionError::Plan(format!("unrecognized privilege type: \"{name}\""))
                })?;
            if (if option { grantable } else { has }).contains(p) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl HasPrivilege {
    /// The schema whose pg_namespace oid is `oid`, when it is one of the catalog's.
    fn schema_named(&self, oid: i64) -> Result<Option<String>, blueshift_storage::StorageError> {
        use crate::system_tables::pg_types::namespace_oid;
        Ok(self
            .catalog
            .schemas()?
            .into_iter()
            .find(|s| i64::from(namespace_oid(s)) == oid))
    }

    /// The table or view whose pg_class oid is `oid`, as `"schema"."name"`.
    fn relation_named(&self, oid: i64) -> Result<Option<String>, blueshift_storage::StorageError> {
        let Some(id) = crate::system_tables::pg_types::relation_id(oid) else {
            return Ok(None);
        };
        let quote = super::quoted;
        let tables = self.catalog.all_tables()?;
        if let Some(t) = tables.iter().find(|t| t.id == id) {
            return Ok(Some(format!("{}.{}", quote(&t.schema), quote(&t.name))));
        }
        let views = self.catalog.all_views()?;
        Ok(views
            .iter()
            .find(|v| v.id == id)
            .map(|v| format!("{}.{}", quote(&v.schema), quote(&v.name))))
    }
}

/// The schema and name of a relation named as SQL names it (`t`, `s.t`,
/// `"dev"."s"."T"`): quoted parts keep their case, others fold to lower case.
fn relation_name(text: &str) -> Option<(String, String)> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let name = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_object_name(false))
        .ok()?;
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| match i.quote_style {
            Some(_) => i.value.clone(),
            None => i.value.to_lowercase(),
        })
        .collect();
    match parts.as_slice() {
        [t] => Some(("public".into(), t.clone())),
        [s, t] => Some((s.clone(), t.clone())),
        [db, s, t] if db == crate::session::DATABASE => Some((s.clone(), t.clone())),
        _ => None,
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for HasPrivilege {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, StringArray};
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let strings: Vec<&StringArray> = arrays
            .iter()
            .map(|a| {
                a.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                    DataFusionError::Plan(format!("{} takes text arguments", self.name))
                })
            })
            .collect::<Result<_, _>>()?;
        let rows = args.number_rows;
        let mut out = BooleanArray::builder(rows);
        for row in 0..rows {
            let value = |i: usize| {
                let a = strings[i];
                let at = if a.len() == 1 { 0 } else { row };
                (!a.is_null(at)).then(|| a.value(at))
            };
            let (user, object, privilege) = match strings.len() {
                3 => (value(0), value(1), value(2)),
                _ => (None, value(0), value(1)),
            };
            if strings.len() == 3 && user.is_none() {
                out.append_null();
                continue;
            }
            match (object, privilege) {
                (Some(o), Some(p)) => out.append_value(self.check(user, o, p)?),
                _ => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Registers the privilege functions over `catalog` for the user `user`.
pub fn register_privileges(
    state: &mut SessionState,
    catalog: blueshift_storage::catalog::Catalog,
    user: i32,
) {
    use datafusion::logical_expr::{Signature, TypeSignature};
    for name in [
        "has_table_privilege",
        "has_any_column_privilege",
        "has_schema_privilege",
        "has_database_privilege",
    ] {
        let udf = HasPrivilege {
            name,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                ],
                Volatility::Stable,
            ),
            catalog: catalog.clone(),
            user,
        };
        if let Err(e) = state.register_udf(Arc::new(
            datafusion::logical_expr::ScalarUDF::new_from_impl(udf),
        )) {
            warn!("registering {name}: {e}");
        }
    }
}
