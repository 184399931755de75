//! The flag grammar: memcached 1.6's short flags and long option names as a clap command,
//! and the conversion of parsed matches into a [`Config`].
//!
//! clap only splits arguments here (every value is taken as a string or path); values are
//! converted by this module so each error names the option the way memcached's do. clap's
//! own help and version handling is off: `-h`, `-i` and `-V` become [`ConfigOutcome`]s.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Arg, ArgAction, ArgMatches, ColorChoice, Command};

use super::extended;
use super::{default_threads, parse_size, Config, ConfigError, ConfigOutcome, ProtocolMode};

/// Arguments after clap's split, before conversion.
pub(super) struct Parsed {
    matches: ArgMatches,
    /// `--config FILE`, if present.
    pub(super) config_file: Option<PathBuf>,
}

/// Splits `args` (program name first) with the memcached grammar.
pub(super) fn parse(args: &[OsString]) -> Result<Parsed, ConfigError> {
    let matches = command()
        .try_get_matches_from(args)
        .map_err(|e| ConfigError::new(clap_message(&e)))?;
    let config_file = matches.get_one::<PathBuf>("config").cloned();
    Ok(Parsed {
        matches,
        config_file,
    })
}

/// clap's message without its `error: ` prefix, usage and tips: the first line says what is
/// wrong and quotes the option.
fn clap_message(err: &clap::Error) -> String {
    let text = err.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments").trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn flag(id: &'static str, short: char, long: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .long(long)
        .action(ArgAction::SetTrue)
}

fn value(id: &'static str, short: char, long: &'static str, name: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .long(long)
        .value_name(name)
        .action(ArgAction::Set)
}

fn path(id: &'static str, short: char, long: &'static str) -> Arg {
    value(id, short, long, "file").value_parser(clap::value_parser!(PathBuf))
}

/// The clap command: memcached 1.6.18's `getopt_long` table plus `--config`.
fn command() -> Command {
    Command::new("larder")
        .no_binary_name(false)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .color(ColorChoice::Never)
        // getopt: a repeated scalar option takes the last value (conf file, then argv).
        .args_override_self(true)
        // getopt_long: unambiguous prefixes of long options are accepted.
        .infer_long_args(true)
        .args([
            value("port", 'p', "port", "num"),
            value("udp-port", 'U', "udp-port", "num"),
            path("unix-socket", 's', "unix-socket"),
            value("unix-mask", 'a', "unix-mask", "mask"),
            flag("enable-shutdown", 'A', "enable-shutdown"),
            value("listen", 'l', "listen", "addr").action(ArgAction::Append),
            flag("daemon", 'd', "daemon"),
            flag("enable-coredumps", 'r', "enable-coredumps"),
            value("user", 'u', "user", "user"),
            value("memory-limit", 'm', "memory-limit", "num"),
            flag("disable-evictions", 'M', "disable-evictions"),
            value("conn-limit", 'c', "conn-limit", "num"),
            flag("lock-memory", 'k', "lock-memory"),
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count),
            flag("help", 'h', "help"),
            flag("license", 'i', "license"),
            flag("version", 'V', "version"),
            path("pidfile", 'P', "pidfile"),
            value("slab-growth-factor", 'f', "slab-growth-factor", "num"),
            value("slab-min-size", 'n', "slab-min-size", "bytes"),
            flag("enable-largepages", 'L', "enable-largepages").visible_alias("large-memory-pages"),
            // memcached has no long name for -D.
            Arg::new("delimiter")
                .short('D')
                .value_name("char")
                .action(ArgAction::Set),
            value("threads", 't', "threads", "num"),
            value("max-reqs-per-event", 'R', "max-reqs-per-event", "num"),
            flag("disable-cas", 'C', "disable-cas"),
            value("listen-backlog", 'b', "listen-backlog", "num"),
            value("protocol", 'B', "protocol", "name"),
            value("max-item-size", 'I', "max-item-size", "num"),
            flag("enable-sasl", 'S', "enable-sasl"),
            flag("disable-flush-all", 'F', "disable-flush-all"),
            flag("disable-dumping", 'X', "disable-dumping"),
            flag("disable-watch", 'W', "disable-watch"),
            path("auth-file", 'Y', "auth-file"),
            path("memory-file", 'e', "memory-file").visible_alias("snapshot-file"),
            flag("enable-ssl", 'Z', "enable-ssl"),
            value("extended", 'o', "extended", "options").action(ArgAction::Append),
            value("napi-ids", 'N', "napi-ids", "num"),
            Arg::new("foreground")
                .long("foreground")
                .action(ArgAction::SetTrue),
            Arg::new("config")
                .long("config")
                .value_name("file")
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(PathBuf)),
        ])
}

impl Parsed {
    /// `-h`, `-i` or `-V`, if given (in that priority).
    pub(super) fn early_exit(&self) -> Option<ConfigOutcome> {
        if self.matches.get_flag("help") {
            Some(ConfigOutcome::Help(usage()))
        } else if self.matches.get_flag("license") {
            Some(ConfigOutcome::Help(license()))
        } else if self.matches.get_flag("version") {
            Some(ConfigOutcome::Version(version()))
        } else {
            None
        }
    }

    fn string(&self, id: &str) -> Option<&str> {
        self.matches.get_one::<String>(id).map(String::as_str)
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        self.matches.get_one::<PathBuf>(id).cloned()
    }

    fn number<T: FromStr>(&self, id: &str, label: &str) -> Result<Option<T>, ConfigError> {
        self.string(id)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|_| ConfigError::new(format!("{label}: invalid number \"{v}\"")))
            })
            .transpose()
    }

    /// Converts the matches into a validated configuration. `file_ignored` lists the
    /// conf-file-only lines (such as Debian's `logfile`) that were accepted without effect.
    pub(super) fn into_config(
        self,
        file_ignored: Vec<String>,
    ) -> Result<ConfigOutcome, ConfigError> {
        let mut c = Config {
            threads: default_threads(),
            ignored: file_ignored,
            config_file: self.config_file.clone(),
            ..Config::default()
        };
        if let Some(port) = self.number::<u64>("port", "-p, --port")? {
            c.port = port_number(port, "-p, --port")?;
        }
        if let Some(port) = self.number::<u64>("udp-port", "-U, --udp-port")? {
            c.udp_port = port_number(port, "-U, --udp-port")?;
        }
        c.unix_socket = self.path("unix-socket");
        if let Some(mask) = self.string("unix-mask") {
            c.unix_mask = u32::from_str_radix(mask.trim(), 8).map_err(|_| {
                ConfigError::new(format!("-a, --unix-mask: invalid octal mask \"{mask}\""))
            })?;
        }
        c.shutdown_enabled = self.matches.get_flag("enable-shutdown");
        if let Some(entries) = self.matches.get_many::<String>("listen") {
            // memcached joins repeated -l with ',' and splits on ',' and ';'; it also skips
            // an entry it already has.
            let mut listen: Vec<String> = Vec::new();
            for item in entries.flat_map(|e| e.split([',', ';'])) {
                let item = item.trim();
                if !listen.iter().any(|l| l == item) {
                    listen.push(item.to_string());
                }
            }
            c.listen = listen;
        }
        // --foreground (larder) wins over -d, e.g. a Debian memcached.conf under systemd.
        c.daemonize = self.matches.get_flag("daemon") && !self.matches.get_flag("foreground");
        c.enable_coredumps = self.matches.get_flag("enable-coredumps");
        c.user = self.string("user").map(str::to_string);
        if let Some(mb) = self.number::<usize>("memory-limit", "-m, --memory-limit")? {
            c.memory_limit = mb.checked_mul(1024 * 1024).ok_or_else(|| {
                ConfigError::new(format!("-m, --memory-limit: {mb} megabytes is too large"))
            })?;
        }
        c.no_evict = self.matches.get_flag("disable-evictions");
        if let Some(n) = self.number("conn-limit", "-c, --conn-limit")? {
            c.max_connections = n;
        }
        c.lock_memory = self.matches.get_flag("lock-memory");
        if c.lock_memory {
            c.ignored.push("-k (--lock-memory)".to_string());
        }
        c.verbosity = self.matches.get_count("verbose");
        c.pid_file = self.path("pidfile");
        if let Some(f) = self.number::<f64>("slab-growth-factor", "-f, --slab-growth-factor")? {
            c.factor = f;
        }
        if let Some(n) = self.number("slab-min-size", "-n, --slab-min-size")? {
            c.chunk_size_min = n;
        }
        c.large_pages = self.matches.get_flag("enable-largepages");
        if c.large_pages {
            c.ignored.push("-L (--enable-largepages)".to_string());
        }
        if let Some(d) = self.string("delimiter") {
            // memcached takes the first byte of the argument.
            c.prefix_delimiter = d.as_bytes().first().copied().unwrap_or(0);
            c.detail_enabled = true;
        }
        if let Some(t) = self.number("threads", "-t, --threads")? {
            c.threads = t;
        }
        if let Some(r) = self.number("max-reqs-per-event", "-R, --max-reqs-per-event")? {
            c.reqs_per_event = r;
        }
        c.use_cas = !self.matches.get_flag("disable-cas");
        if let Some(b) = self.number("listen-backlog", "-b, --listen-backlog")? {
            c.backlog = b;
        }
        let protocol_specified = match self.string("protocol") {
            None => false,
            Some(name) => {
                c.protocol = protocol(name)?;
                true
            }
        };
        if let Some(size) = self.string("max-item-size") {
            c.item_size_max = item_size(size)?;
        }
        c.sasl = self.matches.get_flag("enable-sasl");
        c.flush_enabled = !self.matches.get_flag("disable-flush-all");
        c.cachedump_disabled = self.matches.get_flag("disable-dumping");
        if self.matches.get_flag("disable-watch") {
            c.ignored
                .push("-W (--disable-watch: larder has no watch command)".to_string());
        }
        c.auth_file = self.path("auth-file");
        c.snapshot_file = self.path("memory-file");
        c.tls.enabled = self.matches.get_flag("enable-ssl");
        if let Some(n) = self.string("napi-ids") {
            c.ignored.push(format!("-N {n} (--napi-ids)"));
        }
        if let Some(lists) = self.matches.get_many::<String>("extended") {
            let mut lru = extended::LruPct::default();
            for list in lists {
                extended::apply(&mut c, &mut lru, list)?;
            }
            lru.check()?;
        }
        // memcached: SASL implies the binary protocol and ascii auth tokens the ascii
        // protocol, unless -B says otherwise (validate() rejects the contradictions).
        if !protocol_specified {
            if c.sasl {
                c.protocol = ProtocolMode::Binary;
            }
            if c.auth_file.is_some() {
                c.protocol = ProtocolMode::Ascii;
            }
        }
        if c.threads > super::THREADS_WARN_ABOVE {
            c.warnings.push(
                "WARNING: Setting a high number of worker threads is not recommended. \
                 Set this value to the number of cores in your machine or less."
                    .to_string(),
            );
        }
        let mut seen = Vec::with_capacity(c.ignored.len());
        c.ignored.retain(|i| {
            let new = !seen.contains(i);
            seen.push(i.clone());
            new
        });
        c.validate()?;
        Ok(ConfigOutcome::Run(c))
    }
}

fn port_number(port: u64, label: &str) -> Result<u16, ConfigError> {
    u16::try_from(port)
        .map_err(|_| ConfigError::new(format!("ERROR: Invalid port number {port}. ({label})")))
}

fn protocol(name: &str) -> Result<ProtocolMode, ConfigError> {
    match name {
        "auto" => Ok(ProtocolMode::Auto),
        "ascii" => Ok(ProtocolMode::Ascii),
        "binary" => Ok(ProtocolMode::Binary),
        _ => Err(ConfigError::new(format!(
            "Invalid value for binding protocol: {name} -- should be one of auto, binary, or ascii (-B, --protocol)"
        ))),
    }
}

/// `-I`: plain bytes or a `k`/`m` suffix (either case), as memcached.
fn item_size(text: &str) -> Result<usize, ConfigError> {
    parse_size(text).ok_or_else(|| {
        ConfigError::new(format!(
            "-I, --max-item-size: invalid size \"{text}\" (bytes, or a number with a k or m suffix)"
        ))
    })
}

/// The version line (`-V`).
pub(super) fn version() -> String {
    format!(
        "larder {} (memcached 1.6 compatible)\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn license() -> String {
    format!(
        "larder {}\nLicensed under either of the Apache License, Version 2.0 or the MIT license, \
         at your option.\nlarder is a compatible reimplementation of memcached's interface; it \
         contains no memcached code.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The `-h` text: memcached's usage layout, listing every option larder reads.
pub(super) fn usage() -> String {
    format!(
        "larder {version} (memcached 1.6 compatible)
Usage: larder [options]   (options are memcached's; unlisted memcached options are errors)

Differences from memcached: the default listen address is 127.0.0.1 (memcached binds
every interface); UDP (-U) on an address that is not loopback needs -o udp_allow_public;
options marked [ignored] are accepted for compatibility and have no effect (larder logs
each one at startup).

--config=<file>           read options from <file> first, one per line as on the command
                          line (Debian /etc/memcached.conf format, '#' comments); options
                          on the command line come after the file's and win
-p, --port=<num>          TCP port to listen on (default: 11211, 0 = TCP off)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off), on the -l addresses
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
-A, --enable-shutdown     enable ascii \"shutdown\" command
-l, --listen=<addr>       interface to listen on (default: 127.0.0.1); repeatable and
                          comma separated; <addr> may be host, host:port, [ipv6]:port or
                          * for every interface; with -Z, a notls: prefix keeps that
                          listener in plain text (-l notls:<ip>:<port>)
-d, --daemon              run as a daemon
--foreground              (larder) do not daemonize even if -d is given (for systemd
                          with a memcached.conf that contains -d)
-r, --enable-coredumps    maximize core file limit
-u, --user=<user>         assume identity of <username> (only when run as root)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-k, --lock-memory         lock down all paged memory [ignored]
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
-vvv                      extremely verbose (internal state transitions)
-h, --help                print this help and exit
-i, --license             print the license and exit
-V, --version             print version and exit
-P, --pidfile=<file>      save PID in <file>
-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)
-L, --enable-largepages   try to use large memory pages [ignored]
-D <char>                 per-prefix stats delimiter (turns them on)
-t, --threads=<num>       number of threads to use (default: {threads}, the number of cores)
-R, --max-reqs-per-event  maximum number of requests per event, limits the
                          requests processed per connection to prevent
                          starvation (default: 20)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
-I, --max-item-size=<num> adjusts max item size
                          (default: 1m, min: 1k, max: 1024m; at most half of -m)
-S, --enable-sasl         turn on Sasl authentication (binary protocol)
-F, --disable-flush-all   disable flush_all command
-X, --disable-dumping     disable stats cachedump and lru_crawler metadump
-W, --disable-watch       disable watch commands [ignored: larder has none]
-Y, --auth-file=<file>    enable ASCII protocol authentication. format:
                          user:pass\\nuser2:pass2\\n
-e, --memory-file=<file>  snapshot file: loaded at start, written at a graceful stop
                          (SIGTERM, SIGINT, SIGUSR1, shutdown); also --snapshot-file
-Z, --enable-ssl          enable TLS/SSL on the TCP listeners (rustls; TLS 1.2 and 1.3)
-N, --napi-ids=<num>      number of napi ids [ignored]
-o, --extended            comma separated list of extended options
   - idle_timeout:        timeout for idle connections. (default: 0, no timeout)
   - maxconns_fast:       immediately close new connections after limit (default: enabled)
   - no_maxconns_fast:    queue new connections over the limit instead
   - track_sizes:         enable dynamic reports for 'stats sizes' command.
   - slab_page_size:      (larder) bytes per segment, k/m suffixes (default: 64k)
   - eviction:            (larder) s3fifo (default), lru (segmented, as memcached) or lfu
   - metrics_port:        (larder) serve Prometheus /metrics on this port (first -l host)
   - cluster_config:      (larder) node list file for 'config get cluster' (SIGHUP reloads)
   - snapshot_interval:   (larder) also write the -e snapshot every N seconds (default: 0)
   - output_held_limit:   (larder) megabytes of unsent replies held for slow readers, all
                          connections together, before they stop reading (default: 32)
   - ssl_chain_cert:      certificate chain file in PEM format
   - ssl_key:             private key, if not part of the -ssl_chain_cert
   - ssl_keyformat:       private key format (PEM or DER; ENGINE is refused)
   - ssl_verify_mode:     peer certificate verification mode, default is 0(None).
                          valid values are 0(None), 1(Request), 2(Require)
                          or 3(Once); 1-3 need ssl_ca_cert
   - ssl_ciphers:         cipher list (OpenSSL or IANA names rustls implements,
                          ':'-separated; DEFAULT, HIGH and ALL mean all of them)
   - ssl_ca_cert:         PEM format file of acceptable client CA's
   - ssl_wbuf_size:       size in kilobytes of per-connection SSL output buffer
                          (default: 16)
   - ssl_session_cache:   enable server-side SSL session cache, to support session
                          resumption
   - ssl_session_tickets: (larder) enable stateless session tickets for resumption
   - ssl_min_version:     minimum protocol version to accept (default: tlsv1.2)
                          valid values are 2(tlsv1.2) or 3(tlsv1.3); tlsv1.0 and
                          tlsv1.1 are refused (rustls does not implement them)
   - udp_allow_public:    (larder) allow -U on addresses that are not loopback (UDP can
                          be abused to flood third parties: reflection attacks)
   - no_hotkeys:          (larder) do not sample lookups for 'stats hotkeys' (default:
                          sampled, one lookup in 64; 'hotkeys' turns it back on)
   accepted and validated as memcached does, but without effect [ignored]:
     hashpower, no_hashexpand, tail_repair_time, hash_algorithm, lru_crawler,
     no_lru_crawler, lru_crawler_sleep, lru_crawler_tocrawl, lru_maintainer,
     no_lru_maintainer, hot_lru_pct, warm_lru_pct, hot_max_factor, warm_max_factor,
     temporary_ttl, slab_reassign, no_slab_reassign, slab_automove, no_slab_automove,
     slab_automove_ratio, slab_automove_window, slab_automove_freeratio, slab_chunk_max,
     slab_sizes, read_buf_mem_limit, resp_obj_mem_limit, watcher_logbuf_size,
     worker_logbuf_size, inline_ascii_resp, no_inline_ascii_resp, no_chunked_items,
     modern, no_modern, drop_privileges, no_drop_privileges, sock_cookie_id,
     ext_path, ext_page_size, ext_wbuf_size, ext_threads, ext_io_depth, ext_item_size,
     ext_item_age, ext_low_ttl, ext_recache_rate, ext_compact_under, ext_drop_under,
     ext_max_sleep, ext_max_frag, ext_drop_unread, ssl_kernel_tls
",
        version = env!("CARGO_PKG_VERSION"),
        threads = default_threads(),
    )
}
