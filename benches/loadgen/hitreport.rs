//! Hit-ratio results: the record a `hitratio` run appends to the results file, its one-line
//! description, and `hitratio-report`: a table per cell (hit ratio of each server, ratio of miss
//! ratios, `bytes`, items, RSS), the geometric mean of the miss-ratio ratios, and the miss-ratio
//! curve (miss ratio against `-m`) as a table and a PNG.
//!
//! Miss ratios are compared on the second half of the stream (after warm-up) unless said
//! otherwise; a ratio below 1 means the other server missed less than the baseline.

use crate::cacheaside::{Counts, ServerState};
use crate::charts;
use crate::report;
use crate::results::{self, get, num, Record};
use clap::Args;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// Options of `loadgen hitratio-report`.
#[derive(Args, Debug, Clone)]
pub struct HitReportArgs {
    /// The results file written by `hitratio --results`.
    #[arg(long)]
    pub results: PathBuf,
    /// Directory for hitratio.md and mrc.png (created if missing); without it the tables are
    /// only printed.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The server the others are divided by.
    #[arg(long, default_value = "memcached")]
    pub baseline: String,
    /// Only the table of the last cell in the file (what bench.sh prints after each cell).
    #[arg(long)]
    pub last: bool,
    /// A markdown file whose text goes under the title.
    #[arg(long)]
    pub preamble: Option<PathBuf>,
    /// TrueType font for chart text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    pub font: PathBuf,
}

/// What one `hitratio` run produced, for its record.
pub struct RunInfo<'a> {
    /// Server name.
    pub label: &'a str,
    /// Cell name.
    pub cell: &'a str,
    /// Workload description.
    pub workload: &'a str,
    /// The server's -m.
    pub mem_mb: Option<u64>,
    /// The server's -t.
    pub server_threads: Option<u32>,
    /// The miss-ratio curve this run belongs to.
    pub curve: Option<&'a str>,
    /// Client-side counts.
    pub counts: &'a Counts,
    /// Seconds the run took.
    pub secs: f64,
    /// Server stats and RSS after the run.
    pub state: &'a ServerState,
    /// Cold misses of the stream's second half (`Stream::cold_second_half`).
    pub cold2: u64,
}

fn push(rec: &mut Record, k: &str, v: impl ToString) {
    rec.push((k.to_string(), v.to_string()));
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The results-file record of one hit-ratio run (`kind=hitratio`).
pub fn record(i: &RunInfo) -> Record {
    let c = i.counts;
    let mut r = Record::new();
    push(&mut r, "kind", "hitratio");
    push(&mut r, "label", i.label);
    push(&mut r, "cell", i.cell);
    push(&mut r, "workload", i.workload);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    push(&mut r, "mem_mb", opt(i.mem_mb.map(|v| v.to_string())));
    push(
        &mut r,
        "threads",
        opt(i.server_threads.map(|v| v.to_string())),
    );
    if let Some(curve) = i.curve {
        push(&mut r, "curve", curve);
    }
    push(&mut r, "requests", c.gets + c.sets);
    push(&mut r, "gets", c.gets);
    push(&mut r, "hits", c.hits);
    push(&mut r, "hit_pct", format!("{:.3}", pct(c.hits, c.gets)));
    push(
        &mut r,
        "miss_pct",
        format!("{:.3}", 100.0 - pct(c.hits, c.gets)),
    );
    push(&mut r, "gets2", c.gets2);
    push(&mut r, "hits2", c.hits2);
    push(&mut r, "hit2_pct", format!("{:.3}", pct(c.hits2, c.gets2)));
    push(
        &mut r,
        "miss2_pct",
        format!("{:.3}", 100.0 - pct(c.hits2, c.gets2)),
    );
    // The floor no server can go below: gets of the second half to keys never asked before.
    push(&mut r, "cold2", i.cold2);
    push(
        &mut r,
        "cold2_pct",
        format!("{:.3}", pct(i.cold2.min(c.gets2), c.gets2)),
    );
    push(&mut r, "sets", c.sets);
    push(&mut r, "set_errors", c.set_errors);
    push(&mut r, "get_errors", c.get_errors);
    push(&mut r, "rounds", c.rounds);
    push(&mut r, "resent", c.resent);
    push(&mut r, "secs", format!("{:.2}", i.secs));
    push(
        &mut r,
        "rps",
        format!("{:.0}", (c.gets + c.sets) as f64 / i.secs.max(1e-9)),
    );
    for k in ["bytes", "curr_items", "limit_maxbytes", "evictions"] {
        push(
            &mut r,
            k,
            i.state.stats.get(k).map_or("-", String::as_str).to_string(),
        );
    }
    push(&mut r, "rss", opt(i.state.rss.map(|v| v.to_string())));
    r
}

fn mb(rec: &Record, key: &str) -> String {
    num(rec, key).map_or("-".to_string(), |v| format!("{:.1}", v / 1048576.0))
}

/// One human-readable line of a hit-ratio record.
pub fn describe(rec: &Record) -> String {
    let g = |k: &str| get(rec, k).unwrap_or("-");
    format!(
        "{:<10} {:<40} hit {:>7}% (2nd half {:>7}%)  gets {}  sets {}  bytes {} MB  items {}  \
         limit {} MB  evictions {}  RSS {} MB  {} s ({} req/s)",
        g("label"),
        g("cell"),
        g("hit_pct"),
        g("hit2_pct"),
        g("gets"),
        g("sets"),
        mb(rec, "bytes"),
        g("curr_items"),
        mb(rec, "limit_maxbytes"),
        g("evictions"),
        mb(rec, "rss"),
        g("secs"),
        g("rps"),
    )
}

/// Hit-ratio records grouped by cell, one slot per server (baseline first).
pub struct Cells<'a> {
    /// Server labels, the baseline first.
    pub labels: Vec<String>,
    /// Cells in first-seen order.
    pub cells: Vec<(String, Vec<Option<&'a Record>>)>,
}

impl<'a> Cells<'a> {
    /// Groups the `kind=hitratio` records of `recs`.
    pub fn new(recs: &'a [Record], baseline: &str) -> Self {
        let recs: Vec<&Record> = recs
            .iter()
            .filter(|r| get(r, "kind") == Some("hitratio"))
            .collect();
        let labels = report::labels_baseline_first(recs.iter().copied(), baseline);
        let cells = report::group_by_cell(recs.into_iter(), &labels);
        Cells { labels, cells }
    }
}

/// `a / b` of field `key`, if both are positive.
fn ratio_of(a: &Record, b: &Record, key: &str) -> Option<f64> {
    match (num(a, key), num(b, key)) {
        (Some(x), Some(y)) if x > 0.0 && y > 0.0 => Some(x / y),
        _ => None,
    }
}

/// `a`'s second-half misses above the cold-miss floor divided by `b`'s: how the misses a
/// cache can avoid at all compare (None without a floor, or if `b` is at its floor).
fn excess_ratio(a: &Record, b: &Record) -> Option<f64> {
    let floor = num(a, "cold2_pct")?;
    match (num(a, "miss2_pct"), num(b, "miss2_pct")) {
        (Some(x), Some(y)) if y - floor > 1e-9 => Some(((x - floor) / (y - floor)).max(0.0)),
        _ => None,
    }
}

/// The best miss-ratio ratio `a` could reach against `b`: the cold-miss floor divided by
/// `b`'s second-half miss ratio.
fn best_ratio(a: &Record, b: &Record) -> Option<f64> {
    match (num(a, "cold2_pct"), num(b, "miss2_pct")) {
        (Some(f), Some(y)) if f > 0.0 && y > 0.0 => Some(f / y),
        _ => None,
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.3}x"))
}

/// The table of the given cells: one row per server and a bold ratio row per other server.
pub fn table(c: &Cells, cells: &[(String, Vec<Option<&Record>>)]) -> String {
    let base = c.labels.first().cloned().unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| cell | server | hit % | hit % 2nd half | miss ratio 2nd half | cold-miss floor | bytes MB | items | \
         limit MB | evictions | RSS MB | set errors | req/s |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (cell, by) in cells {
        for (li, rec) in by.iter().enumerate() {
            let Some(r) = rec else { continue };
            let g = |k: &str| get(r, k).unwrap_or("-");
            let _ = writeln!(
                md,
                "| {cell} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.labels[li],
                g("hit_pct"),
                g("hit2_pct"),
                num(r, "miss2_pct").map_or("-".to_string(), |v| format!("{:.4}", v / 100.0)),
                num(r, "cold2_pct").map_or("-".to_string(), |v| format!("{:.4}", v / 100.0)),
                mb(r, "bytes"),
                g("curr_items"),
                mb(r, "limit_maxbytes"),
                g("evictions"),
                mb(r, "rss"),
                g("set_errors"),
                g("rps"),
            );
        }
        for (li, rec) in by.iter().enumerate().skip(1) {
            let (Some(r), Some(b)) = (rec, by[0]) else {
                continue;
            };
            let _ = writeln!(
                md,
                "| {cell} | **{}/{base}** | miss ratio **{}** | | 2nd half **{}** | above the floor **{}** (best possible {}) | **{}** | **{}** | | | **{}** | | |",
                c.labels[li],
                fmt_ratio(ratio_of(r, b, "miss_pct")),
                fmt_ratio(ratio_of(r, b, "miss2_pct")),
                fmt_ratio(excess_ratio(r, b)),
                fmt_ratio(best_ratio(r, b)),
                fmt_ratio(ratio_of(r, b, "bytes")),
                fmt_ratio(ratio_of(r, b, "curr_items")),
                fmt_ratio(ratio_of(r, b, "rss")),
            );
        }
    }
    md
}

/// Geometric mean over `cells` of server `li`'s `key` divided by the baseline's, and the number
/// of cells where both were positive.
pub fn geomean(
    cells: &[(String, Vec<Option<&Record>>)],
    li: usize,
    key: &str,
) -> Option<(f64, usize)> {
    geomean_by(cells, li, |a, b| ratio_of(a, b, key))
}

/// Geometric mean over `cells` of `f(server li's record, the baseline's)` where it is a
/// positive number, and the number of such cells.
fn geomean_by(
    cells: &[(String, Vec<Option<&Record>>)],
    li: usize,
    f: impl Fn(&Record, &Record) -> Option<f64>,
) -> Option<(f64, usize)> {
    let logs: Vec<f64> = cells
        .iter()
        .filter_map(|(_, by)| {
            let a = by.get(li).copied().flatten()?;
            let b = by.first().copied().flatten()?;
            f(a, b).filter(|&v| v > 0.0).map(f64::ln)
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

fn geomean_lines(c: &Cells, cells: &[(String, Vec<Option<&Record>>)], md: &mut String) {
    let base = c.labels.first().cloned().unwrap_or_default();
    let shown = |g: Option<(f64, usize)>| match g {
        Some((g, n)) => format!("**{g:.3}x** over {n} cells"),
        None => "- (no cell with both values positive)".to_string(),
    };
    for li in 1..c.labels.len() {
        for (key, what) in [
            ("miss2_pct", "second half"),
            ("miss_pct", "whole run"),
            ("rss", "RSS"),
        ] {
            let name = if key == "rss" {
                "RSS ratio".to_string()
            } else {
                format!("miss-ratio ratio ({what})")
            };
            let _ = writeln!(
                md,
                "- geometric mean of {name} {}/{base}: {}",
                c.labels[li],
                shown(geomean(cells, li, key))
            );
        }
        let at_floor = cells
            .iter()
            .filter(|(_, by)| {
                matches!((by.get(li).copied().flatten(), by[0]),
                    (Some(a), Some(b)) if excess_ratio(a, b) == Some(0.0))
            })
            .count();
        let _ = writeln!(
            md,
            "- geometric mean of second-half misses above the cold-miss floor {}/{base}: {} \
             (cells where {} is at the floor, ratio 0, left out: {at_floor})",
            c.labels[li],
            shown(geomean_by(cells, li, excess_ratio)),
            c.labels[li],
        );
        let _ = writeln!(
            md,
            "- the best any cache could reach, cold-miss floor / {base}'s second-half miss \
             ratio, geometric mean: {}",
            shown(geomean_by(cells, li, best_ratio))
        );
    }
}

/// The miss-ratio curves: per curve name, per server, points (-m, miss ratio 2nd half).
pub type Curves = Vec<(String, Vec<(String, Vec<(f64, f64)>)>)>;

/// Collects the curve points of `recs` (records with a `curve` field).
pub fn curves(c: &Cells) -> Curves {
    let mut out: Curves = Vec::new();
    for (_, by) in &c.cells {
        for (li, rec) in by.iter().enumerate() {
            let Some(r) = rec else { continue };
            let (Some(name), Some(m), Some(miss)) =
                (get(r, "curve"), num(r, "mem_mb"), num(r, "miss2_pct"))
            else {
                continue;
            };
            let ci = match out.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    let series = c.labels.iter().map(|l| (l.clone(), Vec::new())).collect();
                    out.push((name.to_string(), series));
                    out.len() - 1
                }
            };
            out[ci].1[li].1.push((m, miss / 100.0));
        }
    }
    for (_, series) in &mut out {
        for (_, pts) in series.iter_mut() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        series.retain(|(_, pts)| !pts.is_empty());
    }
    out
}

/// The whole markdown text: preamble, matrix table, geometric means, curve tables.
pub fn markdown(c: &Cells, preamble: &str, chart: &Result<Option<String>, String>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Hit-ratio report (cache-aside)\n");
    if !preamble.is_empty() {
        let _ = writeln!(md, "{}\n", preamble.trim_end());
    }
    let (curve_cells, matrix): (Vec<_>, Vec<_>) = c
        .cells
        .iter()
        .cloned()
        .partition(|(_, by)| by.iter().flatten().any(|r| get(r, "curve").is_some()));
    if !matrix.is_empty() {
        let _ = writeln!(md, "## Matrix\n");
        md.push_str(&table(c, &matrix));
        md.push('\n');
        geomean_lines(c, &matrix, &mut md);
        md.push('\n');
    }
    let curves = curves(c);
    if !curves.is_empty() {
        let _ = writeln!(md, "## Miss-ratio curve (second half of the stream)\n");
        for (name, series) in &curves {
            let _ = writeln!(md, "### {name}\n");
            let _ = write!(md, "| -m MB |");
            for (l, _) in series {
                let _ = write!(md, " {l} miss ratio |");
            }
            for (l, _) in series.iter().skip(1) {
                let _ = write!(md, " {l}/{} |", series[0].0);
            }
            let _ = write!(md, "\n|---:|");
            for _ in 0..series.len() * 2 - 1 {
                md.push_str("---:|");
            }
            md.push('\n');
            let mut xs: Vec<f64> = series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
                .collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let at = |s: &[(f64, f64)], x: f64| s.iter().find(|p| p.0 == x).map(|p| p.1);
            for x in xs {
                let _ = write!(md, "| {x} |");
                for (_, pts) in series {
                    let _ = write!(
                        md,
                        " {} |",
                        at(pts, x).map_or("-".to_string(), |v| format!("{v:.4}"))
                    );
                }
                for (_, pts) in series.iter().skip(1) {
                    let r = match (at(pts, x), at(&series[0].1, x)) {
                        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a / b),
                        _ => None,
                    };
                    let _ = write!(md, " {} |", fmt_ratio(r));
                }
                md.push('\n');
            }
            md.push('\n');
        }
        geomean_lines(c, &curve_cells, &mut md);
        md.push('\n');
    }
    match chart {
        Ok(Some(f)) => {
            let _ = writeln!(md, "![{f}]({f})\n");
        }
        Ok(None) => {}
        Err(e) => {
            let _ = writeln!(md, "_Chart not drawn: {e}_\n");
        }
    }
    let _ = writeln!(
        md,
        "Hit % counts every get of the stream (whole run) or of its second half (after \
         warm-up). Miss-ratio ratios divide the other server's miss ratio by the baseline's: \
         below 1, it missed less. The cold-miss floor is the share of second-half gets \
         whose key was never requested before: no cache of any size hits those, so a cell \
         where the baseline is near its floor cannot show a ratio much below 1; the ratio \
         \"above the floor\" compares only the misses a cache can avoid. bytes and items are the servers' own `stats` after the run, \
         RSS is VmRSS of the server process. See docs/BENCHMARKS.md."
    );
    md
}

/// Runs `hitratio-report`.
pub fn write(a: &HitReportArgs) -> Result<(), String> {
    let out = write_quietly(a)?;
    print!("{out}");
    Ok(())
}

/// Runs `hitratio-report`, returning what it would print.
pub fn write_quietly(a: &HitReportArgs) -> Result<String, String> {
    let recs = results::load(&a.results)?;
    let c = Cells::new(&recs, &a.baseline);
    if a.last {
        let last_cell = recs
            .iter()
            .rev()
            .find(|r| get(r, "kind") == Some("hitratio"))
            .and_then(|r| get(r, "cell"));
        if let Some(last) = c
            .cells
            .iter()
            .find(|(cell, _)| Some(cell.as_str()) == last_cell)
        {
            return Ok(table(&c, std::slice::from_ref(last)) + "\n");
        }
        return Ok(String::new());
    }
    let preamble = match &a.preamble {
        Some(p) => results::read_text(p)?,
        None => String::new(),
    };
    let Some(out) = &a.out else {
        return Ok(markdown(&c, &preamble, &Ok(None)) + "\n");
    };
    fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let curves = curves(&c);
    let chart = if curves.is_empty() {
        Ok(None)
    } else {
        charts::load_font(&a.font)
            .and_then(|()| charts::miss_ratio_curves(&curves, &out.join("mrc.png")))
            .map(|()| Some("mrc.png".to_string()))
    };
    let md = markdown(&c, &preamble, &chart);
    let path = out.join("hitratio.md");
    fs::write(&path, &md).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(format!("{md}\nreport: {}\n", path.display()))
}
