//! Integer arithmetic as PostgreSQL and Redshift type and check it:
//! - [`IntegerLiterals`] (before type coercion): an integer literal that fits in
//!   32 bits and is an operand of `+ - * / %` is an INTEGER, not a BIGINT, so
//!   `int_col + 1` is an INTEGER and `2147483647 + 1` is INTEGER arithmetic.
//! - [`CheckedArithmetic`] (after type coercion): `+ - *` on integers become the
//!   functions of `blueshift_operators::functions::arithmetic`, which fail with 22003
//!   ("integer out of range") where DataFusion's would wrap around. Their column
//!   names are the operators', so the plan above them is unchanged.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::utils::NamePreserver;

use blueshift_operators::functions::arithmetic::{self, function_name, is_checked_type};

/// The analyzer rule typing integer literals in arithmetic (before coercion).
#[derive(Debug, Default)]
pub struct IntegerLiterals;

/// The analyzer rule checking integer arithmetic for overflow (after coercion).
#[derive(Debug, Default)]
pub struct CheckedArithmetic;

fn arithmetic_operator(op: Operator) -> bool {
    matches!(
        op,
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo
    )
}

/// `e` as an INTEGER literal, if it is a BIGINT literal that fits.
fn narrowed(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), meta) => {
            let v = i32::try_from(*v).ok()?;
            Some(Expr::Literal(ScalarValue::Int32(Some(v)), meta.clone()))
        }
        Expr::Negative(inner) => Some(Expr::Negative(Box::new(narrowed(inner)?))),
        _ => None,
    }
}

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // A literal's type is in its name: the node's columns keep theirs.
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                let typed = e.transform_up(|e| match e {
                    Expr::BinaryExpr(BinaryExpr { left, op, right }) if arithmetic_operator(op) => {
                        let (l, r) = (narrowed(&left), narrowed(&right));
                        let changed = l.is_some() || r.is_some();
                        let e = Expr::BinaryExpr(BinaryExpr {
                            left: Box::new(l.unwrap_or(*left)),
                            op,
                            right: Box::new(r.unwrap_or(*right)),
                        });
                        Ok(if changed {
                            Transformed::yes(e)
                        } else {
                            Transformed::no(e)
                        })
                    }
                    other => Ok(Transformed::no(other)),
                })?;
                Ok(typed.update_data(|e| saved.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "integer_literals"
    }
}

impl AnalyzerRule for CheckedArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let functions: Vec<_> = arithmetic::functions().into_iter().map(Arc::new).collect();
        plan.transform_up_with_subqueries(|node| {
            // Expressions are typed against the node's inputs, merged.
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            node.map_expressions(|e| {
                e.transform_up(|e| {
                    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
                        return Ok(Transformed::no(e));
                    };
                    let Some(name) = function_name(*op) else {
                        return Ok(Transformed::no(e));
                    };
                    let (Ok(lt), Ok(rt)) = (left.get_type(&schema), right.get_type(&schema)) else {
                        return Ok(Transformed::no(e));
                    };
                    if lt != rt || !is_checked_type(&lt) {
                        return Ok(Transformed::no(e));
                    }
                    let Some(f) = functions.iter().find(|f| f.name() == name) else {
                        return Ok(Transformed::no(e));
                    };
                    Ok(Transformed::yes(Expr::ScalarFunction(
                        ScalarFunction::new_udf(
                            Arc::clone(f),
                            vec![left.as_ref().clone(), right.as_ref().clone()],
                        ),
                    )))
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "checked_arithmetic"
    }
}
