//! The locks of the put → delivery path: they sleep in the kernel when contended and never
//! call `sched_yield`.
//!
//! parking_lot's locks, which eddy used before, spin by calling `sched_yield` a few times
//! before they park. On a busy machine with few cores a yield can hand the core to another
//! thread for a whole scheduler slice (milliseconds), so a poller or a commit waited that
//! long behind a lock held for microseconds: in `eddy-bench e2e` at 55k puts/s, the shard
//! tail's lock alone made about 450 yields a second. std's locks (futexes on Linux) spin
//! briefly on the CPU, then sleep until the holder's unlock wakes them.
//!
//! Like parking_lot's, these locks do not poison: a panic while one is held leaves the
//! data as the panicking code left it, and the code that can panic under a lock (a commit)
//! restores its invariants on unwind itself (see `commit_queue`).

use std::sync::PoisonError;

pub use std::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, Default)]
pub struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
pub struct RwLock<T>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub const fn new(value: T) -> Self {
        Self(std::sync::RwLock::new(value))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub const fn new() -> Self {
        Self(std::sync::Condvar::new())
    }

    /// Releases `guard`, sleeps until notified (or spuriously), and locks again.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    pub fn notify_one(&self) {
        self.0.notify_one();
    }
}
