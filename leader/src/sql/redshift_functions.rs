//! Redshift's function-call syntax, rewritten into calls DataFusion (and the shared
//! functions of `blueshift_operators::functions`) plan:
//!
//! - dateparts as bare words or strings with Redshift's abbreviations
//!   (`DATEADD(day, ...)`, `DATEDIFF(mins, ...)`, `DATE_PART(dow, ...)`,
//!   `DATE_TRUNC('qtr', ...)`) become canonical strings;
//! - `GETDATE()` (the statement's start, whole seconds) and `SYSDATE` (with
//!   microseconds) are `now()` as a TIMESTAMP; `TIMEOFDAY()` is its text;
//!   `CURRENT_USER_ID` is a call;
//! - `LEN`, `REPLICATE`, `CEILING`, `DEXP`, `DLOG1`, `DLOG10`, `VARIANCE` name
//!   DataFusion's functions; `SHA2(s, bits)` is a hex digest;
//! - `DECODE(expr, search, result [, ...] [, default])` is a CASE in which NULL
//!   matches NULL; `DATE_CMP(a, b)` and the other `*_CMP` functions are -1, 0 or 1;
//! - `LISTAGG(x [, delimiter]) WITHIN GROUP (ORDER BY ...)` is `STRING_AGG` with
//!   that order; `RATIO_TO_REPORT(x) OVER (...)` is `x / SUM(x) OVER (...)`;
//! - `SELECT TOP n` is `LIMIT n`; `SELECT ... INTO t FROM ...` is `CREATE TABLE t
//!   AS SELECT ... FROM ...`.

use std::ops::ControlFlow;

use super::ast_build::{call, cast, number, string};
use blueshift_operators::functions::canonical_datepart;
use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArguments, Ident, LimitClause, ObjectName, Query, SetExpr,
    Statement, TimezoneInfo, TopQuantity, Value, VisitMut, VisitorMut,
};

fn timestamp_type() -> SqlType {
    SqlType::Timestamp(None, TimezoneInfo::None)
}

/// The plain arguments of a call (None when any is named or a wildcard).
fn plain_args(f: &mut Function) -> Option<&mut Vec<FunctionArg>> {
    let FunctionArguments::List(list) = &mut f.args else {
        return None;
    };
    list.args
        .iter()
        .all(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(_))))
        .then_some(&mut list.args)
}

fn arg_exprs(f: &Function) -> Vec<Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// A datepart argument (`day`, `'Day'`, `yrs`) as its canonical string, named as
/// `rename` says for DataFusion's functions.
fn datepart_arg(arg: &mut FunctionArg, rename: fn(&'static str) -> &'static str) {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
        return;
    };
    let name = match &*e {
        Expr::Identifier(id) if id.quote_style.is_none() => id.value.clone(),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            _ => return,
        },
        _ => return,
    };
    if let Some(canonical) = canonical_datepart(&name) {
        *e = string(rename(canonical));
    }
}

fn same(part: &'static str) -> &'static str {
    part
}

/// DATE_PART's names for the parts DataFusion calls otherwise.
fn date_part_name(part: &'static str) -> &'static str {
    match part {
        "dayofweek" => "dow",
        "dayofyear" => "doy",
        other => other,
    }
}

/// Aggregate functions whose arguments [`name_cast_arguments`] names.
const AGGREGATES: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "median",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "listagg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "approx_distinct",
    "any_value",
    "first_value",
    "last_value",
];

/// DataFusion names `sum(x::bigint)` as it names `sum(x)` (a cast is transparent in
/// a column's name), and two aggregates or windows of one name are refused. An
/// argument with a cast in it goes under its own text (`column_named`, which the
/// planner removes), so `sum(x), sum(x::bigint)` are two columns, as in PostgreSQL.
fn name_cast_arguments(f: &mut Function) {
    let Some(args) = plain_args(f) else {
        return;
    };
    for arg in args.iter_mut() {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
            continue;
        };
        let mut has_cast = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |inner| {
            has_cast |= matches!(inner, Expr::Cast { .. });
            ControlFlow::<()>::Continue(())
        });
        if has_cast {
            let label = e.to_string();
            *e = super::ast_build::named(&label, e.clone());
        }
    }
}

const CMP_FUNCTIONS: &[&str] = &[
    "date_cmp",
    "date_cmp_timestamp",
    "date_cmp_timestamptz",
    "timestamp_cmp",
    "timestamp_cmp_date",
    "timestamp_cmp_timestamptz",
    "timestamptz_cmp",
    "timestamptz_cmp_date",
    "timestamptz_cmp_timestamp",
    "interval_cmp",
];

/// `DECODE(expr, search, result, ..., [default])` as a CASE; NULL matches NULL.
fn decode(args: Vec<Expr>) -> Expr {
    let mut rest = args.into_iter();
    let subject = rest
        .next()
        .unwrap_or_else(|| Expr::Value(Value::Null.into()));
    let rest: Vec<Expr> = rest.collect();
    let mut conditions = Vec::new();
    let mut pairs = rest.chunks_exact(2);
    for pair in pairs.by_ref() {
        let condition = match &pair[0] {
            Expr::Value(v) if v.value == Value::Null => Expr::IsNull(Box::new(subject.clone())),
            search => Expr::IsNotDistinctFrom(Box::new(subject.clone()), Box::new(search.clone())),
        };
        conditions.push(CaseWhen {
            condition,
            result: pair[1].clone(),
        });
    }
    let else_result = pairs.remainder().first().cloned().map(Box::new);
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions,
        else_result,
    }
}

/// `a < b` -1, `a > b` 1, `a = b` 0 (NULL when either is).
fn compare(a: Expr, b: Expr) -> Expr {
    let when = |op: BinaryOperator, result: i64| CaseWhen {
        condition: Expr::BinaryOp {
            left: Box::new(a.clone()),
            op,
            right: Box::new(b.clone()),
        },
        result: number(result),
    };
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![
            when(BinaryOperator::Lt, -1),
            when(BinaryOperator::Gt, 1),
            when(BinaryOperator::Eq, 0),
        ],
        else_result: None,
    }
}

struct Functions;

impl VisitorMut for Functions {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // SELECT TOP n is LIMIT n.
        if let SetExpr::Select(select) = query.body.as_mut()
            && let Some(top) = &select.top
            && !top.percent
            && !top.with_ties
            && query.limit_clause.is_none()
        {
            let limit = match &top.quantity {
                Some(TopQuantity::Constant(n)) => Some(number(*n as i64)),
                Some(TopQuantity::Expr(e)) => Some(e.clone()),
                None => None,
            };
            if let Some(limit) = limit {
                select.top = None;
                query.limit_clause = Some(LimitClause::LimitOffset {
                    limit: Some(limit),
                    offset: None,
                    limit_by: vec![],
                });
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Extract {
            field, expr: inner, ..
        } = expr
            && let Some(special) = super::redshift_dateparts::date_part(&field.to_string(), inner)
        {
            *expr = super::ast_build::named("extract", special);
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(id) = expr
            && id.quote_style.is_none()
            && id.value.eq_ignore_ascii_case("sysdate")
        {
            *expr = cast(call("now", vec![]), timestamp_type());
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(id) = expr
            && id.quote_style.is_none()
            && id.value.eq_ignore_ascii_case("current_user_id")
        {
            *expr = call("current_user_id", vec![]);
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        if f.name.0.len() != 1 {
            return ControlFlow::Continue(());
        }
        let name = f.name.to_string().to_ascii_lowercase();
        if f.over.is_some() || AGGREGATES.contains(&name.as_str()) {
            name_cast_arguments(f);
        }
        let rename = |f: &mut Function, to: &str| {
            f.name = ObjectName::from(vec![Ident::new(to)]);
        };
        match name.as_str() {
            "dateadd" | "datediff" | "date_part" | "datepart" | "date_trunc" => {
                if name == "datepart" {
                    rename(f, "date_part");
                }
                let map = if name == "date_part" || name == "datepart" {
                    date_part_name
                } else {
                    same
                };
                if let Some(args) = plain_args(f)
                    && let Some(first) = args.first_mut()
                {
                    datepart_arg(first, map);
                }
                // The parts Redshift answers otherwise (century, decade, ...).
                let special = match (name.as_str(), arg_exprs(f).as_slice()) {
                    ("dateadd" | "datediff", _) => None,
                    (part_function, [Expr::Value(v), x]) => match &v.value {
                        Value::SingleQuotedString(part) if part_function == "date_trunc" => {
                            super::redshift_dateparts::date_trunc(part, x)
                        }
                        Value::SingleQuotedString(part) => {
                            super::redshift_dateparts::date_part(part, x)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(special) = special {
                    *expr = super::ast_build::named(&name, special);
                }
            }
            // FNV_HASH of an integer literal hashes an INTEGER, as on Redshift.
            "fnv_hash" => {
                if let Some(args) = plain_args(f)
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) = args.first_mut()
                    && let Expr::Value(v) = &*e
                    && let Value::Number(n, _) = &v.value
                    && n.parse::<i32>().is_ok()
                {
                    *e = cast(e.clone(), SqlType::Int(None));
                }
            }
            // MOD(a, b) is a % b.
            "mod" if arg_exprs(f).len() == 2 && plain_args(f).is_some() => {
                let args = arg_exprs(f);
                *expr = super::ast_build::named(
                    "mod",
                    Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(args[0].clone()),
                        op: BinaryOperator::Modulo,
                        right: Box::new(args[1].clone()),
                    })),
                );
            }
            "getdate" if arg_exprs(f).is_empty() => {
                *expr = cast(
                    call("date_trunc", vec![string("second"), call("now", vec![])]),
                    timestamp_type(),
                );
            }
            "timeofday" if arg_exprs(f).is_empty() => {
                *expr = call(
                    "to_char",
                    vec![
                        call("now", vec![]),
                        string("Dy Mon DD HH24:MI:SS.US YYYY TZ"),
                    ],
                );
            }
            "len" => rename(f, "length"),
            "replicate" => rename(f, "repeat"),
            "ceiling" => rename(f, "ceil"),
            "dexp" => rename(f, "exp"),
            "dlog1" => rename(f, "ln"),
            "dlog10" => rename(f, "log10"),
            "variance" => rename(f, "var_samp"),
            "sha2" => {
                let args = arg_exprs(f);
                if args.len() == 2
                    && let Expr::Value(v) = &args[1]
                    && let Value::Number(bits, _) = &v.value
                {
                    let algorithm = match bits.as_str() {
                        "0" | "256" => "sha256",
                        "224" => "sha224",
                        "384" => "sha384",
                        "512" => "sha512",
                        _ => return ControlFlow::Continue(()),
                    };
                    *expr = call(
                        "encode",
                        vec![
                            call("digest", vec![args[0].clone(), string(algorithm)]),
                            string("hex"),
                        ],
                    );
                }
            }
            "decode" if arg_exprs(f).len() >= 3 && plain_args(f).is_some() => {
                *expr = decode(arg_exprs(f));
            }
            cmp if CMP_FUNCTIONS.contains(&cmp) => {
                let args = arg_exprs(f);
                if args.len() == 2 && plain_args(f).is_some() {
                    // INTERVAL_CMP of text compares the intervals the text means.
                    let interval = |e: &Expr| {
                        if cmp == "interval_cmp" {
                            cast(
                                e.clone(),
                                SqlType::Interval {
                                    fields: None,
                                    precision: None,
                                },
                            )
                        } else {
                            e.clone()
                        }
                    };
                    *expr = super::ast_build::named(
                        cmp,
                        compare(interval(&args[0]), interval(&args[1])),
                    );
                }
            }
            // PERCENTILE_CONT / PERCENTILE_DISC (p) WITHIN GROUP (ORDER BY x) OVER
            // (...): DataFusion takes the window form as percentile_cont(x, p).
            "percentile_cont" | "percentile_disc"
                if f.over.is_some() && f.within_group.len() == 1 && arg_exprs(f).len() == 1 =>
            {
                let order = &f.within_group[0];
                let descending = order.options.asc == Some(false);
                // Descending order is the complement fraction for PERCENTILE_CONT; a
                // descending PERCENTILE_DISC window is left to DataFusion to refuse.
                if !descending || name == "percentile_cont" {
                    let fraction = arg_exprs(f)[0].clone();
                    let fraction = if descending {
                        Expr::BinaryOp {
                            left: Box::new(number(1)),
                            op: BinaryOperator::Minus,
                            right: Box::new(fraction),
                        }
                    } else {
                        fraction
                    };
                    let value = order.expr.clone();
                    f.within_group.clear();
                    if let FunctionArguments::List(list) = &mut f.args {
                        list.args = vec![
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(value)),
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(fraction)),
                        ];
                    }
                }
            }
            "listagg" => {
                rename(f, "string_agg");
                let order = std::mem::take(&mut f.within_group);
                if let FunctionArguments::List(list) = &mut f.args {
                    if list.args.len() == 1 {
                        list.args
                            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(string(""))));
                    }
                    if !order.is_empty() {
                        list.clauses.push(FunctionArgumentClause::OrderBy(order));
                    }
                }
            }
            "ratio_to_report" if f.over.is_some() => {
                let args = arg_exprs(f);
                if args.len() == 1 {
                    let mut sum = call("sum", vec![args[0].clone()]);
                    if let Expr::Function(s) = &mut sum {
                        s.over = f.over.clone();
                    }
                    *expr = Expr::BinaryOp {
                        left: Box::new(cast(args[0].clone(), SqlType::DoublePrecision)),
                        op: BinaryOperator::Divide,
                        right: Box::new(sum),
                    };
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT ... INTO [TEMP] [TABLE] t FROM ...` as `CREATE [TEMP] TABLE t AS SELECT
/// ... FROM ...`.
fn select_into(stmt: Statement) -> Statement {
    let Statement::Query(mut query) = stmt else {
        return stmt;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Statement::Query(query);
    };
    let Some(into) = select.into.take() else {
        return Statement::Query(query);
    };
    let temp = if into.temporary { "TEMP " } else { "" };
    let sql = format!("CREATE {temp}TABLE {} AS {query}", into.name);
    match datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &sql,
    ) {
        Ok(mut parsed) if parsed.len() == 1 => parsed.remove(0),
        _ => {
            if let SetExpr::Select(select) = query.body.as_mut() {
                select.into = Some(into);
            }
            Statement::Query(query)
        }
    }
}

/// `stmt` with Redshift's function calls in DataFusion's terms.
pub(crate) fn rewrite(stmt: Statement) -> Statement {
    let mut stmt = select_into(stmt);
    let _ = stmt.visit(&mut Functions);
    stmt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_by(sql, rewrite)
    }

    #[test]
    fn redshift_calls_become_datafusion_calls() {
        assert_eq!(
            rewritten("select dateadd(day, 1, d), datediff(mins, a, b) from t"),
            "SELECT dateadd('day', 1, d), datediff('minute', a, b) FROM t"
        );
        assert_eq!(
            rewritten("select date_part(dw, d), date_trunc('qtr', d) from t"),
            "SELECT date_part('dow', d), date_trunc('quarter', d) FROM t"
        );
        assert_eq!(
            rewritten("select decode(a, 1, 'one', null, 'none', 'other') from t"),
            "SELECT CASE WHEN a IS NOT DISTINCT FROM 1 THEN 'one' WHEN a IS NULL THEN 'none' \
             ELSE 'other' END FROM t"
        );
        assert_eq!(
            rewritten("select listagg(x, ',') within group (order by x desc) from t"),
            "SELECT string_agg(x, ',' ORDER BY x DESC) FROM t"
        );
        assert_eq!(
            rewritten("select top 3 x from t order by x"),
            "SELECT x FROM t ORDER BY x LIMIT 3"
        );
        assert_eq!(
            rewritten("select getdate(), sysdate, len(s) from t"),
            "SELECT CAST(date_trunc('second', now()) AS TIMESTAMP), CAST(now() AS TIMESTAMP), \
             length(s) FROM t"
        );
        assert_eq!(
            rewritten("select a, b into temp t2 from t where a > 1"),
            "CREATE TEMPORARY TABLE t2 AS SELECT a, b FROM t WHERE a > 1"
        );
        assert_eq!(
            rewritten("select date_cmp(a, b) from t"),
            "SELECT column_named('date_cmp', CASE WHEN a < b THEN -1 WHEN a > b THEN 1 WHEN a = b THEN 0 END) FROM t"
        );
    }
}
