//! Unit tests of the flag grammar, `-o` suboptions, the conf file and validation. Expected
//! messages and defaults were checked against memcached 1.6.18 (`memcached -h`, its
//! `stats settings`, and its error output for the same flags).

use super::*;
use std::io::Write as _;

fn args(list: &[&str]) -> Vec<OsString> {
    std::iter::once("larder")
        .chain(list.iter().copied())
        .map(OsString::from)
        .collect()
}

fn run(list: &[&str]) -> Config {
    match Config::from_args(args(list)) {
        Ok(ConfigOutcome::Run(c)) => c,
        other => panic!("{list:?} did not give a config: {other:?}"),
    }
}

fn fail(list: &[&str]) -> String {
    match Config::from_args(args(list)) {
        Err(e) => e.to_string(),
        other => panic!("{list:?} should fail, got {other:?}"),
    }
}

fn conf_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write conf");
    f
}

#[test]
fn defaults_are_memcacheds_except_listen_and_threads() {
    let c = run(&[]);
    assert_eq!(c, Config::default());
    assert_eq!(c.port, 11211);
    assert_eq!(c.udp_port, 0);
    assert_eq!(c.unix_socket, None);
    assert_eq!(c.unix_mask, 0o700);
    assert_eq!(c.listen, vec!["127.0.0.1".to_string()]);
    assert!(!c.daemonize);
    assert_eq!(c.user, None);
    assert_eq!(c.memory_limit, 64 * 1024 * 1024);
    assert!(!c.no_evict);
    assert_eq!(c.max_connections, 1024);
    assert_eq!(c.verbosity, 0);
    assert_eq!(c.pid_file, None);
    assert_eq!(c.factor, 1.25);
    assert_eq!(c.chunk_size_min, 48);
    assert_eq!(
        c.threads,
        std::thread::available_parallelism().map_or(4, |n| n.get())
    );
    assert_eq!(c.reqs_per_event, 20);
    assert!(c.use_cas);
    assert_eq!(c.backlog, 1024);
    assert_eq!(c.protocol, ProtocolMode::Auto);
    assert_eq!(c.item_size_max, 1024 * 1024);
    assert!(c.flush_enabled);
    assert!(!c.shutdown_enabled);
    assert!(!c.cachedump_disabled);
    assert!(!c.sasl);
    assert_eq!(c.auth_file, None);
    assert_eq!(c.idle_timeout, 0);
    assert_eq!(c.slab_page_size, 64 * 1024);
    assert!(c.maxconns_fast);
    assert!(!c.track_sizes);
    assert!(!c.enable_coredumps);
    assert!(!c.lock_memory);
    assert!(!c.large_pages);
    assert!(c.ignored.is_empty());
    assert!(c.warnings.is_empty());
    assert_eq!(c.config_file, None);
    assert!(c.tcp_enabled());
}

#[test]
fn empty_argument_list_is_the_defaults() {
    match Config::from_args(Vec::<OsString>::new()) {
        Ok(ConfigOutcome::Run(c)) => assert_eq!(c, Config::default()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_value_flag_short_and_long() {
    type Check = fn(&Config) -> bool;
    let cases: &[(&[&str], &[&str], Check)] = &[
        (&["-p", "11311"], &["--port", "11311"], |c| c.port == 11311),
        (&["-U", "0"], &["--udp-port=0"], |c| c.udp_port == 0),
        (&["-U", "11311"], &["--udp-port=11311"], |c| {
            c.udp_port == 11311 && c.udp_enabled() && !c.udp_allow_public
        }),
        (
            &["-s", "/tmp/l.sock"],
            &["--unix-socket=/tmp/l.sock"],
            |c| c.unix_socket == Some(PathBuf::from("/tmp/l.sock")) && !c.tcp_enabled(),
        ),
        (&["-a", "755"], &["--unix-mask", "0755"], |c| {
            c.unix_mask == 0o755
        }),
        (&["-l", "10.0.0.1"], &["--listen=10.0.0.1"], |c| {
            c.listen == ["10.0.0.1"]
        }),
        (&["-u", "memcache"], &["--user", "memcache"], |c| {
            c.user.as_deref() == Some("memcache")
        }),
        (&["-m", "1024"], &["--memory-limit=1024"], |c| {
            c.memory_limit == 1024 * 1024 * 1024
        }),
        (&["-c", "4096"], &["--conn-limit", "4096"], |c| {
            c.max_connections == 4096
        }),
        (&["-P", "/run/l.pid"], &["--pidfile=/run/l.pid"], |c| {
            c.pid_file == Some(PathBuf::from("/run/l.pid"))
        }),
        (&["-f", "1.5"], &["--slab-growth-factor", "1.5"], |c| {
            c.factor == 1.5
        }),
        (&["-n", "96"], &["--slab-min-size=96"], |c| {
            c.chunk_size_min == 96
        }),
        (&["-t", "4"], &["--threads", "4"], |c| c.threads == 4),
        (&["-R", "50"], &["--max-reqs-per-event=50"], |c| {
            c.reqs_per_event == 50
        }),
        (&["-b", "512"], &["--listen-backlog", "512"], |c| {
            c.backlog == 512
        }),
        (&["-B", "ascii"], &["--protocol=ascii"], |c| {
            c.protocol == ProtocolMode::Ascii
        }),
        (&["-B", "binary"], &["--protocol", "binary"], |c| {
            c.protocol == ProtocolMode::Binary
        }),
        (&["-B", "auto"], &["--protocol=auto"], |c| {
            c.protocol == ProtocolMode::Auto
        }),
        (&["-I", "2m"], &["--max-item-size=2m"], |c| {
            c.item_size_max == 2 * 1024 * 1024
        }),
        (&["-Y", "/etc/l.auth"], &["--auth-file=/etc/l.auth"], |c| {
            c.auth_file == Some(PathBuf::from("/etc/l.auth")) && c.protocol == ProtocolMode::Ascii
        }),
        (
            &["-o", "idle_timeout=30"],
            &["--extended=idle_timeout=30"],
            |c| c.idle_timeout == 30,
        ),
    ];
    for (short, long, check) in cases {
        let s = run(short);
        assert!(check(&s), "{short:?} gave {s:?}");
        let l = run(long);
        assert!(check(&l), "{long:?} gave {l:?}");
        assert_eq!(s, l, "{short:?} and {long:?} differ");
    }
}

#[test]
fn every_switch_short_and_long() {
    type Check = fn(&Config) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("-A", "--enable-shutdown", |c| c.shutdown_enabled),
        ("-d", "--daemon", |c| c.daemonize),
        ("-r", "--enable-coredumps", |c| c.enable_coredumps),
        ("-M", "--disable-evictions", |c| c.no_evict),
        ("-k", "--lock-memory", |c| {
            c.lock_memory && c.ignored == ["-k (--lock-memory)"]
        }),
        ("-v", "--verbose", |c| c.verbosity == 1),
        ("-L", "--enable-largepages", |c| {
            c.large_pages && c.ignored == ["-L (--enable-largepages)"]
        }),
        ("-C", "--disable-cas", |c| !c.use_cas),
        ("-S", "--enable-sasl", |c| {
            c.sasl && c.protocol == ProtocolMode::Binary
        }),
        ("-F", "--disable-flush-all", |c| !c.flush_enabled),
        ("-X", "--disable-dumping", |c| c.cachedump_disabled),
        ("-W", "--disable-watch", |c| {
            c.ignored == ["-W (--disable-watch: larder has no watch command)"]
        }),
    ];
    for (short, long, check) in cases {
        let s = run(&[short]);
        assert!(check(&s), "{short} gave {s:?}");
        let l = run(&[long]);
        assert!(check(&l), "{long} gave {l:?}");
        assert_eq!(s, l);
    }
    // The brief's alias for -L.
    assert!(run(&["--large-memory-pages"]).large_pages);
}

#[test]
fn ignored_value_options_are_listed() {
    let c = run(&["-D", "/", "-e", "/dev/shm/mc", "-N", "2"]);
    assert_eq!((c.prefix_delimiter, c.detail_enabled), (b'/', true));
    assert_eq!(c.ignored, ["-N 2 (--napi-ids)"]);
    assert_eq!(c.snapshot_file, Some(PathBuf::from("/dev/shm/mc")));
    assert_eq!(run(&["-D:"]).prefix_delimiter, b':');
    assert!(run(&["-D:"]).ignored.is_empty());
    assert!(fail(&["--delimiter=:"]).contains("'--delimiter'"));
    assert_eq!(run(&["--napi-ids", "2"]).ignored, ["-N 2 (--napi-ids)"]);
}

#[test]
fn getopt_forms_attached_values_clusters_and_prefixes() {
    assert_eq!(run(&["-p11311"]).port, 11311);
    assert_eq!(run(&["-m64", "-t2"]).threads, 2);
    let c = run(&["-dvv"]);
    assert!(c.daemonize);
    assert_eq!(c.verbosity, 2);
    assert_eq!(run(&["-vvv"]).verbosity, 3);
    assert_eq!(run(&["-v", "-v"]).verbosity, 2);
    assert_eq!(run(&["--verbose", "-v"]).verbosity, 2);
    // getopt_long accepts unambiguous prefixes of long names.
    assert_eq!(run(&["--memory-l=128"]).memory_limit, 128 << 20);
    assert_eq!(run(&["--thr", "3"]).threads, 3);
    let e = fail(&["--mem=64"]);
    assert!(e.contains("--mem"), "{e}");
}

#[test]
fn later_scalar_wins() {
    let c = run(&["-p", "1", "-p", "2", "-m", "10", "--memory-limit", "20"]);
    assert_eq!(c.port, 2);
    assert_eq!(c.memory_limit, 20 << 20);
}

#[test]
fn listen_is_repeatable_comma_separated_and_deduplicated() {
    let c = run(&[
        "-l",
        "127.0.0.1,10.0.0.1",
        "-l",
        "::1",
        "-l",
        "10.0.0.1;[::1]:9",
    ]);
    assert_eq!(c.listen, ["127.0.0.1", "10.0.0.1", "::1", "[::1]:9"]);
    assert_eq!(
        c.listen_addrs(),
        [
            ListenAddr {
                host: Some("127.0.0.1".into()),
                port: 11211,
                notls: false
            },
            ListenAddr {
                host: Some("10.0.0.1".into()),
                port: 11211,
                notls: false
            },
            ListenAddr {
                host: Some("::1".into()),
                port: 11211,
                notls: false
            },
            ListenAddr {
                host: Some("::1".into()),
                port: 9,
                notls: false
            },
        ]
    );
}

#[test]
fn listen_entries_forms() {
    let c = run(&[
        "-p",
        "5000",
        "-l",
        "*",
        "-l",
        "host.example:7000,notls:10.1.1.1",
    ]);
    assert_eq!(
        c.listen_addrs(),
        [
            ListenAddr {
                host: None,
                port: 5000,
                notls: false
            },
            ListenAddr {
                host: Some("host.example".into()),
                port: 7000,
                notls: false
            },
            ListenAddr {
                host: Some("10.1.1.1".into()),
                port: 5000,
                notls: true
            },
        ]
    );
    assert_eq!(
        fail(&["-l", "127.0.0.1:99999"]),
        "Invalid port number: \"99999\" (-l, --listen 127.0.0.1:99999)"
    );
    assert_eq!(
        fail(&["-l", "[::1"]),
        "Invalid IPV6 address: \"[::1\" (-l, --listen)"
    );
    assert_eq!(
        fail(&["-l", "[::1]x"]),
        "Invalid IPV6 address: \"[::1]x\" (-l, --listen)"
    );
    assert_eq!(fail(&["-l", ":80"]), "-l, --listen: empty host in \":80\"");
    assert_eq!(fail(&["-l", ","]), "-l, --listen: empty address in \"\"");
}

#[test]
fn port_zero_turns_tcp_off() {
    let c = run(&["-p", "0"]);
    assert_eq!(c.port, 0);
    assert!(!c.tcp_enabled());
}

#[test]
fn item_size_suffixes_and_limits() {
    assert_eq!(run(&["-I", "1k"]).item_size_max, 1024);
    assert_eq!(run(&["-I", "4K"]).item_size_max, 4096);
    assert_eq!(run(&["-I", "3M"]).item_size_max, 3 << 20);
    assert_eq!(run(&["-I", "1048576"]).item_size_max, 1 << 20);
    assert_eq!(run(&["-I", "1024"]).item_size_max, 1024);
    assert_eq!(
        run(&["-m", "2048", "-I", "1024m"]).item_size_max,
        1024 << 20
    );
    assert_eq!(
        fail(&["-I", "512"]),
        "Item max size cannot be less than 1024 bytes. (-I, --max-item-size)"
    );
    assert_eq!(
        fail(&["-I", "40m"]),
        "Cannot set item size limit higher than 1/2 of memory max. (-I, --max-item-size)"
    );
    assert_eq!(
        fail(&["-m", "4096", "-I", "1025m"]),
        "Cannot set item size limit higher than a gigabyte. (-I, --max-item-size)"
    );
    for bad in ["2g", "m", "1.5m", "k1", ""] {
        assert_eq!(
            fail(&["-I", bad]),
            format!(
                "-I, --max-item-size: invalid size \"{bad}\" (bytes, or a number with a k or m suffix)"
            )
        );
    }
}

#[test]
fn validation_errors_have_memcacheds_messages() {
    let cases: &[(&[&str], &str)] = &[
        (&["-f", "1"], "Factor must be greater than 1 (-f, --slab-growth-factor)"),
        (&["-f", "0.5"], "Factor must be greater than 1 (-f, --slab-growth-factor)"),
        (&["-f", "NaN"], "Factor must be greater than 1 (-f, --slab-growth-factor)"),
        (&["-t", "0"], "Number of threads must be greater than 0 (-t, --threads)"),
        (
            &["-c", "0"],
            "Maximum connections must be greater than 0 (-c, --conn-limit)",
        ),
        (
            &["-R", "0"],
            "Number of requests per event must be greater than 0 (-R, --max-reqs-per-event)",
        ),
        (&["-n", "0"], "Chunk size must be greater than 0 (-n, --slab-min-size)"),
        (
            &["-B", "foo"],
            "Invalid value for binding protocol: foo -- should be one of auto, binary, or ascii (-B, --protocol)",
        ),
        (&["-p", "70000"], "ERROR: Invalid port number 70000. (-p, --port)"),
        (&["-p", "abc"], "-p, --port: invalid number \"abc\""),
        (&["-m", "lots"], "-m, --memory-limit: invalid number \"lots\""),
        (&["-m", "1g"], "-m, --memory-limit: invalid number \"1g\""),
        (&["-c", "-"], "-c, --conn-limit: invalid number \"-\""),
        (&["-t", "x"], "-t, --threads: invalid number \"x\""),
        (&["-b", "x"], "-b, --listen-backlog: invalid number \"x\""),
        (
            &["-U", "11211", "-l", "0.0.0.0"],
            "-U 11211: UDP on a non-loopback address (-l 0.0.0.0) can be used for reflection \
             attacks; give -o udp_allow_public to allow it, or -U 0",
        ),
        (
            &["-U", "11211", "-S"],
            "ERROR: Cannot enable UDP while using binary SASL authentication. (-S with -U)",
        ),
        (&["-U", "70000"], "ERROR: Invalid port number 70000. (-U, --udp-port)"),
        (
            &["-Z"],
            "-Z, --enable-ssl needs a certificate: -o ssl_chain_cert=FILE[,ssl_key=FILE]",
        ),
        (
            &["-Z", "-o", "ssl_chain_cert=/c.pem,ssl_verify_mode=2"],
            "ssl_verify_mode=2 needs -o ssl_ca_cert=FILE (the CAs client certificates are checked against)",
        ),
        (
            &["-o", "ssl_min_version=1"],
            "ssl_min_version below TLS 1.2 is not supported by larder (rustls implements only TLS 1.2 and 1.3): use 2 (tlsv1.2) or 3 (tlsv1.3) (-o ssl_min_version=1)",
        ),
        (
            &["-o", "ssl_keyformat=ENGINE"],
            "ssl_keyformat ENGINE is not supported by larder (keys are read from PEM or DER files; there are no OpenSSL engines) (-o ssl_keyformat=ENGINE)",
        ),
        (&["-a", "999"], "-a, --unix-mask: invalid octal mask \"999\""),
        (
            &["-a", "1777"],
            "Invalid unix socket mask 1777 (-a, --unix-mask): at most 777",
        ),
        (
            &["-S", "-B", "ascii"],
            "ERROR: You cannot allow the ASCII protocol while using SASL. (-S with -B ascii)",
        ),
        (
            &["-Y", "/etc/auth", "-B", "binary"],
            "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens. (-Y with -B binary)",
        ),
        (
            &["-m", "18446744073709551615"],
            "-m, --memory-limit: 18446744073709551615 megabytes is too large",
        ),
    ];
    for (list, message) in cases {
        assert_eq!(fail(list), *message, "{list:?}");
    }
}

#[test]
fn backlog_may_be_zero_but_not_negative() {
    assert_eq!(run(&["-b", "0"]).backlog, 0);
    assert_eq!(
        fail(&["-b=-1"]),
        "Listen backlog must not be negative (-b, --listen-backlog -1)"
    );
}

#[test]
fn unknown_options_and_missing_values_name_the_option() {
    let e = fail(&["-x"]);
    assert!(e.contains("'-x'"), "{e}");
    let e = fail(&["--bogus"]);
    assert!(e.contains("'--bogus'"), "{e}");
    let e = fail(&["-p"]);
    assert!(e.contains("--port"), "{e}");
    let e = fail(&["stray"]);
    assert!(e.contains("'stray'"), "{e}");
}

#[test]
fn sasl_and_auth_file_pick_the_protocol_unless_given() {
    assert_eq!(run(&["-S"]).protocol, ProtocolMode::Binary);
    assert_eq!(run(&["-S", "-B", "auto"]).protocol, ProtocolMode::Auto);
    assert_eq!(run(&["-Y", "/a"]).protocol, ProtocolMode::Ascii);
    assert_eq!(
        run(&["-Y", "/a", "-B", "auto"]).protocol,
        ProtocolMode::Auto
    );
}

#[test]
fn many_threads_warn_like_memcached() {
    let c = run(&["-t", "65"]);
    assert_eq!(c.threads, 65);
    assert_eq!(
        c.warnings,
        [
            "WARNING: Setting a high number of worker threads is not recommended. \
          Set this value to the number of cores in your machine or less."
        ]
    );
    assert!(run(&["-t", "64"]).warnings.is_empty());
}

#[test]
fn foreground_overrides_daemon() {
    assert!(!run(&["-d", "--foreground"]).daemonize);
    assert!(!run(&["--foreground", "-d"]).daemonize);
    assert!(run(&["-d"]).daemonize);
}

#[test]
fn help_version_and_license_outcomes() {
    for flag in ["-h", "--help"] {
        match Config::from_args(args(&[flag])) {
            Ok(ConfigOutcome::Help(text)) => {
                assert!(text.starts_with("larder "), "{text}");
                assert!(text.contains("-p, --port=<num>"));
                assert!(text.contains("(default: 127.0.0.1)"));
                assert!(text.contains("UDP (-U) on an address that is not loopback needs"));
                assert!(text.contains("   - ssl_chain_cert:"));
            }
            other => panic!("{flag}: {other:?}"),
        }
    }
    for flag in ["-V", "--version"] {
        assert_eq!(
            Config::from_args(args(&[flag])),
            Ok(ConfigOutcome::Version(format!(
                "larder {} (memcached 1.6 compatible)\n",
                env!("CARGO_PKG_VERSION")
            )))
        );
    }
    match Config::from_args(args(&["-i"])) {
        Ok(ConfigOutcome::Help(text)) => assert!(text.contains("MIT license"), "{text}"),
        other => panic!("{other:?}"),
    }
    // -h wins over options that would not validate, as memcached exits on -h at once.
    assert!(matches!(
        Config::from_args(args(&["-t", "0", "-h"])),
        Ok(ConfigOutcome::Help(_))
    ));
}

#[test]
fn help_lists_every_option_larder_reads() {
    let ConfigOutcome::Help(text) = Config::from_args(args(&["-h"])).expect("help") else {
        panic!("not help");
    };
    for long in [
        "--port",
        "--udp-port",
        "--unix-socket",
        "--unix-mask",
        "--enable-shutdown",
        "--listen",
        "--daemon",
        "--enable-coredumps",
        "--user",
        "--memory-limit",
        "--disable-evictions",
        "--conn-limit",
        "--lock-memory",
        "--verbose",
        "--help",
        "--license",
        "--version",
        "--pidfile",
        "--slab-growth-factor",
        "--slab-min-size",
        "--enable-largepages",
        "--threads",
        "--max-reqs-per-event",
        "--disable-cas",
        "--listen-backlog",
        "--protocol",
        "--max-item-size",
        "--enable-sasl",
        "--disable-flush-all",
        "--disable-dumping",
        "--disable-watch",
        "--auth-file",
        "--memory-file",
        "--enable-ssl",
        "--extended",
        "--napi-ids",
        "--config",
        "--foreground",
        "-D <char>",
    ] {
        assert!(text.contains(long), "help lacks {long}");
    }
    for sub in SUBOPTIONS {
        assert!(text.contains(sub), "help lacks -o {sub}");
    }
}

/// Every `-o` name memcached 1.6.18 accepts, plus larder's slab_page_size, each with a
/// value memcached accepts.
const SUBOPTIONS: &[&str] = &[
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "no_hashexpand",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "idle_timeout",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "read_buf_mem_limit",
    "resp_obj_mem_limit",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_automove_freeratio",
    "slab_chunk_max",
    "slab_sizes",
    "track_sizes",
    "inline_ascii_resp",
    "no_inline_ascii_resp",
    "no_chunked_items",
    "modern",
    "no_modern",
    "drop_privileges",
    "no_drop_privileges",
    "sock_cookie_id",
    "ext_path",
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
    "ssl_chain_cert",
    "ssl_key",
    "ssl_keyformat",
    "ssl_verify_mode",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
    "slab_page_size",
];

fn valid_value(name: &str) -> Option<&'static str> {
    match name {
        "hashpower" => Some("20"),
        "tail_repair_time" => Some("60"),
        "hash_algorithm" => Some("murmur3"),
        "lru_crawler_sleep" | "lru_crawler_tocrawl" | "temporary_ttl" => Some("100"),
        "hot_lru_pct" => Some("20"),
        "warm_lru_pct" => Some("40"),
        "hot_max_factor" | "warm_max_factor" | "slab_automove_ratio" => Some("0.5"),
        "slab_automove_window" => Some("30"),
        "slab_automove_freeratio" | "ext_max_frag" => Some("0.01"),
        "idle_timeout"
        | "watcher_logbuf_size"
        | "worker_logbuf_size"
        | "read_buf_mem_limit"
        | "resp_obj_mem_limit"
        | "slab_chunk_max"
        | "ssl_wbuf_size" => Some("512"),
        "slab_sizes" => Some("100-200-300"),
        "sock_cookie_id" => Some("7"),
        "ext_path" => Some("/mnt/extstore:1G"),
        "ext_page_size" | "ext_wbuf_size" | "ext_threads" | "ext_io_depth" | "ext_item_size"
        | "ext_item_age" | "ext_low_ttl" | "ext_recache_rate" | "ext_compact_under"
        | "ext_drop_under" | "ext_max_sleep" => Some("4"),
        "ssl_chain_cert" | "ssl_key" | "ssl_ca_cert" => Some("/etc/x.pem"),
        "ssl_keyformat" | "ssl_verify_mode" => Some("1"),
        "ssl_min_version" => Some("2"),
        "ssl_ciphers" => Some("HIGH"),
        "slab_page_size" => Some("128k"),
        _ => None,
    }
}

#[test]
fn every_memcached_suboption_is_accepted() {
    let effective = [
        "maxconns_fast",
        "no_maxconns_fast",
        "track_sizes",
        "idle_timeout",
        "slab_page_size",
        "ssl_chain_cert",
        "ssl_key",
        "ssl_keyformat",
        "ssl_verify_mode",
        "ssl_ciphers",
        "ssl_ca_cert",
        "ssl_wbuf_size",
        "ssl_session_cache",
        "ssl_min_version",
    ];
    for name in SUBOPTIONS {
        let token = match valid_value(name) {
            Some(v) => format!("{name}={v}"),
            None => name.to_string(),
        };
        let c = run(&["-o", &token]);
        if effective.contains(name) {
            assert!(c.ignored.is_empty(), "{token}: {:?}", c.ignored);
        } else {
            assert_eq!(c.ignored, [format!("-o {token}")], "{token}");
        }
    }
}

#[test]
fn effective_suboptions_set_fields() {
    let c = run(&[
        "-o",
        "idle_timeout=30,track_sizes,no_maxconns_fast,slab_page_size=1m",
    ]);
    assert_eq!(c.idle_timeout, 30);
    assert!(c.track_sizes);
    assert!(!c.maxconns_fast);
    assert_eq!(c.slab_page_size, 1 << 20);
    assert!(c.ignored.is_empty());
    assert_eq!(run(&["-o", "slab_page_size=4096"]).slab_page_size, 4096);
    assert!(run(&["-o", "no_maxconns_fast", "-o", "maxconns_fast"]).maxconns_fast);
}

#[test]
fn snapshot_file_and_interval() {
    assert_eq!(run(&[]).snapshot_file, None);
    for args in [
        &["-e", "/var/lib/larder/snap"][..],
        &["--memory-file=/var/lib/larder/snap"],
        &["--snapshot-file", "/var/lib/larder/snap"],
    ] {
        let c = run(args);
        assert_eq!(c.snapshot_file, Some(PathBuf::from("/var/lib/larder/snap")));
        assert!(c.ignored.is_empty());
    }
    let c = run(&["-e", "/s", "-o", "snapshot_interval=300"]);
    assert_eq!(c.snapshot_interval, 300);
    let settings = c.stats_settings();
    assert!(settings
        .iter()
        .any(|(k, v)| *k == "snapshot_file" && v == "/s"));
    assert!(settings
        .iter()
        .any(|(k, v)| *k == "snapshot_interval" && v == "300"));
    assert!(fail(&["-o", "snapshot_interval=300"]).contains("-e"));
    assert!(fail(&["-e", "/s", "-o", "snapshot_interval=x"]).contains("snapshot_interval"));
}

#[test]
fn output_held_limit_is_megabytes_and_shown() {
    assert_eq!(run(&[]).output_held_limit, 32 << 20);
    let c = run(&["-o", "output_held_limit=4"]);
    assert_eq!(c.output_held_limit, 4 << 20);
    assert!(c
        .stats_settings()
        .iter()
        .any(|(k, v)| *k == "output_held_limit" && v == "4194304"));
    for bad in ["0", "x", "-1", "2000000"] {
        assert!(
            fail(&["-o", &format!("output_held_limit={bad}")]).contains("output_held_limit"),
            "{bad}"
        );
    }
}

#[test]
fn eviction_policy_by_name() {
    use crate::store::Eviction;
    assert_eq!(run(&[]).eviction, Eviction::S3Fifo);
    assert_eq!(run(&["-o", "eviction=lru"]).eviction, Eviction::Lru);
    assert_eq!(run(&["-o", "eviction=lfu"]).eviction, Eviction::Lfu);
    assert_eq!(run(&["-o", "eviction=s3fifo"]).eviction, Eviction::S3Fifo);
    assert!(run(&["-o", "eviction=lru"]).ignored.is_empty());
    let settings = run(&["-o", "eviction=lfu"]).stats_settings();
    assert!(settings.iter().any(|(k, v)| *k == "eviction" && v == "lfu"));
}

#[test]
fn suboptions_repeat_and_later_wins() {
    let c = run(&[
        "-o",
        "idle_timeout=10,hashpower=20",
        "--extended",
        "idle_timeout=20",
        "-o",
        "hashpower=20,,modern",
    ]);
    assert_eq!(c.idle_timeout, 20);
    assert_eq!(c.ignored, ["-o hashpower=20", "-o modern"]);
}

#[test]
fn suboption_errors_match_memcached() {
    let cases: &[(&str, &str)] = &[
        ("foo", "Illegal suboption \"foo\" (-o, --extended)"),
        ("idle_timeout=5,foo=1", "Illegal suboption \"foo=1\" (-o, --extended)"),
        ("slab_page_size", "Missing slab_page_size argument (-o slab_page_size)"),
        ("idle_timeout", "Missing numeric argument for idle_timeout (-o idle_timeout)"),
        ("idle_timeout=", "Missing numeric argument for idle_timeout (-o idle_timeout=)"),
        ("idle_timeout=abc", "idle_timeout: invalid number \"abc\" (-o idle_timeout=abc)"),
        ("idle_timeout=-1", "idle_timeout: invalid number \"-1\" (-o idle_timeout=-1)"),
        ("hashpower", "Missing numeric argument for hashpower (-o hashpower)"),
        ("hashpower=11", "Initial hashtable multiplier of 11 is too low (-o hashpower=11)"),
        ("hashpower=33", "Initial hashtable multiplier of 33 is too high (-o hashpower=33)"),
        (
            "tail_repair_time=0",
            "Cannot set tail_repair_time to less than 10 seconds (-o tail_repair_time=0)",
        ),
        (
            "hash_algorithm=md5",
            "Unknown hash_algorithm option (jenkins, murmur3, xxh3) (-o hash_algorithm=md5)",
        ),
        ("slab_automove=3", "slab_automove must be between 0 and 2 (-o slab_automove=3)"),
        (
            "slab_automove_ratio=1",
            "slab_automove_ratio must be > 0 and < 1 (-o slab_automove_ratio=1)",
        ),
        (
            "slab_automove_window=2",
            "slab_automove_window must be > 2 (-o slab_automove_window=2)",
        ),
        ("lru_crawler_sleep", "Missing lru_crawler_sleep value (-o lru_crawler_sleep)"),
        (
            "lru_crawler_sleep=1000001",
            "LRU crawler sleep must be between 0 and 1 second (-o lru_crawler_sleep=1000001)",
        ),
        (
            "lru_crawler_tocrawl=abc",
            "lru_crawler_tocrawl takes a numeric 32bit value (-o lru_crawler_tocrawl=abc)",
        ),
        ("hot_lru_pct=80", "hot_lru_pct must be > 1 and < 80 (-o hot_lru_pct=80)"),
        ("warm_lru_pct=0", "warm_lru_pct must be > 1 and < 80 (-o warm_lru_pct=0)"),
        (
            "hot_lru_pct=50,warm_lru_pct=40",
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined (-o hot_lru_pct=50,warm_lru_pct=40)",
        ),
        ("hot_max_factor=0", "hot_max_factor must be > 0 (-o hot_max_factor=0)"),
        ("warm_max_factor", "Missing warm_max_factor argument (-o warm_max_factor)"),
        (
            "read_buf_mem_limit=abc",
            "could not parse argument to read_buf_mem_limit (-o read_buf_mem_limit=abc)",
        ),
        (
            "ssl_verify_mode=4",
            "Invalid ssl_verify_mode. Use help to see valid options. (-o ssl_verify_mode=4)",
        ),
        (
            "ext_path",
            "missing argument to ext_path, ie: ext_path=/d/file:5G (-o ext_path)",
        ),
        (
            "ext_path=/x",
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported) (-o ext_path=/x)",
        ),
        ("slab_sizes", "Missing slab_sizes argument (-o slab_sizes)"),
        (
            "slab_page_size=1g",
            "slab_page_size: invalid size \"1g\" (bytes, or k/m suffix) (-o slab_page_size=1g)",
        ),
        (
            "slab_page_size=512",
            "slab_page_size must be between 1k and 1024m (-o slab_page_size=512)",
        ),
    ];
    for (list, message) in cases {
        assert_eq!(fail(&["-o", list]), *message, "-o {list}");
    }
}

#[test]
fn resp_obj_mem_limit_warns_deprecated() {
    let c = run(&["-o", "resp_obj_mem_limit=5"]);
    assert_eq!(c.ignored, ["-o resp_obj_mem_limit=5"]);
    assert_eq!(
        c.warnings,
        ["DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit"]
    );
}

#[test]
fn conf_file_lines_come_before_the_command_line() {
    let f = conf_file(
        "# Debian style\n\
         -d\n\
         logfile /var/log/memcached.log\n\
         \n\
         -m 64\n\
         -p 11211\n\
         -u memcache\n\
         -l 127.0.0.1\n\
         -P /var/run/memcached/memcached.pid\n\
         -v\n\
         -o idle_timeout=30   # inline comment\n\
         -o hashpower=20\n",
    );
    let path = f.path().to_str().expect("utf-8 path");
    let alone = run(&["--config", path]);
    assert!(alone.daemonize);
    assert_eq!(alone.memory_limit, 64 << 20);
    assert_eq!(alone.port, 11211);
    assert_eq!(alone.user.as_deref(), Some("memcache"));
    assert_eq!(alone.listen, ["127.0.0.1"]);
    assert_eq!(
        alone.pid_file,
        Some(PathBuf::from("/var/run/memcached/memcached.pid"))
    );
    assert_eq!(alone.verbosity, 1);
    assert_eq!(alone.idle_timeout, 30);
    assert_eq!(alone.config_file, Some(f.path().to_path_buf()));
    assert_eq!(
        alone.ignored,
        [
            "logfile /var/log/memcached.log (larder logs to stderr)",
            "-o hashpower=20"
        ]
    );

    let merged = run(&[
        "-p",
        "11311",
        "--config",
        path,
        "-m",
        "128",
        "-l",
        "10.0.0.1",
        "-o",
        "idle_timeout=60",
        "-v",
        "--foreground",
    ]);
    // Scalars: the command line wins, wherever --config appears in it.
    assert_eq!(merged.port, 11311);
    assert_eq!(merged.memory_limit, 128 << 20);
    // Repeatables accumulate in order: file first.
    assert_eq!(merged.listen, ["127.0.0.1", "10.0.0.1"]);
    assert_eq!(merged.idle_timeout, 60);
    assert_eq!(merged.verbosity, 2);
    assert!(!merged.daemonize);
    assert_eq!(merged.user.as_deref(), Some("memcache"));
}

#[test]
fn conf_file_quotes_and_attached_forms() {
    let f = conf_file(
        "-P \"/tmp/dir with space/l.pid\"\n\
         --unix-socket='/tmp/a b.sock'\n\
         -m128\n\
         --threads=3\n\
         -s \"/tmp/q\\\"x\"\n",
    );
    let c = run(&["--config", f.path().to_str().expect("path")]);
    assert_eq!(c.pid_file, Some(PathBuf::from("/tmp/dir with space/l.pid")));
    assert_eq!(c.unix_socket, Some(PathBuf::from("/tmp/q\"x")));
    assert_eq!(c.memory_limit, 128 << 20);
    assert_eq!(c.threads, 3);
}

#[test]
fn conf_file_errors_name_the_file() {
    let missing = fail(&["--config", "/nonexistent/larder.conf"]);
    assert!(
        missing
            .starts_with("--config /nonexistent/larder.conf: cannot read the configuration file: "),
        "{missing}"
    );
    let f = conf_file("-m 64\n-t 0\n");
    let path = f.path().display().to_string();
    // Validation runs on the merged list; the message names the option.
    assert_eq!(
        fail(&["--config", &path]),
        "Number of threads must be greater than 0 (-t, --threads)"
    );
    let f = conf_file("-m 64\n-o bogus\n");
    let path = f.path().display().to_string();
    assert_eq!(
        fail(&["--config", &path]),
        "Illegal suboption \"bogus\" (-o, --extended)"
    );
    let f = conf_file("-x\n");
    let path = f.path().display().to_string();
    let e = fail(&["--config", &path]);
    assert!(
        e.starts_with(&format!("{path}: ")) && e.contains("'-x'"),
        "{e}"
    );
    let f = conf_file("-P '/tmp/unterminated\n");
    let path = f.path().display().to_string();
    assert_eq!(
        fail(&["--config", &path]),
        format!("{path}: line 1: unterminated single quote")
    );
    let f = conf_file("--config /etc/other.conf\n");
    let path = f.path().display().to_string();
    assert_eq!(
        fail(&["--config", &path]),
        format!("{path}: --config cannot be used inside a configuration file")
    );
}

#[test]
fn conf_file_tokenizer() {
    let (args, ignored) =
        file::tokenize("  # comment\n\t-m   64 \n-l a,b # trailing\n#-v\nlogfile\n-o \"x=1 2\"\n")
            .expect("tokenize");
    assert_eq!(args, ["-m", "64", "-l", "a,b", "-o", "x=1 2"]);
    assert_eq!(ignored, ["logfile  (larder logs to stderr)"]);
}

/// The memcached 1.6.18 `stats settings` names, in its order (shared with tests/ops.rs).
fn memcached_stats_settings() -> Vec<&'static str> {
    include_str!("../../tests/data/memcached-1.6.18-stats-settings.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

#[test]
fn stats_settings_defaults_match_memcached() {
    let mut c = run(&[]);
    c.threads = 4;
    let got: Vec<(&str, String)> = c.stats_settings();
    let expected: Vec<(&str, &str)> = vec![
        ("maxbytes", "67108864"),
        ("maxconns", "1024"),
        ("tcpport", "11211"),
        ("udpport", "0"),
        ("inter", "127.0.0.1"),
        ("verbosity", "0"),
        ("evictions", "on"),
        ("domain_socket", "NULL"),
        ("umask", "700"),
        ("shutdown_command", "no"),
        ("growth_factor", "1.25"),
        ("chunk_size", "48"),
        ("num_threads", "4"),
        ("num_threads_per_udp", "4"),
        ("stat_key_prefix", ":"),
        ("detail_enabled", "no"),
        ("reqs_per_event", "20"),
        ("cas_enabled", "yes"),
        ("tcp_backlog", "1024"),
        ("binding_protocol", "auto-negotiate"),
        ("auth_enabled_sasl", "no"),
        ("auth_enabled_ascii", "no"),
        ("item_size_max", "1048576"),
        ("maxconns_fast", "yes"),
        ("hashpower_init", "0"),
        ("slab_reassign", "yes"),
        ("slab_automove", "1"),
        ("slab_automove_ratio", "0.80"),
        ("slab_automove_window", "30"),
        ("slab_chunk_max", "65536"),
        ("lru_crawler", "yes"),
        ("lru_crawler_sleep", "0"),
        ("lru_crawler_tocrawl", "4096"),
        ("tail_repair_time", "0"),
        ("flush_enabled", "yes"),
        ("dump_enabled", "yes"),
        ("hash_algorithm", "ahash"),
        ("lru_maintainer_thread", "yes"),
        ("lru_segmented", "yes"),
        ("hot_lru_pct", "5"),
        ("warm_lru_pct", "0"),
        ("hot_max_factor", "0.00"),
        ("warm_max_factor", "0.00"),
        ("temp_lru", "no"),
        ("temporary_ttl", "0"),
        ("idle_timeout", "0"),
        ("watcher_logbuf_size", "0"),
        ("worker_logbuf_size", "0"),
        ("read_buf_mem_limit", "0"),
        ("track_sizes", "yes"),
        ("inline_ascii_response", "no"),
        ("num_napi_ids", "(null)"),
        ("memory_file", "(null)"),
        ("slab_page_size", "65536"),
        ("eviction", "s3fifo"),
        ("snapshot_file", "NULL"),
        ("snapshot_interval", "0"),
        ("output_held_limit", "33554432"),
        ("udp_allow_public", "no"),
        ("hotkeys", "yes"),
    ];
    let got_ref: Vec<(&str, &str)> = got.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(got_ref, expected);
    // memcached's names keep memcached's relative order; larder's own come last.
    let memcached = memcached_stats_settings();
    let mut position = 0;
    for (name, _) in &got {
        if matches!(
            *name,
            "slab_page_size"
                | "eviction"
                | "snapshot_file"
                | "snapshot_interval"
                | "output_held_limit"
                | "udp_allow_public"
                | "hotkeys"
        ) {
            continue;
        }
        let at = memcached[position..]
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} out of memcached's order"));
        position += at + 1;
    }
    assert_eq!(got.last().map(|(n, _)| *n), Some("hotkeys"));
}

#[test]
fn stats_settings_reflect_flags() {
    let c = run(&[
        "-m",
        "1024",
        "-c",
        "10",
        "-p",
        "1",
        "-l",
        "a,b",
        "-vv",
        "-M",
        "-s",
        "/tmp/s",
        "-a",
        "755",
        "-A",
        "-f",
        "1.5",
        "-n",
        "64",
        "-t",
        "3",
        "-R",
        "5",
        "-C",
        "-b",
        "7",
        "-B",
        "binary",
        "-S",
        "-I",
        "2m",
        "-F",
        "-X",
        "-o",
        "idle_timeout=9,track_sizes",
    ]);
    let map: std::collections::HashMap<&str, String> = c.stats_settings().into_iter().collect();
    for (k, v) in [
        ("maxbytes", "1073741824"),
        ("maxconns", "10"),
        ("tcpport", "1"),
        ("inter", "a,b"),
        ("verbosity", "2"),
        ("evictions", "off"),
        ("domain_socket", "/tmp/s"),
        ("umask", "755"),
        ("shutdown_command", "yes"),
        ("growth_factor", "1.50"),
        ("chunk_size", "64"),
        ("num_threads", "3"),
        ("reqs_per_event", "5"),
        ("cas_enabled", "no"),
        ("tcp_backlog", "7"),
        ("binding_protocol", "binary"),
        ("auth_enabled_sasl", "yes"),
        ("item_size_max", "2097152"),
        ("flush_enabled", "no"),
        ("dump_enabled", "no"),
        ("idle_timeout", "9"),
        ("track_sizes", "yes"),
    ] {
        assert_eq!(map[k], v, "{k}");
    }
}

#[test]
fn validate_checks_hand_built_configs() {
    let mut c = Config::default();
    assert_eq!(c.validate(), Ok(()));
    c.udp_port = 11211;
    assert_eq!(c.validate(), Ok(()), "UDP on loopback");
    c.listen = vec!["127.0.0.1".into(), "*".into()];
    assert!(c
        .validate()
        .unwrap_err()
        .message()
        .contains("UDP on a non-loopback address (-l *)"));
    c.udp_allow_public = true;
    assert_eq!(c.validate(), Ok(()));
    c.auth_file = Some("/nonexistent".into());
    assert_eq!(
        c.validate().unwrap_err().message(),
        "Cannot use UDP with ascii authentication enabled (-U 0 to disable)"
    );
    let mut c = Config::default();
    c.listen.clear();
    assert_eq!(
        c.validate().unwrap_err().message(),
        "-l, --listen: no address given"
    );
    let c = Config {
        backlog: -1,
        ..Config::default()
    };
    assert_eq!(
        c.validate().unwrap_err().message(),
        "Listen backlog must not be negative (-b, --listen-backlog -1)"
    );
    let c = Config {
        listen: vec!["[::1".into(), "127.0.0.1".into()],
        ..Config::default()
    };
    assert!(c.validate().is_err());
    // An unvalidated bad entry is skipped rather than panicking.
    assert_eq!(c.listen_addrs().len(), 1);
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("memcached.conf.example")
}

#[test]
fn example_conf_parses_to_a_valid_config() {
    let path = example_path();
    let c = run(&["--config", path.to_str().expect("path")]);
    assert_eq!(c.config_file, Some(path));
    assert_eq!(c.port, 11211);
    assert_eq!(c.listen, ["127.0.0.1"]);
    assert_eq!(c.memory_limit, 64 << 20);
    assert_eq!(c.max_connections, 1024);
    assert!(!c.daemonize);
    assert!(c.ignored.is_empty(), "{:?}", c.ignored);
}

#[test]
fn every_documented_option_in_the_example_parses() {
    // Commented-out option lines ("# -M", "#-o idle_timeout=30") document the other
    // options; each must be valid when enabled on top of the example's active lines.
    let path = example_path();
    let text = std::fs::read_to_string(&path).expect("read example");
    let mut documented = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let option = rest.trim();
        if !option.starts_with('-') {
            continue;
        }
        documented += 1;
        let (extra, _) = file::tokenize(option).expect("tokenize documented line");
        let mut list = vec![
            OsString::from("larder"),
            OsString::from("--config"),
            path.clone().into_os_string(),
        ];
        list.extend(extra);
        match Config::from_args(list) {
            Ok(ConfigOutcome::Run(_)) => {}
            Ok(_) if option.starts_with("-h") || option.starts_with("-V") => {}
            other => panic!("documented line {option:?} does not parse: {other:?}"),
        }
    }
    assert!(
        documented >= 30,
        "only {documented} documented option lines"
    );
}

/// The first line memcached 1.6 prints for `args`, run through `timeout` so that a
/// memcached that unexpectedly starts is stopped; `None` when memcached is not installed.
fn memcached_first_line(list: &[&str]) -> Option<String> {
    let memcached = Path::new("/usr/bin/memcached");
    if !memcached.exists() {
        return None;
    }
    let out = std::process::Command::new("timeout")
        .arg("5")
        .arg(memcached)
        .args(list)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run memcached");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some(text.lines().next().unwrap_or("").trim().to_string())
}

/// memcached itself is the oracle: every suboption larder accepts for compatibility is
/// one memcached accepts (memcached then stops at `-f 1`), and names it rejects larder
/// rejects too. Skipped where memcached is not installed.
#[test]
fn suboptions_agree_with_installed_memcached() {
    if memcached_first_line(&["-V"]).is_none() {
        eprintln!("memcached not installed: oracle test skipped");
        return;
    }
    for name in SUBOPTIONS {
        if *name == "slab_page_size" || *name == "resp_obj_mem_limit" {
            continue; // larder's own; memcached prints a deprecation line first
        }
        let token = match valid_value(name) {
            Some(v) => format!("{name}={v}"),
            None => name.to_string(),
        };
        assert_eq!(
            memcached_first_line(&["-o", &token, "-f", "1"]).as_deref(),
            Some("Factor must be greater than 1"),
            "memcached rejects -o {token}"
        );
    }
    for bogus in [
        "foo",
        "lru_segmented",
        "slab_page_size=64k",
        "no_track_sizes",
    ] {
        let theirs = memcached_first_line(&["-o", bogus, "-f", "1"]).expect("memcached");
        assert_eq!(theirs, format!("Illegal suboption \"{bogus}\""));
        if bogus != "slab_page_size=64k" {
            assert!(fail(&["-o", bogus]).starts_with(&theirs), "{bogus}");
        }
    }
}

/// Sanity errors: larder's message starts with memcached's own for the same flags.
#[test]
fn sanity_errors_agree_with_installed_memcached() {
    if memcached_first_line(&["-V"]).is_none() {
        eprintln!("memcached not installed: oracle test skipped");
        return;
    }
    let cases: &[&[&str]] = &[
        &["-f", "1"],
        &["-t", "0"],
        &["-c", "0"],
        &["-R", "0"],
        &["-n", "0"],
        &["-I", "512"],
        &["-I", "40m"],
        &["-p", "70000"],
        &["-o", "hashpower=11"],
        &["-o", "hashpower=33"],
        &["-o", "tail_repair_time=5"],
        &["-o", "slab_automove=3"],
        &["-o", "slab_automove_ratio=0"],
        &["-o", "slab_automove_window=2"],
        &["-o", "lru_crawler_sleep=1000001"],
        &["-o", "lru_crawler_tocrawl=x"],
        &["-o", "hot_lru_pct=80"],
        &["-o", "hot_max_factor=0"],
        &["-o", "read_buf_mem_limit=x"],
        &["-o", "ssl_verify_mode=4"],
        &["-o", "hash_algorithm=md5"],
        &["-o", "idle_timeout"],
        &["-o", "ext_path"],
        &["-o", "hot_lru_pct=50,warm_lru_pct=40"],
        &["-S", "-B", "ascii"],
    ];
    for list in cases {
        let mut with_user = vec!["-u", "nobody", "-l", "127.0.0.1", "-p", "0"];
        with_user.extend_from_slice(list);
        let theirs = memcached_first_line(&with_user).expect("memcached");
        let ours = fail(list);
        assert!(
            ours.starts_with(&theirs) && !theirs.is_empty(),
            "{list:?}: memcached says {theirs:?}, larder {ours:?}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arg() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "-p",
                "-U",
                "-s",
                "-a",
                "-A",
                "-l",
                "-d",
                "-u",
                "-m",
                "-M",
                "-c",
                "-k",
                "-v",
                "-vv",
                "-P",
                "-f",
                "-n",
                "-L",
                "-t",
                "-R",
                "-C",
                "-b",
                "-B",
                "-I",
                "-S",
                "-F",
                "-X",
                "-Y",
                "-o",
                "-D",
                "-e",
                "-N",
                "-W",
                "-r",
                "--port",
                "--listen=",
                "--extended",
                "--foreground",
                "idle_timeout=5",
                "hashpower=x",
                "1m",
                "0",
                "64",
                "[::1]:9",
                "*",
                "a,b;c",
            ])
            .prop_map(str::to_string),
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        /// Any argument list gives a config, a help/version text or an error: no panic,
        /// and every accepted config validates.
        #[test]
        fn from_args_never_panics(list in prop::collection::vec(arg(), 0..8)) {
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            if let Ok(ConfigOutcome::Run(c)) = Config::from_args(args(&refs)) {
                prop_assert_eq!(c.validate(), Ok(()));
                prop_assert_eq!(c.listen_addrs().len(), c.listen.len());
            }
        }

        /// Single-quoted words come back exactly, whatever they contain.
        #[test]
        fn quoted_words_round_trip(words in prop::collection::vec("[^'\n\r]{0,12}", 1..6)) {
            let line: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
            let (parsed, ignored) = file::tokenize(&line.join(" ")).expect("tokenize");
            let expected: Vec<OsString> = words.iter().map(OsString::from).collect();
            prop_assert_eq!(parsed, expected);
            prop_assert!(ignored.is_empty());
        }

        /// Sizes: plain bytes, k and m multiply by 1024 and 1024².
        #[test]
        fn sizes_scale_by_suffix(n in 0usize..(1 << 20), suffix in 0usize..5) {
            let (text, multiplier) = [("", 1), ("k", 1024), ("K", 1024), ("m", 1 << 20), ("M", 1 << 20)][suffix];
            prop_assert_eq!(super::parse_size(&format!("{n}{text}")), Some(n * multiplier));
        }

        /// `-l host:port` binds that host and port.
        #[test]
        fn listen_host_port(host in "[a-z][a-z0-9.-]{0,15}", port in any::<u16>()) {
            let entry = format!("{host}:{port}");
            let c = run(&["-l", &entry]);
            prop_assert_eq!(c.listen_addrs(), vec![ListenAddr { host: Some(host), port, notls: false }]);
        }
    }
}

#[test]
fn udp_binds_the_listen_addresses_and_knows_loopback() {
    let c = run(&["-U", "11311", "-l", "127.0.0.1,[::1]:5000,localhost"]);
    let udp = c.udp_addrs();
    let addrs: Vec<(Option<&str>, u16)> = udp.iter().map(|a| (a.host.as_deref(), a.port)).collect();
    // An entry's own port wins, as in memcached (it sets both transports' port).
    assert_eq!(
        addrs,
        [
            (Some("127.0.0.1"), 11311),
            (Some("::1"), 5000),
            (Some("localhost"), 11311)
        ]
    );
    let c = run(&["-U", "11311", "-l", "0.0.0.0", "-o", "udp_allow_public"]);
    assert!(c.udp_allow_public);
    assert!(c
        .stats_settings()
        .contains(&("udp_allow_public", "yes".to_string())));
    assert!(run(&[]).hot_keys);
    assert!(!run(&["-o", "no_hotkeys"]).hot_keys);
    assert!(run(&["-o", "no_hotkeys,hotkeys"]).hot_keys);
    // A unix socket turns UDP off, as in memcached; so does -U 0.
    assert!(!run(&["-U", "11311", "-s", "/tmp/x.sock"]).udp_enabled());
    assert!(!run(&[]).udp_enabled());
    for (host, loopback) in [
        (Some("127.0.0.1"), true),
        (Some("127.5.6.7"), true),
        (Some("::1"), true),
        (Some("LocalHost"), true),
        (Some("0.0.0.0"), false),
        (Some("::"), false),
        (Some("10.0.0.1"), false),
        (Some("cache.example"), false),
        (None, false),
    ] {
        assert_eq!(listen::is_loopback(host), loopback, "{host:?}");
    }
}

#[test]
fn tls_options_set_fields_and_stats_settings() {
    use crate::config::tls::{KeyFormat, MinVersion, VerifyMode};
    let c = run(&[
        "-Z",
        "-o",
        "ssl_chain_cert=/c.pem,ssl_key=/k.der,ssl_keyformat=2,ssl_verify_mode=3",
        "-o",
        "ssl_ca_cert=/ca.pem,ssl_min_version=tlsv1.3,ssl_wbuf_size=32,ssl_session_cache",
        "-o",
        "ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256",
    ]);
    assert!(c.tls.enabled);
    assert_eq!(c.tls.key_format, KeyFormat::Der);
    assert_eq!(c.tls.verify_mode, VerifyMode::Once);
    assert_eq!(c.tls.min_version, MinVersion::Tls13);
    assert_eq!(c.tls.wbuf_size, 32 * 1024);
    let rows = c.stats_settings();
    let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
    let at = names
        .iter()
        .position(|n| *n == "ssl_enabled")
        .expect("ssl rows");
    assert_eq!(names[at - 1], "inline_ascii_response");
    assert_eq!(names[at + 11], "num_napi_ids");
    let get = |k: &str| rows.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("ssl_key"), Some("/k.der"));
    assert_eq!(get("ssl_keyformat"), Some("2"));
    assert_eq!(get("ssl_verify_mode"), Some("3"));
    assert_eq!(get("ssl_wbuf_size"), Some("32768"));
    assert_eq!(get("ssl_min_version"), Some("tlsv1.3"));
    assert_eq!(get("ssl_ciphers"), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    // Without -Z no TLS rows (as a memcached built without TLS).
    assert!(run(&[])
        .stats_settings()
        .iter()
        .all(|(n, _)| !n.starts_with("ssl_")));
}
