//! How busy a task keeps itself: the share of wall time it spent inside its own polls
//! over the last window.
//!
//! A PutRecordStream call is served by one task, so however many cores the server has,
//! one call's reading, encoding and (inline) committing run one after the other. When
//! that task is busy most of the time it is the bottleneck of its call, and the call
//! moves the commits to the writer thread (see `put_pipeline`). The task measures itself
//! rather than guessing from the requests it finds waiting: a call that has fallen
//! behind may still find its requests one at a time, when its client's HTTP/2 tasks are
//! starved of the same cores.

use std::time::{Duration, Instant};

/// The window the busy share is measured over: long enough to hold hundreds of polls of
/// a loaded call, short enough to react before a stall has grown to many milliseconds.
const WINDOW: Duration = Duration::from_millis(10);

/// A task is busy when it spent more than this share of the last window in its polls.
/// Measured on the 2-core VM at 150k single-record puts/s on one call: the call's task
/// was inside its polls 70–95 % of the time when it committed inline, and it fell
/// behind; with 64 puts in flight it was at 54–64 %, and committing inline was faster.
const BUSY_SHARE: f64 = 0.7;

pub(super) struct TaskLoad {
    window_start: Instant,
    in_polls: Duration,
    busy: bool,
}

impl TaskLoad {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            in_polls: Duration::ZERO,
            busy: false,
        }
    }

    /// Whether the task was busy over the last complete window.
    pub(super) fn is_busy(&self) -> bool {
        self.busy
    }

    /// Counts one poll that ran from `started` to `ended`.
    pub(super) fn add_poll(&mut self, started: Instant, ended: Instant) {
        self.in_polls += ended.saturating_duration_since(started);
        let window = ended.saturating_duration_since(self.window_start);
        if window >= WINDOW {
            self.busy = self.in_polls.as_secs_f64() > BUSY_SHARE * window.as_secs_f64();
            self.window_start = ended;
            self.in_polls = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls of `poll` every `period` from `start` until `until`.
    fn run(load: &mut TaskLoad, start: Instant, until: Duration, period: Duration, poll: Duration) {
        let mut at = start;
        while at < start + until {
            load.add_poll(at, at + poll);
            at += period;
        }
    }

    #[test]
    fn busy_only_past_the_share_over_a_whole_window() {
        let start = Instant::now();
        let mut load = TaskLoad::new(start);
        assert!(!load.is_busy(), "idle until measured");
        // One 9-ms poll: 90 % of a window, but not judged before a whole window has passed.
        load.add_poll(start, start + Duration::from_millis(9));
        assert!(!load.is_busy());
        // Then 9 µs of every 10 µs: the window closes at 99 % busy.
        run(
            &mut load,
            start + Duration::from_millis(9),
            WINDOW,
            Duration::from_micros(10),
            Duration::from_micros(9),
        );
        assert!(load.is_busy());
        // 5 µs of every 10 µs: half busy, so no longer busy after the next window.
        let later = start + Duration::from_millis(30);
        run(
            &mut load,
            later,
            WINDOW * 2,
            Duration::from_micros(10),
            Duration::from_micros(5),
        );
        assert!(!load.is_busy());
    }

    #[test]
    fn one_long_poll_makes_the_task_busy() {
        let start = Instant::now();
        let mut load = TaskLoad::new(start);
        load.add_poll(start, start + WINDOW * 3);
        assert!(load.is_busy());
    }
}
