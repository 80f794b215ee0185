//! Fair interleaving of the systems within `eddy-bench compare`'s rounds.
//!
//! Each round runs every system once. Two things would otherwise bias a fixed order:
//! - The system that always runs first after the raw RocksDB ceiling (or always after the
//!   same neighbour) pays for that run's buffered writes: the kernel writes them back to
//!   disk while it is being measured. [`settle_disk`] writes every dirty page back before
//!   each measured run.
//! - Whatever the previous run left behind (a warm or cold page cache, a busy disk) lands
//!   on the same system every round. [`in_round_order`] rotates the order by one system
//!   per round, so each takes each position.

/// `items` in the order of round `round`: rotated left by `round`.
pub fn in_round_order<T: Copy>(items: impl IntoIterator<Item = T>, round: usize) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    if !items.is_empty() {
        let shift = round % items.len();
        items.rotate_left(shift);
    }
    items
}

/// Writes every dirty page of the machine back to disk (`sync(2)`) and returns when done.
pub async fn settle_disk() -> anyhow::Result<()> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    tokio::task::spawn_blocking(|| unsafe { libc::sync() }).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_takes_every_position() {
        assert_eq!(in_round_order([1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(in_round_order([1, 2, 3], 1), [2, 3, 1]);
        assert_eq!(in_round_order([1, 2, 3], 2), [3, 1, 2]);
        assert_eq!(in_round_order([1, 2, 3], 3), [1, 2, 3]);
        assert!(in_round_order(Vec::<u8>::new(), 5).is_empty());
    }
}
