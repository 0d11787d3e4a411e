//! `column_named(name, expr)`: `expr`, under the column name `name`. The SQL
//! rewrites that turn a Redshift function into other expressions (`MOD(a, b)` into
//! `a % b`, `DATE_PART(century, t)` into arithmetic over the year) wrap the result
//! in it, so the result column keeps the name PostgreSQL and Redshift give it
//! (`mod`, `date_part`); the leader names result columns from the statement's
//! text. The planner's simplification replaces the call with `expr` itself.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::udf;

/// The function's name.
pub const COLUMN_NAMED: &str = "column_named";

#[derive(Debug, PartialEq, Eq, Hash)]
struct ColumnNamed {
    signature: Signature,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![udf(ColumnNamed {
        signature: Signature::any(2, Volatility::Immutable),
    })]
}

impl ScalarUDFImpl for ColumnNamed {
    fn name(&self) -> &str {
        COLUMN_NAMED
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types.get(1).cloned().ok_or_else(|| {
            DataFusionError::Plan(format!("{COLUMN_NAMED} takes a name and a value"))
        })
    }

    /// The value's field, nullable as it is, so the simplified plan has the same
    /// schema.
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let value = args.arg_fields.get(1).ok_or_else(|| {
            DataFusionError::Plan(format!("{COLUMN_NAMED} takes a name and a value"))
        })?;
        Ok(std::sync::Arc::new(
            datafusion::arrow::datatypes::Field::new(
                COLUMN_NAMED,
                value.data_type().clone(),
                value.is_nullable(),
            ),
        ))
    }

    fn simplify(&self, mut args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match args.len() {
            2 => Ok(ExprSimplifyResult::Simplified(args.remove(1))),
            _ => Ok(ExprSimplifyResult::Original(args)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args.into_iter().nth(1).ok_or_else(|| {
            DataFusionError::Plan(format!("{COLUMN_NAMED} takes a name and a value"))
        })
    }
}
