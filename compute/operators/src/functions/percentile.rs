//! `PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY x)`: the first value, in the group's
//! order, whose cumulative distribution reaches `p` (a value of the group, not an
//! interpolation: PERCENTILE_CONT's). NULLs are ignored; an empty group gives NULL;
//! `p` is a constant from 0 to 1 (22023 otherwise). `ORDER BY x DESC` counts from
//! the largest value.
//!
//! The partial state is the group's values as a list, so a group gathered on the
//! slices finishes on the node that merges it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::invalid;

const NAME: &str = "percentile_disc";

#[derive(Debug, PartialEq, Eq, Hash)]
struct PercentileDisc {
    signature: Signature,
}

/// The aggregate functions of this module.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![AggregateUDF::new_from_impl(PercentileDisc {
        signature: Signature::any(2, Volatility::Immutable),
    })]
}

impl AggregateUDFImpl for PercentileDisc {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => Ok(t.clone()),
            None => Err(super::arity(NAME, "a fraction and an ORDER BY", 0)),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let input = args.input_fields[0].data_type().clone();
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            DataType::List(Arc::new(Field::new_list_field(input, true))),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let fraction = args
            .exprs
            .get(1)
            .and_then(|e| e.downcast_ref::<Literal>())
            .map(|l| l.value().cast_to(&DataType::Float64))
            .transpose()?;
        let fraction = match fraction {
            Some(ScalarValue::Float64(Some(p))) if (0.0..=1.0).contains(&p) => p,
            _ => {
                return Err(invalid(
                    NAME,
                    "the percentile must be a constant from 0 to 1",
                ));
            }
        };
        let descending = args
            .order_bys
            .first()
            .is_some_and(|sort| sort.options.descending);
        Ok(Box::new(Values {
            values: vec![],
            data_type: args.return_field.data_type().clone(),
            fraction,
            descending,
        }))
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct Values {
    values: Vec<ScalarValue>,
    data_type: DataType,
    fraction: f64,
    descending: bool,
}

impl Values {
    fn add(&mut self, array: &ArrayRef) -> Result<()> {
        for i in 0..array.len() {
            if array.is_valid(i) {
                self.values.push(ScalarValue::try_from_array(array, i)?);
            }
        }
        Ok(())
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(array) => self.add(array),
            None => Ok(()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states
            .first()
            .and_then(|s| s.as_any().downcast_ref::<ListArray>())
        else {
            return Err(DataFusionError::Internal(format!(
                "{NAME}: a partial state that is not a list"
            )));
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.add(&lists.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = ScalarValue::new_list_nullable(&self.values, &self.data_type);
        Ok(vec![ScalarValue::List(list)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.values.is_empty() {
            return ScalarValue::try_from(&self.data_type);
        }
        self.values.sort_by(|a, b| {
            let order = a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal);
            if self.descending {
                order.reverse()
            } else {
                order
            }
        });
        let n = self.values.len();
        // The first position whose cumulative distribution (k / n) reaches p.
        let k = ((self.fraction * n as f64).ceil() as usize).clamp(1, n);
        Ok(self.values[k - 1].clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int32Array;

    fn disc(values: &[i32], fraction: f64, descending: bool) -> ScalarValue {
        let mut acc = Values {
            values: vec![],
            data_type: DataType::Int32,
            fraction,
            descending,
        };
        let array: ArrayRef = Arc::new(Int32Array::from(values.to_vec()));
        acc.update_batch(&[array]).expect("update");
        acc.evaluate().expect("evaluate")
    }

    #[test]
    fn picks_a_value_of_the_group_as_postgresql() {
        // PostgreSQL: percentile_disc(0.5) within group (order by x) of 1, 2, 3, 4 is 2.
        assert_eq!(disc(&[4, 1, 3, 2], 0.5, false), ScalarValue::Int32(Some(2)));
        assert_eq!(
            disc(&[4, 1, 3, 2], 0.51, false),
            ScalarValue::Int32(Some(3))
        );
        assert_eq!(disc(&[4, 1, 3, 2], 0.0, false), ScalarValue::Int32(Some(1)));
        assert_eq!(disc(&[4, 1, 3, 2], 1.0, false), ScalarValue::Int32(Some(4)));
        assert_eq!(disc(&[4, 1, 3, 2], 0.25, true), ScalarValue::Int32(Some(4)));
        assert_eq!(disc(&[], 0.5, false), ScalarValue::Int32(None));
    }
}
