//! Functions the leader answers itself: `version()`, and the session's user
//! (`current_user`, `session_user`, `user`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use tracing::warn;

use crate::session::Session;

/// What `version()` answers, in the shape Redshift uses (tools look for the words
/// after the PostgreSQL version).
pub fn version_string() -> String {
    format!(
        "PostgreSQL 8.0.2 on x86_64-pc-linux-gnu, compiled by rustc, Blueshift {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Functions that must run on the leader (they are session state or overridden).
pub const LEADER_ONLY: &[&str] = &["version", "current_user", "session_user", "user"];

fn constant_udf(
    name: &str,
    value: String,
    volatility: Volatility,
) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        volatility,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// Registers the functions that are the same for every session.
pub fn register_static(ctx: &SessionContext) {
    ctx.register_udf(constant_udf(
        "version",
        version_string(),
        Volatility::Immutable,
    ));
}

/// Registers the functions whose answer depends on the session.
pub fn register_session(state: &mut SessionState, session: &Session) {
    for name in ["current_user", "session_user", "user"] {
        let udf = constant_udf(name, session.user.clone(), Volatility::Stable);
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            warn!("registering {name}: {e}");
        }
    }
}
