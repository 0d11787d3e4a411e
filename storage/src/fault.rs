//! Crash points for tests, on the `fail` crate: each point is a `fail_point!`, and
//! does nothing unless configured. Two ways to configure them:
//!
//! - `BLUESHIFT_CRASH_FILE=<path>`: every point aborts the process on the spot (like
//!   `kill -9`: no destructors, no flush) when the file exists and holds that point's
//!   name, so a test arms a point in a running server after its setup, by writing the
//!   file.
//! - `FAILPOINTS=<point>=<actions>;...`: the fail crate's own syntax, read at the first
//!   point reached (e.g. `FAILPOINTS=before_commit=panic`, `after_commit=sleep(100)`).
//!   A configuration that does not parse is logged and ignored.
//!
//! Points: `segment_written` (a compute node has written a segment file),
//! `before_commit` (a statement's segments are written, its catalog commit is next),
//! `after_commit` (the catalog commit is durable, the client has no answer yet).

use std::sync::OnceLock;

/// The environment variable naming the trigger file.
pub const CRASH_FILE_ENV: &str = "BLUESHIFT_CRASH_FILE";

/// Every crash point.
pub const POINTS: &[&str] = &["segment_written", "before_commit", "after_commit"];

static CONFIGURED: OnceLock<()> = OnceLock::new();

fn configure() {
    if let Some(path) = std::env::var_os(CRASH_FILE_ENV) {
        for &point in POINTS {
            let path = path.clone();
            let armed = fail::cfg_callback(point, move || {
                if std::fs::read_to_string(&path).is_ok_and(|p| p.trim() == point) {
                    eprintln!("crash point {point}: aborting");
                    std::process::abort();
                }
            });
            if let Err(e) = armed {
                tracing::warn!("{CRASH_FILE_ENV}: crash point {point}: {e}");
            }
        }
    }
    if let Ok(spec) = std::env::var("FAILPOINTS") {
        for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let configured = match item.split_once('=') {
                Some((point, actions)) => fail::cfg(point.trim(), actions.trim()),
                None => Err(format!("'{item}' is not point=actions")),
            };
            if let Err(e) = configured {
                tracing::warn!("FAILPOINTS: {e}");
            }
        }
    }
}

/// The crash point `point` (one of [`POINTS`]): does what its configuration says,
/// nothing when unconfigured.
pub fn crash_point(point: &'static str) {
    CONFIGURED.get_or_init(configure);
    fail::fail_point!(point);
}
