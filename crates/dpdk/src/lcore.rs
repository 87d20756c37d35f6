//! Running functions on EAL worker lcores.
//!
//! `rte_eal_remote_launch` and `rte_eal_wait_lcore` may only be called from the main lcore,
//! so launching checks the calling thread and the join handle cannot leave it (`!Send`).
//! A panic in a worker function is caught on the lcore (unwinding into C is undefined) and
//! handed to whoever joins.

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::thread;

use crate::error::DpdkError;
use crate::{sys, Eal};

/// What a launched lcore runs and where it leaves the result.
struct Task<T> {
    work: Option<Box<dyn FnOnce() -> T + Send>>,
    result: Option<thread::Result<T>>,
}

/// The running function on one lcore. [`LcoreJoinHandle::join`] waits for it and returns its
/// result; dropping the handle without joining also waits.
#[derive(Debug)]
pub struct LcoreJoinHandle<T> {
    lcore: u32,
    task: Option<NonNull<Task<T>>>,
    /// The EAL must outlive the wait in join or drop.
    _eal: Eal,
    /// Joining must happen on the main lcore, which launched it.
    _not_send: PhantomData<*const ()>,
}

impl Eal {
    /// The worker lcores (every enabled lcore except the main one), in id order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        // SAFETY: rte_get_next_lcore only reads the EAL's lcore table, which init filled.
        let mut lcore = unsafe { sys::rte_get_next_lcore(u32::MAX, 1, 0) };
        while lcore < sys::RTE_MAX_LCORE {
            lcores.push(lcore);
            // SAFETY: as above.
            lcore = unsafe { sys::rte_get_next_lcore(lcore, 1, 0) };
        }
        lcores
    }

    /// Runs `work` on worker `lcore`.
    ///
    /// # Errors
    /// When called from a thread other than the main lcore, or when the lcore is not a worker
    /// or is still busy (`EBUSY`).
    pub fn launch<F, T>(&self, lcore: u32, work: F) -> Result<LcoreJoinHandle<T>, DpdkError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let operation = || format!("rte_eal_remote_launch(lcore {lcore})");
        if crate::current_lcore() != Some(self.main_lcore()) {
            return Err(DpdkError::new(
                format!("{} from a thread other than the main lcore", operation()),
                libc::EPERM,
            ));
        }
        if !self.worker_lcores().contains(&lcore) {
            return Err(DpdkError::new(
                format!("{} on an lcore that is not a worker", operation()),
                libc::EINVAL,
            ));
        }
        let task = NonNull::from(Box::leak(Box::new(Task {
            work: Some(Box::new(work) as Box<dyn FnOnce() -> T + Send>),
            result: None,
        })));
        // SAFETY: we are on the main lcore and `lcore` is a worker. The argument points to a
        // leaked Task<T> that only the launched function touches until rte_eal_wait_lcore
        // returns (in join), after which the handle reclaims it.
        let ret =
            unsafe { sys::rte_eal_remote_launch(Some(run_task::<T>), task.as_ptr().cast(), lcore) };
        if ret != 0 {
            // SAFETY: the launch failed, so nothing else holds the task; reclaim it once.
            drop(unsafe { Box::from_raw(task.as_ptr()) });
            return Err(DpdkError::new(operation(), ret));
        }
        Ok(LcoreJoinHandle {
            lcore,
            task: Some(task),
            _eal: self.clone(),
            _not_send: PhantomData,
        })
    }
}

unsafe extern "C" fn run_task<T>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Task<T> that launch() leaked for this lcore; the main lcore does
    // not touch it until this function returns and rte_eal_wait_lcore observes that.
    let task = unsafe { &mut *arg.cast::<Task<T>>() };
    if let Some(work) = task.work.take() {
        task.result = Some(panic::catch_unwind(AssertUnwindSafe(work)));
    }
    0
}

impl<T> LcoreJoinHandle<T> {
    /// The lcore the function runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the function to return and gives its result (`Err` with the panic payload
    /// if it panicked).
    pub fn join(mut self) -> thread::Result<T> {
        self.wait()
            .expect("a handle that has not been joined holds its task")
    }

    fn wait(&mut self) -> Option<thread::Result<T>> {
        let task = self.task.take()?;
        // SAFETY: handles are created on the main lcore and cannot leave its thread; waiting
        // on a launched worker has no other precondition.
        unsafe { sys::rte_eal_wait_lcore(self.lcore) };
        // SAFETY: the worker has finished (wait returned), so the task is ours again; it was
        // leaked by launch() and is reclaimed exactly once since `task` was taken.
        let mut task = unsafe { Box::from_raw(task.as_ptr()) };
        task.result.take()
    }
}

impl<T> Drop for LcoreJoinHandle<T> {
    fn drop(&mut self) {
        drop(self.wait());
    }
}
