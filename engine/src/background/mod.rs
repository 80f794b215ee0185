//! Background loops of a running server. Each stops when its cancellation token fires.

pub mod retention;
