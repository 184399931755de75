//! Process-level duties of a daemon: detach (`-d`), pid file (`-P`), switch user (`-u`),
//! resource limits (`-c`, `-r`) and systemd readiness notification.
//!
//! These are the parts of memcached's `main()` that touch the process rather than the
//! cache, with memcached's behaviour and messages. Everything is a plain function the
//! daemon's `main` calls in order; nothing here knows about `Config`, sockets or the store.
//!
//! The expected order at startup (memcached's):
//! 1. [`enable_coredumps`] if `-r`; [`raise_nofile_limit`] for `-c`;
//! 2. [`refuse_root_without_user`] and [`drop_privileges`] for `-u`;
//! 3. [`daemonize`] if `-d` — **before any thread is spawned** (fork keeps only the
//!    calling thread);
//! 4. [`write_pid_file`] for `-P` (after daemonizing, so the pid is the daemon's);
//! 5. bind, start workers, then [`notify_ready`]; on shutdown [`notify_stopping`].
//!
//! `unsafe` here is limited to single libc calls (fork, setsid, dup2, getpwnam_r, setuid,
//! setgid, setgroups, getrlimit, setrlimit, kill, _exit, setpriority), each with a
//! `SAFETY:` comment.

// Single libc calls, each with a `// SAFETY:` note (crate root: deny(unsafe_code)).
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Lowers the calling thread's scheduling priority to `nice` (Linux: `setpriority` on the
/// thread id, which sets one thread's nice value). For background threads whose work is
/// long but not urgent (the snapshot writer): where they share a core with a worker, the
/// worker's requests go first instead of waiting out the background thread's time slice.
///
/// # Errors
///
/// The OS error of `setpriority` (a failure leaves the priority as it was; callers log it).
pub fn lower_thread_priority(nice: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() };
        // SAFETY: setpriority reads its three integer arguments only; PRIO_PROCESS with a
        // thread id of this process changes that thread's nice value.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    Ok(())
}

/// Detaches from the terminal like memcached's `-d`: fork (the parent exits 0), `setsid`,
/// `chdir /`, and stdin, stdout and stderr redirected to `/dev/null`.
///
/// Call it before spawning any thread: only the calling thread survives a fork. Relative
/// paths given on the command line resolve against `/` afterwards.
///
/// # Errors
///
/// The OS error of `fork`, `setsid`, `chdir` or opening `/dev/null`.
pub fn daemonize() -> io::Result<()> {
    detach(false)
}

/// Like [`daemonize`] but keeps stderr open (memcached keeps its output when `-d` is
/// combined with `-v`), so log lines still reach whatever stderr was.
///
/// # Errors
///
/// As [`daemonize`].
pub fn daemonize_keep_stderr() -> io::Result<()> {
    detach(true)
}

fn detach(keep_stderr: bool) -> io::Result<()> {
    // Buffered output would otherwise be written twice, by the parent and the child.
    io::stdout().flush()?;
    io::stderr().flush()?;
    // SAFETY: fork has no memory-safety preconditions. The child continues with only this
    // thread, which is why callers must daemonize before spawning threads (documented).
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        // SAFETY: _exit ends the parent at once, without running atexit handlers or Rust
        // destructors that belong to the child now.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: setsid takes no arguments and only changes this process's session.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let targets: &[libc::c_int] = if keep_stderr { &[0, 1] } else { &[0, 1, 2] };
    for &target in targets {
        // SAFETY: `null` is an open descriptor owned by this function; dup2 onto the
        // standard descriptors replaces them atomically and touches no Rust-owned memory.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pid file written by [`write_pid_file`]; removed when dropped (if it still holds this
/// process's pid, so a newer instance's file is left alone).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Where the pid file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path)
            .map(|text| text.trim() == self.pid.to_string())
            .unwrap_or(false);
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                log::warn!("Could not remove the pid file {}: {e}", self.path.display());
            }
        }
    }
}

/// Writes this process's pid and a newline to `path` (through a `.tmp` file and a rename,
/// so readers never see a partial file), as memcached's `-P`.
///
/// If the file already names a running process, a warning is logged and the file is
/// replaced anyway (memcached does the same).
///
/// # Errors
///
/// The I/O error of writing or renaming the file, with the path in the message.
pub fn write_pid_file(path: impl AsRef<Path>) -> io::Result<PidFile> {
    let path = path.as_ref().to_path_buf();
    if let Some(old) = fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<libc::pid_t>().ok())
    {
        // SAFETY: kill with signal 0 only checks that the process exists; nothing is sent.
        if old > 0 && unsafe { libc::kill(old, 0) } == 0 {
            log::warn!("The pid file contained the following (running) pid: {old}");
        }
    }
    let pid = std::process::id();
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let context = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("Could not write the pid file {}: {e}", path.display()),
        )
    };
    let contents = format!("{pid}\n");
    let regular_or_absent = fs::symlink_metadata(&path).map_or(true, |m| m.is_file());
    if regular_or_absent {
        // Written beside and renamed over, so a reader never sees half a pid.
        fs::write(&tmp, &contents).map_err(context)?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            context(e)
        })?;
    } else {
        // Never rename over something that is not a regular file (a device such as
        // /dev/null, a symlink, a FIFO): write through it, as memcached's fopen does.
        fs::write(&path, &contents).map_err(context)?;
    }
    Ok(PidFile { path, pid })
}

fn running_as_root() -> bool {
    // SAFETY: getuid and geteuid cannot fail and have no preconditions.
    unsafe { libc::getuid() == 0 || libc::geteuid() == 0 }
}

/// memcached refuses to run as root unless `-u` names a user to switch to.
///
/// # Errors
///
/// `PermissionDenied`, "can't run as root without the -u switch", when the process runs as
/// root and `user` is `None` or empty.
pub fn refuse_root_without_user(user: Option<&str>) -> io::Result<()> {
    if running_as_root() && user.map_or(true, str::is_empty) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "can't run as root without the -u switch",
        ));
    }
    Ok(())
}

/// Looks `user` up in the password database: `(uid, gid)`.
///
/// # Errors
///
/// `NotFound` "can't find the user NAME to switch to", or the lookup's OS error.
pub fn lookup_user(user: &str) -> io::Result<(libc::uid_t, libc::gid_t)> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("can't find the user {user} to switch to"),
        )
    };
    let name = CString::new(user).map_err(|_| not_found())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is a plain C struct of integers and pointers; all-zero is a valid
        // value and getpwnam_r overwrites it before we read it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `name` is NUL-terminated, `entry` and
        // `result` are live locals, and `buf` is writable for `buf.len()` bytes. The strings
        // it fills in point into `buf`, which we do not read.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Err(not_found());
        }
        return Ok((entry.pw_uid, entry.pw_gid));
    }
}

/// Assumes the identity of `user` (memcached's `-u`): drops supplementary groups, then sets
/// the group and user ids. Does nothing unless the process runs as root, as memcached.
///
/// # Errors
///
/// `NotFound` "can't find the user NAME to switch to"; "failed to drop supplementary
/// groups" or "failed to assume identity of user NAME" with the OS error.
pub fn drop_privileges(user: &str) -> io::Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let (uid, gid) = lookup_user(user)?;
    let failed = |what: String| {
        let e = io::Error::last_os_error();
        io::Error::new(e.kind(), format!("{what}: {e}"))
    };
    // SAFETY: setgroups with a zero count never reads the (null) list pointer.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(failed("failed to drop supplementary groups".to_string()));
    }
    // SAFETY: setgid and setuid take plain integers; group first, while still root.
    if unsafe { libc::setgid(gid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(failed(format!("failed to assume identity of user {user}")));
    }
    Ok(())
}

/// The type of `getrlimit`'s resource argument (glibc uses its own enum type).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

fn get_rlimit(resource: Resource) -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live, writable rlimit for the call.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

fn set_rlimit(resource: Resource, limit: libc::rlimit) -> io::Result<()> {
    // SAFETY: `limit` is a valid rlimit read by the call.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Connection buffers of [`LARGE_BUFFER`] bytes or more get memory of their own from the
/// kernel and give it back when freed, whatever happened before.
///
/// glibc's allocator starts that way (its `mmap` threshold is 128 KiB) but raises the
/// threshold to the size of each such block freed, up to 32 MiB; after a few connections
/// have grown and shrunk megabyte buffers, every later one comes from the heap, and a freed
/// heap block in the middle of an arena is kept by the process: RSS then stays at its peak
/// after a burst of slow readers or large values has gone. Fixing the threshold keeps
/// buffers' memory returnable. A no-op on other C libraries.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts the allocator's tunables; called before other threads
    // start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BUFFER as libc::c_int);
    }
}

/// See [`return_large_buffers`].
pub const LARGE_BUFFER: usize = 128 * 1024;

/// Makes sure at least `needed` file descriptors may be open (for `-c` connections plus the
/// daemon's own descriptors); returns the soft limit now in force.
///
/// Unlike memcached, which sets the limit to exactly `-c`, this never lowers a limit: it
/// raises the soft limit up to the hard one, and the hard one too when privileged.
///
/// # Errors
///
/// memcached's "failed to set rlimit for open files. Try starting as root or requesting
/// smaller maxconns value." with the OS error.
pub fn raise_nofile_limit(needed: u64) -> io::Result<u64> {
    let current = get_rlimit(libc::RLIMIT_NOFILE)?;
    if current.rlim_cur >= needed {
        return Ok(current.rlim_cur);
    }
    let wanted = if current.rlim_max >= needed {
        libc::rlimit {
            rlim_cur: needed,
            rlim_max: current.rlim_max,
        }
    } else {
        libc::rlimit {
            rlim_cur: needed,
            rlim_max: needed,
        }
    };
    set_rlimit(libc::RLIMIT_NOFILE, wanted).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "failed to set rlimit for open files. Try starting as root or requesting \
                 smaller maxconns value. (need {needed}, limit {}: {e})",
                current.rlim_cur
            ),
        )
    })?;
    Ok(needed)
}

/// memcached's `-r`: raise the core file size limit to unlimited, or to the hard limit when
/// that is not allowed.
///
/// # Errors
///
/// "failed to ensure corefile creation" when the resulting soft limit is still 0.
pub fn enable_coredumps() -> io::Result<()> {
    let old = get_rlimit(libc::RLIMIT_CORE)?;
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    if set_rlimit(libc::RLIMIT_CORE, unlimited).is_err() {
        let to_hard = libc::rlimit {
            rlim_cur: old.rlim_max,
            rlim_max: old.rlim_max,
        };
        // A failure here shows up in the check below.
        let _ = set_rlimit(libc::RLIMIT_CORE, to_hard);
    }
    match get_rlimit(libc::RLIMIT_CORE) {
        Ok(now) if now.rlim_cur > 0 => Ok(()),
        _ => Err(io::Error::other("failed to ensure corefile creation")),
    }
}

/// Tells systemd the daemon is ready (`READY=1`), if started by systemd with
/// `Type=notify` (that is, if `$NOTIFY_SOCKET` is set); otherwise does nothing.
///
/// # Errors
///
/// The error of sending the datagram (see [`notify_socket`]).
pub fn notify_ready() -> io::Result<()> {
    notify("READY=1")
}

/// Tells systemd the daemon is shutting down (`STOPPING=1`), if `$NOTIFY_SOCKET` is set.
///
/// # Errors
///
/// The error of sending the datagram (see [`notify_socket`]).
pub fn notify_stopping() -> io::Result<()> {
    notify("STOPPING=1")
}

/// Sends `state` (`sd_notify` syntax, e.g. `"READY=1"` or `"STATUS=..."`) to
/// `$NOTIFY_SOCKET`; does nothing when the variable is unset or empty.
///
/// # Errors
///
/// The error of sending the datagram (see [`notify_socket`]).
pub fn notify(state: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => notify_socket(&socket, state),
        _ => Ok(()),
    }
}

/// Sends `state` as one datagram to the notification socket `socket`: a filesystem path,
/// or an abstract-namespace name when it starts with `@` (systemd's convention).
///
/// # Errors
///
/// `InvalidInput` for an address that is neither (systemd's `vsock:` form is not
/// supported); otherwise the OS error of sending, or `WriteZero` on a short send.
pub fn notify_socket(socket: &OsStr, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    let sent = match bytes.first() {
        Some(b'@') => send_abstract(&sock, &bytes[1..], state)?,
        Some(b'/') => sock.send_to(state.as_bytes(), Path::new(socket))?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unsupported NOTIFY_SOCKET address {:?}",
                    socket.to_string_lossy()
                ),
            ))
        }
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write to NOTIFY_SOCKET",
        ));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &[u8], state: &str) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(state.as_bytes(), &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_sock: &UnixDatagram, _name: &[u8], _state: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests;
