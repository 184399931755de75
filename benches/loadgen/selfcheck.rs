//! The `--test` mode (what `cargo bench -- --test` runs in CI): a few seconds of checks that the
//! kit still works, never a judgement on a performance number.
//!
//! It checks the workload generators, the wire encoders and reply parsers of all three dialects
//! on exact bytes, the `/proc` parsers, the results file round trip and the report (markdown and
//! charts) on synthetic data, then drives the real engine (closed and open loop) against a tiny
//! in-process text-protocol server, and checks the cache-aside (hit-ratio) workload generator and
//! engine. With `LOADGEN_SERVER=host:port` it also makes a one-second
//! run per dialect against that server.

use crate::driver::{self, RunConfig, Stop};
use crate::proto::{encode_get, encode_set, parse_reply, Op, Parsed, Protocol, Reply};
use crate::stream::{self, Perm, Req, Sizes, Synthetic, LOGNORMAL_MAX, LOGNORMAL_MIN};
use crate::workload::{key_bytes, KeyDist, KeyGen, Mix, Rng, ValueSize, Zipf};
use crate::{background, cacheaside, charts, fill, hitreport, procstat, report, results, scaling};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            return Err(format!("self-check failed: {} ({})", format!($($msg)+), stringify!($cond)));
        }
    };
}

/// Runs every check; `Err` names the first that failed.
pub fn run() -> Result<(), String> {
    let t = Instant::now();
    arguments()?;
    workload()?;
    hitratio_workload()?;
    protocol()?;
    proc_parsing()?;
    report_on_synthetic_data()?;
    background_and_scaling_reports()?;
    engine_against_fake_server()?;
    if let Ok(addr) = std::env::var("LOADGEN_SERVER") {
        engine_against(&addr)?;
    }
    println!(
        "loadgen self-check passed in {:.2}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn arguments() -> Result<(), String> {
    use clap::Parser;
    let cfg = |args: &[&str]| -> Result<RunConfig, String> {
        let mut argv = vec!["loadgen", "run"];
        argv.extend_from_slice(args);
        match crate::Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .cmd
        {
            Some(crate::Cmd::Run(a)) => crate::run_config(&a),
            other => Err(format!("parsed as {other:?}")),
        }
    };
    let c = cfg(&[
        "--server",
        "127.0.0.1:9",
        "--protocol",
        "binary",
        "--pipeline",
        "16",
        "--ratio",
        "1:1",
        "--value-size",
        "10-20",
        "--distribution",
        "zipf:1.2",
        "--rate",
        "5000",
        "--requests",
        "77",
    ])?;
    check!(
        c.protocol == Protocol::Binary && c.pipeline == 16 && c.connections == 50,
        "run args"
    );
    check!(
        c.mix == Mix { gets: 1, sets: 1 } && c.value == ValueSize { min: 10, max: 20 },
        "mix/value"
    );
    check!(
        c.dist == KeyDist::Zipf(1.2) && c.rate == Some(5000.0),
        "dist/rate"
    );
    check!(c.stop == Stop::Requests(77), "request count");
    check!(
        cfg(&["--duration", "2.5"])?.stop == Stop::Duration(Duration::from_millis(2500)),
        "duration"
    );
    for bad in [
        &["--connections", "0"][..],
        &["--rate", "0"],
        &["--rate", "inf"],
        &["--duration", "-1"],
        &["--duration", "1e300"],
        &["--value-size", "2000000000"],
        &["--protocol", "udp"],
        &["--ratio", "10"],
    ] {
        check!(cfg(bad).is_err(), "{bad:?} rejected");
    }
    Ok(())
}

fn workload() -> Result<(), String> {
    check!(&key_bytes(42) == b"lg:0000000042", "key format");
    check!(&key_bytes(9_999_999_999) == b"lg:9999999999", "largest key");
    check!(
        ValueSize::parse("32") == Ok(ValueSize { min: 32, max: 32 }),
        "fixed size"
    );
    check!(
        ValueSize::parse("10-20") == Ok(ValueSize { min: 10, max: 20 }),
        "size range"
    );
    check!(
        ValueSize::parse("20-10").is_err(),
        "reversed range rejected"
    );
    check!(Mix::parse("10:1") == Ok(Mix { gets: 10, sets: 1 }), "ratio");
    check!(
        Mix::parse("0:0").is_err() && Mix::parse("3").is_err(),
        "bad ratios rejected"
    );
    check!(
        KeyDist::parse("zipf:0.99") == Ok(KeyDist::Zipf(0.99)),
        "zipf parse"
    );
    check!(KeyDist::parse("zipf:-1").is_err(), "negative skew rejected");

    let mut rng = Rng::new(7);
    let sizes = ValueSize { min: 10, max: 20 };
    let (mut lo, mut hi) = (usize::MAX, 0);
    for _ in 0..10_000 {
        let s = sizes.next(&mut rng);
        lo = lo.min(s);
        hi = hi.max(s);
    }
    check!(
        lo == 10 && hi == 20,
        "size range covered exactly, got {lo}..{hi}"
    );
    let mix = Mix { gets: 10, sets: 1 };
    let gets = (0..110_000).filter(|_| mix.next_is_get(&mut rng)).count();
    check!(
        (99_000..101_000).contains(&gets),
        "10:1 mix gave {gets} gets of 110000"
    );

    // Zipf s=1 over 100 ranks: P(rank 1) = 1/H(100) = 0.19277; P(rank 2) half of that.
    let z = Zipf::new(100, 1.0);
    let mut counts = [0u32; 101];
    let n = 200_000;
    for _ in 0..n {
        let k = z.sample(&mut rng) as usize;
        check!((1..=100).contains(&k), "zipf rank {k} out of range");
        counts[k] += 1;
    }
    let p1 = f64::from(counts[1]) / f64::from(n);
    let p2 = f64::from(counts[2]) / f64::from(n);
    check!((p1 - 0.19277).abs() < 0.005, "zipf P(1) = {p1}");
    check!((p2 - 0.09639).abs() < 0.005, "zipf P(2) = {p2}");
    let uni = KeyGen::new(1000, KeyDist::Uniform);
    let max = (0..10_000).map(|_| uni.next(&mut rng)).max().unwrap_or(0);
    check!(max < 1000 && max > 990, "uniform max {max}");
    Ok(())
}

fn protocol() -> Result<(), String> {
    let mut b = Vec::new();
    encode_get(Protocol::Text, b"k1", &mut b);
    encode_set(Protocol::Text, b"k1", b"abc", &mut b);
    check!(
        b == b"get k1\r\nset k1 0 0 3\r\nabc\r\n",
        "text encoding {:?}",
        b
    );
    b.clear();
    encode_get(Protocol::Meta, b"k1", &mut b);
    encode_set(Protocol::Meta, b"k1", b"abc", &mut b);
    check!(
        b == b"mg k1 v\r\nms k1 3 T0\r\nabc\r\n",
        "meta encoding {:?}",
        b
    );
    b.clear();
    encode_set(Protocol::Binary, b"k", b"vv", &mut b);
    let mut want = vec![0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 11];
    want.extend_from_slice(&[0; 12]);
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(b"kvv");
    check!(b == want, "binary set encoding {:?}", b);
    b.clear();
    encode_get(Protocol::Binary, b"k", &mut b);
    check!(
        b.len() == 25 && b[1] == 0 && b[3] == 1 && b[11] == 1 && b[24] == b'k',
        "binary get"
    );

    let t = Protocol::Text;
    let hit = b"VALUE k1 0 3\r\nabc\r\nEND\r\nSTORED\r\n";
    check!(
        parse_reply(t, Op::Get, hit) == Parsed::Complete(Reply::Hit, 24),
        "text hit"
    );
    check!(
        parse_reply(t, Op::Get, &hit[..20]) == Parsed::Incomplete,
        "text partial hit"
    );
    check!(
        parse_reply(t, Op::Get, b"END\r\n") == Parsed::Complete(Reply::Miss, 5),
        "text miss"
    );
    check!(
        parse_reply(t, Op::Set, b"STORED\r\n") == Parsed::Complete(Reply::Stored, 8),
        "stored"
    );
    check!(
        parse_reply(t, Op::Set, b"SERVER_ERROR out of memory\r\n")
            == Parsed::Complete(Reply::Error, 28),
        "server error"
    );
    check!(
        matches!(parse_reply(t, Op::Get, b"STORED\r\n"), Parsed::Invalid(_)),
        "mismatch"
    );
    let m = Protocol::Meta;
    check!(
        parse_reply(m, Op::Get, b"VA 3\r\nabc\r\n") == Parsed::Complete(Reply::Hit, 11),
        "VA"
    );
    check!(
        parse_reply(m, Op::Get, b"EN\r\n") == Parsed::Complete(Reply::Miss, 4),
        "EN"
    );
    check!(
        parse_reply(m, Op::Set, b"HD\r\n") == Parsed::Complete(Reply::Stored, 4),
        "HD"
    );
    check!(
        parse_reply(m, Op::Set, b"NS\r\n") == Parsed::Complete(Reply::NotStored, 4),
        "NS"
    );
    let mut bin = vec![0x81, 0x00, 0, 0, 4, 0, 0, 0, 0, 0, 0, 7];
    bin.extend_from_slice(&[0; 12]);
    bin.extend_from_slice(&[0, 0, 0, 0, b'a', b'b', b'c']);
    let bp = Protocol::Binary;
    check!(
        parse_reply(bp, Op::Get, &bin) == Parsed::Complete(Reply::Hit, 31),
        "binary hit"
    );
    check!(
        parse_reply(bp, Op::Get, &bin[..30]) == Parsed::Incomplete,
        "binary partial"
    );
    bin[7] = 1;
    check!(
        parse_reply(bp, Op::Get, &bin) == Parsed::Complete(Reply::Miss, 31),
        "binary miss"
    );
    bin[7] = 0x82;
    check!(
        parse_reply(bp, Op::Set, &bin) == Parsed::Complete(Reply::Error, 31),
        "binary error"
    );
    Ok(())
}

fn proc_parsing() -> Result<(), String> {
    let stat = "1234 (my (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 4 0";
    check!(procstat::parse_stat_cpu(stat) == Ok(325), "utime+stime");
    let io = "rchar: 10\nwchar: 20\nsyscr: 30\nsyscw: 40\n";
    check!(procstat::parse_field(io, "syscw:") == Ok(40), "syscw");
    let perf = "# started on Sun Nov 22 20:50:54 2026\n\n50976,,raw_syscalls:sys_enter,288157167,100.00,,\n";
    check!(procstat::parse_perf_count(perf) == Ok(50976), "perf count");
    check!(
        procstat::parse_perf_count("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n").is_err(),
        "perf not counted"
    );
    let me = procstat::ProcSample::read(std::process::id())?;
    check!(me.syscr > 0, "own process has read syscalls");
    check!(procstat::rss_bytes(std::process::id())? > 0, "own RSS");
    let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
               0: 0100007F:59D8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n   \
               1: 0100007F:59D9 0100007F:0001 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n";
    check!(
        procstat::listening_inodes(tcp, 0x59D8) == vec![4242],
        "listening inode"
    );
    check!(
        procstat::listening_inodes(tcp, 0x59D9).is_empty(),
        "established is not listening"
    );
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    check!(
        procstat::listens_on(std::process::id(), port),
        "own listener found"
    );
    check!(procstat::alive(std::process::id()), "alive");
    Ok(())
}

fn report_on_synthetic_data() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let path = dir.path().join("results.tsv");
    let cfg = config(
        "127.0.0.1:1".parse().map_err(|e| format!("{e}"))?,
        Protocol::Text,
    );
    for (label, scale) in [("memcached", 1.0), ("larder", 1.5)] {
        let mut stats = driver::Stats::new();
        for i in 1..=1000u64 {
            stats.latency.saturating_record(i * 1000);
        }
        stats.gets = 900;
        stats.hits = 450;
        stats.sets = 100;
        let res = driver::RunResult {
            stats,
            elapsed: Duration::from_secs(2),
            server: Some((2000.0 * scale, 1500)),
            all_syscalls: Some(3000),
            client_cpu_us: Some(1_000_000.0),
            client_threads: 2,
        };
        let rec = results::run_record(label, "text 10:1 32B d1 c4", &cfg, &res);
        check!(
            results::get(&rec, "rps") == Some("500"),
            "rps of 1000 requests in 2 s"
        );
        check!(results::get(&rec, "hit_pct") == Some("50.0"), "hit ratio");
        check!(
            results::get(&rec, "all_syscalls_per_req") == Some("3.000"),
            "all syscalls/req"
        );
        check!(
            results::get(&rec, "cpu_us_per_req")
                == Some(if scale == 1.0 { "2.000" } else { "3.000" }),
            "cpu/req"
        );
        results::append(&path, &rec)?;
        let f = fill::FillResult {
            sent: 1000,
            items: 800,
            item_bytes: Some(80_000),
            rss: ((1u64 << 20) as f64 * scale) as u64,
            secs: 0.1,
            stopped: "evicting",
        };
        results::append(&path, &results::fill_record(label, 64, 100, &f))?;
    }
    // Non-finite numbers never reach the charts (plotters loops forever on an infinite range).
    let odd: results::Record = vec![
        ("rps".into(), "inf".into()),
        ("p50_us".into(), "NaN".into()),
    ];
    check!(
        results::num(&odd, "rps").is_none() && results::num(&odd, "p50_us").is_none(),
        "inf/NaN"
    );
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let recs = results::parse(&text)?;
    check!(recs.len() == 4, "four records read back");
    // HDR reports the highest value equivalent to 500 µs at 3 significant digits.
    let p50 = results::num(&recs[0], "p50_us").unwrap_or(0.0);
    check!((500.0..=500.5).contains(&p50), "p50 {p50}");
    check!(
        results::get(&recs[1], "items_per_mb") == Some("800"),
        "items per MB"
    );
    let out = dir.path().join("report");
    let args = report::ReportArgs {
        results: path,
        out: out.clone(),
        baseline: "memcached".to_string(),
        preamble: None,
        font: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into(),
    };
    let data = report::Data::new(&recs, "memcached");
    let md = report::markdown(&data, "", &Ok(vec![]));
    check!(
        md.contains("| text 10:1 32B d1 c4 | **larder/memcached** | **1.00x** |"),
        "ratio row in\n{md}"
    );
    // larder's CPU per request and RSS are 1.5x memcached's, so its items per MB are 1/1.5.
    check!(
        md.contains("| server CPU per request | below 1 | 1.50x (1 cells) |"),
        "at-a-glance CPU in\n{md}"
    );
    check!(
        md.contains("| items per MB of RSS | above 1 | 0.67x (1 cells) |"),
        "at-a-glance items/MB in\n{md}"
    );
    let line = report::last_cell_ratio(&recs, "memcached").unwrap_or_default();
    check!(
        line.contains("ratio larder/memcached:  req/s 1.00x") && line.contains("cpu/req 1.50x"),
        "ratio line {line:?}"
    );
    if args.font.exists() {
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        report::write_quietly(&args)?;
        for f in [
            "report.md",
            "latency.png",
            "cpu.png",
            "throughput.png",
            "memory.png",
        ] {
            check!(out.join(f).exists(), "{f} written");
        }
    }
    check!(
        charts::short(1_234_567.0) == "1.23M" && charts::short(0.1234) == "0.123",
        "short()"
    );
    Ok(())
}

/// The background table (change in p99.9 from idle, n/a for a missing job) and the scaling
/// table and chart, from synthetic records.
fn background_and_scaling_reports() -> Result<(), String> {
    let rec = |label: &str, cell: &str, rps: f64, p999: f64| -> results::Record {
        [
            ("kind", "run".to_string()),
            ("label", label.to_string()),
            ("cell", cell.to_string()),
            ("rps", rps.to_string()),
            ("p50_us", "10".to_string()),
            ("p99_us", "50".to_string()),
            ("p999_us", p999.to_string()),
            ("cpu_us_per_req", "2.0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let recs = vec![
        rec("memcached", "bg idle", 1000.0, 100.0),
        rec("larder", "bg idle", 1200.0, 80.0),
        rec("memcached", "bg flush", 900.0, 150.0),
        rec("larder", "bg flush", 1100.0, 200.0),
        rec("larder", "bg snapshot", 1100.0, 120.0),
    ];
    let md = background::table(&recs);
    check!(
        md.contains("| flush | memcached | 900 |"),
        "background row: {md}"
    );
    check!(md.contains("1.50x |"), "memcached flush change: {md}");
    check!(
        md.contains("2.50x **> 2x**"),
        "larder flush change marked: {md}"
    );
    check!(
        md.contains("| snapshot | memcached | n/a |"),
        "missing job is n/a: {md}"
    );
    check!(
        md.contains("Largest p99.9 change from idle: 2.50x (flush on larder)"),
        "{md}"
    );
    let dir = std::env::temp_dir().join(format!("loadgen-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let file = dir.join("results.tsv");
    for (label, t, rps, p) in [
        ("memcached", 1, 100.0, 50.0),
        ("larder", 1, 110.0, 40.0),
        ("memcached", 2, 180.0, 60.0),
        ("larder", 2, 210.0, 90.0),
    ] {
        results::append(&file, &rec(label, &format!("scale t={t} text d1"), rps, p))?;
    }
    scaling::write(&scaling::ScalingReportArgs::for_test(&file, &dir))?;
    let md = std::fs::read_to_string(dir.join("scaling.md")).map_err(|e| e.to_string())?;
    check!(
        md.contains("| text d1 | 2 | larder | 210 | 50.0 | 90.0 | 1.17x | 1.00x | 1.00x | 1.50x |"),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn config(addr: SocketAddr, protocol: Protocol) -> RunConfig {
    RunConfig {
        addr,
        protocol,
        threads: 2,
        connections: 4,
        pipeline: 4,
        mix: Mix { gets: 3, sets: 1 },
        value: ValueSize { min: 10, max: 100 },
        keys: 500,
        dist: KeyDist::Zipf(0.99),
        stop: Stop::Requests(4000),
        rate: None,
        seed: 3,
        tls: None,
    }
}

/// Starts the in-process server (an empty store) on a free port.
fn spawn_fake_server() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    thread::spawn(move || {
        let store = Arc::new(Mutex::new(HashMap::new()));
        for s in listener.incoming().flatten() {
            let store = store.clone();
            thread::spawn(move || fake_conn(s, &store));
        }
    });
    Ok(addr)
}

fn engine_against_fake_server() -> Result<(), String> {
    let addr = spawn_fake_server()?;
    let mut cfg = config(addr, Protocol::Text);
    let pre = fill::prefill(addr, Protocol::Text, cfg.keys, 100)?;
    check!(pre.ok == 500 && pre.errors == 0, "prefill stored {pre:?}");
    let res = driver::run(&cfg, Some(std::process::id()), false)?;
    let s = &res.stats;
    check!(
        s.completed() == 4000 && s.errors == 0,
        "closed loop: {} done, {} errors",
        s.completed(),
        s.errors
    );
    check!(
        s.hits == s.gets && s.gets > 2500 && s.latency.len() == 4000,
        "closed loop hits {s:?}"
    );
    check!(res.server.is_some(), "proc sampling");
    hitratio_engine()?;
    cfg.rate = Some(2000.0);
    cfg.stop = Stop::Duration(Duration::from_millis(500));
    let res = driver::run(&cfg, None, false)?;
    let done = res.stats.completed();
    check!(
        (900..=1010).contains(&done),
        "open loop at 2000/s for 0.5 s did {done}"
    );
    check!(
        res.stats.errors == 0 && res.stats.unsent <= 10,
        "open loop clean {:?}",
        res.stats
    );
    Ok(())
}

/// A minimal text-protocol server (get/set only) for exercising the engine.
fn fake_conn(s: TcpStream, store: &Mutex<HashMap<Vec<u8>, Vec<u8>>>) {
    // Replies go out one small write per request: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs stall pipelined clients for 40 ms per round.
    let _ = s.set_nodelay(true);
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let mut out = Vec::new();
        match parts.as_slice() {
            ["get", k] => {
                let store = store.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = store.get(k.as_bytes()) {
                    out.extend_from_slice(format!("VALUE {k} 0 {}\r\n", v.len()).as_bytes());
                    out.extend_from_slice(v);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"END\r\n");
            }
            ["stats"] => {
                let n = store.lock().unwrap_or_else(|e| e.into_inner()).len();
                out.extend_from_slice(format!("STAT curr_items {n}\r\nEND\r\n").as_bytes());
            }
            ["set", k, _, _, n] => {
                let mut v = vec![0; n.parse::<usize>().unwrap_or(0) + 2];
                if r.read_exact(&mut v).is_err() {
                    return;
                }
                v.truncate(v.len() - 2);
                let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
                store.insert(k.as_bytes().to_vec(), v);
                out.extend_from_slice(b"STORED\r\n");
            }
            _ => out.extend_from_slice(b"ERROR\r\n"),
        }
        if w.write_all(&out).is_err() {
            return;
        }
    }
}

fn engine_against(server: &str) -> Result<(), String> {
    let addr = server
        .parse::<SocketAddr>()
        .map_err(|e| format!("LOADGEN_SERVER {server:?}: {e}"))?;
    for p in [Protocol::Text, Protocol::Meta, Protocol::Binary] {
        let mut cfg = config(addr, p);
        cfg.stop = Stop::Duration(Duration::from_secs(1));
        fill::prefill(addr, p, cfg.keys, cfg.value.max)?;
        let res = driver::run(&cfg, None, false)?;
        let rec = results::run_record("server", p.name(), &cfg, &res);
        println!("{}", results::describe(&rec));
        check!(
            res.stats.errors == 0 && res.stats.completed() > 0,
            "{} run against {server}",
            p.name()
        );
    }
    Ok(())
}

/// Expected probability of rank 1 under zipf `s` over `n` ranks.
fn zipf_p1(n: u64, s: f64) -> f64 {
    1.0 / (1..=n).map(|k| (k as f64).powf(-s)).sum::<f64>()
}

/// The cache-aside workload generator: determinism, rank skew, one-hit keys, scans, the
/// popularity shift, size and TTL functions, trace parsing and the trace round trip.
fn hitratio_workload() -> Result<(), String> {
    let base = Synthetic {
        keys: 1000,
        zipf: 0.99,
        one_hit: 0.0,
        scan_every: 0,
        scan_len: 0,
        shift_at: None,
        sizes: Sizes::Fixed(100),
        ttl_frac: 0.0,
        ttl: 0,
        requests: 200_000,
        seed: 5,
    };
    let a = stream::generate(&base);
    check!(a.reqs.len() == 200_000, "stream length {}", a.reqs.len());
    check!(
        a.reqs == stream::generate(&base).reqs,
        "same seed, same stream"
    );
    let other = stream::generate(&Synthetic {
        seed: 6,
        ..base.clone()
    });
    check!(a.reqs != other.reqs, "another seed, another stream");

    // Rank skew: the hottest key of zipf 0.99 over 1000 keys gets 1/H(1000, 0.99) of the
    // requests, and the hottest is perm(rank 0).
    let counts = |reqs: &[Req]| {
        let mut m: HashMap<u64, u64> = HashMap::new();
        for r in reqs {
            *m.entry(r.key).or_default() += 1;
        }
        m
    };
    let perm = Perm::new(1000, 5);
    let c = counts(&a.reqs);
    let top = c.iter().max_by_key(|(_, n)| **n).map(|(k, n)| (*k, *n));
    let want = zipf_p1(1000, 0.99);
    let Some((top_key, top_n)) = top else {
        return Err("no keys".to_string());
    };
    let p1 = top_n as f64 / 200_000.0;
    check!(top_key == perm.apply(0), "hottest key is rank 1's");
    check!(
        (p1 - want).abs() < 0.1 * want,
        "zipf 0.99 P(rank 1) = {p1}, expected {want}"
    );
    let flat = stream::generate(&Synthetic {
        zipf: 0.8,
        ..base.clone()
    });
    let c8 = counts(&flat.reqs);
    let top8 = c8.values().max().copied().unwrap_or(0) as f64 / 200_000.0;
    let want8 = zipf_p1(1000, 0.8);
    check!(
        (top8 - want8).abs() < 0.1 * want8 && top8 < p1,
        "zipf 0.8 P(rank 1) = {top8}, expected {want8}"
    );
    // The rank -> key map is a bijection, also for odd and prime sizes.
    for n in [1u64, 2, 7, 1000, 1024, 999_983] {
        let p = Perm::new(n, 3);
        let mut seen = vec![false; n as usize];
        for x in 0..n {
            let k = p.apply(x) as usize;
            check!(k < n as usize && !seen[k], "perm over {n} repeats {k}");
            seen[k] = true;
        }
    }

    // One-hit keys: about 30 % of requests, each key used once.
    let oh = stream::generate(&Synthetic {
        one_hit: 0.3,
        ..base.clone()
    });
    let mut key = Vec::new();
    let mut fresh = std::collections::HashSet::new();
    for r in &oh.reqs {
        key.clear();
        oh.key(r.key, &mut key);
        if key.starts_with(b"oh:") {
            check!(fresh.insert(r.key), "one-hit key repeated");
        }
    }
    let share = fresh.len() as f64 / oh.reqs.len() as f64;
    check!((share - 0.3).abs() < 0.01, "one-hit share {share}");

    // Scans: after every 1000 requests, 100 consecutive ranks of the cold half.
    let sc = stream::generate(&Synthetic {
        scan_every: 1000,
        scan_len: 100,
        requests: 2300,
        ..base.clone()
    });
    let want: Vec<u64> = (500..600).map(|r| perm.apply(r)).collect();
    let got: Vec<u64> = sc.reqs[1000..1100].iter().map(|r| r.key).collect();
    check!(got == want, "first scan covers ranks 500..600");
    let want: Vec<u64> = (600..700).map(|r| perm.apply(r)).collect();
    let got: Vec<u64> = sc.reqs[2100..2200].iter().map(|r| r.key).collect();
    check!(got == want, "second scan covers ranks 600..700");

    // Popularity shift: the hottest key of the second half is the old rank 501.
    let sh = stream::generate(&Synthetic {
        shift_at: Some(0.5),
        ..base.clone()
    });
    let hot = |reqs: &[Req]| {
        counts(reqs)
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(k, _)| k)
    };
    check!(
        hot(&sh.reqs[..100_000]) == Some(perm.apply(0))
            && hot(&sh.reqs[100_000..]) == Some(perm.apply(500)),
        "popularity shift moves the hottest key"
    );

    // Sizes: log-normal, clamped, median near 300, a fixed function of the key; TTL mix.
    let ln = stream::generate(&Synthetic {
        keys: 100_000,
        sizes: Sizes::LogNormal {
            median: 300.0,
            sigma: 1.0,
        },
        ttl_frac: 0.25,
        ttl: 7,
        ..base.clone()
    });
    let mut by_key: HashMap<u64, (u32, u32)> = HashMap::new();
    for r in &ln.reqs {
        let prev = *by_key.entry(r.key).or_insert((r.size, r.ttl));
        check!(
            prev == (r.size, r.ttl),
            "size and ttl are functions of the key"
        );
        check!(
            (LOGNORMAL_MIN..=LOGNORMAL_MAX).contains(&r.size),
            "size {} out of bounds",
            r.size
        );
        check!(r.ttl == 0 || r.ttl == 7, "ttl {}", r.ttl);
    }
    let mut sizes: Vec<u32> = by_key.values().map(|v| v.0).collect();
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    check!((270..=330).contains(&median), "log-normal median {median}");
    check!(
        sizes[0] == LOGNORMAL_MIN && sizes[sizes.len() - 1] > 4000,
        "log-normal spread {}..{}",
        sizes[0],
        sizes[sizes.len() - 1]
    );
    let with_ttl = by_key.values().filter(|v| v.1 > 0).count() as f64 / by_key.len() as f64;
    check!((with_ttl - 0.25).abs() < 0.02, "ttl share {with_ttl}");
    check!(
        Sizes::parse("100") == Ok(Sizes::Fixed(100))
            && Sizes::parse("fixed:64") == Ok(Sizes::Fixed(64))
            && Sizes::parse("lognormal:500:0.5")
                == Ok(Sizes::LogNormal {
                    median: 500.0,
                    sigma: 0.5
                })
            && Sizes::parse("0").is_err()
            && Sizes::parse("lognormal:x:1").is_err(),
        "sizes parse"
    );

    // Traces: parse, intern keys, reject malformed lines, round-trip a generated stream.
    let t = stream::parse_trace(
        "# comment\nuser:1 100\n\nuser:2 2000 30\nuser:1 100\n",
        None,
    )?;
    check!(t.reqs.len() == 3, "trace requests");
    check!(
        t.reqs[0].key == t.reqs[2].key && t.reqs[0].key != t.reqs[1].key,
        "trace keys interned"
    );
    check!(
        t.reqs[1].size == 2000 && t.reqs[1].ttl == 30 && t.reqs[0].ttl == 0,
        "trace size and ttl"
    );
    key.clear();
    t.key(t.reqs[1].key, &mut key);
    check!(key == b"user:2", "trace key text");
    check!(
        stream::parse_trace("a 1\nb 2\nc 3\n", Some(2))?.reqs.len() == 2,
        "trace limit"
    );
    for bad in ["k", "k x", "k 1 2 3", "k 2000000", "k 1 -1", "", "# only\n"] {
        check!(
            stream::parse_trace(bad, None).is_err(),
            "bad trace {bad:?} rejected"
        );
    }
    let long = format!("{} 1\n", "k".repeat(251));
    check!(
        stream::parse_trace(&long, None).is_err(),
        "long key rejected"
    );
    let mut text = Vec::new();
    ln.write_trace(&mut text).map_err(|e| e.to_string())?;
    let back = stream::parse_trace(&String::from_utf8_lossy(&text), None)?;
    check!(back.reqs.len() == ln.reqs.len(), "round trip length");
    let (mut k1, mut k2) = (Vec::new(), Vec::new());
    for (x, y) in ln.reqs.iter().zip(&back.reqs).take(5000) {
        k1.clear();
        k2.clear();
        ln.key(x.key, &mut k1);
        back.key(y.key, &mut k2);
        check!(
            k1 == k2 && x.size == y.size && x.ttl == y.ttl,
            "round trip of {:?}",
            String::from_utf8_lossy(&k1)
        );
    }
    Ok(())
}

/// The cache-aside engine against the in-process server (which never evicts): every key misses
/// exactly once, so hits = gets - distinct keys holds only if every get after a miss sees its
/// set, across connections, rounds and epochs. Then the hit-ratio report on its records.
fn hitratio_engine() -> Result<(), String> {
    let w = Synthetic {
        keys: 3000,
        zipf: 0.99,
        one_hit: 0.1,
        scan_every: 2000,
        scan_len: 200,
        shift_at: Some(0.5),
        sizes: Sizes::LogNormal {
            median: 300.0,
            sigma: 1.0,
        },
        ttl_frac: 0.1,
        ttl: 1000,
        requests: 20_000,
        seed: 9,
    };
    let mut last = None;
    for strict in [false, true] {
        let cfg = cacheaside::EngineConfig {
            connections: 3,
            batch: 16,
            epoch: 3000,
            strict,
        };
        // A fresh server per pass (it keeps everything).
        let addr = spawn_fake_server()?;
        let stream = stream::generate(&w);
        let distinct = stream
            .reqs
            .iter()
            .map(|r| r.key)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        let (c, _) = cacheaside::run(addr, &stream, cfg)?;
        check!(c.gets == 20_000, "gets {c:?}");
        check!(
            c.hits == c.gets - distinct && c.sets == distinct,
            "each key misses once (strict {strict}): {c:?}, {distinct} keys"
        );
        check!(
            c.gets2 == 10_000 && c.set_errors == 0 && c.get_errors == 0,
            "second half and errors {c:?}"
        );
        check!(strict == (c.resent == 0), "resent {c:?} (strict {strict})");
        // A server that keeps everything misses exactly the cold misses.
        check!(
            c.gets2 - c.hits2 == stream.cold_second_half(),
            "cold misses {} against {c:?}",
            stream.cold_second_half()
        );
        last = Some((addr, c));
    }
    let (addr, counts) = last.ok_or("no pass")?;
    let state = cacheaside::server_state(addr, Some(std::process::id()))?;
    check!(
        state.stats.contains_key("curr_items") && state.rss.is_some_and(|r| r > 0),
        "server state {state:?}"
    );

    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let path = dir.path().join("results.tsv");
    for (label, scale) in [("memcached", 1.0), ("larder", 0.5)] {
        for mem in [8u64, 16] {
            let mut c = counts;
            c.hits2 = c.gets2 - ((c.gets2 - c.hits2) as f64 * scale) as u64;
            let mut st = state.clone();
            st.stats.insert("bytes".into(), (mem * 1000).to_string());
            let info = hitreport::RunInfo {
                label,
                cell: &format!("curve x -m {mem}"),
                workload: "w",
                mem_mb: Some(mem),
                server_threads: Some(1),
                curve: Some("x"),
                counts: &c,
                secs: 1.0,
                state: &st,
                // A floor at a quarter of the baseline's misses.
                cold2: (counts.gets2 - counts.hits2) / 4,
            };
            results::append(&path, &hitreport::record(&info))?;
        }
    }
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let recs = results::parse(&text)?;
    let cells = hitreport::Cells::new(&recs, "memcached");
    check!(
        cells.labels == ["memcached", "larder"] && cells.cells.len() == 2,
        "cells"
    );
    let g = hitreport::geomean(&cells.cells, 1, "miss2_pct");
    check!(
        g.is_some_and(|(g, n)| (g - 0.5).abs() < 0.01 && n == 2),
        "geomean of miss-ratio ratios {g:?}"
    );
    let table = hitreport::table(&cells, &cells.cells[..1]);
    check!(
        table.contains("| curve x -m 8 | **larder/memcached** |") && table.contains("**0.500x**"),
        "ratio row in\n{table}"
    );
    // Half the baseline's misses, a floor at a quarter of them: (1/2 - 1/4) / (1 - 1/4).
    check!(
        table.contains("above the floor **0.333x** (best possible 0.250x)"),
        "misses above the floor in\n{table}"
    );
    let curves = hitreport::curves(&cells);
    check!(
        curves.len() == 1 && curves[0].1.len() == 2 && curves[0].1[1].1.len() == 2,
        "curves {curves:?}"
    );
    let font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if font.exists() {
        let out = dir.path().join("hr");
        hitreport::write_quietly(&hitreport::HitReportArgs {
            results: path,
            out: Some(out.clone()),
            baseline: "memcached".into(),
            last: false,
            preamble: None,
            font,
        })?;
        check!(
            out.join("mrc.png").exists() && out.join("hitratio.md").exists(),
            "mrc.png and hitratio.md written"
        );
    }
    Ok(())
}
