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

use crate::session::{Session, SessionRegistry};
use datafusion::arrow::array::{BooleanArray, Int64Array};
use datafusion::error::DataFusionError;

/// What `version()` answers, in the shape Redshift uses (tools look for the words
/// after the PostgreSQL version).
pub fn version_string() -> String {
    format!(
        "PostgreSQL 8.0.2 on x86_64-pc-linux-gnu, compiled by rustc, Blueshift {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Functions that must run on the leader (they are session state or overridden).
pub const LEADER_ONLY: &[&str] = &[
    "version",
    "current_user",
    "session_user",
    "user",
    "pg_backend_pid",
    "pg_cancel_backend",
    "pg_last_copy_id",
    "pg_last_query_id",
];

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
pub fn register_static(ctx: &SessionContext, sessions: Arc<SessionRegistry>) {
    ctx.register_udf(constant_udf(
        "version",
        version_string(),
        Volatility::Immutable,
    ));
    ctx.register_udf(cancel_backend_udf(sessions));
}

/// `pg_cancel_backend(pid)`: cancels the running statement of the session with that
/// backend pid; true when there is such a session.
fn cancel_backend_udf(sessions: Arc<SessionRegistry>) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "pg_cancel_backend",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let pids = ColumnarValue::values_to_arrays(args)?;
            let pids = pids
                .first()
                .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
                .ok_or_else(|| {
                    DataFusionError::Plan("pg_cancel_backend takes one integer pid".into())
                })?;
            let cancelled: BooleanArray = pids
                .iter()
                .map(|pid| pid.map(|p| i32::try_from(p).is_ok_and(|p| sessions.cancel(p, None))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(cancelled)))
        }),
    )
}

/// Registers the functions whose answer depends on the session.
pub fn register_session(state: &mut SessionState, session: &Session) {
    for name in ["current_user", "session_user", "user"] {
        let udf = constant_udf(name, session.current_user(), Volatility::Stable);
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            warn!("registering {name}: {e}");
        }
    }
    let pid = session.pid;
    let backend_pid = create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))
        }),
    );
    if let Err(e) = state.register_udf(Arc::new(backend_pid)) {
        warn!("registering pg_backend_pid: {e}");
    }
    for (name, value) in [
        ("pg_last_copy_id", session.last_copy_id()),
        ("pg_last_query_id", session.last_query_id()),
    ] {
        let udf = create_udf(
            name,
            vec![],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(value))))
            }),
        );
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            warn!("registering {name}: {e}");
        }
    }
}
