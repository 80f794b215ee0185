//! Runs W4–W6 over the delivering systems, one system at a time, each started fresh per
//! run, interleaved over rounds, and turns the results into tables and charts.

use std::collections::HashMap;
use std::path::Path;

use super::table::{chart, Compare, Results};
use super::{backlog, fan_out, latency, Deliverer, Target};
use crate::compare::median;
use crate::fair_rounds::{in_round_order, settle_disk};
use crate::systems::Installed;

/// What the delivery workloads are asked to do (from `eddy-bench compare`'s flags).
pub struct DeliveryArgs {
    pub workloads: Vec<String>,
    pub rounds: usize,
    pub seconds: f64,
    pub shards: u32,
    pub record_size: usize,
    pub load_fractions: Vec<f64>,
    pub backlog_records: u64,
    pub kinesalite_backlog_records: u64,
    pub fan_outs: Vec<usize>,
    pub fan_out_producers: usize,
    pub only: Vec<String>,
}

/// A chart: file name, title, SVG.
pub type Chart = (String, String, String);

/// Runs the delivery workloads among `args.workloads`; prints each table as it is done
/// and returns the markdown and the charts.
pub async fn run(
    args: &DeliveryArgs,
    installed: &Installed,
    root: &Path,
) -> anyhow::Result<(String, Vec<Chart>)> {
    let (mut out, mut charts) = (String::new(), Vec::new());
    for workload in ["w4", "w5", "w6"] {
        if !args.workloads.iter().any(|w| w == workload) {
            continue;
        }
        let deliverers: Vec<Deliverer> = Deliverer::all(workload)
            .into_iter()
            .filter(|d| crate::compare::is_wanted(&d.name(), &args.only))
            .collect();
        let mut missing = String::new();
        for deliverer in &deliverers {
            if let Some(why) = deliverer.missing(installed) {
                missing.push_str(&format!("- **{} is missing**: {why}\n", deliverer.name()));
            }
        }
        let (text, mut more) = match workload {
            "w4" => w4(args, installed, root, &deliverers).await?,
            "w5" => w5(args, installed, root, &deliverers).await?,
            _ => w6(args, installed, root, &deliverers).await?,
        };
        let text = format!("{missing}{text}");
        print!("{text}");
        out.push_str(&text);
        charts.append(&mut more);
    }
    Ok((out, charts))
}

/// Starts `deliverer` fresh, runs `body` on it and shuts it down.
async fn with_target<T>(
    deliverer: Deliverer,
    installed: &Installed,
    root: &Path,
    shards: u32,
    body: impl AsyncFnOnce(&mut Target) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut target = Target::start(deliverer, installed, root, shards).await?;
    let result = body(&mut target).await;
    target.finish(result).await
}

fn runnable<'a>(
    deliverers: &'a [Deliverer],
    installed: &'a Installed,
) -> impl Iterator<Item = Deliverer> + 'a {
    deliverers
        .iter()
        .copied()
        .filter(|d| d.missing(installed).is_none())
}

async fn w4(
    args: &DeliveryArgs,
    installed: &Installed,
    root: &Path,
    deliverers: &[Deliverer],
) -> anyhow::Result<(String, Vec<Chart>)> {
    let mut cells: Vec<Results> = args
        .load_fractions
        .iter()
        .map(|_| Results::default())
        .collect();
    // Phase 1: every system's maximum, once per round, each probe on a fresh system.
    let mut probes: HashMap<Deliverer, Vec<f64>> = HashMap::new();
    let mut failed: HashMap<Deliverer, String> = HashMap::new();
    for round in 0..args.rounds {
        for deliverer in in_round_order(runnable(deliverers, installed), round) {
            if deliverer == Deliverer::Floor {
                continue; // it runs at eddy (buffered)'s rates
            }
            settle_disk().await?;
            let probe = with_target(deliverer, installed, root, args.shards, async |target| {
                latency::probe_max(target, args.seconds, args.record_size).await
            })
            .await;
            match probe {
                Ok(rate) => probes.entry(deliverer).or_default().push(rate),
                Err(err) => {
                    failed.insert(deliverer, format!("{err:#}"));
                }
            }
        }
    }
    // Phase 2: the latency runs at fractions of the median probe.
    for round in 0..args.rounds {
        for deliverer in in_round_order(runnable(deliverers, installed), round) {
            // The floor is measured at the rates of the eddy it is the floor of.
            let rates_of = match deliverer {
                Deliverer::Floor => Deliverer::EddyNative { fsync: false },
                other => other,
            };
            let figures = match (failed.get(&rates_of), probes.get(&rates_of)) {
                (Some(err), _) => Err(anyhow::anyhow!("maximum-load probe: {err}")),
                (None, None) => Err(anyhow::anyhow!("no maximum-load probe")),
                (None, Some(rates)) => {
                    let (max_rate, mut described) = median_and_range(rates);
                    if rates_of != deliverer {
                        described = format!("{}'s {described}", rates_of.name());
                    }
                    settle_disk().await?;
                    with_target(deliverer, installed, root, args.shards, async |target| {
                        latency::run(
                            target,
                            max_rate,
                            &described,
                            &args.load_fractions,
                            args.seconds,
                            args.record_size,
                        )
                        .await
                    })
                    .await
                }
            };
            match figures {
                Ok(figures) => {
                    for (cell, figure) in cells.iter_mut().zip(figures) {
                        cell.record(deliverer, Ok(figure));
                    }
                }
                Err(err) => {
                    for cell in &mut cells {
                        cell.record(deliverer, Err(anyhow::anyhow!("{err:#}")));
                    }
                }
            }
        }
    }
    let mut out = String::new();
    let mut charts = Vec::new();
    for (fraction, cell) in args.load_fractions.iter().zip(&cells) {
        let percent = fraction * 100.0;
        let title = format!(
            "W4 put → function latency at {percent:.0} % of each system's own maximum: open loop, 1 record of {} B per put, {} shard(s), batch ≤ 100",
            args.record_size, args.shards
        );
        out.push_str(&cell.table(
            &title,
            "offered records/s",
            "from scheduled send,",
            Compare::P99Latency,
            deliverers,
        ));
        let chart_title =
            format!("W4 put → function latency at {percent:.0} % of each system's maximum, ms");
        let categories = ["p50".to_string(), "p99".into(), "p99.9".into()];
        let svg = chart(
            &chart_title,
            "milliseconds",
            &categories,
            deliverers,
            &[cell],
            |results, d| {
                results
                    .medians(d)
                    .map_or(vec![None; 3], |(_, latency)| latency.to_vec())
            },
        );
        charts.push((format!("w4-latency-{percent:.0}.svg"), chart_title, svg));
    }
    out.push_str(concat!(
        "\nW4 maximum: single-record puts, 64 in flight, closed loop, until the consumer had every record, ",
        "probed once per round on a freshly started system; the open-loop rates are fractions of the median probe, ",
        "each run on a freshly started system after a 1-s unmeasured warm-up at the lowest rate. ",
        "Every system's puts are pipelined on one connection: eddy's on one PutRecordStream call, ",
        "sent by the pacer thread itself (the call's reader settles the acknowledgements), ",
        "Redis's XADDs on one multiplexed connection, NATS's as asynchronous publishes, each of these a task per put; ",
        "kinesalite has no pipelined call, so each put is its own PutRecord HTTP request. ",
        "eddy / this (p99) is eddy's p99 over the peer's: below 1, eddy is faster. ",
        "The floor runs eddy's producer and pacer against an in-process gRPC echo server that hands each put to the consumer on receipt, ",
        "at eddy (buffered)'s rates: what the load generator, gRPC and the shared cores cost without storage or delivery; ",
        "eddy / floor is what eddy's path multiplies it by. ",
        "eddy's CPU and RSS are this whole process's (server, load generator, consumer); ",
        "a peer's CPU is its server's plus this process's (load generator, consumer), its RSS its server's.\n"
    ));
    Ok((out, charts))
}

/// The median of `rates` and a note naming them all.
fn median_and_range(rates: &[f64]) -> (f64, String) {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let listed: Vec<String> = sorted.iter().map(|rate| format!("{rate:.0}")).collect();
    (median(sorted), format!("probes {}/s", listed.join(", ")))
}

async fn w5(
    args: &DeliveryArgs,
    installed: &Installed,
    root: &Path,
    deliverers: &[Deliverer],
) -> anyhow::Result<(String, Vec<Chart>)> {
    let mut results = Results::default();
    let records_of = |d: Deliverer| match d {
        Deliverer::Kinesalite { .. } => args.backlog_records.min(args.kinesalite_backlog_records),
        _ => args.backlog_records,
    };
    for round in 0..args.rounds {
        for deliverer in in_round_order(runnable(deliverers, installed), round) {
            settle_disk().await?;
            let figure = with_target(deliverer, installed, root, args.shards, async |target| {
                backlog::run(target, records_of(deliverer), args.record_size).await
            })
            .await;
            results.record(deliverer, figure);
        }
    }
    let title = format!(
        "W5 backlog catch-up: {} records of {} B preloaded (kinesalite: {}), drained by one consumer per shard, batch ≤ {}, {} shard(s)",
        args.backlog_records, args.record_size, args.backlog_records.min(args.kinesalite_backlog_records), backlog::BATCH, args.shards
    );
    let out = results.table(
        &title,
        "drained records/s",
        "latency (not measured):",
        Compare::Rate,
        deliverers,
    );
    let chart_title = "W5 backlog drain, records/s".to_string();
    let svg = chart(
        &chart_title,
        "records/s",
        &["drain".to_string()],
        deliverers,
        &[&results],
        |results, d| vec![results.medians(d).map(|(rate, _)| rate)],
    );
    Ok((out, vec![("w5-backlog.svg".into(), chart_title, svg)]))
}

async fn w6(
    args: &DeliveryArgs,
    installed: &Installed,
    root: &Path,
    deliverers: &[Deliverer],
) -> anyhow::Result<(String, Vec<Chart>)> {
    let mut cells: Vec<Results> = args.fan_outs.iter().map(|_| Results::default()).collect();
    for round in 0..args.rounds {
        for (&consumers, cell) in args.fan_outs.iter().zip(&mut cells) {
            for deliverer in in_round_order(runnable(deliverers, installed), round) {
                settle_disk().await?;
                let figure = with_target(deliverer, installed, root, args.shards, async |target| {
                    fan_out::run(
                        target,
                        consumers,
                        args.fan_out_producers,
                        args.seconds,
                        args.record_size,
                    )
                    .await
                })
                .await;
                cell.record(deliverer, figure);
            }
        }
    }
    let mut out = String::new();
    for (&consumers, cell) in args.fan_outs.iter().zip(&cells) {
        let title = format!(
            "W6 fan-out: {consumers} consumer(s) of one stream, {} producers putting batches of 100 × {} B closed loop, {} shard(s)",
            args.fan_out_producers, args.record_size, args.shards
        );
        out.push_str(&cell.table(
            &title,
            "records/s to the slowest consumer",
            "from send,",
            Compare::Rate,
            deliverers,
        ));
    }
    out.push_str("\nW6 CPU is per million records delivered (all consumers together).\n");
    let chart_title = "W6 fan-out: records/s delivered to the slowest consumer".to_string();
    let categories: Vec<String> = args
        .fan_outs
        .iter()
        .map(|n| format!("{n} consumer(s)"))
        .collect();
    let cell_refs: Vec<&Results> = cells.iter().collect();
    let svg = chart(
        &chart_title,
        "records/s",
        &categories,
        deliverers,
        &cell_refs,
        |results, d| vec![results.medians(d).map(|(rate, _)| rate)],
    );
    Ok((out, vec![("w6-fan-out.svg".into(), chart_title, svg)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_probe_is_the_maximum() {
        assert_eq!(
            median_and_range(&[203_000.0, 101_000.0, 131_000.0]),
            (131_000.0, "probes 101000, 131000, 203000/s".to_string())
        );
        assert_eq!(median_and_range(&[100.0, 200.0]).0, 150.0);
        assert_eq!(median_and_range(&[7.0]).0, 7.0);
    }
}
