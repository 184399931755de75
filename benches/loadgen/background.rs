//! Background jobs for the latency-under-background-work benchmark (`scripts/bench.sh
//! --background`), and its report.
//!
//! `loadgen background --job J` runs one job on its own connection for `--duration` seconds
//! while `loadgen run` measures the steady load on the same server:
//! - `idle`: nothing (the baseline);
//! - `crawl`: sets of short-lived items (exptime 1 s) and `lru_crawler crawl all` every
//!   100 ms (memcached crawls on request; larder's maintenance crawl always runs and the
//!   command is accepted as a no-op, so the expiring items are what give it work);
//! - `moves`: sets of fresh keys with sizes spread from 100 B to 64 KiB over a full cache,
//!   with `slabs automove 1` on: memcached moves pages between slab classes, larder's
//!   stripes take segments from each other;
//! - `flush`: 20 MB of 1 KiB items, then `flush_all`, again and again;
//! - `stats`: `stats`, `stats items`, `stats slabs` back to back as fast as replies come;
//! - `snapshot`: the `snapshot` command every 50 ms (larder with `-e`; a server without
//!   it answers an error and the job only waits; bench.sh runs it on larder only).
//!
//! `loadgen background-report` turns the `bg <job>` cells of a results file into a table:
//! p50/p99/p99.9 per job and server and the change in p99.9 from the same server's idle
//! cell.

use crate::results::{self, Record};
use clap::Args;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `loadgen background`.
#[derive(Args, Debug)]
pub struct BackgroundArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// idle, crawl, moves, flush, stats or snapshot.
    #[arg(long)]
    job: String,
    /// Seconds to keep working.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
}

/// Options of `loadgen background-report`.
#[derive(Args, Debug)]
pub struct BackgroundReportArgs {
    /// The results file (`bg <job>` cells).
    #[arg(long)]
    results: PathBuf,
    /// Write `background.md` here (else print it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Markdown put above the table.
    #[arg(long)]
    preamble: Option<PathBuf>,
}

/// The job's connection: text protocol, replies read up to a known terminator.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    fn connect(server: &str) -> Result<Conn, String> {
        let s = TcpStream::connect(server).map_err(|e| format!("connecting {server}: {e}"))?;
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| format!("socket timeout: {e}"))?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(1 << 16),
            out: Vec::with_capacity(1 << 20),
        })
    }

    fn send(&mut self) -> Result<(), String> {
        let r = self.s.write_all(&self.out);
        self.out.clear();
        r.map_err(|e| format!("write: {e}"))
    }

    /// Reads until the reply ends with one of `ends`; returns the reply.
    fn until(&mut self, ends: &[&[u8]]) -> Result<String, String> {
        self.buf.clear();
        let mut chunk = [0u8; 1 << 16];
        loop {
            if ends.iter().any(|e| self.buf.ends_with(e)) {
                return Ok(String::from_utf8_lossy(&self.buf).into_owned());
            }
            let n = match self.s.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.map_err(|e| format!("read: {e}"))?,
            };
            if n == 0 {
                return Err("server closed the connection".to_string());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One request whose reply is a single line.
    fn line(&mut self, req: &str) -> Result<String, String> {
        self.out.extend_from_slice(req.as_bytes());
        self.send()?;
        self.until(&[b"\r\n"])
    }

    /// `n` sets with noreply (keys `prefix:i`), then a meta no-op to wait for them.
    fn sets(&mut self, prefix: &str, from: u64, n: u64, size: impl Fn(u64) -> usize, ttl: u32) {
        let value = [b'b'; 64 << 10];
        for i in from..from + n {
            let len = size(i).min(value.len());
            let _ = write!(
                self.out,
                "set {prefix}:{i} 0 {ttl} {len} noreply\r\n",
                prefix = prefix
            );
            self.out.extend_from_slice(&value[..len]);
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"mn\r\n");
    }
}

/// Runs `loadgen background`.
pub fn run(a: &BackgroundArgs) -> Result<(), String> {
    let until = Instant::now()
        + Duration::try_from_secs_f64(a.duration)
            .map_err(|_| format!("--duration {}: not a number of seconds", a.duration))?;
    let mut c = Conn::connect(&a.server)?;
    let mut rounds = 0u64;
    let mut next_key = 0u64;
    let mut note = String::new();
    match a.job.as_str() {
        "idle" => std::thread::sleep(until.saturating_duration_since(Instant::now())),
        "crawl" => {
            let mut next_crawl = Instant::now();
            while Instant::now() < until {
                c.sets("bgttl", next_key, 2000, |_| 100, 1);
                next_key += 2000;
                c.send()?;
                c.until(&[b"MN\r\n"])?;
                if Instant::now() >= next_crawl {
                    let r = c.line("lru_crawler crawl all\r\n")?;
                    note = r.trim().to_string();
                    next_crawl += Duration::from_millis(100);
                    rounds += 1;
                }
                // About 20k items a second, each living one second.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        "moves" => {
            note = c.line("slabs automove 1\r\n")?.trim().to_string();
            while Instant::now() < until {
                // A spread of sizes (100 B .. 64 KiB, log-uniform) on fresh keys.
                c.sets(
                    "bgmove",
                    next_key,
                    200,
                    |i| {
                        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54; // 0..1023
                        (100.0 * (655.36f64).powf(x as f64 / 1023.0)) as usize
                    },
                    0,
                );
                next_key += 200;
                c.send()?;
                c.until(&[b"MN\r\n"])?;
                rounds += 1;
            }
        }
        "flush" => {
            while Instant::now() < until {
                for _ in 0..10 {
                    c.sets("bgflush", next_key, 2000, |_| 1024, 0);
                    next_key += 2000;
                    c.send()?;
                    c.until(&[b"MN\r\n"])?;
                }
                note = c.line("flush_all\r\n")?.trim().to_string();
                rounds += 1;
            }
        }
        "stats" => {
            while Instant::now() < until {
                for cmd in ["stats\r\n", "stats items\r\n", "stats slabs\r\n"] {
                    c.out.extend_from_slice(cmd.as_bytes());
                    c.send()?;
                    c.until(&[b"END\r\n"])?;
                }
                rounds += 1;
            }
        }
        "snapshot" => {
            while Instant::now() < until {
                let r = c.line("snapshot\r\n")?;
                if r.starts_with("ERROR") {
                    note = "n/a".to_string();
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    break;
                }
                if r.starts_with("OK") {
                    rounds += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        other => {
            return Err(format!(
                "--job {other}: one of idle crawl moves flush stats snapshot"
            ))
        }
    }
    println!("background {}: {rounds} rounds {note}", a.job);
    Ok(())
}

/// Runs `loadgen background-report`.
pub fn report(a: &BackgroundReportArgs) -> Result<(), String> {
    let recs = results::load(&a.results)?;
    let md = table(&recs);
    let mut doc = String::new();
    if let Some(p) = &a.preamble {
        doc += &results::read_text(p)?;
        doc += "\n";
    }
    doc += &md;
    match &a.out {
        Some(dir) => {
            let path = dir.join("background.md");
            std::fs::write(&path, doc).map_err(|e| format!("writing {}: {e}", path.display()))
        }
        None => {
            print!("{doc}");
            Ok(())
        }
    }
}

/// The markdown table of the `bg <job>` cells (job order as first seen).
pub fn table(recs: &[Record]) -> String {
    let mut jobs: Vec<String> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(String, String), &Record> = BTreeMap::new();
    for r in recs {
        let (Some(cell), Some(label)) = (results::get(r, "cell"), results::get(r, "label")) else {
            continue;
        };
        let Some(job) = cell.strip_prefix("bg ") else {
            continue;
        };
        if !jobs.iter().any(|j| j == job) {
            jobs.push(job.to_string());
        }
        if !labels.iter().any(|l| l == label) {
            labels.push(label.to_string());
        }
        cells.insert((job.to_string(), label.to_string()), r);
    }
    let mut md = String::from(
        "| background job | server | rps | p50 µs | p99 µs | p99.9 µs | p99.9 vs idle |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut worst: Option<(f64, String)> = None;
    for job in &jobs {
        for label in &labels {
            let Some(r) = cells.get(&(job.clone(), label.clone())) else {
                // The server has no such job (memcached has no snapshot command).
                md += &format!("| {job} | {label} | n/a | | | | n/a |\n");
                continue;
            };
            let n = |k: &str| results::num(r, k).unwrap_or(f64::NAN);
            let idle = cells
                .get(&("idle".to_string(), label.clone()))
                .and_then(|i| results::num(i, "p999_us"));
            let change = match idle {
                Some(i) if i > 0.0 && job != "idle" => {
                    let x = n("p999_us") / i;
                    if worst.as_ref().map_or(true, |(w, _)| x > *w) {
                        worst = Some((x, format!("{job} on {label}")));
                    }
                    format!("{x:.2}x{}", if x > 2.0 { " **> 2x**" } else { "" })
                }
                _ => "—".to_string(),
            };
            md += &format!(
                "| {job} | {label} | {:.0} | {:.1} | {:.1} | {:.1} | {change} |\n",
                n("rps"),
                n("p50_us"),
                n("p99_us"),
                n("p999_us"),
            );
        }
    }
    if let Some((x, which)) = worst {
        md += &format!("\nLargest p99.9 change from idle: {x:.2}x ({which}).\n");
    }
    md
}
