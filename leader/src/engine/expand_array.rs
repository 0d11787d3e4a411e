//! `_pg_expandarray(array)`: information_schema's set-returning function that
//! drivers' key queries call (pgjdbc's `getPrimaryKeys` and `getIndexInfo`), as
//! the array of `(x, n)` pairs, each element with its 1-based position; the SQL
//! rewrite in `sql::catalog_queries` unnests it where a query calls the function
//! in its select list.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The function.
pub fn expand_array() -> ScalarUDF {
    ScalarUDF::new_from_impl(ExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

fn pair_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f)) => Ok(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(pair_fields(f.data_type())),
                true,
            )))),
            other => Err(DataFusionError::Plan(format!(
                "_pg_expandarray takes an array, not {other:?}"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let list = arrays[0].as_list::<i32>();
        let offsets = list.offsets();
        let first = offsets[0] as usize;
        let last = offsets[offsets.len() - 1] as usize;
        let values = list.values().slice(first, last - first);
        let positions: Int32Array = offsets
            .windows(2)
            .flat_map(|w| 1..=(w[1] - w[0]))
            .map(Some)
            .collect();
        let fields = pair_fields(values.data_type());
        let pairs = StructArray::try_new(fields.clone(), vec![values, Arc::new(positions)], None)?;
        let shifted = OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect());
        let out = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Struct(fields), true)),
            shifted,
            Arc::new(pairs),
            list.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
