//! memcached-compatible command line and configuration file → one immutable [`Config`].
//!
//! larder is run in place of memcached, so it reads memcached 1.6's flags with memcached's
//! names, defaults and sanity errors (`larder -p 11211 -m 1024 -t 4` means what it means to
//! memcached). This module owns:
//!
//! - the flag grammar (`config/cli.rs`, built with clap): every short flag and long option
//!   name memcached 1.6 accepts, plus `--config FILE`;
//! - `-o key=value[,key=value...]` suboptions (`config/extended.rs`): every name memcached
//!   1.6.18 accepts, validated the way memcached validates them, with an error naming the
//!   suboption for anything else;
//! - the configuration file (`config/file.rs`) in Debian's `/etc/memcached.conf` format: one
//!   command-line option per line, `#` comments. The file is tokenized into arguments and
//!   parsed by the same grammar;
//! - cross-option validation ([`Config::validate`]) with memcached's messages;
//! - the `stats settings` view of a configuration ([`Config::stats_settings`]).
//!
//! It must not know about sockets, the store or the protocol: it imports nothing from larder.
//!
//! # Merge order of `--config FILE` and the command line
//!
//! memcached has no configuration file; Debian's init script turns each line of
//! `/etc/memcached.conf` into arguments. larder does the same: the effective argument list is
//! *the file's arguments first, then the command line's*, parsed as one list. So for scalar
//! options (`-p`, `-m`, `-t`, ...) the command line wins; repeatable options accumulate in
//! order (`-l` addresses from both are bound, `-o` suboptions are applied in order so a later
//! `-o idle_timeout=N` wins, `-v` counts add up).
//!
//! # Deliberate differences from memcached
//!
//! - The default listen address is `127.0.0.1`, not every interface (`-l 0.0.0.0` or `-l *`
//!   to bind all).
//! - UDP (`-U`) on an address that is not loopback is refused unless `-o udp_allow_public`
//!   acknowledges it (open UDP caches were used for reflection attacks); memcached only
//!   leaves UDP off by default.
//! - TLS (`-Z`, `-o ssl_*`, `config/tls.rs`) is rustls: TLS 1.2 and 1.3 only, so
//!   `ssl_min_version` 0/1 and `ssl_keyformat=ENGINE` are startup errors.
//! - Numbers are parsed strictly: memcached's `atoi` turns `-p abc` into port 0; larder
//!   reports an error naming the option.
//! - Options without effect in larder are accepted and listed in [`Config::ignored`] so the
//!   daemon can log each one.

mod cli;
mod extended;
mod file;
mod listen;
mod size;
mod stats_settings;
#[cfg(test)]
mod tests;
pub mod tls;

pub(crate) use size::parse_size;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use listen::parse_listen_entry;

/// memcached's default TCP port.
pub const DEFAULT_PORT: u16 = 11211;
/// Default item memory, in megabytes (`-m`).
pub const DEFAULT_MEMORY_LIMIT_MB: usize = 64;
/// Default maximum simultaneous connections (`-c`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default slab growth factor (`-f`).
pub const DEFAULT_FACTOR: f64 = 1.25;
/// Default minimum space for key + value + flags, in bytes (`-n`).
pub const DEFAULT_CHUNK_SIZE_MIN: usize = 48;
/// Default number of requests served per connection per event (`-R`).
pub const DEFAULT_REQS_PER_EVENT: usize = 20;
/// Default listen backlog (`-b`).
pub const DEFAULT_BACKLOG: i32 = 1024;
/// Default maximum item size, in bytes (`-I 1m`).
pub const DEFAULT_ITEM_SIZE_MAX: usize = 1024 * 1024;
/// Smallest accepted `-I`, in bytes (memcached's `ITEM_SIZE_MAX_LOWER_LIMIT`).
pub const ITEM_SIZE_MAX_LOWER_LIMIT: usize = 1024;
/// Largest accepted `-I`, in bytes (memcached's `ITEM_SIZE_MAX_UPPER_LIMIT`, 1024m).
pub const ITEM_SIZE_MAX_UPPER_LIMIT: usize = 1024 * 1024 * 1024;
/// Default unix socket access mask (`-a`).
pub const DEFAULT_UNIX_MASK: u32 = 0o700;
/// Default slab page size, in bytes (larder's `-o slab_page_size`).
pub const DEFAULT_SLAB_PAGE_SIZE: usize = 64 * 1024;
/// Default of `-o output_held_limit`, in megabytes.
pub const DEFAULT_OUTPUT_HELD_LIMIT_MB: usize = 32;
/// Smallest accepted slab page size, in bytes.
pub const SLAB_PAGE_SIZE_MIN: usize = 1024;
/// Largest accepted slab page size, in bytes.
pub const SLAB_PAGE_SIZE_MAX: usize = 1024 * 1024 * 1024;
/// The listen address used when no `-l` is given (memcached binds every interface).
pub const DEFAULT_LISTEN: &str = "127.0.0.1";
/// memcached warns above this many worker threads.
pub const THREADS_WARN_ABOVE: usize = 64;

/// Which wire protocol connections speak (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolMode {
    /// Sniff each connection's first byte: `0x80` is binary, anything else text (default).
    Auto,
    /// Text protocol only (classic and meta commands).
    Ascii,
    /// Binary protocol only.
    Binary,
}

impl ProtocolMode {
    /// The name memcached prints in `stats settings` (`binding_protocol`).
    pub fn stats_name(self) -> &'static str {
        match self {
            ProtocolMode::Auto => "auto-negotiate",
            ProtocolMode::Ascii => "ascii",
            ProtocolMode::Binary => "binary",
        }
    }
}

/// One immutable, validated configuration of the daemon.
///
/// Field names follow memcached's long options; the doc of each field names its flag and
/// default. Build it with [`Config::from_args`]; [`Config::default`] gives the defaults for
/// tests (call [`Config::validate`] after changing fields by hand).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `-p, --port`: TCP port (default 11211). 0 turns TCP off, as in memcached, even for
    /// `-l host:port` entries.
    pub port: u16,
    /// `-U, --udp-port`: UDP port (default 0, off). Bound on the `-l` addresses (an entry's
    /// own `:port` wins, as in memcached); see [`Config::udp_enabled`].
    pub udp_port: u16,
    /// `-o udp_allow_public` (larder): allow `-U` on addresses that are not loopback. UDP
    /// answers can be far larger than requests and their source address is not checked, so
    /// an open UDP port can be used to flood a third party (reflection/amplification).
    pub udp_allow_public: bool,
    /// `-Z` and `-o ssl_*`: TLS on the TCP listeners.
    pub tls: tls::TlsOptions,
    /// `-s, --unix-socket`: listen on this unix socket. As in memcached, this disables TCP
    /// (see [`Config::tcp_enabled`]).
    pub unix_socket: Option<PathBuf>,
    /// `-a, --unix-mask`: access mask of the unix socket, octal (default 0o700).
    pub unix_mask: u32,
    /// `-l, --listen`: addresses to listen on, in order, duplicates removed. Each entry is
    /// `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address or `*` (every interface);
    /// see [`Config::listen_addrs`]. Default `["127.0.0.1"]` (memcached: every interface).
    pub listen: Vec<String>,
    /// `-d, --daemon`: detach from the terminal (`process::daemonize`).
    pub daemonize: bool,
    /// `-u, --user`: user to switch to when started as root.
    pub user: Option<String>,
    /// `-m, --memory-limit`: item memory in bytes (given in megabytes, default 64).
    pub memory_limit: usize,
    /// `-M, --disable-evictions`: answer "out of memory" instead of evicting.
    pub no_evict: bool,
    /// `-c, --conn-limit`: maximum simultaneous connections (default 1024).
    pub max_connections: usize,
    /// `-v` count: 0 quiet, 1 errors/warnings, 2 client commands, 3 internal states.
    pub verbosity: u8,
    /// `-P, --pidfile`: write the process id to this file.
    pub pid_file: Option<PathBuf>,
    /// `-f, --slab-growth-factor`: chunk size growth factor (default 1.25, > 1.0).
    pub factor: f64,
    /// `-n, --slab-min-size`: minimum space for key + value + flags in bytes (default 48).
    pub chunk_size_min: usize,
    /// `-t, --threads`: worker threads (default: the number of available cores).
    pub threads: usize,
    /// `-R, --max-reqs-per-event`: requests per connection per event (default 20).
    pub reqs_per_event: usize,
    /// `-C, --disable-cas` clears this (default true).
    pub use_cas: bool,
    /// `-b, --listen-backlog`: listen(2) backlog (default 1024).
    pub backlog: i32,
    /// `-B, --protocol`: auto, ascii or binary (default auto). `-S` without `-B` selects
    /// binary and `-Y` without `-B` selects ascii, as in memcached.
    pub protocol: ProtocolMode,
    /// `-I, --max-item-size`: maximum item size in bytes (default 1m; k/m suffixes;
    /// 1k ..= 1024m and at most half of `-m`).
    pub item_size_max: usize,
    /// `-F, --disable-flush-all` clears this (default true).
    pub flush_enabled: bool,
    /// `-A, --enable-shutdown`: allow the ascii `shutdown` command (default false).
    pub shutdown_enabled: bool,
    /// `-X, --disable-dumping`: disable `stats cachedump` and `lru_crawler metadump`.
    pub cachedump_disabled: bool,
    /// `-S, --enable-sasl`: require SASL authentication (binary protocol).
    pub sasl: bool,
    /// `-Y, --auth-file`: ascii authentication tokens, `user:pass` per line.
    pub auth_file: Option<PathBuf>,
    /// `-o idle_timeout=N`: close connections idle for N seconds (0 = never, default).
    pub idle_timeout: u32,
    /// `-o slab_page_size=N` (larder only): bytes per segment (default 64k; k/m suffixes).
    pub slab_page_size: usize,
    /// `-o eviction=s3fifo|lru|lfu` (larder only): which items to evict (default s3fifo).
    pub eviction: crate::store::Eviction,
    /// `-e, --memory-file` (alias `--snapshot-file`): the snapshot file, loaded at start and
    /// written at a graceful stop (docs/SNAPSHOT.md). memcached's flag, larder's meaning:
    /// a portable file of items, not an image of memory.
    pub snapshot_file: Option<PathBuf>,
    /// `-o snapshot_interval=N` (larder only): also write the snapshot every N seconds while
    /// serving (0 = never, the default). Needs `-e`.
    pub snapshot_interval: u32,
    /// `-o output_held_limit=MB` (larder only): unsent output held for slow readers, all
    /// connections together, past which connections with unsent output stop reading new
    /// requests until it drains (bytes; default 32 MiB, `server/conn.rs`).
    pub output_held_limit: usize,
    /// `-o maxconns_fast` / `no_maxconns_fast`: over `-c`, answer
    /// `ERROR Too many open connections` and close at once (default true, as memcached 1.6).
    pub maxconns_fast: bool,
    /// `-o track_sizes`: keep the item size histogram for `stats sizes` (default false).
    pub track_sizes: bool,
    /// `-r, --enable-coredumps`: raise the core file limit (`process::enable_coredumps`).
    pub enable_coredumps: bool,
    /// `-k, --lock-memory`: accepted; larder does not lock memory (listed in `ignored`).
    pub lock_memory: bool,
    /// `-L, --enable-largepages`: accepted; larder does not use large pages (in `ignored`).
    pub large_pages: bool,
    /// `-o hotkeys` / `-o no_hotkeys` (larder): sample lookups for `stats hotkeys` and the
    /// `/metrics` hot-key rows (default true).
    pub hot_keys: bool,
    /// `-o metrics_port=PORT` (larder): serve Prometheus `/metrics` over HTTP on this port,
    /// on the first `-l` address (loopback by default). Off when `None`.
    pub metrics_port: Option<u16>,
    /// `-o cluster_config=PATH` (larder): the node list `config get cluster` answers,
    /// reloaded on SIGHUP.
    pub cluster_config: Option<std::path::PathBuf>,
    /// `-D <char>`: the per-prefix stats delimiter (default `:`); giving it also turns
    /// per-prefix stats on at startup, as in memcached.
    pub prefix_delimiter: u8,
    /// Per-prefix stats on at startup (`-D`); `stats detail on|off` changes it later.
    pub detail_enabled: bool,
    /// Options accepted for compatibility but without effect in larder, as given (`-k`,
    /// `-o hashpower=20`, `logfile /var/log/memcached.log`, ...); the daemon logs each once.
    pub ignored: Vec<String>,
    /// Non-fatal warnings memcached would print at startup (e.g. more than 64 threads); the
    /// daemon logs each once.
    pub warnings: Vec<String>,
    /// `--config FILE`, if given (absolute or as given).
    pub config_file: Option<PathBuf>,
}

/// What the command line asks for.
// Built once at startup: the size of the `Run` variant does not matter, and an unboxed
// `Config` keeps the contract main.rs is written against.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigOutcome {
    /// Run the daemon with this configuration.
    Run(Config),
    /// Print this text to stdout and exit 0 (`-h`, and `-i` which prints the license).
    Help(String),
    /// Print this text to stdout and exit 0 (`-V`).
    Version(String),
}

/// A bad option or option combination. `Display` says what is wrong and names the option;
/// the daemon prints it and exits with status 64 (`EX_USAGE`), as memcached does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }

    /// The message, without a trailing newline.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn in_file(self, path: &Path) -> Self {
        ConfigError::new(format!("{}: {}", path.display(), self.message))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One `-l` entry resolved: where to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// Host or IP address to bind; `None` means every interface (`-l *`).
    pub host: Option<String>,
    /// The entry's own port, or `-p`.
    pub port: u16,
    /// memcached's `notls:` prefix: this listener stays plain text under `-Z`.
    pub notls: bool,
}

impl Default for Config {
    /// memcached 1.6's defaults, except `listen` (`127.0.0.1`) and `threads` (cores).
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            udp_port: 0,
            udp_allow_public: false,
            hot_keys: true,
            tls: tls::TlsOptions::default(),
            unix_socket: None,
            unix_mask: DEFAULT_UNIX_MASK,
            listen: vec![DEFAULT_LISTEN.to_string()],
            daemonize: false,
            user: None,
            memory_limit: DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024,
            no_evict: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            verbosity: 0,
            pid_file: None,
            factor: DEFAULT_FACTOR,
            chunk_size_min: DEFAULT_CHUNK_SIZE_MIN,
            threads: default_threads(),
            reqs_per_event: DEFAULT_REQS_PER_EVENT,
            use_cas: true,
            backlog: DEFAULT_BACKLOG,
            protocol: ProtocolMode::Auto,
            item_size_max: DEFAULT_ITEM_SIZE_MAX,
            flush_enabled: true,
            shutdown_enabled: false,
            cachedump_disabled: false,
            sasl: false,
            auth_file: None,
            idle_timeout: 0,
            slab_page_size: DEFAULT_SLAB_PAGE_SIZE,
            eviction: crate::store::Eviction::S3Fifo,
            snapshot_file: None,
            snapshot_interval: 0,
            output_held_limit: DEFAULT_OUTPUT_HELD_LIMIT_MB << 20,
            maxconns_fast: true,
            track_sizes: false,
            enable_coredumps: false,
            lock_memory: false,
            large_pages: false,
            metrics_port: None,
            cluster_config: None,
            prefix_delimiter: b':',
            detail_enabled: false,
            ignored: Vec::new(),
            warnings: Vec::new(),
            config_file: None,
        }
    }
}

/// The default `-t`: the number of cores this process may use (4, memcached's default, if
/// that cannot be determined).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
}

impl Config {
    /// Parses a full argument list (program name first, as `std::env::args_os()` gives it).
    ///
    /// With `--config FILE`, the file's options come first and the command line's after them
    /// (see the module docs). `-h`, `-i` and `-V` return [`ConfigOutcome::Help`] or
    /// [`ConfigOutcome::Version`] without validating the rest.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option for unknown options, missing or malformed values,
    /// an unreadable configuration file, and every sanity check of [`Config::validate`].
    pub fn from_args<I: IntoIterator<Item = OsString>>(
        args: I,
    ) -> Result<ConfigOutcome, ConfigError> {
        let mut args: Vec<OsString> = args.into_iter().collect();
        if args.is_empty() {
            args.push(OsString::from("larder"));
        }
        let program = args[0].clone();
        let first = cli::parse(&args)?;
        if let Some(outcome) = first.early_exit() {
            return Ok(outcome);
        }
        let Some(path) = first.config_file.clone() else {
            return first.into_config(Vec::new());
        };
        let (file_args, file_ignored) = file::read(&path)?;
        // The file alone must parse (errors then name the file), and may not nest --config.
        let mut alone = vec![program.clone()];
        alone.extend(file_args.iter().cloned());
        let from_file = cli::parse(&alone).map_err(|e| e.in_file(&path))?;
        if from_file.config_file.is_some() {
            return Err(ConfigError::new(format!(
                "{}: --config cannot be used inside a configuration file",
                path.display()
            )));
        }
        let mut merged = vec![program];
        merged.extend(file_args);
        merged.extend(args.into_iter().skip(1));
        let parsed = cli::parse(&merged)?;
        if let Some(outcome) = parsed.early_exit() {
            return Ok(outcome);
        }
        parsed.into_config(file_ignored)
    }

    /// Splits the text of a configuration file (Debian's `/etc/memcached.conf` format) into
    /// arguments, plus the lines accepted without effect; what `--config` reads, without the
    /// file. Public for the fuzz targets (`fuzz/`) and tools that check a file.
    ///
    /// # Errors
    ///
    /// An unterminated quote, naming the line.
    pub fn file_words(text: &str) -> Result<(Vec<OsString>, Vec<String>), ConfigError> {
        file::tokenize(text)
    }

    /// Parses the text of a configuration file as `larder --config FILE` alone would (no
    /// command-line options after it), without reading a file.
    ///
    /// # Errors
    ///
    /// As [`Config::from_args`].
    pub fn from_file_text(text: &str) -> Result<ConfigOutcome, ConfigError> {
        let (words, ignored) = file::tokenize(text)?;
        let mut args = vec![OsString::from("larder")];
        args.extend(words);
        let parsed = cli::parse(&args)?;
        if let Some(outcome) = parsed.early_exit() {
            return Ok(outcome);
        }
        if parsed.config_file.is_some() {
            return Err(ConfigError::new(
                "--config cannot be used inside a configuration file",
            ));
        }
        parsed.into_config(ignored)
    }

    /// Checks the option combinations memcached checks, with memcached's messages.
    ///
    /// # Errors
    ///
    /// The first failed check: factor ≤ 1, zero threads/connections/requests per event/chunk
    /// size, `-I` out of 1k..=1024m or above half of `-m`, a bad `-a` mask or `-l` entry, a
    /// slab page size out of range, `-S` with `-B ascii`, `-Y` with `-B binary`, `-U` with
    /// `-S` or `-Y` (as memcached), `-U` on a non-loopback `-l` address without
    /// `-o udp_allow_public`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_udp()?;
        if !self.factor.is_finite() || self.factor <= 1.0 {
            return Err(ConfigError::new(
                "Factor must be greater than 1 (-f, --slab-growth-factor)",
            ));
        }
        if self.chunk_size_min == 0 {
            return Err(ConfigError::new(
                "Chunk size must be greater than 0 (-n, --slab-min-size)",
            ));
        }
        if self.threads == 0 {
            return Err(ConfigError::new(
                "Number of threads must be greater than 0 (-t, --threads)",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                "Maximum connections must be greater than 0 (-c, --conn-limit)",
            ));
        }
        if self.reqs_per_event == 0 {
            return Err(ConfigError::new(
                "Number of requests per event must be greater than 0 (-R, --max-reqs-per-event)",
            ));
        }
        if self.backlog < 0 {
            return Err(ConfigError::new(format!(
                "Listen backlog must not be negative (-b, --listen-backlog {})",
                self.backlog
            )));
        }
        if self.unix_mask > 0o777 {
            return Err(ConfigError::new(format!(
                "Invalid unix socket mask {:o} (-a, --unix-mask): at most 777",
                self.unix_mask
            )));
        }
        if self.item_size_max < ITEM_SIZE_MAX_LOWER_LIMIT {
            return Err(ConfigError::new(
                "Item max size cannot be less than 1024 bytes. (-I, --max-item-size)",
            ));
        }
        if self.item_size_max > self.memory_limit / 2 {
            return Err(ConfigError::new(
                "Cannot set item size limit higher than 1/2 of memory max. (-I, --max-item-size)",
            ));
        }
        if self.item_size_max > ITEM_SIZE_MAX_UPPER_LIMIT {
            return Err(ConfigError::new(
                "Cannot set item size limit higher than a gigabyte. (-I, --max-item-size)",
            ));
        }
        if !(SLAB_PAGE_SIZE_MIN..=SLAB_PAGE_SIZE_MAX).contains(&self.slab_page_size) {
            return Err(ConfigError::new(format!(
                "slab_page_size must be between 1k and 1024m (-o slab_page_size={})",
                self.slab_page_size
            )));
        }
        if self.sasl && self.protocol == ProtocolMode::Ascii {
            return Err(ConfigError::new(
                "ERROR: You cannot allow the ASCII protocol while using SASL. (-S with -B ascii)",
            ));
        }
        if self.auth_file.is_some() && self.protocol == ProtocolMode::Binary {
            return Err(ConfigError::new(
                "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens. (-Y with -B binary)",
            ));
        }
        if self.snapshot_interval > 0 && self.snapshot_file.is_none() {
            return Err(ConfigError::new(
                "-o snapshot_interval needs a snapshot file (-e, --memory-file)",
            ));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::new("-l, --listen: no address given"));
        }
        for entry in &self.listen {
            parse_listen_entry(entry, self.port)?;
        }
        self.tls.validate()?;
        Ok(())
    }

    /// True when TCP listeners should be opened: `-p` is not 0 and no `-s` unix socket is
    /// configured (memcached: "-s ... disables network support").
    pub fn tcp_enabled(&self) -> bool {
        self.port != 0 && self.unix_socket.is_none()
    }

    /// True when UDP sockets should be opened: `-U` is not 0 and no `-s` unix socket is
    /// configured (which disables UDP too in memcached).
    pub fn udp_enabled(&self) -> bool {
        self.udp_port != 0 && self.unix_socket.is_none()
    }

    /// The addresses UDP is bound on: the `-l` entries with `-U` as their port (an entry's
    /// own `:port` wins, as in memcached, where `-l host:port` sets the port of both
    /// transports).
    pub fn udp_addrs(&self) -> Vec<ListenAddr> {
        self.listen
            .iter()
            .filter_map(|entry| parse_listen_entry(entry, self.udp_port).ok())
            .collect()
    }

    /// memcached's refusals of `-U` with authentication (UDP has no session to
    /// authenticate), and larder's refusal of UDP on a non-loopback address without
    /// `-o udp_allow_public`.
    fn validate_udp(&self) -> Result<(), ConfigError> {
        if self.udp_port == 0 {
            return Ok(());
        }
        if self.sasl {
            return Err(ConfigError::new(
                "ERROR: Cannot enable UDP while using binary SASL authentication. (-S with -U)",
            ));
        }
        if self.auth_file.is_some() {
            return Err(ConfigError::new(
                "Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
            ));
        }
        if self.udp_allow_public || !self.udp_enabled() {
            return Ok(());
        }
        for entry in &self.listen {
            let Ok(addr) = parse_listen_entry(entry, self.udp_port) else {
                continue; // reported by the -l check
            };
            if !listen::is_loopback(addr.host.as_deref()) {
                return Err(ConfigError::new(format!(
                    "-U {}: UDP on a non-loopback address (-l {entry}) can be used for \
                     reflection attacks; give -o udp_allow_public to allow it, or -U 0",
                    self.udp_port
                )));
            }
        }
        Ok(())
    }

    /// The `-l` entries resolved into bind addresses, in order.
    ///
    /// An entry's own `:port` overrides `-p`; `*` means every interface; IPv6 addresses may
    /// be bare (`::1`) or bracketed (`[::1]:11311`); memcached's `notls:` prefix sets
    /// [`ListenAddr::notls`]. Entries were checked by [`Config::validate`]; an
    /// entry that does not parse (only possible on a hand-built, unvalidated `Config`) is
    /// skipped.
    pub fn listen_addrs(&self) -> Vec<ListenAddr> {
        self.listen
            .iter()
            .filter_map(|entry| parse_listen_entry(entry, self.port).ok())
            .collect()
    }
}
