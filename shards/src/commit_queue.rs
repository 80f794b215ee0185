//! The writer's inbox and the right to commit.
//!
//! Every change to the log is a [`Command`] that goes through one [`CommitQueue`]. Exactly
//! one party at a time holds the *leadership*, the right to take commands off the queue
//! and run them through the [`Writer`]; that is what keeps sequence numbers consecutive
//! and appends ordered with stream creations, deletions and trims.
//!
//! The leadership is held by nobody (`Idle`), by the writer thread (`Thread`), or, under
//! buffered durability, by a producer committing its own append on its own task
//! (`Producer`). A producer that finds the log idle commits its append itself, without
//! waking the writer thread and being woken back: on an uncontended log that saves two
//! thread hand-offs per put, which is most of a single put's latency. It then commits at
//! most one more small group that queued meanwhile, and hands whatever is left to the
//! writer thread, so a producer never blocks its async worker for long and a busy log
//! still gets big group commits on the thread. A producer that has fallen behind its own
//! client asks for the thread instead ([`CommitOn::WriterThread`]), so that it can read
//! its next requests while these commit.
//!
//! Under `fsync` durability producers never lead: an fsync would block an async worker
//! for milliseconds.
//!
//! # Invariants
//! - All leadership changes happen under the one `state` mutex, so there is no window in
//!   which a queued command is seen by no leader (no lost wake-up): a leader gives the
//!   leadership up (`Idle`) only after finding the queue empty under that mutex, and a
//!   producer that queues behind a leader leaves its command to it.
//! - Whenever the leadership is `Idle`, the queue is empty.
//! - Metadata commands (and test stalls) only ever run on the writer thread.
//! - The writer thread exits only when the queue is closed, empty and idle, so nothing
//!   acknowledged is dropped on close.

use std::collections::VecDeque;

use tracing::info;

use crate::sync::{Condvar, Mutex};
use crate::writer::{Command, Group, Writer, MAX_GROUP_BYTES};

/// A producer commits inline only appends up to this many bytes (and after its own, one
/// more group up to this size): 256 KiB, about 100–300 µs of work on the async worker.
pub(crate) const INLINE_GROUP_BYTES: usize = 256 * 1024;

/// Who commits a submission: the caller on its own thread when it may, or the writer
/// thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOn {
    /// The caller, when the log is idle and producers may lead (buffered durability):
    /// the lowest latency for a producer that keeps up with its client.
    CallerIfIdle,
    /// The writer thread, always: for a producer that is behind its client (how a caller
    /// tells is its own business; `PutRecordStream` looks at how full its reads are and
    /// how busy its task is), so that it reads and encodes its next requests on its core
    /// while the writer thread commits these on another. An inline commit would make the
    /// one task do both, one after the other.
    WriterThread,
}

/// Why a command was not queued; the command comes back untouched.
pub(crate) enum Refused {
    /// The queue holds its capacity of commands.
    Full(Command),
    /// The log is closing.
    Closed(Command),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leader {
    Idle,
    Producer,
    Thread,
}

struct QueueState {
    commands: VecDeque<Command>,
    leader: Leader,
    closed: bool,
}

pub(crate) struct CommitQueue {
    state: Mutex<QueueState>,
    /// The writer thread waits here for the leadership (or for the close).
    thread_wake: Condvar,
    /// Only the leader locks it, so it is never contended; it makes the exclusivity the
    /// leadership already gives visible to the compiler.
    writer: Mutex<Writer>,
    capacity: usize,
    producers_lead: bool,
}

impl CommitQueue {
    /// `capacity`: commands queued before [`CommitQueue::submit`] refuses appends.
    /// `producers_lead`: whether producers may commit inline (buffered durability).
    pub fn new(writer: Writer, capacity: usize, producers_lead: bool) -> Self {
        Self {
            state: Mutex::new(QueueState {
                commands: VecDeque::new(),
                leader: Leader::Idle,
                closed: false,
            }),
            thread_wake: Condvar::new(),
            writer: Mutex::new(writer),
            capacity,
            producers_lead,
        }
    }

    /// Queues an append or a document write, or commits it at once on the caller's thread
    /// when the log is idle (see the module docs). Either way the outcome arrives on the
    /// command's reply channel. Refused when the queue is full or closing.
    pub fn submit(&self, command: Command) -> Result<(), Refused> {
        self.submit_all(vec![command], CommitOn::CallerIfIdle)
            .pop()
            .expect("one outcome per command")
    }

    /// Like [`CommitQueue::submit`] for several commands, in order: with
    /// [`CommitOn::CallerIfIdle`], when the log is idle and they are small enough, they
    /// commit together in one group on the caller's thread. One outcome per command, in
    /// order.
    pub fn submit_all(&self, commands: Vec<Command>, on: CommitOn) -> Vec<Result<(), Refused>> {
        let mut state = self.state.lock();
        if state.closed {
            return commands
                .into_iter()
                .map(|c| Err(Refused::Closed(c)))
                .collect();
        }
        let bytes: Option<usize> = commands.iter().map(Command::inline_bytes).sum();
        if state.leader == Leader::Idle
            && self.producers_lead
            && on == CommitOn::CallerIfIdle
            && bytes.is_some_and(|bytes| bytes <= INLINE_GROUP_BYTES)
        {
            state.leader = Leader::Producer;
            drop(state);
            let count = commands.len();
            let mut group = Group::default();
            for command in commands {
                group.add(command);
            }
            self.lead_inline(group);
            return (0..count).map(|_| Ok(())).collect();
        }
        commands
            .into_iter()
            .map(|command| {
                if state.commands.len() >= self.capacity {
                    return Err(Refused::Full(command));
                }
                self.enqueue(&mut state, command);
                Ok(())
            })
            .collect()
    }

    /// Queues a command that must not be refused for lack of room (metadata changes,
    /// test stalls): these are rare and wait their turn. Refused only when closing.
    pub fn submit_unbounded(&self, command: Command) -> Result<(), Refused> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Refused::Closed(command));
        }
        self.enqueue(&mut state, command);
        Ok(())
    }

    fn enqueue(&self, state: &mut QueueState, command: Command) {
        state.commands.push_back(command);
        if state.leader == Leader::Idle {
            state.leader = Leader::Thread;
            self.thread_wake.notify_one();
        }
    }

    /// Runs as the producer-leader: commits the caller's own `group`, then at most one
    /// more small group, then gives the leadership up or hands it to the writer thread.
    fn lead_inline(&self, mut group: Group) {
        // If a commit panics, the leadership must not stay with a task that is gone.
        let handover = HandOverOnUnwind(self);
        self.commit_inline(&mut group);
        let more = {
            let mut state = self.state.lock();
            take_group(&mut state.commands, INLINE_GROUP_BYTES, true)
        };
        if !more.is_empty() {
            group = more;
            self.commit_inline(&mut group);
        }
        std::mem::forget(handover);
        self.release(Leader::Producer);
    }

    fn commit_inline(&self, group: &mut Group) {
        let mut writer = self.writer.lock();
        if writer.commit(group) > 0 {
            writer
                .counters
                .groups_committed_inline
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Gives up the leadership when nothing is queued, else hands it to the writer thread.
    fn release(&self, from: Leader) {
        let mut state = self.state.lock();
        debug_assert_eq!(state.leader, from);
        if state.commands.is_empty() {
            state.leader = Leader::Idle;
            if state.closed {
                self.thread_wake.notify_one();
            }
        } else {
            state.leader = Leader::Thread;
            self.thread_wake.notify_one();
        }
    }

    /// The writer thread's body: waits for the leadership, then commits groups (and runs
    /// metadata commands in their turn) until the queue is empty. Returns once the queue
    /// is closed and everything in it has run.
    pub fn run_writer_thread(&self) {
        let mut state = self.state.lock();
        loop {
            match state.leader {
                Leader::Thread => {}
                Leader::Idle if state.closed => {
                    info!("log writer stopped");
                    return;
                }
                Leader::Idle | Leader::Producer => {
                    state = self.thread_wake.wait(state);
                    continue;
                }
            }
            if state.commands.is_empty() {
                state.leader = Leader::Idle;
                continue;
            }
            let mut group = take_group(&mut state.commands, MAX_GROUP_BYTES, false);
            // Not a group member: a metadata command at the front, run alone.
            let meta = if group.is_empty() {
                state.commands.pop_front()
            } else {
                None
            };
            drop(state);
            let mut writer = self.writer.lock();
            writer.commit(&mut group);
            if let Some(meta) = meta {
                writer.run_meta(meta);
            }
            drop(writer);
            state = self.state.lock();
        }
    }

    /// Whether nobody leads: the next `CallerIfIdle` submit commits on its caller. The
    /// writer thread gives the leadership up only after the command a caller awaited has
    /// completed, so a test must wait for this before counting on an inline commit.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.state.lock().leader == Leader::Idle
    }

    /// Refuses new commands; the writer thread finishes what is queued, then returns.
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        self.thread_wake.notify_one();
    }
}

/// Takes appends and document writes off the front of the queue, in order, while they add
/// up to at most `max_bytes`, and stops at a metadata command (it runs alone, after the
/// group). The thread's groups always take their first command, however big; an inline
/// group (`inline`) leaves a command bigger than `max_bytes` to the thread.
fn take_group(commands: &mut VecDeque<Command>, max_bytes: usize, inline: bool) -> Group {
    let mut group = Group::default();
    let mut bytes = 0;
    while let Some(next_bytes) = commands.front().and_then(Command::inline_bytes) {
        let fits = bytes + next_bytes <= max_bytes;
        if !fits && (inline || !group.is_empty()) {
            break;
        }
        bytes += next_bytes;
        group.add(commands.pop_front().expect("the front exists"));
    }
    group
}

/// Hands the leadership to the writer thread if an inline commit unwinds.
struct HandOverOnUnwind<'a>(&'a CommitQueue);

impl Drop for HandOverOnUnwind<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.leader = Leader::Thread;
        self.0.thread_wake.notify_one();
    }
}
