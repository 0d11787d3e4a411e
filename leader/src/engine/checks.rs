//! Statements refused before they are planned, because DataFusion would answer them
//! wrongly.

use super::*;

/// Refuses INTERSECT ALL and EXCEPT ALL anywhere in `stmt`. Redshift has neither, and
/// DataFusion 55 answers them as semi and anti joins that keep every copy of a left
/// row that matches (or does not), not the counts the standard asks for: refusing
/// them is better than a wrong answer.
pub(super) fn refuse_bag_set_operations(stmt: &Statement) -> Result<(), LeaderError> {
    use datafusion::sql::sqlparser::ast::{SetExpr, SetOperator, SetQuantifier, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Find;
    fn bag(body: &SetExpr) -> Option<&'static str> {
        let SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } = body
        else {
            return None;
        };
        let all = matches!(
            set_quantifier,
            SetQuantifier::All | SetQuantifier::AllByName
        );
        match op {
            SetOperator::Intersect if all => Some("INTERSECT ALL"),
            SetOperator::Except | SetOperator::Minus if all => Some("EXCEPT ALL"),
            _ => bag(left).or_else(|| bag(right)),
        }
    }
    impl Visitor for Find {
        type Break = &'static str;
        fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<&'static str> {
            match bag(&query.body) {
                Some(name) => ControlFlow::Break(name),
                None => ControlFlow::Continue(()),
            }
        }
    }
    match stmt.visit(&mut Find) {
        ControlFlow::Break(name) => Err(LeaderError::Unsupported(name.to_string())),
        ControlFlow::Continue(()) => Ok(()),
    }
}
