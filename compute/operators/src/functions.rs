//! Redshift's scalar functions that DataFusion lacks or answers otherwise: integer
//! arithmetic that fails on overflow ([`arithmetic`]), the regular-expression
//! functions with Redshift's arguments ([`regexp`]), SHA1 and CRC32 ([`string`]),
//! the PERCENTILE_DISC aggregate ([`percentile`]), date and
//! time arithmetic ([`datetime`]: DATEADD, DATEDIFF, ADD_MONTHS, LAST_DAY,
//! MONTHS_BETWEEN, NEXT_DAY, TRUNC), the JSON functions ([`json`]), and TO_CHAR /
//! TO_DATE / TO_TIMESTAMP with PostgreSQL's format templates ([`template`]).
//!
//! The leader and every compute node register the same functions
//! ([`register`]), so a fragment that calls one runs wherever it is placed (the
//! fragment codec names a function, and the node finds it in its registry).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::error::OperatorError;
use blueshift_proto::error_kind::ErrorKind;

pub mod arithmetic;
pub mod datetime;
pub mod datetime_input;
pub mod json;
pub mod named;
pub mod percentile;
pub mod regexp;
pub mod string;
pub mod template;

pub use datetime::canonical_datepart;

/// Every function of this module.
pub fn all() -> Vec<ScalarUDF> {
    let mut out = datetime::functions();
    out.extend(arithmetic::functions());
    out.extend(json::functions());
    out.extend(string::functions());
    out.extend(named::functions());
    out.extend(regexp::functions());
    out.extend(template::functions());
    out
}

/// Registers [`all`] and the aggregates of [`percentile`] in `ctx`, replacing DataFusion's functions of the same names
/// with their aliases (DataFusion's `to_char` is also `date_format`: left
/// registered, a later copy of the state could bring it back under its name).
pub fn register(ctx: &SessionContext) {
    for f in all() {
        ctx.deregister_udf(f.name());
        ctx.register_udf(f);
    }
    for f in percentile::aggregates() {
        ctx.deregister_udaf(f.name());
        ctx.register_udaf(f);
    }
}

/// Evaluates a function one row at a time: `row` gets the row's values (a scalar
/// argument is the same for every row) and returns one of type `returns`.
pub fn row_by_row(
    args: &ScalarFunctionArgs,
    returns: &DataType,
    row: impl Fn(&[ScalarValue]) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    row_by_row_values(&args.args, returns, row)
}

/// [`row_by_row`] over the argument values themselves (for `create_udf` closures).
pub fn row_by_row_values(
    args: &[ColumnarValue],
    returns: &DataType,
    row: impl Fn(&[ScalarValue]) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        let values: Vec<ScalarValue> = args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => s.clone(),
                ColumnarValue::Array(_) => unreachable!("all arguments are scalars"),
            })
            .collect();
        return Ok(ColumnarValue::Scalar(row(&values)?.cast_to(returns)?));
    }
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let rows = arrays.iter().map(|a| a.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(rows);
    for n in 0..rows {
        let values = arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, if a.len() == 1 { 0 } else { n }))
            .collect::<Result<Vec<_>>>()?;
        out.push(row(&values)?.cast_to(returns)?);
    }
    if out.is_empty() {
        return Ok(ColumnarValue::Array(
            datafusion::arrow::array::new_empty_array(returns),
        ));
    }
    Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
}

/// A value as text (NULL as None).
pub(crate) fn text(v: &ScalarValue) -> Result<Option<String>> {
    match v.cast_to(&DataType::Utf8)? {
        ScalarValue::Utf8(s) => Ok(s),
        _ => Ok(None),
    }
}

/// A value as a 64-bit integer (NULL as None).
pub(crate) fn integer(v: &ScalarValue) -> Result<Option<i64>> {
    match v.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(n) => Ok(n),
        _ => Ok(None),
    }
}

/// An error in the arguments a function was given (22023, as PostgreSQL's
/// "invalid parameter value").
pub(crate) fn invalid(function: &str, message: impl std::fmt::Display) -> DataFusionError {
    value_error(ErrorKind::InvalidParameterValue, function, message)
}

/// A function's error of `kind`, naming the function.
pub(crate) fn value_error(
    kind: ErrorKind,
    function: &str,
    message: impl std::fmt::Display,
) -> DataFusionError {
    DataFusionError::External(Box::new(OperatorError::Value {
        kind,
        message: format!("{function}: {message}"),
    }))
}

/// A plan-time error for a call with the wrong number of arguments.
pub(crate) fn arity(function: &str, expected: &str, got: usize) -> DataFusionError {
    DataFusionError::Plan(format!(
        "function {function} takes {expected}, not {got} argument{}",
        if got == 1 { "" } else { "s" }
    ))
}

/// The field a function returns (`return_field_from_args`' answer).
pub(crate) fn returned_field(
    name: &str,
    returns: DataType,
) -> Result<datafusion::arrow::datatypes::FieldRef> {
    Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
        name, returns, true,
    )))
}

pub(crate) fn udf(f: impl datafusion::logical_expr::ScalarUDFImpl + 'static) -> ScalarUDF {
    ScalarUDF::new_from_shared_impl(Arc::new(f))
}
