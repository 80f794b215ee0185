//! The benchmark report's frame: what machine and commit a run measured, and SVG charts
//! (grouped bars on a log scale, so 1k and 1M records/s share one axis), written without
//! a plotting dependency.

use std::fmt::Write;

/// CPU model, cores and memory, from `/proc`.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |model| model.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {memory_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

/// The commit being measured (`git rev-parse`), with `+dirty` when the tree has changes.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{hash}+dirty")
            } else {
                hash
            }
        }
        None => "unknown (not run in a git checkout)".into(),
    }
}

/// One bar series: a name and one value per category (`None`: no figure).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

const COLOURS: [&str; 8] = [
    "#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#30343f", "#e07a5f",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Grouped bars: one group per category, one bar per series, log10 y axis.
pub fn grouped_bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
) -> String {
    let (width, height) = (960.0, 480.0);
    let (left, right, top, bottom) = (80.0, 240.0, 40.0, 60.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .filter(|v| *v > 0.0)
        .collect();
    let low = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let high = values.iter().copied().fold(0.0, f64::max).log10().ceil();
    let (low, high) = if low.is_finite() && high > low {
        (low, high)
    } else {
        (0.0, 1.0)
    };
    let y = |value: f64| top + plot_h * (1.0 - (value.log10() - low) / (high - low));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        escape(title)
    );
    for power in (low as i32)..=(high as i32) {
        let value = 10f64.powi(power);
        let py = y(value);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{py}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            py + 4.0,
            format_value(value)
        );
    }
    let _ = write!(
        svg,
        r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        escape(y_label)
    );
    let group_w = plot_w / categories.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (c, category) in categories.iter().enumerate() {
        let gx = left + group_w * c as f64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group_w / 2.0,
            top + plot_h + 20.0,
            escape(category)
        );
        for (s, one) in series.iter().enumerate() {
            let Some(value) = one.values.get(c).copied().flatten().filter(|v| *v > 0.0) else {
                continue;
            };
            let x = gx + group_w * 0.1 + bar_w * s as f64;
            let top_y = y(value).min(top + plot_h);
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                (bar_w - 2.0).max(1.0),
                top + plot_h - top_y,
                COLOURS[s % COLOURS.len()],
                escape(&one.name),
                format_value(value)
            );
        }
    }
    for (s, one) in series.iter().enumerate() {
        let ly = top + 16.0 * s as f64;
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            width - right + 12.0,
            ly,
            COLOURS[s % COLOURS.len()],
            width - right + 30.0,
            ly + 10.0,
            escape(&one.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_value(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_and_skip_missing_values() {
        let svg = grouped_bars(
            "t <1>",
            "records/s",
            &["1 shard".into(), "8 shards".into()],
            &[
                Series {
                    name: "a".into(),
                    values: vec![Some(1_000.0), Some(250_000.0)],
                },
                Series {
                    name: "b".into(),
                    values: vec![None, Some(0.5)],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<title>").count(), 3, "three bars, one missing");
        assert_eq!(format_value(250_000.0), "250k");
    }
}
