//! The scaling report (`scripts/bench.sh --scaling`): the `scale t=T <cell>` records of a
//! results file as a table of larder/memcached ratios per `-t` and one PNG with throughput
//! and p99.9 against `-t`, one line per server and cell.

use crate::charts::{self, PALETTE};
use crate::results::{self, Record};
use clap::Args;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of `loadgen scaling-report`.
#[derive(Args, Debug)]
pub struct ScalingReportArgs {
    /// The results file.
    #[arg(long)]
    results: PathBuf,
    /// Directory for scaling.md and scaling.png.
    #[arg(long)]
    out: PathBuf,
    /// Markdown put above the table.
    #[arg(long)]
    preamble: Option<PathBuf>,
    /// TrueType font for chart text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    font: PathBuf,
    /// The server the others are divided by.
    #[arg(long, default_value = "memcached")]
    baseline: String,
}

impl ScalingReportArgs {
    /// Arguments for the self-check: `results` in, report into `out`, the default font.
    pub fn for_test(results: &Path, out: &Path) -> ScalingReportArgs {
        ScalingReportArgs {
            results: results.to_path_buf(),
            out: out.to_path_buf(),
            preamble: None,
            font: PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
            baseline: "memcached".to_string(),
        }
    }
}

/// (cell, t) → label → record.
type Grid<'a> = BTreeMap<(String, u32), BTreeMap<String, &'a Record>>;

fn grid(recs: &[Record]) -> Grid<'_> {
    let mut g = Grid::new();
    for r in recs {
        let (Some(cell), Some(label)) = (results::get(r, "cell"), results::get(r, "label")) else {
            continue;
        };
        let Some(rest) = cell.strip_prefix("scale t=") else {
            continue;
        };
        let Some((t, name)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(t) = t.parse::<u32>() else { continue };
        g.entry((name.to_string(), t))
            .or_default()
            .insert(label.to_string(), r);
    }
    g
}

/// Runs `loadgen scaling-report`.
pub fn write(a: &ScalingReportArgs) -> Result<(), String> {
    let recs = results::load(&a.results)?;
    let g = grid(&recs);
    let mut md = String::new();
    if let Some(p) = &a.preamble {
        md += &results::read_text(p)?;
        md += "\n";
    }
    md += &format!(
        "| cell | -t | server | rps | p99 µs | p99.9 µs | rps vs {b} | CPU/req vs {b} | p99 vs {b} | p99.9 vs {b} |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        b = a.baseline
    );
    for ((cell, t), by_label) in &g {
        let base = by_label.get(&a.baseline);
        for (label, r) in by_label {
            let n = |r: &Record, k: &str| results::num(r, k).unwrap_or(f64::NAN);
            // Empty where there is no baseline or a figure is missing (no CPU without a pid).
            let ratio = |k: &str| match base {
                Some(b) if label != &a.baseline => Some(n(r, k) / n(b, k))
                    .filter(|x| x.is_finite())
                    .map(|x| format!("{x:.2}x"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            md += &format!(
                "| {cell} | {t} | {label} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
                n(r, "rps"),
                n(r, "p99_us"),
                n(r, "p999_us"),
                ratio("rps"),
                ratio("cpu_us_per_req"),
                ratio("p99_us"),
                ratio("p999_us"),
            );
        }
    }
    match charts::load_font(&a.font).and_then(|()| chart(&g, &a.out.join("scaling.png"))) {
        Ok(()) => md += "\n![throughput and p99.9 against -t](scaling.png)\n",
        Err(e) => eprintln!("loadgen: no chart: {e}"),
    }
    let path = a.out.join("scaling.md");
    std::fs::write(&path, md).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Two panels: throughput and p99.9 against -t (log2), a line per server and cell.
fn chart(g: &Grid<'_>, path: &Path) -> Result<(), String> {
    let name = path.display().to_string();
    let err = |e: &dyn std::fmt::Display| format!("drawing {name}: {e}");
    // series "label cell" → points per metric
    let mut series: BTreeMap<String, [Vec<(f64, f64)>; 2]> = BTreeMap::new();
    for ((cell, t), by_label) in g {
        for (label, r) in by_label {
            let s = series.entry(format!("{label} {cell}")).or_default();
            for (i, k) in ["rps", "p999_us"].iter().enumerate() {
                if let Some(v) = results::num(r, k) {
                    s[i].push((f64::from(*t), v));
                }
            }
        }
    }
    let tmax = g.keys().map(|(_, t)| *t).max().unwrap_or(1).max(2);
    let root = BitMapBackend::new(path, (2000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, 2));
    for (m, (area, (title, ydesc))) in areas
        .iter()
        .zip([
            ("throughput against -t", "requests/s"),
            ("p99.9 against -t", "p99.9 (µs)"),
        ])
        .enumerate()
    {
        let ymax = series
            .values()
            .flat_map(|s| s[m].iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            * 1.15;
        let mut c = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(
                (0.8..f64::from(tmax) * 1.25).log_scale().base(2.0),
                0.0..ymax.max(1.0),
            )
            .map_err(|e| err(&e))?;
        c.configure_mesh()
            .x_desc("-t (server threads, log scale)")
            .y_desc(ydesc)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| charts::short(*y))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
        for (j, (label, s)) in series.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            // memcached dashed-looking (thin), larder thick.
            let width = if label.starts_with("memcached") { 1 } else { 3 };
            c.draw_series(std::iter::once(PathElement::new(
                s[m].clone(),
                color.stroke_width(width),
            )))
            .map_err(|e| err(&e))?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 3), (x + 18, y + 3)], color.filled()));
            c.draw_series(s[m].iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| err(&e))?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
