//! TLS (`-Z`) over real sockets: the daemon with certificates made here (rcgen), a rustls
//! client, `openssl s_client`, and raw TCP for the misbehaving cases. Text, meta and
//! binary with pipelining and a 1 MB value; mutual TLS (missing, wrong-CA and expired
//! client certificates); a client stalled mid-handshake next to a working one on `-t 1`;
//! `refresh_certs` with a good and a bad file; a `notls:` listener; half-close; session
//! resumption; memcached's TLS stats.

mod common;
use common::{free_port, Client, Server, REPLY_TIMEOUT};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("self-signed CA");
        Ca { cert, key }
    }

    /// A leaf certificate: a server's for localhost/127.0.0.1, or a client's.
    fn issue(&self, cn: &str, client: bool, expired: bool) -> (String, KeyPair) {
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        p.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2020, 1, 2);
        }
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("signed");
        (cert.pem(), key)
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).expect("root");
        roots
    }
}

/// Files of one test: a temporary directory with the server's chain, key and CA.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path.display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A server certificate signed by `ca`, written as `cert.pem` and `key.pem`; returns the
/// `-o` list naming them.
fn server_files(files: &Files, ca: &Ca) -> String {
    let (cert, key) = ca.issue("larder-test", false, false);
    let c = files.write("cert.pem", cert.as_bytes());
    let k = files.write("key.pem", key.serialize_pem().as_bytes());
    format!("ssl_chain_cert={c},ssl_key={k}")
}

fn client_config(ca: &Ca, identity: Option<(String, KeyPair)>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(ca.roots());
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert pem")];
            let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    Arc::new(config)
}

/// A blocking TLS client over rustls.
struct TlsClient {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    /// Connects and completes the handshake (the error if it fails).
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<TlsClient> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let conn = ClientConnection::new(
            Arc::clone(config),
            ServerName::try_from("localhost").expect("name"),
        )
        .map_err(std::io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(TlsClient { s, buf: Vec::new() })
    }

    /// Connects, sends a request and reads its reply: the error of the first failing step
    /// (with TLS 1.3 a client certificate is refused after the client's handshake ends).
    fn try_roundtrip(
        addr: SocketAddr,
        config: &Arc<ClientConfig>,
        req: &[u8],
    ) -> std::io::Result<Vec<u8>> {
        let mut c = TlsClient::connect(addr, config)?;
        c.s.write_all(req)?;
        let mut out = vec![0; 64];
        let n = c.s.read(&mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("tls write");
        self.s.flush().expect("tls flush");
    }

    fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut chunk = vec![0; 64 * 1024];
        while self.buf.len() < n {
            let got = self.s.read(&mut chunk).expect("tls read");
            assert!(
                got > 0,
                "closed after {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..got]);
        }
        self.buf.drain(..n).collect()
    }

    fn roundtrip(&mut self, req: &[u8], expected: &[u8]) {
        self.send(req);
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    fn stats(&mut self, group: &str) -> Vec<(String, String)> {
        self.send(format!("stats {group}\r\n").as_bytes());
        let mut out = Vec::new();
        loop {
            while !self.buf.windows(2).any(|w| w == b"\r\n") {
                let mut chunk = vec![0; 4096];
                let n = self.s.read(&mut chunk).expect("read stats");
                assert!(n > 0);
                self.buf.extend_from_slice(&chunk[..n]);
            }
            let at = self
                .buf
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("line");
            let line: Vec<u8> = self.buf.drain(..at + 2).collect();
            let line = String::from_utf8_lossy(&line[..at]).into_owned();
            if line == "END" {
                return out;
            }
            let mut parts = line.splitn(3, ' ');
            assert_eq!(parts.next(), Some("STAT"), "{line}");
            out.push((
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            ));
        }
    }

    fn stat(&mut self, name: &str) -> Option<String> {
        self.stats("")
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn start_tls(extra: &[&str], opts: &str) -> Server {
    let mut args = vec!["-Z", "-o", opts];
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn text_meta_and_binary_over_tls_with_pipelining_and_a_large_value() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let s = start_tls(&["-I", "2m"], &server_files(&files, &ca));
    let cfg = client_config(&ca, None);
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake");
    c.roundtrip(b"set k 5 0 3\r\nabc\r\n", b"STORED\r\n");
    c.roundtrip(b"get k\r\n", b"VALUE k 5 3\r\nabc\r\nEND\r\n");
    c.roundtrip(b"ms m 2\r\nhi\r\nmg m v f\r\n", b"HD\r\nVA 2 f0\r\nhi\r\n");
    // Pipelined: 200 requests in one write, 200 replies in order.
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(
            format!("set p{i} 0 0 {}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
        );
        req.extend_from_slice(format!("get p{i}\r\n").as_bytes());
        want.extend_from_slice(b"STORED\r\n");
        want.extend_from_slice(
            format!("VALUE p{i} 0 {}\r\n{i}\r\nEND\r\n", i.to_string().len()).as_bytes(),
        );
    }
    c.roundtrip(&req, &want);
    // A 1 MB value both ways (many TLS records each way).
    let value: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut set = b"set big 0 0 1000000\r\n".to_vec();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    c.roundtrip(&set, b"STORED\r\n");
    let mut want = b"VALUE big 0 1000000\r\n".to_vec();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\nEND\r\n");
    c.roundtrip(b"get big\r\n", &want);
    // Binary on its own TLS connection: a GET of `k` (flags 5, value abc).
    let mut b = TlsClient::connect(s.addr, &cfg).expect("handshake");
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
    get.extend_from_slice(&[0; 8]);
    get.push(b'k');
    b.send(&get);
    let reply = b.read_exact(24 + 4 + 3);
    assert_eq!(reply[0], 0x81);
    assert_eq!(&reply[6..8], &[0, 0], "status");
    assert_eq!(&reply[24..28], &[0, 0, 0, 5], "flags");
    assert_eq!(&reply[28..], b"abc");
}

#[test]
fn tls_stats_settings_and_handshake_errors() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let opts = format!("{},ssl_session_cache", server_files(&files, &ca));
    let s = start_tls(&[], &opts);
    let cfg = client_config(&ca, None);
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake");
    let settings = c.stats("settings");
    let get = |k: &str| {
        settings
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("ssl_enabled").as_deref(), Some("yes"));
    assert_eq!(get("ssl_verify_mode").as_deref(), Some("0"));
    assert_eq!(get("ssl_keyformat").as_deref(), Some("1"));
    assert_eq!(get("ssl_ciphers").as_deref(), Some("NULL"));
    assert_eq!(get("ssl_ca_cert").as_deref(), Some("NULL"));
    assert_eq!(get("ssl_wbuf_size").as_deref(), Some("16384"));
    assert_eq!(get("ssl_session_cache").as_deref(), Some("yes"));
    assert_eq!(get("ssl_min_version").as_deref(), Some("tlsv1.2"));
    assert_eq!(c.stat("ssl_handshake_errors").as_deref(), Some("0"));
    assert!(c.stat("time_since_server_cert_refresh").is_some());
    let sessions: u64 = c.stat("ssl_new_sessions").expect("row").parse().expect("n");
    assert!(sessions >= 1, "{sessions}");
    // Plain text to a TLS port: not a ClientHello, the handshake fails and is counted.
    let mut plain = Client::tcp(s.addr);
    plain.send(b"version\r\n");
    plain.expect_closed();
    assert_eq!(c.stat("ssl_handshake_errors").as_deref(), Some("1"));
}

#[test]
fn resumed_handshakes_with_the_session_cache() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let opts = format!("{},ssl_session_cache", server_files(&files, &ca));
    let s = start_tls(&[], &opts);
    let cfg = client_config(&ca, None);
    let mut first = TlsClient::connect(s.addr, &cfg).expect("handshake");
    // TLS 1.3 tickets arrive after the handshake: a round trip reads them.
    first.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    let second = TlsClient::connect(s.addr, &cfg).expect("handshake");
    assert_eq!(
        second.s.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    // Without the cache (memcached's default) nothing is resumed.
    let files2 = Files::new();
    let s2 = start_tls(&[], &server_files(&files2, &ca));
    let mut a = TlsClient::connect(s2.addr, &cfg).expect("handshake");
    a.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    let b = TlsClient::connect(s2.addr, &cfg).expect("handshake");
    assert_eq!(b.s.conn.handshake_kind(), Some(rustls::HandshakeKind::Full));
}

#[test]
fn mutual_tls_refuses_missing_wrong_ca_and_expired_client_certificates() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let files = Files::new();
    let ca_file = files.write("ca.pem", ca.cert.pem().as_bytes());
    let opts = format!(
        "{},ssl_verify_mode=2,ssl_ca_cert={ca_file}",
        server_files(&files, &ca)
    );
    let s = start_tls(&[], &opts);
    let good = client_config(&ca, Some(ca.issue("client", true, false)));
    assert_eq!(
        TlsClient::try_roundtrip(s.addr, &good, b"version\r\n").expect("good client"),
        b"VERSION 1.6.18\r\n"
    );
    for (what, cfg) in [
        ("no certificate", client_config(&ca, None)),
        (
            "wrong CA",
            client_config(&ca, Some(other.issue("client", true, false))),
        ),
        (
            "expired",
            client_config(&ca, Some(ca.issue("client", true, true))),
        ),
    ] {
        let r = TlsClient::try_roundtrip(s.addr, &cfg, b"version\r\n");
        assert!(r.is_err(), "{what}: {r:?}");
    }
    let mut c = TlsClient::connect(s.addr, &good).expect("good client");
    assert_eq!(c.stat("ssl_handshake_errors").as_deref(), Some("3"));
    // Mode 1 asks but does not require; a certificate it gets must still be good.
    let files1 = Files::new();
    let ca_file1 = files1.write("ca.pem", ca.cert.pem().as_bytes());
    let s1 = start_tls(
        &[],
        &format!(
            "{},ssl_verify_mode=1,ssl_ca_cert={ca_file1}",
            server_files(&files1, &ca)
        ),
    );
    let anonymous = client_config(&ca, None);
    assert_eq!(
        TlsClient::try_roundtrip(s1.addr, &anonymous, b"version\r\n").expect("anonymous"),
        b"VERSION 1.6.18\r\n"
    );
    let wrong = client_config(&ca, Some(other.issue("client", true, false)));
    assert!(TlsClient::try_roundtrip(s1.addr, &wrong, b"version\r\n").is_err());
}

#[test]
fn a_client_stalled_mid_handshake_does_not_hold_the_worker() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let s = start_tls(
        &["-t", "1", "-o", "idle_timeout=1"],
        &server_files(&files, &ca),
    );
    // A TLS record header promising a ClientHello that never comes, and a silent one.
    let mut stalled = Client::tcp(s.addr);
    stalled.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
    let _silent = TcpStream::connect(s.addr).expect("connect");
    let cfg = client_config(&ca, None);
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake next to the stalled ones");
    c.roundtrip(
        b"set a 0 0 1\r\nx\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
    );
    // The idle timeout closes the stalled connection like any idle one.
    stalled.expect_closed();
}

#[test]
fn refresh_certs_swaps_a_good_certificate_and_keeps_it_on_a_bad_file() {
    let ca1 = Ca::new("first CA");
    let ca2 = Ca::new("second CA");
    let files = Files::new();
    let s = start_tls(&[], &server_files(&files, &ca1));
    let trusts1 = client_config(&ca1, None);
    let trusts2 = client_config(&ca2, None);
    let mut old = TlsClient::connect(s.addr, &trusts1).expect("first certificate");
    assert!(TlsClient::connect(s.addr, &trusts2).is_err());
    // A new certificate (from another CA) at the same paths.
    server_files(&files, &ca2);
    old.roundtrip(b"refresh_certs\r\n", b"OK\r\n");
    let mut new = TlsClient::connect(s.addr, &trusts2).expect("new certificate");
    assert!(TlsClient::connect(s.addr, &trusts1).is_err());
    // The connection opened before the refresh goes on.
    old.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    // A bad key file: memcached's error line, and the certificate in use stays.
    let key = files.write("key.pem", b"not a key\n");
    let err = format!("Error loading the key: {key} : ");
    new.send(b"refresh_certs\r\n");
    let line = new.read_exact(err.len());
    assert_eq!(String::from_utf8_lossy(&line), err);
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n") {
        rest.extend(new.read_exact(1));
    }
    TlsClient::connect(s.addr, &trusts2).expect("still the good certificate");
    // A bad chain file: the chain's error line.
    std::fs::write(files.path("cert.pem"), b"-----BEGIN CERTIFICATE-----\n").expect("write");
    let cert = files.path("cert.pem").display().to_string();
    new.send(b"refresh_certs noreply\r\n");
    let want = format!("Error loading the certificate chain: {cert} : ");
    assert_eq!(String::from_utf8_lossy(&new.read_exact(want.len())), want);
    TlsClient::connect(s.addr, &trusts2).expect("still the good certificate");
}

#[test]
fn refresh_certs_without_tls_says_so() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"refresh_certs\r\n", b"Error TLS not enabled\r\n");
}

#[test]
fn notls_listener_serves_plain_text_next_to_the_tls_one() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let port = free_port();
    let plain = format!("notls:127.0.0.1:{port}");
    let s = start_tls(&["-l", &plain], &server_files(&files, &ca));
    let mut t = TlsClient::connect(s.addr, &client_config(&ca, None)).expect("handshake");
    t.roundtrip(b"set x 0 0 2\r\nok\r\n", b"STORED\r\n");
    let mut p = Client::tcp(([127, 0, 0, 1], port).into());
    p.roundtrip(b"get x\r\n", b"VALUE x 0 2\r\nok\r\nEND\r\n");
}

#[test]
fn replies_are_written_after_the_client_half_closes() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let s = start_tls(&[], &server_files(&files, &ca));
    let cfg = client_config(&ca, None);
    // close_notify, then FIN: the pipelined requests are still answered, then closed.
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake");
    c.send(b"set h 0 0 1\r\nz\r\nget h\r\n");
    c.s.conn.send_close_notify();
    c.s.flush().expect("flush");
    c.s.sock
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    let mut all = Vec::new();
    c.s.read_to_end(&mut all).expect("read to the end");
    assert_eq!(all, b"STORED\r\nVALUE h 0 1\r\nz\r\nEND\r\n");
    // A FIN without close_notify: the same.
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake");
    c.send(b"get h\r\n");
    c.s.sock
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    assert_eq!(c.read_exact(21), b"VALUE h 0 1\r\nz\r\nEND\r\n");
}

#[test]
fn openssl_s_client_and_a_der_key() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let (cert, key) = ca.issue("larder-test", false, false);
    let c = files.write("cert.pem", cert.as_bytes());
    let k = files.write("key.der", &key.serialize_der());
    let ca_file = files.write("ca.pem", ca.cert.pem().as_bytes());
    let s = start_tls(
        &[],
        &format!("ssl_chain_cert={c},ssl_key={k},ssl_keyformat=2,ssl_min_version=3"),
    );
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
        .arg(&ca_file)
        .arg("-connect")
        .arg(s.addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client (scripts/test.sh installs openssl)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"set o 0 0 2\r\nhi\r\nget o\r\nquit\r\n")
        .expect("write");
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read");
    drop(stdin);
    let _ = child.wait();
    assert_eq!(
        String::from_utf8_lossy(&out),
        "STORED\r\nVALUE o 0 2\r\nhi\r\nEND\r\n"
    );
    // TLS 1.2 is refused with ssl_min_version=3.
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-tls1_2", "-CAfile"])
        .arg(&ca_file)
        .arg("-connect")
        .arg(s.addr.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl");
    assert!(!out.status.success());
}

#[test]
fn a_slow_tls_reader_is_bounded_and_does_not_hold_up_others() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let s = start_tls(&["-t", "1", "-I", "2m"], &server_files(&files, &ca));
    let cfg = client_config(&ca, None);
    let mut slow = TlsClient::connect(s.addr, &cfg).expect("handshake");
    let value = vec![b'v'; 1_000_000];
    let mut set = b"set big 0 0 1000000\r\n".to_vec();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    slow.roundtrip(&set, b"STORED\r\n");
    // 24 MB of replies asked for, none read yet.
    slow.send(&b"get big\r\n".repeat(24));
    let mut other = TlsClient::connect(s.addr, &cfg).expect("handshake");
    other.roundtrip(
        b"set small 0 0 1\r\nx\r\nget small\r\n",
        b"STORED\r\nVALUE small 0 1\r\nx\r\nEND\r\n",
    );
    // What the server holds for the slow reader: about one output buffer's worth (1 MiB)
    // plus the reply being built, not the 24 MB it is owed.
    let held: u64 = other
        .stat("conn_output_held")
        .expect("row")
        .parse()
        .expect("number");
    assert!(held <= 3 << 20, "held {held}");
    // Every reply arrives, intact, once the client reads.
    let mut want = b"VALUE big 0 1000000\r\n".to_vec();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\nEND\r\n");
    for _ in 0..24 {
        assert!(slow.read_exact(want.len()) == want, "reply differs");
    }
}

#[test]
fn resets_mid_handshake_and_mid_request_close_only_their_connection() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let s = start_tls(&["-t", "1"], &server_files(&files, &ca));
    let cfg = client_config(&ca, None);
    // A reset right after a partial ClientHello.
    let mut raw = TcpStream::connect(s.addr).expect("connect");
    raw.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40, 0x01])
        .expect("write");
    common::reset(raw);
    // A reset with half a `set` sent over an established session.
    let mut c = TlsClient::connect(s.addr, &cfg).expect("handshake");
    c.send(b"set r 0 0 10\r\nhalf");
    let (_, sock) = c.s.into_parts();
    common::reset(sock);
    let mut ok = TlsClient::connect(s.addr, &cfg).expect("handshake after the resets");
    ok.roundtrip(b"get r\r\n", b"END\r\n");
    // Both reset connections are gone; only this one is left.
    let gone = common::wait_for(REPLY_TIMEOUT, || {
        ok.stat("curr_connections").as_deref() == Some("1")
    });
    assert!(gone, "{:?}", ok.stat("curr_connections"));
}
