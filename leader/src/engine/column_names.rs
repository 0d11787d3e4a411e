//! Result column names as PostgreSQL gives them.
//!
//! PostgreSQL names an unaliased result column by its expression (`count(*)` is
//! `count`, `cast(ts as date)` is `ts`, `1 + 1` is `?column?`) and lets two columns
//! share a name; DataFusion names it after the expression's text and refuses a
//! projection whose names repeat. So before planning, [`ClientNames::alias_select_lists`]
//! gives every select list PostgreSQL's names: the first column of a name takes it as
//! its alias, a later one an internal alias (`__bs1`) remembered with the name the
//! client is to see. After planning, [`ClientNames::tag`] marks the result columns
//! with internal aliases in their field metadata, and [`client_schema`] renames them
//! where a RowDescription is made. Batches are encoded by position, so a client sees
//! two columns of one name while the plan keeps unique ones.
//!
//! A first column takes its real name so that ORDER BY and an outer query can name
//! it; PostgreSQL's reading of ORDER BY stays (a bare name is an output column, a
//! name inside an expression an input column).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion::common::Column;
use datafusion::common::metadata::FieldMetadata;
use datafusion::logical_expr::{Expr as PlanExpr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    DataType, ExactNumberInfo, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, OrderBy, OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TimezoneInfo,
    TrimWhereField, VisitMut, VisitorMut, visit_expressions,
};

use crate::error::LeaderError;

/// The field metadata key holding the name a client sees for a result column.
const CLIENT_NAME: &str = "blueshift.client_name";

/// PostgreSQL's name for a column it cannot name after its expression.
const UNNAMED: &str = "?column?";

/// The alias prefix of datafusion-pg-catalog's `AliasDuplicatedProjectionRewrite`,
/// which names the columns listed beside a wildcard; such an alias is no name the
/// user gave.
const PG_CATALOG_ALIAS: &str = "__alias_";

/// The internal aliases a statement's select lists were given, with the names the
/// client is to see for them.
#[derive(Debug, Default)]
pub(super) struct ClientNames {
    /// `__bs`, lengthened until the statement's text does not contain it, so no
    /// internal alias is the name of one of its columns.
    prefix: String,
    next: usize,
    by_alias: HashMap<String, String>,
}

impl ClientNames {
    /// Aliases the columns of every select list in `stmt` (the query's, its CTEs',
    /// derived tables' and subqueries') with PostgreSQL's names, the columns whose
    /// name an earlier column of the list has with internal ones, and returns the
    /// client names of those.
    ///
    /// An explicit alias and a plain column reference are left as written unless
    /// their name repeats. With a wildcard in the list, whose columns are not known
    /// yet, every other unaliased column takes an internal alias.
    pub(super) fn alias_select_lists(stmt: &mut Statement) -> Self {
        // Unquoted identifiers fold to lower case.
        let text = stmt.to_string().to_ascii_lowercase();
        let mut prefix = String::from("__bs");
        while text.contains(&prefix) {
            prefix.push('_');
        }
        let mut names = ClientNames {
            prefix,
            ..Self::default()
        };
        let ControlFlow::Continue(()) = stmt.visit(&mut names);
        names
    }

    /// `plan` with each result column that has an internal alias marked with its
    /// client name (read back by [`client_schema`]); the plan's own names stay.
    pub(super) fn tag(&self, plan: LogicalPlan) -> Result<LogicalPlan, LeaderError> {
        let schema = Arc::clone(plan.schema());
        if !schema
            .fields()
            .iter()
            .any(|f| self.by_alias.contains_key(f.name()))
        {
            return Ok(plan);
        }
        let exprs: Vec<_> = schema
            .iter()
            .map(|(qualifier, field)| {
                let column = PlanExpr::Column(Column::new(qualifier.cloned(), field.name()));
                match self.by_alias.get(field.name()) {
                    Some(client) => {
                        let mut metadata = field.metadata().clone();
                        metadata.insert(CLIENT_NAME.to_string(), client.clone());
                        column
                            .alias_with_metadata(field.name(), Some(FieldMetadata::from(metadata)))
                    }
                    None => column,
                }
            })
            .collect();
        Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
    }

    /// A new internal alias for a column the client sees as `client`.
    fn internal(&mut self, client: String) -> Ident {
        self.next += 1;
        let alias = format!("{}{}", self.prefix, self.next);
        self.by_alias.insert(alias.clone(), client);
        Ident::with_quote('"', alias)
    }

    /// Aliases the select lists of `set`; `order_by` is its query's, which names
    /// the columns of the left-most select.
    fn alias_set_expr(&mut self, set: &mut SetExpr, order_by: Option<&mut OrderBy>) {
        match set {
            SetExpr::Select(select) => self.alias_select(select, order_by),
            SetExpr::SetOperation { left, right, .. } => {
                self.alias_set_expr(left, order_by);
                self.alias_set_expr(right, None);
            }
            // A parenthesised query is visited as a query of its own; VALUES and
            // TABLE name their columns themselves.
            _ => {}
        }
    }

    fn alias_select(&mut self, select: &mut Select, order_by: Option<&mut OrderBy>) {
        let has_wildcard = select.projection.iter().any(|item| {
            matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });
        let used = OrderByNames::of(order_by.as_deref());
        let mut seen = HashSet::new();
        // Internal aliases a bare ORDER BY name must follow to its output column
        // (taken before a wildcard's column of that name, which PostgreSQL would
        // call ambiguous).
        let mut order_renames: HashMap<String, Ident> = HashMap::new();
        for item in &mut select.projection {
            let (expr, given) = match &*item {
                SelectItem::UnnamedExpr(expr) => (expr, None),
                SelectItem::ExprWithAlias { expr, alias } => (
                    expr,
                    Some(alias).filter(|a| !a.value.starts_with(PG_CATALOG_ALIAS)),
                ),
                _ => continue,
            };
            let unaliased_column = matches!(item, SelectItem::UnnamedExpr(_))
                && matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
            let name = given.map_or_else(|| column_name(expr), normalize);
            let alias = if !seen.insert(name.clone()) {
                Some(self.internal(name))
            } else if given.is_some() || (unaliased_column && !has_wildcard) {
                None
            } else if has_wildcard {
                let alias = self.internal(name.clone());
                if !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                    order_renames.insert(name, alias.clone());
                }
                Some(alias)
            } else if used.in_expressions.contains(&name) && !used.bare.contains(&name) {
                // PostgreSQL resolves a name inside an ORDER BY expression to an
                // input column; DataFusion would take the alias.
                Some(self.internal(name))
            } else {
                Some(Ident::with_quote('"', name))
            };
            if let Some(alias) = alias {
                match item {
                    SelectItem::ExprWithAlias { alias: old, .. } => *old = alias,
                    SelectItem::UnnamedExpr(expr) => {
                        let expr = expr.clone();
                        *item = SelectItem::ExprWithAlias { expr, alias };
                    }
                    _ => {}
                }
            }
        }
        if let Some(OrderBy {
            kind: OrderByKind::Expressions(exprs),
            ..
        }) = order_by
        {
            for order in exprs {
                if let Expr::Identifier(ident) = &order.expr
                    && let Some(alias) = order_renames.get(&normalize(ident))
                {
                    order.expr = Expr::Identifier(alias.clone());
                }
            }
        }
    }
}

impl VisitorMut for ClientNames {
    type Break = Infallible;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Infallible> {
        let Query { body, order_by, .. } = query;
        self.alias_set_expr(body, order_by.as_mut());
        ControlFlow::Continue(())
    }
}

/// The names a query's ORDER BY refers to. (DataFusion, like PostgreSQL, resolves
/// a name in GROUP BY or HAVING to an input column before an alias.)
struct OrderByNames {
    /// Items that are a bare name: PostgreSQL takes the output column.
    bare: HashSet<String>,
    /// Names inside other items: PostgreSQL takes the input column.
    in_expressions: HashSet<String>,
}

impl OrderByNames {
    fn of(order_by: Option<&OrderBy>) -> Self {
        let mut used = OrderByNames {
            bare: HashSet::new(),
            in_expressions: HashSet::new(),
        };
        let mut within = |expr: &Expr| {
            let ControlFlow::Continue(()) = visit_expressions(expr, |e| {
                match e {
                    Expr::Identifier(ident) => {
                        used.in_expressions.insert(normalize(ident));
                    }
                    Expr::CompoundIdentifier(parts) => {
                        if let Some(last) = parts.last() {
                            used.in_expressions.insert(normalize(last));
                        }
                    }
                    _ => {}
                }
                ControlFlow::<Infallible>::Continue(())
            });
        };
        if let Some(OrderBy {
            kind: OrderByKind::Expressions(exprs),
            ..
        }) = order_by
        {
            for order in exprs {
                match &order.expr {
                    Expr::Identifier(ident) => {
                        used.bare.insert(normalize(ident));
                    }
                    expr => within(expr),
                }
            }
        }
        used
    }
}

/// An identifier as DataFusion resolves it: folded to lower case unless quoted.
fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// How sure PostgreSQL's FigureColname is of a name: a weak one (a type name,
/// `case`) gives way to a strong one found inside a cast or a CASE's ELSE.
#[derive(Debug, PartialEq)]
enum Strength {
    Weak,
    Strong,
}

/// The name PostgreSQL gives a result column computed by `expr`.
fn column_name(expr: &Expr) -> String {
    figure_name(expr).map_or_else(|| UNNAMED.to_string(), |(name, _)| name)
}

/// PostgreSQL's FigureColnameInternal over sqlparser's tree.
fn figure_name(expr: &Expr) -> Option<(String, Strength)> {
    let strong = |name: &str| Some((name.to_string(), Strength::Strong));
    match expr {
        Expr::Identifier(ident) => Some((normalize(ident), Strength::Strong)),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| (normalize(p), Strength::Strong)),
        // A rewritten Redshift function keeps its name (`column_named`).
        Expr::Function(f)
            if function_is(f, blueshift_operators::functions::named::COLUMN_NAMED) =>
        {
            match &f.args {
                FunctionArguments::List(list) => match list.args.first() {
                    Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => {
                        match &v.value {
                            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(n) => {
                                strong(n)
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        // The function a cast to VARCHAR(n) wraps its operand in is not a name.
        Expr::Function(f) if is_varchar_fit(f) => match &f.args {
            FunctionArguments::List(list) => match list.args.first() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))) => figure_name(inner),
                _ => None,
            },
            _ => None,
        },
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|ident| (normalize(ident), Strength::Strong)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure_name(inner),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match figure_name(inner) {
            Some((name, Strength::Strong)) => Some((name, Strength::Strong)),
            _ => Some((type_name(data_type), Strength::Weak)),
        },
        Expr::TypedString(typed) => Some((type_name(&typed.data_type), Strength::Weak)),
        Expr::Interval(_) => Some(("interval".to_string(), Strength::Weak)),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(figure_name) {
            Some((name, Strength::Strong)) => Some((name, Strength::Strong)),
            _ => Some(("case".to_string(), Strength::Weak)),
        },
        Expr::Subquery(query) => Some((first_column_name(query), Strength::Strong)),
        Expr::Exists { negated: false, .. } => strong("exists"),
        Expr::Array(_) => Some(("array".to_string(), Strength::Weak)),
        Expr::Tuple(_) => Some(("row".to_string(), Strength::Weak)),
        // Forms with a grammar of their own that PostgreSQL turns into function calls.
        Expr::Extract { .. } => strong("extract"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Trim { trim_where, .. } => strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            Some(TrimWhereField::Both) | None => "btrim",
        }),
        _ => None,
    }
}

fn is_varchar_fit(f: &Function) -> bool {
    function_is(f, blueshift_operators::functions::string::VARCHAR_FIT)
}

fn function_is(f: &Function, name: &str) -> bool {
    f.name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|i| i.value == name)
}

/// The name of the first column of a scalar subquery.
fn first_column_name(query: &Query) -> String {
    let mut body = query.body.as_ref();
    loop {
        body = match body {
            SetExpr::Query(inner) => inner.body.as_ref(),
            SetExpr::SetOperation { left, .. } => left.as_ref(),
            SetExpr::Values(_) => return "column1".to_string(),
            SetExpr::Select(select) => {
                return match select.projection.first() {
                    Some(SelectItem::ExprWithAlias { alias, .. })
                        if !alias.value.starts_with(PG_CATALOG_ALIAS) =>
                    {
                        normalize(alias)
                    }
                    Some(
                        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. },
                    ) => column_name(expr),
                    // A wildcard's first column is not known before planning.
                    _ => UNNAMED.to_string(),
                };
            }
            _ => return UNNAMED.to_string(),
        };
    }
}

/// The name PostgreSQL's grammar gives a type in a cast (`int` is `int4`).
fn type_name(data_type: &DataType) -> String {
    let name = match data_type {
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::Real | DataType::Float4 => "float4",
        DataType::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => "float4",
        DataType::Float(_) | DataType::Float8 | DataType::Double(_) | DataType::DoublePrecision => {
            "float8"
        }
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
        DataType::Bool | DataType::Boolean => "bool",
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            "varchar"
        }
        DataType::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timestamptz",
        DataType::Timestamp(..) => "timestamp",
        DataType::Time(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timetz",
        DataType::Time(..) => "time",
        DataType::Interval { .. } => "interval",
        DataType::Custom(name, _) => {
            if let Some(ident) = name.0.last().and_then(|part| part.as_ident()) {
                return normalize(ident);
            }
            UNNAMED
        }
        other => {
            let text = other.to_string();
            let base = text.split('(').next().unwrap_or_default();
            return base.trim().to_ascii_lowercase();
        }
    };
    name.to_string()
}

/// `schema` with each field named as the client is to see it (see
/// [`ClientNames::tag`]); names may then repeat.
pub(super) fn client_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.metadata().get(CLIENT_NAME) {
            Some(client) => {
                let mut metadata = field.metadata().clone();
                metadata.remove(CLIENT_NAME);
                field
                    .as_ref()
                    .clone()
                    .with_name(client.clone())
                    .with_metadata(metadata)
            }
            None => field.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

#[cfg(test)]
mod tests {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::dataframe::DataFrame;
    use datafusion::prelude::SessionContext;
    use datafusion::sql::parser::Statement as DfStatement;

    use super::*;
    use crate::sql::{ParsedStatement, SqlParser};

    fn parse(sql: &str) -> Statement {
        let mut parsed = SqlParser::default().parse(sql).expect("test SQL parses");
        match parsed.statements.pop() {
            Some(ParsedStatement::Sql(stmt)) => *stmt,
            other => panic!("not one SQL statement: {other:?}"),
        }
    }

    /// The names PostgreSQL 15 gives these select lists (checked with psql).
    #[test]
    fn names_follow_figure_colname() {
        let cases = [
            ("select a, t.b, \"Q\", A, t.\"Q\"", "a b Q a Q"),
            (
                "select count(*), count(id), pg_catalog.lower('x'), coalesce(a, 1)",
                "count count lower coalesce",
            ),
            (
                "select 1, 'x', null, 1.5, true, 1 + 1, -a, a is null",
                "?column? ?column? ?column? ?column? ?column? ?column? ?column? ?column?",
            ),
            (
                "select cast(ts as date), ts::text, cast(cast(1 as int) as text), a::text::int",
                "ts ts text a",
            ),
            (
                "select '1'::int, 1::bigint, 1::smallint, 1::real, 1::float, 1::double precision",
                "int4 int8 int2 float4 float8 float8",
            ),
            (
                "select 1::decimal(10,2), 't'::boolean, 'x'::char(3), 'x'::varchar(3), 'x'::character varying",
                "numeric bool bpchar varchar varchar",
            ),
            (
                "select now()::timestamp, cast(null as timestamp with time zone), '1 day'::interval",
                "now timestamptz interval",
            ),
            (
                "select date '2024-01-01', interval '1 day', timestamp '2024-01-01'",
                "date interval timestamp",
            ),
            ("select (a), ((a)), 'a' collate \"C\"", "a a ?column?"),
            (
                "select (select count(*) from t), (select 1), (select b from t limit 1), (select x from (select 1 as x) s)",
                "count ?column? b x",
            ),
            (
                "select case when a > 1 then 1 end, case when a > 1 then 1 else b end, exists (select 1), not exists (select 1)",
                "case b exists ?column?",
            ),
            (
                "select extract(year from ts), substring('abc', 1, 2), trim(' x '), trim(leading ' ' from 'x'), position('a' in 'abc')",
                "extract substring btrim ltrim position",
            ),
            (
                "select ceil(1.5), floor(1.5), ts at time zone 'UTC', upper('a'), array[1, 2], current_date",
                "ceil floor timezone upper array current_date",
            ),
        ];
        for (sql, expected) in cases {
            let Statement::Query(query) = parse(sql) else {
                panic!("{sql} is a query");
            };
            let SetExpr::Select(select) = query.body.as_ref() else {
                panic!("{sql} is a select");
            };
            let names: Vec<String> = select
                .projection
                .iter()
                .map(|item| match item {
                    SelectItem::UnnamedExpr(expr) => column_name(expr),
                    other => panic!("{other} has an alias"),
                })
                .collect();
            assert_eq!(names.join(" "), expected, "{sql}");
        }
    }

    /// A context with `t(id, a, b, ts)`: three rows whose `b`, as text, sorts the
    /// other way round.
    async fn context() -> SessionContext {
        let ctx = SessionContext::new();
        for sql in [
            "create table t (id int, a int, b int, ts timestamp)",
            "insert into t values (1, 10, 3, '2024-01-02 03:04:05'), \
             (2, 20, 20, '2024-02-29 00:00:00'), (3, 30, 100, '2023-12-31 00:00:00')",
        ] {
            ctx.sql(sql)
                .await
                .expect("setup plans")
                .collect()
                .await
                .expect("setup runs");
        }
        ctx
    }

    /// The client's column names for `sql` and its rows, each as its values
    /// separated by spaces.
    async fn run(ctx: &SessionContext, sql: &str) -> (String, Vec<String>) {
        let mut stmt = parse(sql);
        let names = ClientNames::alias_select_lists(&mut stmt);
        let state = ctx.state();
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let plan = names.tag(plan).expect("tagging plans");
        let columns = client_schema(plan.schema().as_arrow())
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
            .join(" ");
        let batches = DataFrame::new(state, plan)
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formats"))
                .collect();
            for row in 0..batch.num_rows() {
                let values: Vec<String> = formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect();
                rows.push(values.join(" "));
            }
        }
        (columns, rows)
    }

    #[tokio::test]
    async fn columns_may_share_a_name() {
        let ctx = context().await;
        let cases: [(&str, &str, &[&str]); 12] = [
            (
                "select sum(a) over (), sum(b) over () from t where id = 1",
                "sum sum",
                &["10 3"],
            ),
            // An internal alias is no name the statement uses.
            (
                "select __BS1, __bs1 from (select 1 as __bs1) s",
                "__bs1 __bs1",
                &["1 1"],
            ),
            (
                "select (select count(*) from t), (select count(*) from t where a > 10)",
                "count count",
                &["3 2"],
            ),
            ("select count(*), count(id) from t", "count count", &["3 3"]),
            ("select 1, 2", "?column? ?column?", &["1 2"]),
            (
                "select 1 + 2 * 3, (1 + 2) * 3",
                "?column? ?column?",
                &["7 9"],
            ),
            ("select id, id from t where id = 1", "id id", &["1 1"]),
            (
                "select a as x, b as x from t where id = 1",
                "x x",
                &["10 3"],
            ),
            (
                "select x.id, y.id from t x join t y on x.id = y.id + 1 order by 1",
                "id id",
                &["2 1", "3 2"],
            ),
            (
                "select * from (select 1, 1) s",
                "?column? ?column?",
                &["1 1"],
            ),
            (
                "select *, a from t where id = 1",
                "id a b ts a",
                &["1 10 3 2024-01-02T03:04:05 10"],
            ),
            (
                "select count(*), count(id) from t union all select 1, 2 order by 1",
                "count count",
                &["1 2", "3 3"],
            ),
        ];
        for (sql, columns, rows) in cases {
            assert_eq!(
                run(&ctx, sql).await,
                (
                    columns.to_string(),
                    rows.iter().map(|r| r.to_string()).collect()
                ),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn order_by_a_name_takes_the_output_column() {
        let ctx = context().await;
        let cases: [(&str, &str, &[&str]); 7] = [
            // `ts` is the date, as in PostgreSQL.
            (
                "select id, cast(ts as date) from t order by ts",
                "id ts",
                &["3 2023-12-31", "1 2024-01-02", "2 2024-02-29"],
            ),
            // As text, 100 < 20 < 3.
            (
                "select id, cast(b as varchar) from t order by b",
                "id b",
                &["3 100", "2 20", "1 3"],
            ),
            // Inside an expression, `b` is the input column.
            (
                "select id, cast(b as varchar) from t order by b + 0",
                "id b",
                &["1 3", "2 20", "3 100"],
            ),
            (
                "select id, cast(b as varchar) from t order by t.b desc",
                "id b",
                &["3 100", "2 20", "1 3"],
            ),
            // Beside a wildcard too.
            (
                "select s.*, cast(t.b as varchar) from (select id from t) s join t on s.id = t.id order by b",
                "id b",
                &["3 100", "2 20", "1 3"],
            ),
            // The select-list names of a CTE and a derived table.
            (
                "with recursive f(i, v) as (select 1, 1 union all select i + 1, v * 2 from f where i < 4) select v from f order by i",
                "v",
                &["1", "2", "4", "8"],
            ),
            (
                "select count from (select count(*) from t) s",
                "count",
                &["3"],
            ),
        ];
        for (sql, columns, rows) in cases {
            assert_eq!(
                run(&ctx, sql).await,
                (
                    columns.to_string(),
                    rows.iter().map(|r| r.to_string()).collect()
                ),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn having_reads_input_columns() {
        let ctx = context().await;
        // PostgreSQL's HAVING sees `b` the column, not the output `b` (text);
        // DataFusion too, though it reads a name that is only an alias as that.
        let (columns, rows) = run(
            &ctx,
            "select cast(b as varchar), count(*) from t group by b having b > 5 order by 1",
        )
        .await;
        assert_eq!(columns, "b count");
        assert_eq!(rows, ["100 1", "20 1"]);
    }
}
