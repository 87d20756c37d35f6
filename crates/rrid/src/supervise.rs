//! Workers under supervision: a worker's panic is caught, logged and counted, and by the
//! operator's choice ([`OnWorkerPanic`]) stops rrid or leaves the rest running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What a worker's panic does (`--on-worker-panic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnWorkerPanic {
    Exit,
    Continue,
}

/// Set in the environment of a test, makes worker 0 panic as it starts (fault injection for
/// the supervision tests; see docs/security.md).
pub const FAULT_ENV: &str = "RRID_FAULT_INJECT";

/// What the workers' supervision shares with the control thread and main.
#[derive(Debug, Default)]
pub struct Supervision {
    pub panics: AtomicU64,
}

/// `work` (worker `index`'s loop) with its panic caught, logged and counted; with
/// [`OnWorkerPanic::Exit`] a panic stops rrid (the workers through `stop`, the control
/// thread through `term`), so no queue goes unserved without the process saying so.
pub fn supervised(
    index: usize,
    work: impl FnOnce(),
    supervision: &Supervision,
    on_panic: OnWorkerPanic,
    stop: &AtomicBool,
    term: &AtomicBool,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if index == 0 && std::env::var_os(FAULT_ENV).is_some_and(|v| v == "worker-panic") {
            panic!("fault injection ({FAULT_ENV}=worker-panic)");
        }
        work()
    }));
    let Err(payload) = result else {
        return;
    };
    let why = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into());
    supervision.panics.fetch_add(1, Ordering::Relaxed);
    tracing::error!(target: "rrid", worker = index, %why, action = ?on_panic, "worker panicked: its queues are no longer served");
    if on_panic == OnWorkerPanic::Exit {
        stop.store(true, Ordering::Relaxed);
        term.store(true, Ordering::Relaxed);
    }
}

/// Sets its flag when dropped, also while unwinding.
pub struct SetOnDrop(pub Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
