//! The delivery workloads' tables and charts: per system the median over rounds with the
//! min–max, latency percentiles, CPU seconds per million records, peak RSS, and eddy / peer
//! (for rates, eddy's rate over the peer's: above 1 eddy delivers more; for latencies,
//! eddy's p99 over the peer's: below 1 eddy is faster).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::Deliverer;
use crate::compare::median;
use crate::report;

/// One system's result in one round.
pub struct Figure {
    /// Records/s: the offered rate (W4), the drain rate (W5), the slowest consumer's
    /// delivered rate (W6).
    pub rate: f64,
    pub latency_micros: Option<Histogram<u64>>,
    pub cpu_seconds_per_million: f64,
    pub peak_rss_mib: f64,
    /// What else the figure needs said (the measured maximum, totals).
    pub note: String,
}

/// Which figure the eddy / peer column compares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Rate,
    P99Latency,
}

/// One workload cell's results: per system its figures over rounds, or why it failed.
#[derive(Default)]
pub struct Results {
    pub figures: BTreeMap<String, Vec<Figure>>,
    pub failures: BTreeMap<String, String>,
}

impl Results {
    pub fn record(&mut self, deliverer: Deliverer, figure: anyhow::Result<Figure>) {
        match figure {
            Ok(figure) => self
                .figures
                .entry(deliverer.name())
                .or_default()
                .push(figure),
            Err(err) => {
                self.failures.insert(deliverer.name(), format!("{err:#}"));
            }
        }
    }

    fn latency_millis(figures: &[Figure], quantile: f64) -> Option<f64> {
        let values: Vec<f64> = figures
            .iter()
            .filter_map(|f| f.latency_micros.as_ref())
            .map(|h| h.value_at_quantile(quantile) as f64 / 1000.0)
            .collect();
        (!values.is_empty()).then(|| median(values))
    }

    /// (rate, p50, p99, p99.9) medians of one system, for charts.
    pub fn medians(&self, deliverer: Deliverer) -> Option<(f64, [Option<f64>; 3])> {
        let figures = self.figures.get(&deliverer.name())?;
        Some((
            median(figures.iter().map(|f| f.rate).collect()),
            [0.5, 0.99, 0.999].map(|q| Self::latency_millis(figures, q)),
        ))
    }

    fn ratio(&self, eddy: &[Figure], peer: &[Figure], compare: Compare) -> Option<f64> {
        let pairs = eddy.iter().zip(peer);
        let ratios: Vec<f64> = match compare {
            Compare::Rate => pairs
                .map(|(e, p)| e.rate / p.rate.max(f64::MIN_POSITIVE))
                .collect(),
            Compare::P99Latency => pairs
                .filter_map(|(e, p)| {
                    let p99 =
                        |f: &Figure| f.latency_micros.as_ref().map(|h| h.value_at_quantile(0.99));
                    Some(p99(e)? as f64 / p99(p)?.max(1) as f64)
                })
                .collect(),
        };
        (!ratios.is_empty()).then(|| median(ratios))
    }

    /// The markdown table.
    pub fn table(
        &self,
        title: &str,
        rate_header: &str,
        latency_header: &str,
        compare: Compare,
        deliverers: &[Deliverer],
    ) -> String {
        let mut out = format!("\n### {title}\n\n");
        out.push_str(&format!("| system | durability | {rate_header} (median, min–max) | {latency_header} p50 / p99 / p99.9 ms | CPU s per M records | peak RSS MiB | eddy / this ({}) | notes |\n", match compare {
            Compare::Rate => "records/s",
            Compare::P99Latency => "p99",
        }));
        out.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
        for &deliverer in deliverers {
            let name = deliverer.name();
            let durability = deliverer.durability().name();
            let Some(figures) = self.figures.get(&name) else {
                if let Some(err) = self.failures.get(&name) {
                    out.push_str(&format!(
                        "| {name} | {durability} | failed: {} | | | | | |\n",
                        err.replace('\n', " ").replace('|', "/")
                    ));
                }
                continue;
            };
            let rates: Vec<f64> = figures.iter().map(|f| f.rate).collect();
            let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = rates.iter().copied().fold(0.0, f64::max);
            let latency = match [0.5, 0.99, 0.999].map(|q| Self::latency_millis(figures, q)) {
                [Some(p50), Some(p99), Some(p999)] => format!("{p50:.3} / {p99:.3} / {p999:.3}"),
                _ => String::new(),
            };
            let cpu = median(figures.iter().map(|f| f.cpu_seconds_per_million).collect());
            let rss = figures.iter().map(|f| f.peak_rss_mib).fold(0.0, f64::max);
            let ratio = match deliverer.eddy_counterpart() {
                None => String::new(),
                Some(eddy) => match self
                    .figures
                    .get(&eddy.name())
                    .and_then(|eddy_figures| self.ratio(eddy_figures, figures, compare))
                {
                    Some(ratio) => format!("{ratio:.2} (vs {})", eddy.name()),
                    None => "eddy missing".into(),
                },
            };
            // Each part ("; "-separated) of the rounds' notes once: rounds share the parts
            // that are the same (W4's rates) and list those that differ (eddy's writes).
            let mut notes: Vec<&str> = Vec::new();
            for note in figures.iter().flat_map(|f| f.note.split("; ")) {
                if !note.is_empty() && !notes.contains(&note) {
                    notes.push(note);
                }
            }
            out.push_str(&format!(
                "| {name} | {durability} | {:.0} ({min:.0}–{max:.0}) | {latency} | {cpu:.2} | {rss:.0} | {ratio} | {} |\n",
                median(rates.clone()),
                notes.join("; ")
            ));
        }
        out
    }
}

/// Grouped bars with one series per system: `value` gives a system's `width` values in
/// one cell (None where it has no figure).
pub fn chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    deliverers: &[Deliverer],
    cells: &[&Results],
    value: impl Fn(&Results, Deliverer) -> Vec<Option<f64>>,
) -> String {
    let series: Vec<report::Series> = deliverers
        .iter()
        .map(|&deliverer| report::Series {
            name: deliverer.name(),
            values: cells
                .iter()
                .flat_map(|cell| value(cell, deliverer))
                .collect(),
        })
        .collect();
    report::grouped_bars(title, y_label, categories, &series)
}
