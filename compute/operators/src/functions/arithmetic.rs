//! Integer `+`, `-` and `*` that fail on overflow, as PostgreSQL's and Redshift's do
//! (`select 2147483647 + 1` is 22003 "integer out of range"), where DataFusion's wrap
//! around. The leader's planner puts these in place of its integer arithmetic after
//! type coercion (`leader/src/planner/integer_arithmetic.rs`); their column name is the
//! operator's (`a + 1`), so nothing above them sees the change.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::udf;
use crate::error::OperatorError;
use blueshift_proto::error_kind::ErrorKind;

/// The operators this module checks.
pub const CHECKED: [Operator; 3] = [Operator::Plus, Operator::Minus, Operator::Multiply];

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Operator,
    name: &'static str,
    signature: Signature,
}

/// The name of the checked function for `op`, if it is one of [`CHECKED`].
pub fn function_name(op: Operator) -> Option<&'static str> {
    match op {
        Operator::Plus => Some("checked_plus"),
        Operator::Minus => Some("checked_minus"),
        Operator::Multiply => Some("checked_times"),
        _ => None,
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    CHECKED
        .into_iter()
        .filter_map(|op| {
            Some(udf(Checked {
                op,
                name: function_name(op)?,
                signature: Signature::any(2, Volatility::Immutable),
            }))
        })
        .collect()
}

/// Whether arithmetic on `t` is checked here: the signed integers.
pub fn is_checked_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

/// PostgreSQL's words for an integer of type `t` that does not fit.
fn out_of_range(t: &DataType) -> DataFusionError {
    let name = match t {
        DataType::Int16 | DataType::Int8 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    };
    DataFusionError::External(Box::new(OperatorError::Value {
        kind: ErrorKind::NumericValueOutOfRange,
        message: format!("{name} out of range"),
    }))
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [a, b] => Ok(format!(
                "{} {} {}",
                a.schema_name(),
                self.op,
                b.schema_name()
            )),
            _ => Ok(self.name.to_string()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [a, b] if a == b && is_checked_type(a) => Ok(a.clone()),
            _ => Err(DataFusionError::Plan(format!(
                "function {} takes two integers of one type, not {arg_types:?}",
                self.name
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(format!(
                "function {} takes two arguments",
                self.name
            )));
        };
        let t = a.data_type();
        let kernel: fn(
            &dyn datafusion::arrow::array::Datum,
            &dyn datafusion::arrow::array::Datum,
        ) -> std::result::Result<ArrayRef, ArrowError> = match self.op {
            Operator::Plus => numeric::add,
            Operator::Minus => numeric::sub,
            _ => numeric::mul,
        };
        let scalars = matches!((a, b), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let (left, right) = (a.to_array(1)?, b.to_array(1)?);
        let left_datum = datum(a, &left);
        let right_datum = datum(b, &right);
        let result = kernel(left_datum.as_ref(), right_datum.as_ref()).map_err(|e| match e {
            ArrowError::ArithmeticOverflow(_) => out_of_range(&t),
            other => DataFusionError::ArrowError(Box::new(other), None),
        })?;
        Ok(if scalars {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }
}

/// An argument as Arrow's kernels take it: a column, or a scalar (`one`, its
/// one-row array) applied to every row.
fn datum(
    value: &ColumnarValue,
    one: &ArrayRef,
) -> Box<dyn datafusion::arrow::array::Datum + Send + Sync> {
    match value {
        ColumnarValue::Array(a) => Box::new(a.clone()),
        ColumnarValue::Scalar(_) => Box::new(datafusion::arrow::array::Scalar::new(one.clone())),
    }
}
