//! `-l` entries: memcached's `server_sockets` grammar (`host`, `host:port`, `[v6]`,
//! `[v6]:port`, a bare IPv6 address, `*` for every interface, an optional `notls:` prefix).

use super::{ConfigError, ListenAddr};

/// Parses one `-l` entry (memcached's `server_sockets` grammar).
pub(super) fn parse_listen_entry(
    entry: &str,
    default_port: u16,
) -> Result<ListenAddr, ConfigError> {
    let bad_port = |p: &str| {
        ConfigError::new(format!(
            "Invalid port number: \"{p}\" (-l, --listen {entry})"
        ))
    };
    let notls = entry.starts_with("notls:");
    let spec = entry.strip_prefix("notls:").unwrap_or(entry);
    if spec.is_empty() {
        return Err(ConfigError::new(format!(
            "-l, --listen: empty address in \"{entry}\""
        )));
    }
    let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(ConfigError::new(format!(
                "Invalid IPV6 address: \"{spec}\" (-l, --listen)"
            )));
        };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(p),
                None => {
                    return Err(ConfigError::new(format!(
                        "Invalid IPV6 address: \"{spec}\" (-l, --listen)"
                    )))
                }
            },
        };
        (host, port)
    } else if spec.matches(':').count() == 1 {
        let (host, port) = spec.split_once(':').expect("exactly one colon");
        (host, Some(port))
    } else {
        // No colon, or a bare IPv6 address (several colons, no port).
        (spec, None)
    };
    if host.is_empty() {
        return Err(ConfigError::new(format!(
            "-l, --listen: empty host in \"{entry}\""
        )));
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| bad_port(p))?,
    };
    let host = if host == "*" {
        None
    } else {
        Some(host.to_string())
    };
    Ok(ListenAddr { host, port, notls })
}

/// Whether a `-l` host binds only loopback addresses: `localhost`, or an IP address in
/// 127.0.0.0/8 or `::1`. `None` (`*`, every interface) and any other host name count as
/// public: a name is not resolved here, and may resolve to a public address.
pub(super) fn is_loopback(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}
