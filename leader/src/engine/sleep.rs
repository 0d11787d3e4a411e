//! `pg_sleep(seconds)`: waits, as PostgreSQL's does, without holding a thread. A
//! cancel or WLM stop ends the wait with the statement.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The longest wait one call may ask for (a day).
const MAX_SECONDS: f64 = 86_400.0;

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(
            "pg_sleep runs asynchronously".into(),
        ))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let seconds = ColumnarValue::values_to_arrays(&args.args)?;
        let seconds = seconds
            .first()
            .map(|a| datafusion::arrow::compute::cast(a, &DataType::Float64))
            .transpose()?
            .ok_or_else(|| DataFusionError::Plan("pg_sleep takes the seconds to wait".into()))?;
        let seconds = seconds.as_primitive::<Float64Type>();
        for i in 0..seconds.len() {
            if seconds.is_null(i) {
                continue;
            }
            let s = seconds.value(i);
            if !s.is_finite() || s > MAX_SECONDS {
                return Err(DataFusionError::Execution(format!(
                    "pg_sleep({s}): at most {MAX_SECONDS} seconds"
                )));
            }
            if s > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(s)).await;
            }
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(vec![
            Some(
                ""
            );
            rows
        ]))))
    }
}

/// `pg_sleep(seconds)`.
pub fn udf() -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(PgSleep {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Volatile),
    }))
    .into_scalar_udf()
}
