//! The dateparts whose DATE_PART / EXTRACT / DATE_TRUNC answer Redshift gives
//! otherwise than DataFusion (or not at all), as expressions over the parts it has:
//! - `century` and `millennium` count from year 1 (2000 is in the 20th century,
//!   2001 in the 21st), `decade` is Redshift's (1999 is in decade 200, 2000 in 201);
//! - `millisecond` and `microsecond` leave the whole seconds out (`43.101` seconds
//!   has 101 milliseconds);
//! - DATE_TRUNC to a `decade`, `century` or `millennium` is the first day of it
//!   (2020 truncated to its millennium is 2001-01-01).

use datafusion::sql::sqlparser::ast::{BinaryOperator, DataType as SqlType, Expr};

use super::ast_build::{call, cast, number, string};
use blueshift_operators::functions::canonical_datepart;

fn op(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }))
}

/// `date_part(part, x)` as a BIGINT.
fn part_of(part: &str, x: Expr) -> Expr {
    cast(
        call("date_part", vec![string(part), x]),
        SqlType::BigInt(None),
    )
}

/// The year `x`'s decade, century or millennium starts in.
fn start_year(part: &str, x: Expr) -> Option<Expr> {
    let year = part_of("year", x);
    let (width, offset) = match part {
        "decade" => (10, 0),
        "century" => (100, 1),
        "millennium" => (1000, 1),
        _ => return None,
    };
    // ((year - offset) / width) * width + offset
    Some(op(
        op(
            op(
                op(year, BinaryOperator::Minus, number(offset)),
                BinaryOperator::Divide,
                number(width),
            ),
            BinaryOperator::Multiply,
            number(width),
        ),
        BinaryOperator::Plus,
        number(offset),
    ))
}

/// DATE_PART(`part`, `x`) where Redshift's answer needs more than DataFusion's.
pub(super) fn date_part(part: &str, x: &Expr) -> Option<Expr> {
    let x = x.clone();
    let year = || part_of("year", x.clone());
    Some(match canonical_datepart(part)? {
        "century" => op(
            op(year(), BinaryOperator::Plus, number(99)),
            BinaryOperator::Divide,
            number(100),
        ),
        "millennium" => op(
            op(year(), BinaryOperator::Plus, number(999)),
            BinaryOperator::Divide,
            number(1000),
        ),
        "decade" => op(
            op(year(), BinaryOperator::Divide, number(10)),
            BinaryOperator::Plus,
            number(1),
        ),
        "millisecond" => op(
            part_of("millisecond", x.clone()),
            BinaryOperator::Modulo,
            number(1000),
        ),
        "microsecond" => op(
            part_of("microsecond", x.clone()),
            BinaryOperator::Modulo,
            number(1_000_000),
        ),
        _ => return None,
    })
}

/// DATE_TRUNC(`part`, `x`) for the parts DataFusion does not truncate to.
pub(super) fn date_trunc(part: &str, x: &Expr) -> Option<Expr> {
    let part = canonical_datepart(part)?;
    let year = start_year(part, x.clone())?;
    Some(cast(
        call("make_date", vec![year, number(1), number(1)]),
        SqlType::Timestamp(None, datafusion::sql::sqlparser::ast::TimezoneInfo::None),
    ))
}
