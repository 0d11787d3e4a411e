//! Redshift's type names that DataFusion does not plan, as the ones it does:
//! `CHARACTER(n)`, `NCHAR(n)` and `BPCHAR(n)` are `CHAR(n)` (`BPCHAR` alone is
//! `CHAR(256)`, as in Redshift), `CHARACTER VARYING(n)`, `CHAR VARYING(n)` and
//! `NVARCHAR(n)` are `VARCHAR(n)`, `DEC(p, s)` is `DECIMAL(p, s)` (and `DECIMAL` /
//! `NUMERIC` without a precision `DECIMAL(18, 0)`, as Redshift's), `VARBYTE(n)`,
//! `VARBINARY(n)` and `BINARY VARYING(n)` are `BYTEA`. In CREATE TABLE, ALTER TABLE
//! ADD COLUMN and casts. A cast to `VARCHAR(n)` or `CHAR(n)` also cuts its text to n
//! bytes (`varchar_fit`), as Redshift's does; DataFusion's casts keep no length.
//! Interval text takes Redshift's commas between parts (`'3 hours, 35 minutes'`).

use std::ops::ControlFlow;

use blueshift_operators::functions::string::VARCHAR_FIT;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, CastKind, CharacterLength, ColumnDef, DataType as SqlType,
    ExactNumberInfo, Expr, Statement, Value, VisitMut, VisitorMut,
};

fn length(args: &[String]) -> Option<CharacterLength> {
    match args.first() {
        Some(a) if a.eq_ignore_ascii_case("max") => Some(CharacterLength::Max),
        Some(a) => a
            .trim()
            .parse()
            .ok()
            .map(|length| CharacterLength::IntegerLength { length, unit: None }),
        None => None,
    }
}

/// `t` as a type DataFusion plans, where Redshift names it otherwise.
fn normalize(t: &mut SqlType) {
    let replacement = match t {
        SqlType::Character(n) => SqlType::Char(*n),
        SqlType::CharacterVarying(n) | SqlType::CharVarying(n) | SqlType::Nvarchar(n) => {
            SqlType::Varchar(*n)
        }
        // Redshift's DECIMAL / NUMERIC without a precision is DECIMAL(18, 0); with a
        // precision alone, its scale is 0.
        SqlType::Dec(info) | SqlType::Decimal(info) | SqlType::Numeric(info) => {
            let info = match info {
                ExactNumberInfo::None => ExactNumberInfo::PrecisionAndScale(18, 0),
                ExactNumberInfo::Precision(p) => ExactNumberInfo::PrecisionAndScale(*p, 0),
                other => *other,
            };
            if matches!(t, SqlType::Decimal(i) | SqlType::Numeric(i) if *i == info) {
                return;
            }
            SqlType::Decimal(info)
        }
        SqlType::Varbinary(_) => SqlType::Bytea,
        SqlType::Custom(name, args) => {
            let name = name.to_string().to_ascii_lowercase();
            match name.as_str() {
                "nchar" => SqlType::Char(length(args)),
                "bpchar" => SqlType::Char(length(args).or(Some(CharacterLength::IntegerLength {
                    length: 256,
                    unit: None,
                }))),
                "varbyte" | "binary varying" => SqlType::Bytea,
                _ => return,
            }
        }
        _ => return,
    };
    *t = replacement;
}

fn normalize_column(column: &mut ColumnDef) {
    normalize(&mut column.data_type);
}

struct Types;

impl VisitorMut for Types {
    type Break = ();

    fn pre_visit_statement(&mut self, stmt: &mut Statement) -> ControlFlow<()> {
        match stmt {
            Statement::CreateTable(ct) => ct.columns.iter_mut().for_each(normalize_column),
            Statement::AlterTable(alter) => {
                for op in &mut alter.operations {
                    if let AlterTableOperation::AddColumn { column_def, .. } = op {
                        normalize_column(column_def);
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Redshift's interval text may separate its parts with commas ('3 hours, 35
        // minutes'), in an INTERVAL literal or a cast to INTERVAL.
        let interval_text = match expr {
            Expr::Interval(interval) => Some(interval.value.as_mut()),
            Expr::Cast {
                data_type: SqlType::Interval { .. },
                expr: inner,
                ..
            } => Some(inner.as_mut()),
            _ => None,
        };
        if let Some(Expr::Value(v)) = interval_text
            && let Value::SingleQuotedString(text) = &mut v.value
            && text.contains(',')
        {
            *text = text
                .replace(',', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
        }
        if let Expr::Cast {
            data_type,
            expr: inner,
            kind: CastKind::Cast | CastKind::DoubleColon,
            ..
        } = expr
        {
            normalize(data_type);
            // A cast to VARCHAR(n) or CHAR(n) cuts the text to n bytes.
            if let SqlType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
            | SqlType::Char(Some(CharacterLength::IntegerLength { length, .. })) = data_type
            {
                let value = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
                **inner = super::ast_build::call(
                    VARCHAR_FIT,
                    vec![value, Expr::value(Value::Number(length.to_string(), false))],
                );
            }
        } else if let Expr::Cast { data_type, .. } = expr {
            normalize(data_type);
        }
        ControlFlow::Continue(())
    }
}

/// `stmt` with Redshift's type names as DataFusion's.
pub(crate) fn rewrite(mut stmt: Statement) -> Statement {
    let _ = stmt.visit(&mut Types);
    stmt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_by(sql, rewrite)
    }

    #[test]
    fn redshift_types_become_datafusion_types() {
        assert_eq!(
            rewritten(
                "create table t (a character(3), b nchar(2), c bpchar, d character varying(10), \
                 e nvarchar(5), f dec(10,2), g varbyte(8))"
            ),
            "CREATE TABLE t (a CHAR(3), b CHAR(2), c CHAR(256), d VARCHAR(10), e VARCHAR(5), \
             f DECIMAL(10,2), g BYTEA)"
        );
        assert_eq!(
            rewritten("select cast(x as character varying(4)), y::dec(5,1), z::char(2) from t"),
            "SELECT CAST(varchar_fit(x, 4) AS VARCHAR(4)), y::DECIMAL(5,1), \
             varchar_fit(z, 2)::CHAR(2) FROM t"
        );
    }
}
