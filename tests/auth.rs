//! Authentication over real sockets: memcached's ASCII authentication (`-Y`) and SASL PLAIN
//! on the binary protocol (`-S`), refusal of every command before authenticating, the
//! `auth_cmds`/`auth_errors` counters, and startup errors for unusable password files.
//!
//! The ASCII tests also pass against memcached 1.6.18 (`LARDER_TEST_BIN`). The SASL tests
//! are larder-only: Debian's memcached does SASL through Cyrus and needs a sasldb (not a
//! `user:password` file) for PLAIN, and with `-Y` it never speaks binary.

mod binary_frames;
mod common;

use binary_frames::*;
use common::{larder_only, Server};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const USERS: &str = "alice:s3cret\nbob:pa:ss\n";

/// One credential file for the whole test binary (also exported as
/// `MEMCACHED_SASL_PWDB`, which `-S` alone reads).
fn users_file() -> &'static str {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("users");
        std::fs::write(&path, USERS).expect("write users");
        std::env::set_var("MEMCACHED_SASL_PWDB", &path);
        (dir, path)
    });
    path.to_str().expect("utf-8 temp path")
}

fn ascii_server() -> Server {
    Server::start(&["-Y", users_file()])
}

fn login_text(c: &mut common::Client) {
    c.roundtrip(b"set auth 0 0 12\r\nalice s3cret\r\n", b"STORED\r\n");
}

#[test]
fn ascii_auth_refuses_then_accepts_the_right_token() {
    let s = ascii_server();
    let mut c = s.connect();
    c.roundtrip(b"get foo\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    c.roundtrip(
        b"set auth 0 0 11\r\nalice wrong\r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    c.roundtrip(
        b"set auth 0 0 10\r\nbob s3cret\r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    c.roundtrip(
        b"set auth 0 0 5\r\nalice\r\n",
        b"CLIENT_ERROR bad authentication token format\r\n",
    );
    login_text(&mut c);
    c.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    c.roundtrip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    assert_eq!(c.stat("auth_cmds"), 3);
    assert_eq!(c.stat("auth_errors"), 2);
    // A password containing ':' (split at the first one).
    let mut c = s.connect();
    c.roundtrip(b"set x 1 2 9\r\nbob pa:ss\r\n", b"STORED\r\n");
}

#[test]
fn ascii_auth_refuses_every_text_command() {
    let s = ascii_server();
    let mut c = s.connect();
    let commands: [&[u8]; 20] = [
        b"get k\r\n",
        b"gets k\r\n",
        b"gat 0 k\r\n",
        b"gats 0 k\r\n",
        b"set k 0 0\r\n",
        b"add k 0\r\n",
        b"incr k 1\r\n",
        b"decr k 1\r\n",
        b"delete k\r\n",
        b"touch k 0\r\n",
        b"flush_all\r\n",
        b"stats\r\n",
        b"version\r\n",
        b"verbosity 1\r\n",
        b"mg k v\r\n",
        b"ms k 1\r\n",
        b"md k\r\n",
        b"ma k\r\n",
        b"mn\r\n",
        b"quit\r\n",
    ];
    for cmd in commands {
        c.roundtrip(cmd, b"CLIENT_ERROR unauthenticated\r\n");
    }
    // A storage command's data line is refused as one more command. (Sent apart:
    // memcached 1.6.18 answers one pipelined command per read while unauthenticated.)
    c.roundtrip(b"append k 0 0 1\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    c.roundtrip(b"v\r\n", b"CLIENT_ERROR unauthenticated\r\n");
}

#[test]
fn nothing_stored_is_readable_without_credentials() {
    let s = ascii_server();
    let mut owner = s.connect();
    login_text(&mut owner);
    owner.roundtrip(b"set secret 0 0 6\r\nhidden\r\n", b"STORED\r\n");
    let mut other = s.connect();
    other.roundtrip(b"get secret\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    other.roundtrip(b"mg secret v\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    // The auth `set` itself stores nothing: its key stays absent.
    owner.roundtrip(b"get auth\r\n", b"END\r\n");
}

#[test]
fn ascii_auth_line_without_newline_over_1024_bytes_closes() {
    if !larder_only() {
        // memcached closes too, but only when more bytes arrive after the first 1024.
        return;
    }
    let s = ascii_server();
    let mut c = s.connect();
    c.send(&[b'a'; 1100]);
    c.expect_closed();
    assert!(c.leftover().is_empty());
}

// ---------------------------------------------------------------------------------------
// SASL (larder only)
// ---------------------------------------------------------------------------------------

fn sasl_server() -> Server {
    users_file();
    Server::start(&["-S"])
}

fn plain(user: &str, pass: &str) -> Vec<u8> {
    frame(
        op::SASL_AUTH,
        &[],
        b"PLAIN",
        format!("\0{user}\0{pass}").as_bytes(),
        0,
        0,
    )
}

#[test]
fn sasl_plain_login_right_and_wrong_password() {
    if !larder_only() {
        return;
    }
    let s = sasl_server();
    let mut c = s.connect();
    let r = call(&mut c, &simple(op::SASL_LIST, &[]));
    assert_eq!((r.status, r.value.as_slice()), (st::OK, &b"PLAIN"[..]));
    let r = call(&mut c, &simple(op::VERSION, &[]));
    assert_eq!(r.value, b"1.6.18");
    let r = call(&mut c, &plain("alice", "wrong"));
    assert_error(&r, op::SASL_AUTH, st::AUTH_ERROR, "Auth failure.");
    let r = call(&mut c, &frame(op::SASL_AUTH, &[], b"CRAM-MD5", b"x", 0, 0));
    assert_error(&r, op::SASL_AUTH, st::AUTH_ERROR, "Auth failure.");
    let r = call(
        &mut c,
        &frame(op::SASL_STEP, &[], b"PLAIN", b"\0alice\0s3cret", 0, 0),
    );
    assert_error(&r, op::SASL_STEP, st::AUTH_ERROR, "Auth failure.");
    let r = call(&mut c, &frame(op::SASL_AUTH, &[], &[b'M'; 33], b"x", 0, 0));
    assert_error(&r, op::SASL_AUTH, st::EINVAL, "Invalid arguments");
    let r = call(&mut c, &plain("alice", "s3cret"));
    assert_eq!(
        (r.status, r.value.as_slice()),
        (st::OK, &b"Authenticated"[..])
    );
    assert_ok(&call(&mut c, &store(op::SET, b"k", b"v", 0, 0)), op::SET);
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).value, b"v");
    let mut c2 = s.connect();
    assert_eq!(call(&mut c2, &plain("bob", "pa:ss")).status, st::OK);
    // Counted: 5 attempts (the over-long mechanism is not one), 3 failed.
    c.send(&frame(op::STAT, &[], &[], &[], 0, 0));
    let (mut cmds, mut errors) = (None, None);
    loop {
        let r = read(&mut c);
        if r.key.is_empty() {
            break;
        }
        match r.key.as_slice() {
            b"auth_cmds" => cmds = Some(r.value),
            b"auth_errors" => errors = Some(r.value),
            _ => {}
        }
    }
    assert_eq!((cmds, errors), (Some(b"5".to_vec()), Some(b"3".to_vec())));
}

#[test]
fn sasl_refuses_every_other_opcode_before_login_and_closes() {
    if !larder_only() {
        return;
    }
    let s = sasl_server();
    {
        let mut c = s.connect();
        let mut owner = s.connect();
        assert_eq!(call(&mut owner, &plain("alice", "s3cret")).status, st::OK);
        assert_ok(
            &call(&mut owner, &store(op::SET, b"secret", b"x", 0, 0)),
            op::SET,
        );
        c.send(&simple(op::NOOP, &[]));
        assert_error(&read(&mut c), op::NOOP, st::AUTH_ERROR, "Auth failure.");
        c.expect_closed();
    }
    let opcodes: Vec<(u8, Vec<u8>)> = vec![
        (op::GET, simple(op::GET, b"secret")),
        (op::GETQ, simple(op::GETQ, b"secret")),
        (op::GETK, simple(op::GETK, b"secret")),
        (op::GETKQ, simple(op::GETKQ, b"secret")),
        (op::SET, store(op::SET, b"k", b"v", 0, 0)),
        (op::SETQ, store(op::SETQ, b"k", b"v", 0, 0)),
        (op::ADD, store(op::ADD, b"k", b"v", 0, 0)),
        (op::ADDQ, store(op::ADDQ, b"k", b"v", 0, 0)),
        (op::REPLACE, store(op::REPLACE, b"k", b"v", 0, 0)),
        (op::REPLACEQ, store(op::REPLACEQ, b"k", b"v", 0, 0)),
        (op::APPEND, frame(op::APPEND, &[], b"k", b"v", 0, 0)),
        (op::APPENDQ, frame(op::APPENDQ, &[], b"k", b"v", 0, 0)),
        (op::PREPEND, frame(op::PREPEND, &[], b"k", b"v", 0, 0)),
        (op::PREPENDQ, frame(op::PREPENDQ, &[], b"k", b"v", 0, 0)),
        (op::DELETE, simple(op::DELETE, b"secret")),
        (op::DELETEQ, simple(op::DELETEQ, b"secret")),
        (
            op::INCR,
            frame(op::INCR, &arith_extras(1, 0, 0), b"n", &[], 0, 0),
        ),
        (
            op::INCRQ,
            frame(op::INCRQ, &arith_extras(1, 0, 0), b"n", &[], 0, 0),
        ),
        (
            op::DECR,
            frame(op::DECR, &arith_extras(1, 0, 0), b"n", &[], 0, 0),
        ),
        (
            op::DECRQ,
            frame(op::DECRQ, &arith_extras(1, 0, 0), b"n", &[], 0, 0),
        ),
        (op::QUIT, simple(op::QUIT, &[])),
        (op::QUITQ, simple(op::QUITQ, &[])),
        (op::FLUSH, simple(op::FLUSH, &[])),
        (op::FLUSHQ, simple(op::FLUSHQ, &[])),
        (op::STAT, simple(op::STAT, &[])),
        (op::TOUCH, frame(op::TOUCH, &[0; 4], b"secret", &[], 0, 0)),
        (op::GAT, frame(op::GAT, &[0; 4], b"secret", &[], 0, 0)),
        (op::GATQ, frame(op::GATQ, &[0; 4], b"secret", &[], 0, 0)),
        (op::GATK, frame(op::GATK, &[0; 4], b"secret", &[], 0, 0)),
        (op::GATKQ, frame(op::GATKQ, &[0; 4], b"secret", &[], 0, 0)),
        (0x1b, simple(0x1b, &[])),
        (0x50, simple(0x50, b"x")),
    ];
    for (o, f) in opcodes {
        let mut c = s.connect();
        let r = call(&mut c, &f);
        assert_error(&r, o, st::AUTH_ERROR, "Auth failure.");
        c.expect_closed();
        assert!(c.leftover().is_empty(), "opcode {o:#x}");
    }
    // A set announcing a huge body is refused without waiting for it.
    let mut c = s.connect();
    let mut f = store(op::SET, b"k", b"", 0, 0);
    f[8..12].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    assert_error(&call(&mut c, &f), op::SET, st::AUTH_ERROR, "Auth failure.");
    c.expect_closed();
    // Nothing was changed or read: the owner still sees its value, "k" was never stored.
    let mut owner = s.connect();
    assert_eq!(call(&mut owner, &plain("alice", "s3cret")).status, st::OK);
    assert_eq!(call(&mut owner, &simple(op::GET, b"secret")).value, b"x");
    assert_eq!(
        call(&mut owner, &simple(op::GET, b"k")).status,
        st::NOT_FOUND
    );
}

#[test]
fn sasl_with_auto_protocol_refuses_text_until_ascii_auth() {
    if !larder_only() {
        return;
    }
    users_file();
    let s = Server::start(&["-S", "-B", "auto"]);
    let mut c = s.connect();
    c.roundtrip(b"get k\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    login_text(&mut c);
    c.roundtrip(b"get k\r\n", b"END\r\n");
}

#[test]
fn ascii_auth_file_also_drives_sasl_for_binary_connections() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-Y", users_file(), "-B", "auto"]);
    let mut c = s.connect();
    let r = call(&mut c, &simple(op::GET, b"k"));
    assert_error(&r, op::GET, st::AUTH_ERROR, "Auth failure.");
    c.expect_closed();
    let mut c = s.connect();
    assert_eq!(call(&mut c, &plain("alice", "s3cret")).status, st::OK);
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).status, st::NOT_FOUND);
}

fn startup_failure(args: &[&str], env_pwdb: Option<&str>) -> String {
    let mut cmd = Command::new(common::server_bin());
    cmd.args([
        "-p",
        &common::free_port().to_string(),
        "-l",
        "127.0.0.1",
        "-u",
        "root",
    ])
    .args(args)
    .env_remove("MEMCACHED_SASL_PWDB");
    if let Some(p) = env_pwdb {
        cmd.env("MEMCACHED_SASL_PWDB", p);
    }
    let out = cmd.output().expect("run the server");
    assert!(!out.status.success(), "started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unusable_password_files_fail_startup_without_leaking_contents() {
    if !larder_only() {
        return;
    }
    let err = startup_failure(&["-S"], None);
    assert!(err.contains("MEMCACHED_SASL_PWDB"), "{err}");
    let err = startup_failure(&["-Y", "/nonexistent/larder-users"], None);
    assert!(err.contains("/nonexistent/larder-users"), "{err}");
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "alice:s3cret\ntopsecretline\n").expect("write");
    let err = startup_failure(&["-Y", bad.to_str().expect("utf-8")], None);
    assert!(err.contains("line 2"), "{err}");
    assert!(
        !err.contains("topsecret") && !err.contains("s3cret"),
        "{err}"
    );
    let err = startup_failure(&["-S"], bad.to_str());
    assert!(
        !err.contains("topsecret") && !err.contains("s3cret"),
        "{err}"
    );
}
