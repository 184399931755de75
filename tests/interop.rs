//! Interop with real third-party clients: pymemcache (every text command),
//! libmemcached's `memccapable -a` and `-b` (its whole ascii and binary suites),
//! python-binary-memcached (binary protocol, SASL PLAIN) and meta-memcache (the meta
//! protocol: get/set/delete/incr, CAS, stale-while-revalidate, recache and lease cycles),
//! pymemcache over TLS (`-Z`, with and without a client certificate),
//! and php-memcached's `getAllKeys()` (skipped, with a message, only where `php` is absent).
//! `scripts/test.sh` installs them (the Python ones into a virtual environment,
//! `target/pyenv`); a missing client fails the test rather than skipping it, `php` aside.

mod common;
use common::Server;
use std::process::Command;

/// The Python that has the clients: `$LARDER_TEST_PYTHON` (set by `scripts/test.sh`), else
/// the virtual environment `scripts/test.sh` creates (so that `cargo test --test interop`
/// works on its own afterwards), else `python3` on PATH.
fn python() -> Command {
    if let Some(p) = std::env::var_os("LARDER_TEST_PYTHON") {
        return Command::new(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("pyenv/bin/python3");
    if venv.exists() {
        return Command::new(venv);
    }
    Command::new("python3")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/test.sh installs it): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

#[test]
fn pymemcache_every_text_command() {
    let s = Server::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/pymemcache_check.py"
    );
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

/// pymemcache with an `ssl.SSLContext` against `-Z`, then with a client certificate
/// against `ssl_verify_mode=2` (certificates made here with rcgen).
#[test]
fn pymemcache_over_tls() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, data: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p.display().to_string()
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "interop CA");
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let leaf = |cn: &str| {
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        p.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &ca_cert, &ca_key).expect("leaf");
        (cert.pem(), key.serialize_pem())
    };
    let ca_file = write("ca.pem", &ca_cert.pem());
    let (cert, key) = leaf("server");
    let (cert, key) = (write("cert.pem", &cert), write("key.pem", &key));
    let (ccert, ckey) = leaf("client");
    let (ccert, ckey) = (write("client.pem", &ccert), write("client-key.pem", &ckey));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/pymemcache_tls.py"
    );
    let opts = format!("ssl_chain_cert={cert},ssl_key={key}");
    let s = Server::start(&["-Z", "-o", &opts]);
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string())
        .arg(&ca_file));
    let opts = format!("{opts},ssl_verify_mode=2,ssl_ca_cert={ca_file}");
    let s = Server::start(&["-Z", "-o", &opts]);
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string())
        .arg(&ca_file)
        .arg(&ccert)
        .arg(&ckey));
}

#[test]
fn meta_memcache_meta_protocol_client() {
    let s = Server::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/meta_memcache_check.py"
    );
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

#[test]
fn pymemcache_cachedump_and_memcached_tool() {
    let s = Server::start(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ops_check.py");
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

#[test]
fn prometheus_scrape_parsed_by_prometheus_client_under_load() {
    if !common::larder_only() {
        return;
    }
    let mport = common::free_port();
    let s = Server::start(&["-o", &format!("metrics_port={mport}")]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/metrics_check.py"
    );
    run(python()
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string())
        .arg(mport.to_string()));
}

#[test]
fn metrics_endpoint_is_off_by_default_and_answers_404_elsewhere() {
    if !common::larder_only() {
        return;
    }
    use std::io::{Read, Write};
    let mport = common::free_port();
    let _plain = Server::start(&[]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", mport)).is_err());
    let _s = Server::start(&["-o", &format!("metrics_port={mport}")]);
    let mut h = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
    h.write_all(b"GET /nope HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    h.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.0 404 "), "{reply}");
}

#[test]
fn memcdump_lists_every_key() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for i in 0..500 {
        c.roundtrip(format!("set k{i} 0 0 1\r\nx\r\n").as_bytes(), b"STORED\r\n");
    }
    let out = Command::new("memcdump")
        .arg(format!("--servers=127.0.0.1:{}", s.addr.port()))
        .output()
        .expect("memcdump (libmemcached-tools) must be installed: scripts/test.sh does it");
    assert!(out.status.success(), "memcdump failed: {out:?}");
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    keys.sort();
    let mut want: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    want.sort();
    // memcached's cachedump lists only its HOT LRU; larder lists every item.
    if common::larder_only() {
        assert_eq!(keys, want);
    } else {
        assert!(!keys.is_empty() && keys.iter().all(|k| want.contains(k)));
    }
}

/// php-memcached's `getAllKeys()` lists every stored key, of every size class (it goes
/// through libmemcached's `memcached_dump`: `stats cachedump CLASS 0` per class id).
/// `scripts/test.sh` installs `php-cli` and `php-memcached`; without `php` on PATH the test
/// says so and passes.
#[test]
fn php_memcached_get_all_keys_lists_every_key() {
    if Command::new("php").arg("-v").output().is_err() {
        eprintln!("skipped: no php on PATH (scripts/test.sh installs php-cli and php-memcached)");
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut want = Vec::new();
    for i in 0..300 {
        // Values from 1 byte to 60 KB: keys in many slab classes.
        let len = [1usize, 100, 1_000, 10_000, 60_000][i % 5];
        let key = format!("php:{i}");
        c.send(format!("set {key} 0 0 {len}\r\n").as_bytes());
        c.send(&vec![b'x'; len]);
        c.roundtrip(b"\r\n", b"STORED\r\n");
        want.push(key);
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/php_getallkeys.php"
    );
    let out = Command::new("php")
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "php getAllKeys failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    keys.sort();
    want.sort();
    // memcached's cachedump lists only its HOT LRU; larder lists every item.
    if common::larder_only() {
        assert_eq!(keys, want);
    } else {
        assert!(!keys.is_empty() && keys.iter().all(|k| want.contains(k)));
    }
}

#[test]
fn memccapable_ascii_suite() {
    let s = Server::start(&[]);
    let out = Command::new("memccapable")
        .args(["-h", "127.0.0.1", "-p", &s.addr.port().to_string(), "-a"])
        .output()
        .expect("memccapable (libmemcached-tools) must be installed: scripts/test.sh does it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "memccapable failed:\n{text}");
    assert!(text.contains("All tests passed"), "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");
}

#[test]
fn memccapable_binary_suite() {
    let s = Server::start(&[]);
    let out = Command::new("memccapable")
        .args(["-h", "127.0.0.1", "-p", &s.addr.port().to_string(), "-b"])
        .output()
        .expect("memccapable (libmemcached-tools) must be installed: scripts/test.sh does it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "memccapable -b failed:\n{text}");
    assert!(text.contains("All tests passed"), "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");
    assert!(text.contains("binary stat"), "{text}");
}

fn bmemcached_script() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/binary_bmemcached.py"
    )
}

#[test]
fn python_binary_memcached_get_set_cas_incr_multiget() {
    let s = Server::start(&[]);
    run(python()
        .arg(bmemcached_script())
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

#[test]
fn python_binary_memcached_sasl_plain_login() {
    if !common::larder_only() {
        return; // Debian's memcached needs a Cyrus sasldb for PLAIN; larder reads -Y's file.
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("users");
    std::fs::write(&file, "alice:s3cret\nbob:other\n").expect("write auth file");
    let s = Server::start(&["-S", "-B", "auto", "-Y", file.to_str().expect("utf-8 path")]);
    run(python()
        .arg(bmemcached_script())
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string())
        .arg("alice")
        .arg("s3cret"));
}
