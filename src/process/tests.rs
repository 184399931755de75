//! Tests of the process layer. Calls that change the whole process (fork + setsid, setuid)
//! run in a child copy of this test binary, started with `--ignored --exact` on a helper
//! test and an environment variable naming the file it reports into.

use super::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_OUT: &str = "LARDER_PROCESS_TEST_OUT";

/// Runs the ignored helper test `name` in a child copy of this binary, reporting to `out`.
fn run_helper(name: &str, out: &Path) -> std::process::ExitStatus {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([name, "--exact", "--ignored", "--test-threads=1", "-q"])
        .env(CHILD_OUT, out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the helper process")
}

/// Waits (polling, with a deadline) for the helper's report file.
fn wait_for_report(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            return text;
        }
        assert!(Instant::now() < deadline, "no report at {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `text` to the report path atomically (the parent polls for the file).
fn report(text: String) {
    let out = PathBuf::from(std::env::var_os(CHILD_OUT).expect("report path"));
    let tmp = out.with_extension("tmp");
    fs::write(&tmp, text).expect("write report");
    fs::rename(&tmp, &out).expect("publish report");
}

fn field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key} missing from report {report:?}"))
}

#[test]
#[ignore = "helper: run in a child process by daemonize_detaches"]
fn helper_daemonize() {
    if std::env::var_os(CHILD_OUT).is_none() {
        return;
    }
    let parent_pid = std::process::id();
    daemonize().expect("daemonize");
    let pid = std::process::id();
    // SAFETY: getsid(0) only queries this process.
    let sid = unsafe { libc::getsid(0) };
    let cwd = std::env::current_dir().expect("cwd");
    let stdin = fs::read_link("/proc/self/fd/0").expect("fd 0");
    let stderr = fs::read_link("/proc/self/fd/2").expect("fd 2");
    report(format!(
        "parent={parent_pid}\npid={pid}\nsid={sid}\ncwd={}\nstdin={}\nstderr={}\n",
        cwd.display(),
        stdin.display(),
        stderr.display()
    ));
    // SAFETY: ends the daemonized copy at once; the test harness has no main thread here.
    unsafe { libc::_exit(0) };
}

#[test]
fn daemonize_detaches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("daemon.report");
    let status = run_helper("process::tests::helper_daemonize", &out);
    // The process we started is the parent that daemonize() ends with status 0.
    assert!(status.success(), "parent exit status {status}");
    let text = wait_for_report(&out);
    let pid: i64 = field(&text, "pid").parse().expect("pid");
    let parent: i64 = field(&text, "parent").parse().expect("parent pid");
    assert_ne!(pid, parent, "daemon must be a new process");
    assert_eq!(
        field(&text, "sid"),
        pid.to_string(),
        "daemon leads its session"
    );
    assert_eq!(field(&text, "cwd"), "/");
    assert_eq!(field(&text, "stdin"), "/dev/null");
    assert_eq!(field(&text, "stderr"), "/dev/null");
}

#[test]
#[ignore = "helper: run in a child process by drop_privileges_switches_to_the_user"]
fn helper_drop_privileges() {
    if std::env::var_os(CHILD_OUT).is_none() {
        return;
    }
    let result = drop_privileges("nobody");
    // SAFETY: plain id queries.
    let (uid, euid, gid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid()) };
    // SAFETY: a zero-size query returns the number of supplementary groups.
    let groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    report(format!(
        "ok={}\nuid={uid}\neuid={euid}\ngid={gid}\ngroups={groups}\n",
        result.is_ok()
    ));
}

#[test]
fn drop_privileges_switches_to_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The helper reports after becoming `nobody`: let it write into the directory.
    let mut mode = fs::metadata(dir.path()).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o777);
    fs::set_permissions(dir.path(), mode).expect("chmod tempdir");
    let out = dir.path().join("drop.report");
    let status = run_helper("process::tests::helper_drop_privileges", &out);
    assert!(status.success(), "helper exit status {status}");
    let text = wait_for_report(&out);
    assert_eq!(field(&text, "ok"), "true");
    // SAFETY: plain id queries.
    let (my_uid, my_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if running_as_root() {
        let (uid, gid) = lookup_user("nobody").expect("nobody exists");
        assert_eq!(field(&text, "uid"), uid.to_string());
        assert_eq!(field(&text, "euid"), uid.to_string());
        assert_eq!(field(&text, "gid"), gid.to_string());
        assert_eq!(field(&text, "groups"), "0");
    } else {
        // Not root: -u is a no-op, as in memcached.
        assert_eq!(field(&text, "euid"), my_uid.to_string());
        assert_eq!(field(&text, "gid"), my_gid.to_string());
    }
}

#[test]
fn unknown_user_is_reported_like_memcached() {
    let err = lookup_user("no-such-user-larder").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "can't find the user no-such-user-larder to switch to"
    );
    if running_as_root() {
        let err = drop_privileges("no-such-user-larder").unwrap_err();
        assert_eq!(
            err.to_string(),
            "can't find the user no-such-user-larder to switch to"
        );
    } else {
        assert!(drop_privileges("no-such-user-larder").is_ok());
    }
}

#[test]
fn lookup_user_finds_root() {
    assert_eq!(lookup_user("root").expect("root exists"), (0, 0));
}

#[test]
fn root_needs_a_user() {
    assert!(refuse_root_without_user(Some("nobody")).is_ok());
    for user in [None, Some("")] {
        let result = refuse_root_without_user(user);
        if running_as_root() {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert_eq!(err.to_string(), "can't run as root without the -u switch");
        } else {
            assert!(result.is_ok());
        }
    }
}

#[test]
fn pid_file_is_written_and_removed_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("larder.pid");
    let pid_file = write_pid_file(&path).expect("write pid file");
    assert_eq!(pid_file.path(), path);
    assert_eq!(
        fs::read_to_string(&path).expect("read pid file"),
        format!("{}\n", std::process::id())
    );
    assert!(!dir.path().join("larder.pid.tmp").exists());
    drop(pid_file);
    assert!(!path.exists());
}

#[test]
fn pid_file_of_another_process_is_left_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("larder.pid");
    // A stale file from a running process (ourselves) is replaced with a warning.
    fs::write(&path, format!("{}\n", std::process::id())).expect("seed");
    let pid_file = write_pid_file(&path).expect("write pid file");
    // Another instance took the file over: dropping ours must not delete theirs.
    fs::write(&path, "999999\n").expect("overwrite");
    drop(pid_file);
    assert_eq!(fs::read_to_string(&path).expect("still there"), "999999\n");
}

#[test]
fn pid_file_error_names_the_path() {
    let err = write_pid_file("/nonexistent-dir-larder/x.pid").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("Could not write the pid file /nonexistent-dir-larder/x.pid: "),
        "{err}"
    );
}

#[test]
fn notify_sends_ready_and_stopping_to_notify_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&path).expect("bind fake systemd socket");
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The only test that reads or writes NOTIFY_SOCKET.
    std::env::set_var("NOTIFY_SOCKET", &path);
    let ready = notify_ready();
    let stopping = notify_stopping();
    std::env::remove_var("NOTIFY_SOCKET");
    ready.expect("notify_ready");
    stopping.expect("notify_stopping");
    let mut buf = [0u8; 64];
    let n = listener.recv(&mut buf).expect("READY datagram");
    assert_eq!(&buf[..n], b"READY=1");
    let n = listener.recv(&mut buf).expect("STOPPING datagram");
    assert_eq!(&buf[..n], b"STOPPING=1");
    // Unset: a no-op that succeeds.
    assert!(notify_ready().is_ok());
}

#[cfg(target_os = "linux")]
#[test]
fn notify_reaches_abstract_sockets() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("larder-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    let listener = UnixDatagram::bind_addr(&addr).expect("bind abstract");
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    notify_socket(OsStr::new(&format!("@{name}")), "READY=1").expect("send");
    let mut buf = [0u8; 64];
    let n = listener.recv(&mut buf).expect("datagram");
    assert_eq!(&buf[..n], b"READY=1");
}

#[test]
fn notify_rejects_unsupported_addresses() {
    let err = notify_socket(OsStr::new("vsock:2:1234"), "READY=1").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody-listens.sock");
    assert!(notify_socket(missing.as_os_str(), "READY=1").is_err());
}

#[test]
fn nofile_limit_is_kept_or_raised() {
    let before = get_rlimit(libc::RLIMIT_NOFILE).expect("getrlimit");
    // Already enough: unchanged.
    assert_eq!(raise_nofile_limit(16).expect("small"), before.rlim_cur);
    // Up to the hard limit is always allowed.
    if before.rlim_max != libc::RLIM_INFINITY && before.rlim_max > before.rlim_cur {
        assert_eq!(
            raise_nofile_limit(before.rlim_max).expect("to hard"),
            before.rlim_max
        );
    }
    // Beyond what the kernel allows (fs.nr_open is far below 2^40): memcached's message.
    let err = raise_nofile_limit(1 << 40).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to set rlimit for open files. Try starting as root"),
        "{err}"
    );
}

#[test]
fn coredumps_follow_the_hard_limit() {
    let before = get_rlimit(libc::RLIMIT_CORE).expect("getrlimit");
    let result = enable_coredumps();
    let after = get_rlimit(libc::RLIMIT_CORE).expect("getrlimit");
    if before.rlim_max == 0 && !running_as_root() {
        assert_eq!(
            result.unwrap_err().to_string(),
            "failed to ensure corefile creation"
        );
    } else {
        result.expect("enable_coredumps");
        assert!(after.rlim_cur > 0);
        assert!(after.rlim_cur == libc::RLIM_INFINITY || after.rlim_cur == before.rlim_max);
    }
}

/// Regression: `-P /dev/null` once renamed a regular file over /dev/null. A pid file
/// path that is not a regular file (a device, a symlink) is written through, never
/// replaced.
#[test]
fn pid_file_never_replaces_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "").unwrap();
    let link = dir.path().join("larder.pid");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let pid_file = write_pid_file(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        format!("{}\n", std::process::id())
    );
    drop(pid_file);
    let null = write_pid_file("/dev/null").unwrap();
    drop(null);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}
