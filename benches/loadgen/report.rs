//! The comparison report: reads a results file written by `run`/`fill`, writes `report.md`
//! (one table row per cell and server, plus a ratio row against the baseline server) and PNG
//! charts (latency percentiles, throughput, CPU and syscalls per request, memory efficiency).
//!
//! The charts themselves are drawn by `charts`.

use crate::charts;
use crate::results::{self, get, num, Record};
use clap::Args;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// Options of `loadgen report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The results file written by `run --results` and `fill --results`.
    #[arg(long)]
    pub results: PathBuf,
    /// Directory for report.md and the PNGs (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The server the others are divided by in ratio rows.
    #[arg(long, default_value = "memcached")]
    pub baseline: String,
    /// A markdown file whose text goes under the title (machine, flags, pinning).
    #[arg(long)]
    pub preamble: Option<PathBuf>,
    /// TrueType font for chart text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    pub font: PathBuf,
}

/// Writes report.md and the charts, and prints the markdown to stdout.
pub fn write(a: &ReportArgs) -> Result<(), String> {
    let (md, path) = write_quietly(a)?;
    println!("{md}");
    println!("report: {}", path.display());
    Ok(())
}

/// Writes report.md and the charts; returns the markdown and the report's path.
pub fn write_quietly(a: &ReportArgs) -> Result<(String, PathBuf), String> {
    let recs = results::load(&a.results)?;
    let preamble = match &a.preamble {
        Some(p) => results::read_text(p)?,
        None => String::new(),
    };
    fs::create_dir_all(&a.out).map_err(|e| format!("creating {}: {e}", a.out.display()))?;
    let data = Data::new(&recs, &a.baseline);
    let charts = match charts::load_font(&a.font) {
        Ok(()) => charts::draw_charts(&data, &a.out),
        Err(e) => Err(e),
    };
    let md = markdown(&data, &preamble, &charts);
    let path = a.out.join("report.md");
    fs::write(&path, &md).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok((md, path))
}

/// The server labels of `recs` in first-seen order, `baseline` moved first.
pub fn labels_baseline_first<'a>(
    recs: impl Iterator<Item = &'a Record>,
    baseline: &str,
) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for r in recs {
        let l = get(r, "label").unwrap_or("?");
        if !labels.iter().any(|x| x == l) {
            labels.push(l.to_string());
        }
    }
    if let Some(i) = labels.iter().position(|l| l == baseline) {
        let b = labels.remove(i);
        labels.insert(0, b);
    }
    labels
}

/// `recs` by cell in first-seen order, each with one record slot per label of `labels`.
pub fn group_by_cell<'a>(
    recs: impl Iterator<Item = &'a Record>,
    labels: &[String],
) -> Vec<(String, Vec<Option<&'a Record>>)> {
    let mut cells: Vec<(String, Vec<Option<&'a Record>>)> = Vec::new();
    for r in recs {
        let cell = get(r, "cell").unwrap_or("?");
        let li = labels
            .iter()
            .position(|l| Some(l.as_str()) == get(r, "label"))
            .unwrap_or(0);
        let row = match cells.iter().position(|(c, _)| c == cell) {
            Some(i) => i,
            None => {
                cells.push((cell.to_string(), vec![None; labels.len()]));
                cells.len() - 1
            }
        };
        cells[row].1[li] = Some(r);
    }
    cells
}

/// Results grouped for presentation: cells in first-seen order, servers baseline first.
pub struct Data<'a> {
    /// Server labels, the baseline first.
    pub labels: Vec<String>,
    /// Run cells in first-seen order, each with one record slot per label.
    pub runs: Vec<(String, Vec<Option<&'a Record>>)>,
    /// Memory-fill cells, likewise.
    pub fills: Vec<(String, Vec<Option<&'a Record>>)>,
}

impl<'a> Data<'a> {
    /// Groups `recs` by kind, cell and server label.
    pub fn new(recs: &'a [Record], baseline: &str) -> Self {
        let labels = labels_baseline_first(recs.iter(), baseline);
        let group = |kind: &str| {
            group_by_cell(
                recs.iter().filter(|r| get(r, "kind") == Some(kind)),
                &labels,
            )
        };
        let runs = group("run");
        let fills = group("fill");
        Data {
            labels,
            runs,
            fills,
        }
    }

    /// Field `key` of every row, one vector per label (0 where missing).
    pub fn series(&self, rows: &[(String, Vec<Option<&Record>>)], key: &str) -> Vec<Vec<f64>> {
        (0..self.labels.len())
            .map(|li| {
                rows.iter()
                    .map(|(_, by)| by[li].and_then(|r| num(r, key)).unwrap_or(0.0))
                    .collect()
            })
            .collect()
    }
}

/// `a / b`, or `-` unless both are positive (a zero means "not measured" or "nothing seen",
/// e.g. a server whose socket calls /proc/PID/io does not count).
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(x), Some(y)) if x > 0.0 && y > 0.0 => format!("{:.2}x", x / y),
        _ => "-".to_string(),
    }
}

/// The markdown text of the report.
pub fn markdown(d: &Data, preamble: &str, charts: &Result<Vec<String>, String>) -> String {
    let mut md = String::new();
    let base = d.labels.first().cloned().unwrap_or_default();
    let _ = writeln!(md, "# Benchmark report\n");
    if !preamble.is_empty() {
        let _ = writeln!(md, "{}\n", preamble.trim_end());
    }
    summary(d, &mut md);
    if !d.runs.is_empty() {
        let cols: [(&str, &str); 12] = [
            ("rps", "req/s"),
            ("p50_us", "p50 µs"),
            ("p99_us", "p99 µs"),
            ("p999_us", "p99.9 µs"),
            ("max_us", "max µs"),
            ("cpu_us_per_req", "CPU µs/req"),
            ("syscalls_per_req", "rw syscalls/req"),
            ("all_syscalls_per_req", "all syscalls/req"),
            ("hit_pct", "hit %"),
            ("errors", "errors"),
            ("unsent", "unsent"),
            ("client_cpu_pct", "client CPU %"),
        ];
        let _ = writeln!(md, "## Throughput, latency and server cost per cell\n");
        let _ = write!(md, "| cell | server |");
        for (_, h) in cols {
            let _ = write!(md, " {h} |");
        }
        let _ = write!(md, "\n|---|---|");
        for _ in cols {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for (cell, by) in &d.runs {
            for (li, rec) in by.iter().enumerate() {
                let Some(r) = rec else { continue };
                let _ = write!(md, "| {cell} | {} |", d.labels[li]);
                for (k, _) in cols {
                    let _ = write!(md, " {} |", get(r, k).unwrap_or("-"));
                }
                md.push('\n');
            }
            for (li, rec) in by.iter().enumerate().skip(1) {
                let (Some(r), Some(b)) = (rec, by[0]) else {
                    continue;
                };
                let _ = write!(md, "| {cell} | **{}/{base}** |", d.labels[li]);
                for (k, _) in &cols[..8] {
                    let _ = write!(md, " **{}** |", ratio(num(r, k), num(b, k)));
                }
                md.push_str(" | | | |\n");
            }
        }
        let _ = writeln!(
            md,
            "\nLatency runs from a request's queueing (closed loop) or scheduled send time (open \
             loop) to its parsed reply. CPU and syscalls are the server's own, from /proc, divided \
             by requests served; syscalls/req counts only the read/write family that \
             /proc/PID/io counts (not send*/recv*/epoll), see docs/BENCHMARKS.md. Client CPU % is \
             the load generator's own use of its threads: near 100 the client, not the server, \
             limited req/s. In ratio rows above 1 is better for req/s, below 1 for every other \
             column."
        );
        md.push('\n');
    }
    if !d.fills.is_empty() {
        let _ = writeln!(
            md,
            "## Memory efficiency (distinct keys until the first eviction)\n"
        );
        let _ = writeln!(
            md,
            "| config | server | items held | RSS MB | bytes/item (RSS) | items per MB | item bytes (stats) | stopped |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---|");
        for (cell, by) in &d.fills {
            for (li, rec) in by.iter().enumerate() {
                let Some(r) = rec else { continue };
                let _ = writeln!(
                    md,
                    "| {cell} | {} | {} | {:.1} | {} | {} | {} | {} |",
                    d.labels[li],
                    get(r, "items").unwrap_or("-"),
                    num(r, "rss").unwrap_or(0.0) / 1048576.0,
                    get(r, "bytes_per_item").unwrap_or("-"),
                    get(r, "items_per_mb").unwrap_or("-"),
                    get(r, "item_bytes").unwrap_or("-"),
                    get(r, "stopped").unwrap_or("-"),
                );
            }
            for (li, rec) in by.iter().enumerate().skip(1) {
                let (Some(r), Some(b)) = (rec, by[0]) else {
                    continue;
                };
                let _ = writeln!(
                    md,
                    "| {cell} | **{}/{base}** | **{}** | **{}** | **{}** | **{}** | | |",
                    d.labels[li],
                    ratio(num(r, "items"), num(b, "items")),
                    ratio(num(r, "rss"), num(b, "rss")),
                    ratio(num(r, "bytes_per_item"), num(b, "bytes_per_item")),
                    ratio(num(r, "items_per_mb"), num(b, "items_per_mb")),
                );
            }
        }
        md.push('\n');
    }
    match charts {
        Ok(files) if !files.is_empty() => {
            let _ = writeln!(md, "## Charts\n");
            for f in files {
                let _ = writeln!(md, "![{f}]({f})\n");
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(md, "_Charts not drawn: {e}_\n");
        }
    }
    md
}

/// One line comparing the servers of the last cell in `recs` (by the last record's cell name):
/// each other server's throughput, latency percentiles and costs divided by `baseline`'s.
pub fn last_cell_ratio(recs: &[Record], baseline: &str) -> Option<String> {
    let last = recs.iter().rev().find(|r| get(r, "kind") == Some("run"))?;
    let cell = get(last, "cell")?;
    let in_cell: Vec<Record> = recs
        .iter()
        .filter(|r| get(r, "kind") == Some("run") && get(r, "cell") == Some(cell))
        .cloned()
        .collect();
    let d = Data::new(&in_cell, baseline);
    let (_, by) = d.runs.first()?;
    let base = by.first().copied().flatten()?;
    let mut line = String::new();
    for (li, rec) in by.iter().enumerate().skip(1) {
        let Some(r) = rec else { continue };
        let _ = write!(
            line,
            "{:<10} {cell:<28} ratio {}/{baseline}:",
            "", d.labels[li]
        );
        for (k, name) in [
            ("rps", "req/s"),
            ("p50_us", "p50"),
            ("p99_us", "p99"),
            ("p999_us", "p99.9"),
            ("cpu_us_per_req", "cpu/req"),
            ("all_syscalls_per_req", "syscalls/req"),
        ] {
            let _ = write!(line, "  {name} {}", ratio(num(r, k), num(base, k)));
        }
    }
    (!line.is_empty()).then_some(line)
}

/// Geometric mean of `label / baseline` over the rows where both have a positive value, and
/// how many rows that was.
pub fn geomean_ratio(
    rows: &[(String, Vec<Option<&Record>>)],
    li: usize,
    key: &str,
) -> Option<(f64, usize)> {
    let logs: Vec<f64> = rows
        .iter()
        .filter_map(|(_, by)| {
            let a = by.get(li).copied().flatten().and_then(|r| num(r, key))?;
            let b = by.first().copied().flatten().and_then(|r| num(r, key))?;
            (a > 0.0 && b > 0.0).then(|| (a / b).ln())
        })
        .collect();
    if logs.is_empty() {
        return None;
    }
    Some((
        (logs.iter().sum::<f64>() / logs.len() as f64).exp(),
        logs.len(),
    ))
}

/// The "at a glance" table: geometric means of the ratio rows.
fn summary(d: &Data, md: &mut String) {
    if d.labels.len() < 2 {
        return;
    }
    let base = &d.labels[0];
    let metrics: [(&str, &str, bool); 7] = [
        ("rps", "throughput (req/s)", false),
        ("p50_us", "p50 latency", true),
        ("p99_us", "p99 latency", true),
        ("cpu_us_per_req", "server CPU per request", true),
        (
            "all_syscalls_per_req",
            "server syscalls per request (perf)",
            true,
        ),
        ("items_per_mb", "items per MB of RSS", false),
        ("bytes_per_item", "RSS bytes per item", true),
    ];
    let _ = writeln!(
        md,
        "## At a glance
"
    );
    let _ = writeln!(
        md,
        "Geometric mean over cells of each server's value divided by {base}'s.\n"
    );
    let _ = write!(md, "| metric | better |");
    for l in &d.labels[1..] {
        let _ = write!(md, " {l}/{base} |");
    }
    let _ = write!(md, "\n|---|---|");
    for _ in &d.labels[1..] {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for (key, name, lower_better) in metrics {
        let rows = if key == "items_per_mb" || key == "bytes_per_item" {
            &d.fills
        } else {
            &d.runs
        };
        let cells: Vec<Option<(f64, usize)>> = (1..d.labels.len())
            .map(|li| geomean_ratio(rows, li, key))
            .collect();
        if cells.iter().all(Option::is_none) {
            continue;
        }
        let better = if lower_better { "below 1" } else { "above 1" };
        let _ = write!(md, "| {name} | {better} |");
        for c in cells {
            match c {
                Some((g, n)) => {
                    let _ = write!(md, " {g:.2}x ({n} cells) |");
                }
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
}
