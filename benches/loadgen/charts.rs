//! PNG charts for the report: horizontal grouped bars (one row per cell, one bar per server),
//! drawn with plotters' bitmap backend and its pure-Rust `ab_glyph` text path. The TTF (DejaVu
//! Sans from Debian's fonts-dejavu-core by default) is read at run time, so building needs no
//! system font library; without it the report is written without charts.

use crate::report::Data;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

pub const PALETTE: [RGBColor; 4] = [
    RGBColor(52, 110, 170),
    RGBColor(230, 120, 30),
    RGBColor(60, 160, 80),
    RGBColor(150, 80, 170),
];

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the TTF at `path` as plotters' "sans-serif" (once per process).
pub fn load_font(path: &Path) -> Result<(), String> {
    FONT.get_or_init(|| {
        let bytes = fs::read(path).map_err(|e| {
            format!(
                "font {}: {e} (install fonts-dejavu-core or pass --font)",
                path.display()
            )
        })?;
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("font {}: not a usable TrueType font", path.display()))
    })
    .clone()
}

/// Draws every chart that has data into `out`; returns the file names written.
pub fn draw_charts(d: &Data, out: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    let series_names: Vec<&str> = d.labels.iter().map(String::as_str).collect();
    if !d.runs.is_empty() {
        let rows: Vec<String> = d.runs.iter().map(|(c, _)| c.clone()).collect();
        let h = 140 + 40 * rows.len() as u32;
        let panels = [
            ("p50 latency", "µs", d.series(&d.runs, "p50_us")),
            ("p99 latency", "µs", d.series(&d.runs, "p99_us")),
            ("p99.9 latency", "µs", d.series(&d.runs, "p999_us")),
        ];
        figure(out, "latency.png", (2400, h), &rows, &series_names, &panels)?;
        files.push("latency.png".to_string());
        let panels = [(
            "throughput",
            "requests per second",
            d.series(&d.runs, "rps"),
        )];
        figure(
            out,
            "throughput.png",
            (1100, h),
            &rows,
            &series_names,
            &panels,
        )?;
        files.push("throughput.png".to_string());
        let mut panels = vec![
            (
                "server CPU per request",
                "µs",
                d.series(&d.runs, "cpu_us_per_req"),
            ),
            (
                "server read/write syscalls per request (/proc/PID/io)",
                "syscr + syscw",
                d.series(&d.runs, "syscalls_per_req"),
            ),
        ];
        let all = d.series(&d.runs, "all_syscalls_per_req");
        if all.iter().flatten().any(|&v| v > 0.0) {
            panels.push(("server syscalls per request, all (perf)", "syscalls", all));
        }
        let width = 900 * panels.len() as u32;
        figure(out, "cpu.png", (width, h), &rows, &series_names, &panels)?;
        files.push("cpu.png".to_string());
    }
    if !d.fills.is_empty() {
        let rows: Vec<String> = d.fills.iter().map(|(c, _)| c.clone()).collect();
        let h = 140 + 50 * rows.len() as u32;
        let panels = [
            (
                "items per MB of RSS (higher is better)",
                "items / MB",
                d.series(&d.fills, "items_per_mb"),
            ),
            (
                "RSS bytes per item (lower is better)",
                "bytes",
                d.series(&d.fills, "bytes_per_item"),
            ),
        ];
        figure(out, "memory.png", (1600, h), &rows, &series_names, &panels)?;
        files.push("memory.png".to_string());
    }
    Ok(files)
}

type Panel<'a> = (&'a str, &'a str, Vec<Vec<f64>>);

/// One PNG of side-by-side horizontal grouped bar charts sharing the row labels.
fn figure(
    out: &Path,
    name: &str,
    size: (u32, u32),
    rows: &[String],
    names: &[&str],
    panels: &[Panel],
) -> Result<(), String> {
    let path = out.join(name);
    let root = BitMapBackend::new(&path, size).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("drawing {name}: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, (title, unit, values)) in areas.iter().zip(panels) {
        hbars(area, title, unit, rows, names, values).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn hbars(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    rows: &[String],
    names: &[&str],
    values: &[Vec<f64>],
) -> Result<(), String> {
    let n = rows.len().max(1);
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    // Headroom on the right for value labels and the legend.
    let xmax = if max > 0.0 { max * 1.5 } else { 1.0 };
    let label_w = rows.iter().map(|r| r.chars().count()).max().unwrap_or(4) as u32 * 8 + 16;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(label_w)
        .build_cartesian_2d(0.0..xmax, -0.5..(n as f64 - 0.5))
        .map_err(|e| e.to_string())?;
    let row_of = |y: f64| -> Option<&String> {
        let i = y.round();
        if (y - i).abs() > 0.01 || i < 0.0 || i >= n as f64 {
            return None;
        }
        rows.get(n - 1 - i as usize)
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| row_of(*y).cloned().unwrap_or_default())
        .x_labels(6)
        .x_label_formatter(&|x| short(*x))
        .x_desc(unit)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    let k = values.len().max(1);
    let h = 0.8 / k as f64;
    let value_style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (j, series) in values.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let bars = series.iter().enumerate().map(|(i, &v)| {
            let y_top = (n - 1 - i) as f64 + 0.4 - j as f64 * h;
            Rectangle::new([(0.0, y_top), (v, y_top - h * 0.9)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(names.get(j).copied().unwrap_or("?"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        // A missing value (failed cell, counter not available) is labelled, not left blank.
        let labels = series.iter().enumerate().map(|(i, &v)| {
            let y_mid = (n - 1 - i) as f64 + 0.4 - j as f64 * h - h * 0.45;
            let text = if v > 0.0 { short(v) } else { "n/a".to_string() };
            Text::new(text, (v + xmax * 0.005, y_mid), value_style.clone())
        });
        chart.draw_series(labels).map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A compact number: 1234567 → 1.23M, 5321 → 5.32k, 12.345 → 12.3, 0.1234 → 0.123.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Draws miss-ratio curves into one PNG at `path`: one panel per curve, miss ratio against the
/// memory limit (log2 axis, MB), one line per server.
pub fn miss_ratio_curves(curves: &crate::hitreport::Curves, path: &Path) -> Result<(), String> {
    let name = path.display().to_string();
    let err = |e: &dyn std::fmt::Display| format!("drawing {name}: {e}");
    let panels = curves.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1000 * panels, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, panels as usize));
    for (area, (title, series)) in areas.iter().zip(curves) {
        let pts = series.iter().flat_map(|(_, p)| p.iter());
        let (mut xmin, mut xmax, mut ymax) = (f64::MAX, 0.0f64, 0.0f64);
        for &(x, y) in pts {
            xmin = xmin.min(x);
            xmax = xmax.max(x);
            ymax = ymax.max(y);
        }
        if xmax <= 0.0 {
            continue;
        }
        let xmin = xmin.max(0.5) / 1.2;
        let xmax = xmax * 1.2;
        let ymax = if ymax > 0.0 {
            (ymax * 1.15).min(1.0)
        } else {
            1.0
        };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("miss ratio vs -m: {title}"), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin..xmax).log_scale().base(2.0), 0.0..ymax)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("-m (MB, log scale)")
            .y_desc("miss ratio (second half)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
        for (j, (label, points)) in series.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            chart
                .draw_series(std::iter::once(PathElement::new(
                    points.clone(),
                    color.stroke_width(3),
                )))
                .map_err(|e| err(&e))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 3), (x + 18, y + 3)], color.filled())
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
