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

/// Counts every system call of a process (not just the read/write family that `/proc/PID/io`
/// sees) with `perf stat -e raw_syscalls:sys_enter -p PID`, a kernel tracepoint counter that
/// costs the server far less than strace. Needs `perf` and permission to trace the process.
pub struct SyscallCounter {
    child: std::process::Child,
    out: tempfile::TempPath,
}

impl SyscallCounter {
    /// Starts counting the syscalls of `pid`; returns once perf is attached.
    pub fn attach(pid: u32) -> Result<Self, String> {
        let out = tempfile::NamedTempFile::new()
            .map_err(|e| format!("perf output file: {e}"))?
            .into_temp_path();
        let child = std::process::Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&out)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting perf: {e}"))?;
        let mut counter = SyscallCounter { child, out };
        // perf is attached once it holds a perf_event file descriptor.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if counter.has_perf_event_fd() {
                return Ok(counter);
            }
            if let Ok(Some(status)) = counter.child.try_wait() {
                return Err(format!("perf stat exited early ({status})"));
            }
            if std::time::Instant::now() >= give_up {
                let _ = counter.child.kill();
                let _ = counter.child.wait();
                return Err("perf stat did not attach within 5 s".to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn has_perf_event_fd(&self) -> bool {
        let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", self.child.id())) else {
            return false;
        };
        fds.flatten().any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("perf_event"))
        })
    }

    /// Stops perf (SIGINT, so it writes its count) and returns the number of syscalls.
    pub fn finish(mut self) -> Result<u64, String> {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        self.child
            .wait()
            .map_err(|e| format!("waiting for perf: {e}"))?;
        let text =
            fs::read_to_string(&self.out).map_err(|e| format!("reading perf output: {e}"))?;
        parse_perf_count(&text)
    }
}

/// The count from `perf stat -x,` output (first field of the first data line).
pub fn parse_perf_count(text: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .ok_or("perf stat printed no count")?;
    let field = line.split(',').next().unwrap_or("");
    field
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("perf stat count {field:?} (not permitted or not supported?)"))
}
