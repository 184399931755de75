//! larder's load generator: a memtier/rpc-perf-style client for memcached-compatible servers,
//! built as a `harness = false` bench so it needs no tool outside the repository.
//!
//! Subcommands:
//! - `run`: many connections over a few client threads, text/meta/binary, get:set ratio,
//!   value size or range, uniform or zipfian keys, pipelining, prefill, duration or request
//!   count, closed or open loop; prints throughput, p50/p99/p99.9/max, hit ratio, errors and,
//!   given the server's pid, its CPU time and syscalls per request.
//! - `fill`: the memory-efficiency probe (distinct keys until the server evicts).
//! - `wait`: retries connecting until a server accepts (used by `scripts/bench.sh`).
//! - `report`: turns a results file into a markdown report with ratios and PNG charts.
//! - `ratio`: prints the ratio line of the last cell of a results file (bench.sh, per cell).
//! - `hitratio`: the cache-aside hit-ratio benchmark (get, set on a miss) over a synthetic
//!   workload or a trace; reports hits and the server's memory figures.
//! - `hitratio-report`: per-cell hit-ratio tables, miss-ratio ratios and the miss-ratio curve
//!   chart from a results file.
//! - `background` / `background-report`: one background job (crawler, page moves,
//!   `flush_all`, a stats storm, snapshots) run beside `run`, and the table of p99.9 changes.
//! - `scaling-report`: throughput and p99.9 against `-t` (table and chart).
//!
//! `cargo bench -- --test` (and a bare `cargo bench`) runs a quick self-check instead; with
//! `LOADGEN_SERVER=host:port` set it also makes a one-second run against that server.
//!
//! Module map: `workload` (keys, values, ratio), `proto` (wire encoding and reply parsing),
//! `driver` (threads, connections, closed/open loop, histograms), `procstat` (/proc counters),
//! `fill` (blocking prefill, stats, memory fill), `results` (the results file), `report`
//! (markdown), `charts` (PNGs), `selfcheck` (the `--test` mode), `stream` (hit-ratio request
//! streams: synthetic workloads and traces), `cacheaside` (the hit-ratio engine), `hitreport`
//! (hit-ratio tables and the miss-ratio curve), `background` (background jobs and their latency
//! table), `scaling` (the -t curve).

mod background;
mod cacheaside;
mod charts;
mod driver;
mod fill;
mod hitreport;
mod procstat;
mod proto;
mod report;
mod results;
mod scaling;
mod selfcheck;
mod stream;
mod tls;
mod workload;

use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Load generator for memcached-compatible servers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Run the quick self-check (what `cargo bench -- --test` passes) and exit.
    #[arg(long)]
    test: bool,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Drive a load and report latency and throughput.
    Run(RunArgs),
    /// Fill the server with distinct keys until it evicts; report items held and RSS.
    Fill(FillArgs),
    /// Wait until a server accepts connections.
    Wait(WaitArgs),
    /// Write the markdown report and PNG charts from a results file.
    Report(report::ReportArgs),
    /// Print the ratio line of the last cell in a results file (other server / baseline).
    Ratio(RatioArgs),
    /// Cache-aside hit-ratio run: get every key, set it on a miss.
    Hitratio(HitRatioArgs),
    /// Hit-ratio tables (and the miss-ratio curve chart) from a results file.
    HitratioReport(hitreport::HitReportArgs),
    /// Run one background job (crawl, moves, flush, stats, snapshot) for a while.
    Background(background::BackgroundArgs),
    /// The latency-under-background-work table from a results file.
    BackgroundReport(background::BackgroundReportArgs),
    /// The scaling table and chart (throughput and p99.9 against -t) from a results file.
    ScalingReport(scaling::ScalingReportArgs),
    /// Write a CA, a server certificate for localhost/127.0.0.1 and its key (PEM) for TLS runs.
    Certs(CertsArgs),
    /// TLS handshakes per second: connect, handshake, `version`, close, in closed loop.
    Handshakes(tls::HandshakeArgs),
}

/// Options of `loadgen certs`.
#[derive(Args, Debug)]
struct CertsArgs {
    /// Directory for ca.pem, cert.pem and key.pem.
    #[arg(long)]
    out: PathBuf,
}

/// Options of `loadgen hitratio`.
#[derive(Args, Debug, Clone)]
pub struct HitRatioArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Server pid, for its RSS (VmRSS) after the run.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Keys in the zipfian key space.
    #[arg(long, default_value_t = 2_000_000)]
    keys: u64,
    /// Requests in the stream [default: 2000000; with --trace: every line].
    #[arg(long)]
    requests: Option<u64>,
    /// Zipf exponent (alpha) of key popularity.
    #[arg(long, default_value_t = 0.99)]
    zipf: f64,
    /// Fraction of requests that go to a fresh key never requested again (0..1).
    #[arg(long, default_value_t = 0.0)]
    one_hit: f64,
    /// After every this many requests, a scan (0: no scans).
    #[arg(long, default_value_t = 0)]
    scan_every: u64,
    /// Requests per scan (consecutive ranks from the cold half of the key space).
    #[arg(long, default_value_t = 10_000)]
    scan_len: u64,
    /// Move the popular set (rank r gets the key of rank r + keys/2) at this fraction of the
    /// run, e.g. 0.5.
    #[arg(long)]
    shift_at: Option<f64>,
    /// Value sizes: N, fixed:N, lognormal (median 300 B, sigma 1, clamped to 32 B..16 KiB) or
    /// lognormal:MEDIAN:SIGMA.
    #[arg(long, default_value = "100")]
    sizes: String,
    /// Fraction of keys whose sets carry an exptime of --ttl seconds.
    #[arg(long, default_value_t = 0.0)]
    ttl_frac: f64,
    /// The exptime of those sets, in seconds.
    #[arg(long, default_value_t = 30)]
    ttl: u32,
    /// Replay this trace (`key size [ttl]` per line) instead of a synthetic workload.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write the request stream to this file in the trace format and exit without running.
    #[arg(long)]
    dump_trace: Option<PathBuf>,
    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Connections (keys are split over them by hash).
    #[arg(long, short = 'c', default_value_t = 4)]
    connections: usize,
    /// Most gets per pipelined round on one connection.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Requests of the global stream between lockstep barriers of the connections.
    #[arg(long, default_value_t = 20_000)]
    epoch: usize,
    /// Never pipeline two gets of one key (slower: a round trip per request of a hot key);
    /// by default a later get of a key whose earlier get in the round missed is re-sent.
    #[arg(long)]
    strict: bool,
    /// The server's -m in MB (recorded only).
    #[arg(long)]
    mem_mb: Option<u64>,
    /// The server's -t (recorded only).
    #[arg(long)]
    server_threads: Option<u32>,
    /// Name of the miss-ratio curve this run is a point of (its x is --mem-mb).
    #[arg(long)]
    curve: Option<String>,
    /// Server name for the results file.
    #[arg(long, default_value = "server")]
    label: String,
    /// Cell name for the results file (default: from the workload, -m and -t).
    #[arg(long)]
    cell: Option<String>,
    /// Append one result record to this file.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Options of `loadgen ratio`.
#[derive(Args, Debug)]
struct RatioArgs {
    /// The results file.
    #[arg(long)]
    results: PathBuf,
    /// The server the others are divided by.
    #[arg(long, default_value = "memcached")]
    baseline: String,
}

/// Options of `loadgen run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// text, meta or binary.
    #[arg(long, default_value = "text")]
    protocol: String,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Connections in total.
    #[arg(long, short = 'c', default_value_t = 50)]
    connections: usize,
    /// Outstanding requests per connection.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// get:set ratio, e.g. 10:1.
    #[arg(long, default_value = "10:1")]
    ratio: String,
    /// Value size in bytes, N or MIN-MAX.
    #[arg(long, default_value = "32")]
    value_size: String,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Key distribution: uniform or zipf:S (e.g. zipf:0.99).
    #[arg(long, default_value = "uniform")]
    distribution: String,
    /// Seconds to run (ignored if --requests is given).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Stop after this many requests instead of after --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Open loop: requests per second over all connections; latency counts from each
    /// request's scheduled send time. Without it the run is closed-loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Skip setting every key once before measuring.
    #[arg(long)]
    no_prefill: bool,
    /// Prefill through this address instead of --server (a plain listener of the same
    /// server, for TLS runs: `-l notls:HOST:PORT`).
    #[arg(long)]
    prefill_server: Option<String>,
    /// TLS: trust this CA (PEM) and speak TLS to --server (SNI `localhost`).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Server pid, to measure its CPU time and syscalls per request from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also count every server syscall with `perf stat` (needs --server-pid and perf).
    #[arg(long)]
    perf: bool,
    /// Seed of the request stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server name for the results file.
    #[arg(long, default_value = "server")]
    label: String,
    /// Cell name for the results file (default: derived from the workload).
    #[arg(long)]
    cell: Option<String>,
    /// Append one result record to this file.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Options of `loadgen fill`.
#[derive(Args, Debug)]
struct FillArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Server pid (for its RSS).
    #[arg(long)]
    server_pid: u32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// The server's -m, in MB (recorded in the results; sizes the steps between checks).
    #[arg(long, default_value_t = 64)]
    mem_mb: u64,
    /// Give up after this many keys even if nothing was evicted.
    #[arg(long, default_value_t = 200_000_000)]
    max_items: u64,
    /// Server name for the results file.
    #[arg(long, default_value = "server")]
    label: String,
    /// Append one result record to this file.
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Options of `loadgen wait`.
#[derive(Args, Debug)]
struct WaitArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Give up at once if this process exits (the server being waited for).
    #[arg(long)]
    server_pid: Option<u32>,
}

fn main() -> ExitCode {
    // `cargo bench` appends `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match (cli.test, cli.cmd) {
        (true, _) => selfcheck::run(),
        (false, None) => {
            println!("loadgen: no subcommand, running the self-check (see `loadgen --help`)");
            selfcheck::run()
        }
        (false, Some(Cmd::Run(a))) => cmd_run(&a),
        (false, Some(Cmd::Fill(a))) => cmd_fill(&a),
        (false, Some(Cmd::Wait(a))) => cmd_wait(&a),
        (false, Some(Cmd::Report(a))) => report::write(&a),
        (false, Some(Cmd::Hitratio(a))) => cmd_hitratio(&a),
        (false, Some(Cmd::HitratioReport(a))) => hitreport::write(&a),
        (false, Some(Cmd::Background(a))) => background::run(&a),
        (false, Some(Cmd::BackgroundReport(a))) => background::report(&a),
        (false, Some(Cmd::ScalingReport(a))) => scaling::write(&a),
        (false, Some(Cmd::Certs(a))) => tls::write_certs(&a.out),
        (false, Some(Cmd::Handshakes(a))) => tls::cmd_handshakes(&a),
        (false, Some(Cmd::Ratio(a))) => results::load(&a.results).map(|recs| {
            if let Some(line) = report::last_cell_ratio(&recs, &a.baseline) {
                println!("{line}");
            }
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves a server address to its first socket address.
pub fn resolve(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("server address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("server address {s:?} resolves to nothing"))
}

/// Largest value the load generator will send (memcached's own limit, `-I`, is 1 MB by
/// default and 1 GB at most).
const MAX_VALUE: usize = 1 << 30;

/// Builds the engine configuration from command-line options.
pub fn run_config(a: &RunArgs) -> Result<driver::RunConfig, String> {
    if a.connections == 0 || a.pipeline == 0 || a.threads == 0 {
        return Err("--connections, --pipeline and --threads must be at least 1".to_string());
    }
    if let Some(r) = a.rate {
        if !(0.01..=1e9).contains(&r) {
            return Err(format!(
                "--rate {r}: must be between 0.01 and 1e9 per second"
            ));
        }
    }
    let duration = Duration::try_from_secs_f64(a.duration)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(10_000_000))
        .ok_or_else(|| {
            format!(
                "--duration {}: must be a positive number of seconds",
                a.duration
            )
        });
    let value = workload::ValueSize::parse(&a.value_size)?;
    if value.max > MAX_VALUE {
        return Err(format!("--value-size {value}: at most {MAX_VALUE} bytes"));
    }
    Ok(driver::RunConfig {
        addr: resolve(&a.server)?,
        protocol: proto::Protocol::parse(&a.protocol)?,
        threads: a.threads,
        connections: a.connections,
        pipeline: a.pipeline,
        mix: workload::Mix::parse(&a.ratio)?,
        value,
        keys: a.keys.max(1),
        dist: workload::KeyDist::parse(&a.distribution)?,
        stop: match a.requests {
            Some(n) => driver::Stop::Requests(n),
            None => driver::Stop::Duration(duration?),
        },
        rate: a.rate,
        seed: a.seed,
        tls: match &a.tls_ca {
            Some(ca) => Some(tls::client_config(ca, true)?),
            None => None,
        },
    })
}

fn cmd_run(a: &RunArgs) -> Result<(), String> {
    let cfg = run_config(a)?;
    if !a.no_prefill && cfg.mix.gets > 0 {
        let at = match &a.prefill_server {
            Some(s) => resolve(s)?,
            None if cfg.tls.is_some() => {
                return Err(
                    "--tls-ca: prefill needs a plain listener (--prefill-server) \
                            or --no-prefill"
                        .to_string(),
                )
            }
            None => cfg.addr,
        };
        let r = fill::prefill(at, cfg.protocol, cfg.keys, cfg.value.max)?;
        if r.errors > 0 {
            return Err(format!("prefill: {} of {} sets failed", r.errors, cfg.keys));
        }
    }
    let res = driver::run(&cfg, a.server_pid, a.perf)?;
    let cell = a.cell.clone().unwrap_or_else(|| results::cell_name(&cfg));
    let rec = results::run_record(&a.label, &cell, &cfg, &res);
    println!("{}", results::describe(&rec));
    if let Some(path) = &a.results {
        results::append(path, &rec)?;
    }
    Ok(())
}

fn cmd_wait(a: &WaitArgs) -> Result<(), String> {
    let addr = resolve(&a.server)?;
    let patience = Duration::try_from_secs_f64(a.timeout)
        .map_err(|_| format!("--timeout {}: not a number of seconds", a.timeout))?;
    let give_up = Instant::now() + patience.min(Duration::from_secs(86_400));
    loop {
        if let Some(pid) = a.server_pid {
            if !procstat::alive(pid) {
                return Err(format!("server process {pid} exited before accepting"));
            }
        }
        let next_try = Instant::now() + Duration::from_millis(50);
        let accepted = driver::connect_retry(addr, Duration::ZERO);
        // Someone else may be listening on the port (a bind race): only the right process
        // counts.
        let ours = match a.server_pid {
            Some(pid) => accepted.is_ok() && procstat::listens_on(pid, addr.port()),
            None => accepted.is_ok(),
        };
        if ours {
            return Ok(());
        }
        if Instant::now() >= give_up {
            return Err(match accepted {
                Err(e) => e,
                Ok(_) => format!("{addr} accepts, but not in process {:?}", a.server_pid),
            });
        }
        std::thread::sleep(next_try.saturating_duration_since(Instant::now()));
    }
}

fn cmd_fill(a: &FillArgs) -> Result<(), String> {
    let addr = resolve(&a.server)?;
    let budget = a.mem_mb.saturating_mul(1 << 20);
    let r = fill::fill_until_evicting(addr, a.server_pid, a.value_size, budget, a.max_items)?;
    let rec = results::fill_record(&a.label, a.mem_mb, a.value_size, &r);
    println!("{}", results::describe(&rec));
    if let Some(path) = &a.results {
        results::append(path, &rec)?;
    }
    Ok(())
}

/// The stream a `hitratio` run replays: the trace, or the synthetic workload of its options.
pub fn hitratio_stream(a: &HitRatioArgs) -> Result<stream::Stream, String> {
    if let Some(path) = &a.trace {
        return cacheaside::load_trace(path, a.requests);
    }
    let frac = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("--{name} {v}: must be between 0 and 1"))
        }
    };
    if !(a.zipf > 0.0 && a.zipf.is_finite()) {
        return Err(format!("--zipf {}: must be a positive number", a.zipf));
    }
    if a.keys == 0 || a.keys > 1 << 40 {
        return Err(format!("--keys {}: between 1 and 2^40", a.keys));
    }
    let requests = a.requests.unwrap_or(2_000_000);
    if requests == 0 || requests > u64::from(u32::MAX) {
        return Err(format!("--requests {requests}: between 1 and 2^32-1"));
    }
    let w = stream::Synthetic {
        keys: a.keys,
        zipf: a.zipf,
        one_hit: frac("one-hit", a.one_hit)?,
        scan_every: a.scan_every,
        scan_len: a.scan_len,
        shift_at: a.shift_at.map(|s| frac("shift-at", s)).transpose()?,
        sizes: stream::Sizes::parse(&a.sizes)?,
        ttl_frac: frac("ttl-frac", a.ttl_frac)?,
        ttl: a.ttl,
        requests,
        seed: a.seed,
    };
    Ok(stream::generate(&w))
}

fn cmd_hitratio(a: &HitRatioArgs) -> Result<(), String> {
    let stream = hitratio_stream(a)?;
    if let Some(path) = &a.dump_trace {
        let f =
            std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        stream
            .write_trace(&mut w)
            .and_then(|()| std::io::Write::flush(&mut w))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("wrote {} requests to {}", stream.reqs.len(), path.display());
        return Ok(());
    }
    let addr = resolve(&a.server)?;
    let cfg = cacheaside::EngineConfig {
        connections: a.connections,
        batch: a.batch,
        epoch: a.epoch,
        strict: a.strict,
    };
    let (counts, secs) = cacheaside::run(addr, &stream, cfg)?;
    let state = cacheaside::server_state(addr, a.server_pid)?;
    let cell = a.cell.clone().unwrap_or_else(|| {
        let mut c = stream.describe.clone();
        if let Some(m) = a.mem_mb {
            c += &format!(" -m {m}");
        }
        if let Some(t) = a.server_threads {
            c += &format!(" -t {t}");
        }
        c
    });
    let rec = hitreport::record(&hitreport::RunInfo {
        label: &a.label,
        cell: &cell,
        workload: &stream.describe,
        mem_mb: a.mem_mb,
        server_threads: a.server_threads,
        curve: a.curve.as_deref(),
        counts: &counts,
        secs,
        state: &state,
        cold2: stream.cold_second_half(),
    });
    println!("{}", hitreport::describe(&rec));
    if counts.get_errors > 0 || counts.set_errors > 0 {
        eprintln!(
            "loadgen: {} get errors, {} refused or failed sets",
            counts.get_errors, counts.set_errors
        );
    }
    if let Some(path) = &a.results {
        results::append(path, &rec)?;
    }
    Ok(())
}
