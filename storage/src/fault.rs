//! Crash points for tests: a process that reaches a named point aborts on the spot
//! (like `kill -9`: no destructors, no flush) when the file named by the environment
//! variable `BLUESHIFT_CRASH_FILE` exists and holds that point's name. Without the
//! variable (always, outside tests) a crash point does nothing.
//!
//! Points: `segment_written` (a compute node has written a segment file),
//! `before_commit` (a statement's segments are written, its catalog commit is next),
//! `after_commit` (the catalog commit is durable, the client has no answer yet).

/// The environment variable naming the trigger file.
pub const CRASH_FILE_ENV: &str = "BLUESHIFT_CRASH_FILE";

/// Aborts the process if the trigger file names `point`.
pub fn crash_point(point: &str) {
    let Some(path) = std::env::var_os(CRASH_FILE_ENV) else {
        return;
    };
    if std::fs::read_to_string(path).is_ok_and(|p| p.trim() == point) {
        eprintln!("crash point {point}: aborting");
        std::process::abort();
    }
}
