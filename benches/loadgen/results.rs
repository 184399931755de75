//! The results file: one record per line, tab-separated `key=value` fields, appended by `run`
//! and `fill` and read back by `report`. Plain text so a shell script can append to it and a
//! human can read it.

use crate::driver::{RunConfig, RunResult};
use crate::fill::FillResult;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// One result: ordered `(key, value)` fields.
pub type Record = Vec<(String, String)>;

/// The value of field `key`, if present.
pub fn get<'a>(rec: &'a Record, key: &str) -> Option<&'a str> {
    rec.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Field `key` as a number, if present, numeric and finite.
pub fn num(rec: &Record, key: &str) -> Option<f64> {
    get(rec, key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// The default cell name of a run, e.g. `text 10:1 32B d16 c50`.
pub fn cell_name(cfg: &RunConfig) -> String {
    let mode = match cfg.rate {
        Some(r) => format!(" open@{r}/s"),
        None => String::new(),
    };
    format!(
        "{} {} {}B d{} c{}{}",
        cfg.protocol.name(),
        cfg.mix,
        cfg.value,
        cfg.pipeline,
        cfg.connections,
        mode
    )
}

fn push(rec: &mut Record, k: &str, v: impl ToString) {
    rec.push((k.to_string(), v.to_string()));
}

/// The record of one `run`.
pub fn run_record(label: &str, cell: &str, cfg: &RunConfig, res: &RunResult) -> Record {
    let s = &res.stats;
    let secs = res.elapsed.as_secs_f64().max(1e-9);
    let done = s.completed();
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    let q = |p: f64| {
        if done == 0 {
            0
        } else {
            s.latency.value_at_quantile(p)
        }
    };
    let mut r = Record::new();
    push(&mut r, "kind", "run");
    push(&mut r, "label", label);
    push(&mut r, "cell", cell);
    push(&mut r, "protocol", cfg.protocol.name());
    push(&mut r, "ratio", cfg.mix);
    push(&mut r, "value", cfg.value);
    push(&mut r, "pipeline", cfg.pipeline);
    push(&mut r, "conns", cfg.connections);
    push(
        &mut r,
        "mode",
        if cfg.rate.is_some() { "open" } else { "closed" },
    );
    push(&mut r, "secs", format!("{secs:.3}"));
    push(&mut r, "requests", done);
    push(&mut r, "rps", format!("{:.0}", done as f64 / secs));
    push(&mut r, "p50_us", us(q(0.50)));
    push(&mut r, "p99_us", us(q(0.99)));
    push(&mut r, "p999_us", us(q(0.999)));
    push(
        &mut r,
        "max_us",
        us(if done == 0 { 0 } else { s.latency.max() }),
    );
    let hit = if s.gets == 0 {
        0.0
    } else {
        s.hits as f64 * 100.0 / s.gets as f64
    };
    push(&mut r, "hit_pct", format!("{hit:.1}"));
    push(&mut r, "errors", s.errors);
    push(&mut r, "unsent", s.unsent);
    if let Some(us) = res.client_cpu_us {
        let pct = us / (secs * 1e6 * res.client_threads.max(1) as f64) * 100.0;
        push(&mut r, "client_cpu_pct", format!("{pct:.0}"));
    }
    if let Some((cpu_us, syscalls)) = res.server {
        let per = |v: f64| if done == 0 { 0.0 } else { v / done as f64 };
        push(&mut r, "cpu_us_per_req", format!("{:.3}", per(cpu_us)));
        push(
            &mut r,
            "syscalls_per_req",
            format!("{:.3}", per(syscalls as f64)),
        );
        if let Some(all) = res.all_syscalls {
            push(
                &mut r,
                "all_syscalls_per_req",
                format!("{:.3}", per(all as f64)),
            );
        }
    }
    r
}

/// The record of one `fill`.
pub fn fill_record(label: &str, mem_mb: u64, value_size: usize, f: &FillResult) -> Record {
    let mut r = Record::new();
    push(&mut r, "kind", "fill");
    push(&mut r, "label", label);
    push(&mut r, "cell", format!("-m {mem_mb} {value_size}B"));
    push(&mut r, "mem_mb", mem_mb);
    push(&mut r, "value", value_size);
    push(&mut r, "items", f.items);
    push(
        &mut r,
        "item_bytes",
        f.item_bytes.map_or("-".to_string(), |b| b.to_string()),
    );
    push(&mut r, "rss", f.rss);
    let per_item = if f.items == 0 {
        0.0
    } else {
        f.rss as f64 / f.items as f64
    };
    push(&mut r, "bytes_per_item", format!("{per_item:.1}"));
    let per_mb = f.items as f64 / (f.rss.max(1) as f64 / (1u64 << 20) as f64);
    push(&mut r, "items_per_mb", format!("{per_mb:.0}"));
    push(&mut r, "sent", f.sent);
    push(&mut r, "stopped", f.stopped);
    push(&mut r, "secs", format!("{:.2}", f.secs));
    r
}

/// One human-readable line.
pub fn describe(rec: &Record) -> String {
    let g = |k: &str| get(rec, k).unwrap_or("-");
    match g("kind") {
        "fill" => format!(
            "{:<10} {:<16} items {:>10}  RSS {:>7.1} MB  {:>7} B/item  {:>6} items/MB  ({} s, {})",
            g("label"),
            g("cell"),
            g("items"),
            num(rec, "rss").unwrap_or(0.0) / 1048576.0,
            g("bytes_per_item"),
            g("items_per_mb"),
            g("secs"),
            g("stopped"),
        ),
        _ => format!(
            "{:<10} {:<28} {:>9} req/s  p50 {:>8} us  p99 {:>8} us  p99.9 {:>8} us  max {:>9} us  \
             hit {:>5}%  err {}  unsent {}  cpu {} us/req  rw-syscalls {} /req  all-syscalls {} /req  \
             client cpu {}%",
            g("label"),
            g("cell"),
            g("rps"),
            g("p50_us"),
            g("p99_us"),
            g("p999_us"),
            g("max_us"),
            g("hit_pct"),
            g("errors"),
            g("unsent"),
            g("cpu_us_per_req"),
            g("syscalls_per_req"),
            g("all_syscalls_per_req"),
            g("client_cpu_pct"),
        ),
    }
}

/// Appends `rec` as one line to `path`.
pub fn append(path: &Path, rec: &Record) -> Result<(), String> {
    let mut line = rec
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(['\t', '\n'], " ")))
        .collect::<Vec<_>>()
        .join("\t");
    line.push('\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| format!("appending to {}: {e}", path.display()))
}

/// Reads a text file (a results file, a report's preamble); the error names the file.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Reads and parses the results file at `path` (see [`parse`]).
pub fn load(path: &Path) -> Result<Vec<Record>, String> {
    parse(&read_text(path)?)
}

/// Parses the text of a results file; lines that are blank or start with `#` are skipped.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rec = Record::new();
        for field in line.split('\t') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| format!("results line {}: field {field:?} has no '='", n + 1))?;
            rec.push((k.to_string(), v.to_string()));
        }
        out.push(rec);
    }
    Ok(out)
}
