//! The runtime plan fragments execute on, apart from the one that serves Flight calls:
//! a fragment busy computing then never delays an answer to the leader (a cancel,
//! STV_EXEC_STATE, another query's rows). One worker thread per core, shared by every
//! compute node of the process.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The fragment runtime, started on first use; an error says why it could not start.
pub fn fragment_runtime() -> Result<&'static Runtime, String> {
    static POOL: OnceLock<Result<Runtime, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("blueshift-fragment")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| format!("starting the fragment threads: {e}"))
}
