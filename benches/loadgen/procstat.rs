//! Server-side cost counters read from Linux `/proc`: CPU time (`utime + stime` from
//! `/proc/PID/stat`), read/write syscall counts (`syscr + syscw` from `/proc/PID/io`) and
//! resident memory (`VmRSS` from `/proc/PID/status`).
//!
//! Both files cover every thread of the process. `/proc` reports CPU time in clock ticks of
//! `USER_HZ`, which the Linux ABI fixes at 100 per second on every mainstream architecture, so
//! one tick is 10 ms: runs must be long enough (seconds) for the CPU figure to mean anything.

use std::fs;

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`).
pub const TICKS_PER_SEC: u64 = 100;

/// One reading of a process's cumulative CPU time and syscall counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Read-class syscalls (`syscr`).
    pub syscr: u64,
    /// Write-class syscalls (`syscw`).
    pub syscw: u64,
}

impl ProcSample {
    /// Reads the counters of process `pid`.
    pub fn read(pid: u32) -> Result<Self, String> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
        let io = fs::read_to_string(format!("/proc/{pid}/io"))
            .map_err(|e| format!("reading /proc/{pid}/io: {e}"))?;
        Ok(ProcSample {
            cpu_ticks: parse_stat_cpu(&stat)?,
            syscr: parse_field(&io, "syscr:")?,
            syscw: parse_field(&io, "syscw:")?,
        })
    }

    /// CPU microseconds and syscalls spent between `self` and a later sample.
    pub fn delta(&self, later: &ProcSample) -> (f64, u64) {
        let ticks = later.cpu_ticks.saturating_sub(self.cpu_ticks);
        let sys = (later.syscr + later.syscw).saturating_sub(self.syscr + self.syscw);
        (ticks as f64 * 1e6 / TICKS_PER_SEC as f64, sys)
    }
}

/// `utime + stime` (fields 14 and 15) from the text of `/proc/PID/stat`.
pub fn parse_stat_cpu(stat: &str) -> Result<u64, String> {
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("malformed /proc/PID/stat: no ')'")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field N is at index N - 3.
    let get = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or_else(|| format!("/proc/PID/stat has no field {n}"))?
            .parse::<u64>()
            .map_err(|e| format!("/proc/PID/stat field {n}: {e}"))
    };
    Ok(get(14)? + get(15)?)
}

/// The number after `name` on its line (for `/proc/PID/io` and `/proc/PID/status`).
pub fn parse_field(text: &str, name: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .ok_or_else(|| format!("no {name} line"))?
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("{name} has no value"))?
        .parse::<u64>()
        .map_err(|e| format!("{name}: {e}"))
}

/// Resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    Ok(parse_field(&status, "VmRSS:")? * 1024)
}

/// True while process `pid` exists and is not a zombie (a dead child not yet reaped).
pub fn alive(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

/// True if process `pid` holds a TCP socket listening on `port` (IPv4 or IPv6).
pub fn listens_on(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        inodes.extend(listening_inodes(&text, port));
    }
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    })
}

/// Socket inodes in the text of `/proc/net/tcp{,6}` that are in LISTEN state on `port`.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    let suffix = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            (local.ends_with(&suffix) && *state == "0A")
                .then(|| inode.parse().ok())
                .flatten()
        })
        .collect()
}
