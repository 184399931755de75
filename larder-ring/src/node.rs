//! Node specifications: where a cache node lives, its weight, and the name its ketama
//! points are derived from.
//!
//! The textual form follows twemproxy's `servers:` entries, which is also what people
//! type for libmemcached: `host:port[:weight] [name]`, `[v6addr]:port[:weight] [name]`
//! or `/path/to/socket[:weight] [name]`. A bare `host` means port 11211.
//!
//! The *point name* is the string the ring hashes into points (`<point name>-N`):
//! the node's name when it has one (twemproxy), else `host` when the port is 11211 and
//! `host:port` otherwise (both libmemcached and twemproxy). Unix sockets differ between
//! the two: libmemcached names them `path:0`, twemproxy `path:`; [`Compat`] picks one.
//!
//! This module does no I/O.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// memcached's default port; ketama point names omit it.
pub const DEFAULT_PORT: u16 = 11211;

/// Where a node listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP endpoint. `host` is a name or an IP literal (IPv6 without brackets).
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix domain socket path.
    Unix(PathBuf),
}

/// Which C implementation's naming of unix-socket nodes to reproduce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compat {
    /// libmemcached (pylibmc, php-memcached): a unix socket's points are `path:0-N`.
    #[default]
    Libmemcached,
    /// twemproxy: a unix socket's points are `path:-N`.
    Twemproxy,
}

/// One cache node: address, ketama weight (>= 1) and optional name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSpec {
    /// Where the node listens.
    pub address: Address,
    /// Relative share of the keyspace under weighted ketama (>= 1).
    pub weight: u32,
    /// twemproxy's optional server name; when set, points are named after it, so the node
    /// can move to another address without moving its keys.
    pub name: Option<String>,
}

/// Why a node specification did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// The text that failed.
    pub spec: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid node spec {:?}: {}", self.spec, self.reason)
    }
}

impl std::error::Error for SpecError {}

impl NodeSpec {
    /// A TCP node with weight 1 and no name.
    pub fn tcp(host: impl Into<String>, port: u16) -> NodeSpec {
        NodeSpec {
            address: Address::Tcp {
                host: host.into(),
                port,
            },
            weight: 1,
            name: None,
        }
    }

    /// A unix-socket node with weight 1 and no name.
    pub fn unix(path: impl Into<PathBuf>) -> NodeSpec {
        NodeSpec {
            address: Address::Unix(path.into()),
            weight: 1,
            name: None,
        }
    }

    /// Returns this spec with `weight` (0 is raised to 1, as libmemcached does).
    pub fn with_weight(mut self, weight: u32) -> NodeSpec {
        self.weight = weight.max(1);
        self
    }

    /// Returns this spec with a name (points are then named after it).
    pub fn with_name(mut self, name: impl Into<String>) -> NodeSpec {
        self.name = Some(name.into());
        self
    }

    /// Parses `host:port[:weight] [name]`, `[v6]:port[:weight] [name]`,
    /// `/socket/path[:weight] [name]` or a bare `host` (port 11211).
    ///
    /// # Errors
    /// [`SpecError`] for an empty spec, a bad port, or a weight that is not a positive
    /// integer.
    pub fn parse(spec: &str) -> Result<NodeSpec, SpecError> {
        let err = |reason| SpecError {
            spec: spec.to_string(),
            reason,
        };
        let trimmed = spec.trim();
        let (addr, name) = match trimmed.split_once(char::is_whitespace) {
            Some((a, n)) => (a, Some(n.trim().to_string())),
            None => (trimmed, None),
        };
        if addr.is_empty() {
            return Err(err("empty address"));
        }
        let parse_weight = |w: &str| match w.parse::<u32>() {
            Ok(w) if w > 0 => Ok(w),
            _ => Err(err("weight must be a positive integer")),
        };
        let parse_port = |p: &str| p.parse::<u16>().map_err(|_| err("port must be 0-65535"));
        let mut node = if addr.starts_with('/') {
            match addr.rsplit_once(':') {
                Some((path, w)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
                    NodeSpec::unix(path).with_weight(parse_weight(w)?)
                }
                _ => NodeSpec::unix(addr),
            }
        } else if let Some(rest) = addr.strip_prefix('[') {
            let (host, tail) = rest.split_once(']').ok_or(err("missing ']'"))?;
            let mut parts = tail.split(':').skip(1);
            let port = match parts.next() {
                Some(p) => parse_port(p)?,
                None => DEFAULT_PORT,
            };
            let weight = match parts.next() {
                Some(w) => parse_weight(w)?,
                None => 1,
            };
            if parts.next().is_some() || !(tail.is_empty() || tail.starts_with(':')) {
                return Err(err("expected [host]:port[:weight]"));
            }
            NodeSpec::tcp(host, port).with_weight(weight)
        } else {
            let parts: Vec<&str> = addr.split(':').collect();
            match parts.as_slice() {
                [host] => NodeSpec::tcp(*host, DEFAULT_PORT),
                [host, port] => NodeSpec::tcp(*host, parse_port(port)?),
                [host, port, w] => {
                    NodeSpec::tcp(*host, parse_port(port)?).with_weight(parse_weight(w)?)
                }
                _ => return Err(err("expected host:port[:weight]")),
            }
        };
        if let Address::Tcp { host, .. } = &node.address {
            if host.is_empty() {
                return Err(err("empty host"));
            }
        }
        node.name = name.filter(|n| !n.is_empty());
        Ok(node)
    }

    /// The node's identity in a client: its name, else `host:port` or the socket path.
    /// Membership operations (remove, reweight) look nodes up by this label.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.address {
            Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Address::Tcp { host, port } => format!("{host}:{port}"),
            Address::Unix(path) => path.display().to_string(),
        }
    }

    /// The string ketama hashes into this node's points (`<point name>-N`).
    pub fn point_name(&self, compat: Compat) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (&self.address, compat) {
            (Address::Tcp { host, port }, _) if *port == DEFAULT_PORT => host.clone(),
            (Address::Tcp { host, port }, _) => format!("{host}:{port}"),
            (Address::Unix(path), Compat::Libmemcached) => format!("{}:0", path.display()),
            (Address::Unix(path), Compat::Twemproxy) => format!("{}:", path.display()),
        }
    }
}

/// spymemcached's `DefaultKetamaNodeKeyFormatter` formats, the point names of
/// `KetamaNodeLocator`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpyFormat {
    /// `Format.SPYMEMCACHED` (the default): `String.valueOf(InetSocketAddress)` without
    /// a leading `/`: `ip:port` for an address given as an IP literal, `host/ip:port` for
    /// a resolved host name.
    #[default]
    Spymemcached,
    /// `Format.LIBMEMCACHED`: `getHostName()` as given, then `:port` unless the port is
    /// 11211 (libmemcached's ketama point names).
    Libmemcached,
}

impl NodeSpec {
    /// The string spymemcached's `KetamaNodeLocator` hashes into this node's points
    /// (`<point name>-N`), in `format`.
    ///
    /// A node name, when set, is used as is: that is how to give the `host/ip` form
    /// of a host name, which spymemcached takes from the JVM's resolver
    /// (`cache-a:11211 cache-a/10.0.0.1:11211`). Without a name, a host name that is
    /// not an IP literal is written the way Java 14+ writes an unresolved address
    /// (`host/<unresolved>:port`). IPv6 literals are written as Java does, in full and
    /// in brackets (`[0:0:0:0:0:0:0:1]:11211`). Unix sockets have no spymemcached form
    /// and are named by their path.
    pub fn spy_point_name(&self, format: SpyFormat) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let (host, port) = match &self.address {
            Address::Tcp { host, port } => (host, *port),
            Address::Unix(path) => return path.display().to_string(),
        };
        match format {
            SpyFormat::Libmemcached if port == DEFAULT_PORT => host.clone(),
            SpyFormat::Libmemcached => format!("{host}:{port}"),
            SpyFormat::Spymemcached => {
                if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
                    format!("{v4}:{port}")
                } else if let Ok(v6) = host.parse::<std::net::Ipv6Addr>() {
                    let groups: Vec<String> =
                        v6.segments().iter().map(|g| format!("{g:x}")).collect();
                    format!("[{}]:{port}", groups.join(":"))
                } else {
                    format!("{host}/<unresolved>:{port}")
                }
            }
        }
    }

    /// The name twemproxy sorts its servers by (conf.c sorts them, by length first and then
    /// bytewise, when it checks for duplicates): the server's name, else the address as
    /// configured with its weight (`host:port:weight`, `/path:weight`).
    pub fn twemproxy_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.address {
            Address::Tcp { host, port } => format!("{host}:{port}:{}", self.weight),
            Address::Unix(path) => format!("{}:{}", path.display(), self.weight),
        }
    }

    /// The point name of libmemcached's `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY`:
    /// `/host:port`, the port always written (`/path:0` for a unix socket).
    pub fn ketama_spy_point_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.address {
            Address::Tcp { host, port } => format!("/{host}:{port}"),
            Address::Unix(path) => format!("/{}:0", path.display()),
        }
    }
}

impl FromStr for NodeSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<NodeSpec, SpecError> {
        NodeSpec::parse(s)
    }
}

impl fmt::Display for NodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}")?,
            Address::Tcp { host, port } => write!(f, "{host}:{port}")?,
            Address::Unix(path) => write!(f, "{}", path.display())?,
        }
        write!(f, ":{}", self.weight)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            NodeSpec::parse("10.0.0.1:11212").unwrap(),
            NodeSpec::tcp("10.0.0.1", 11212)
        );
        assert_eq!(
            NodeSpec::parse("cache-a:11211:3 alpha").unwrap(),
            NodeSpec::tcp("cache-a", 11211)
                .with_weight(3)
                .with_name("alpha")
        );
        assert_eq!(
            NodeSpec::parse("cache-b").unwrap(),
            NodeSpec::tcp("cache-b", 11211)
        );
        assert_eq!(
            NodeSpec::parse("[::1]:22122:2").unwrap(),
            NodeSpec::tcp("::1", 22122).with_weight(2)
        );
        assert_eq!(
            NodeSpec::parse("/tmp/mc.sock:4 sock").unwrap(),
            NodeSpec::unix("/tmp/mc.sock")
                .with_weight(4)
                .with_name("sock")
        );
        assert_eq!(
            NodeSpec::parse("/tmp/mc.sock").unwrap(),
            NodeSpec::unix("/tmp/mc.sock")
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "host:99999",
            "host:1:0",
            "host:1:x",
            "a:1:2:3",
            "[::1",
            ":11211",
        ] {
            assert!(NodeSpec::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn point_names_follow_the_c_clients() {
        let n = |s: &str| NodeSpec::parse(s).unwrap();
        assert_eq!(
            n("10.0.0.1:11211").point_name(Compat::Libmemcached),
            "10.0.0.1"
        );
        assert_eq!(
            n("10.0.0.1:11212:5").point_name(Compat::Twemproxy),
            "10.0.0.1:11212"
        );
        assert_eq!(
            n("10.0.0.1:11212:5 alpha").point_name(Compat::Twemproxy),
            "alpha"
        );
        assert_eq!(n("/tmp/s").point_name(Compat::Libmemcached), "/tmp/s:0");
        assert_eq!(n("/tmp/s").point_name(Compat::Twemproxy), "/tmp/s:");
    }

    #[test]
    fn spymemcached_point_names() {
        let n = |s: &str| NodeSpec::parse(s).unwrap();
        let spy = SpyFormat::Spymemcached;
        assert_eq!(n("10.0.0.1:11211").spy_point_name(spy), "10.0.0.1:11211");
        assert_eq!(
            n("[::1]:11212").spy_point_name(spy),
            "[0:0:0:0:0:0:0:1]:11212"
        );
        assert_eq!(
            n("cache-a:11211").spy_point_name(spy),
            "cache-a/<unresolved>:11211"
        );
        assert_eq!(
            n("cache-a:11211 cache-a/10.0.0.1:11211").spy_point_name(spy),
            "cache-a/10.0.0.1:11211"
        );
        let lib = SpyFormat::Libmemcached;
        assert_eq!(n("10.0.0.1:11211").spy_point_name(lib), "10.0.0.1");
        assert_eq!(n("cache-a:11212").spy_point_name(lib), "cache-a:11212");
        assert_eq!(
            n("10.0.0.1:11211").ketama_spy_point_name(),
            "/10.0.0.1:11211"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["10.0.0.1:11212:5 alpha", "[::1]:11211:1", "/tmp/s:2"] {
            let n = NodeSpec::parse(s).unwrap();
            assert_eq!(n.to_string(), s);
            assert_eq!(NodeSpec::parse(&n.to_string()).unwrap(), n);
        }
    }
}
