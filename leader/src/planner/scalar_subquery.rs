//! A correlated scalar subquery that is not an aggregate (`(SELECT b FROM u WHERE
//! u.a = t.a)`), which DataFusion only runs aggregated: it becomes the aggregate
//! `single_value(array_agg(b))`, the same value: NULL for no row, the row's value
//! for one, and the error PostgreSQL gives (21000) for more than one. The
//! aggregated form is what DataFusion decorrelates into a join.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::functions_aggregate::expr_fn::array_agg;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Subquery, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct AggregateScalarSubqueries;

impl AnalyzerRule for AggregateScalarSubqueries {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::ScalarSubquery(sq) if needs_aggregate(&sq) => {
                        Ok(Transformed::yes(Expr::ScalarSubquery(aggregated(sq)?)))
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "aggregate_scalar_subqueries"
    }
}

/// Whether `sq` is correlated and may return more than one row unaggregated.
fn needs_aggregate(sq: &Subquery) -> bool {
    if sq.outer_ref_columns.is_empty() || sq.subquery.schema().fields().len() != 1 {
        return false;
    }
    let mut inner = sq.subquery.as_ref();
    while let LogicalPlan::Projection(p) = inner {
        inner = p.input.as_ref();
    }
    while let LogicalPlan::SubqueryAlias(a) = inner {
        inner = a.input.as_ref();
    }
    let aggregated = match inner {
        LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Filter(f) => matches!(f.input.as_ref(), LogicalPlan::Aggregate(_)),
        _ => false,
    };
    !aggregated
        && !matches!(inner, LogicalPlan::Limit(_) | LogicalPlan::Sort(_))
        && sq.subquery.max_rows().is_none_or(|n| n > 1)
}

fn aggregated(sq: Subquery) -> Result<Subquery> {
    let inner = sq.subquery.as_ref().clone();
    let (qualifier, field) = inner.schema().qualified_field(0);
    let name = field.name().clone();
    let column = Column::new(qualifier.cloned(), &name);
    let plan = LogicalPlanBuilder::from(inner)
        .aggregate(
            Vec::<Expr>::new(),
            vec![array_agg(Expr::Column(column)).alias("blueshift_values")],
        )?
        .project(vec![
            single_value()
                .call(vec![Expr::Column(Column::from_name("blueshift_values"))])
                .alias(name),
        ])?
        .build()?;
    Ok(Subquery {
        subquery: Arc::new(plan),
        ..sq
    })
}

/// `single_value(list)`: NULL for an empty list (or NULL), the element of a list of
/// one, an error for more.
pub fn single_value() -> ScalarUDF {
    ScalarUDF::new_from_impl(SingleValue {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SingleValue {
    signature: Signature,
}

impl ScalarUDFImpl for SingleValue {
    fn name(&self) -> &str {
        "single_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f)) => Ok(f.data_type().clone()),
            other => Err(DataFusionError::Plan(format!(
                "single_value takes a list, not {other:?}"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let element = args.return_field.data_type().clone();
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let list = arrays[0].as_list::<i32>();
        let mut values = Vec::with_capacity(rows);
        for i in 0..list.len() {
            if list.is_null(i) {
                values.push(ScalarValue::try_from(&element)?);
                continue;
            }
            let items: ArrayRef = list.value(i);
            match items.len() {
                0 => values.push(ScalarValue::try_from(&element)?),
                1 => values.push(ScalarValue::try_from_array(&items, 0)?),
                _ => {
                    return Err(DataFusionError::Execution(
                        "Scalar subquery returned more than one row".into(),
                    ));
                }
            }
        }
        if values.is_empty() {
            return Ok(ColumnarValue::Array(arrow::array::new_empty_array(
                &element,
            )));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(values)?))
    }
}
