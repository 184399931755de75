//! `-o key=value[,key=value...]`: memcached 1.6.18's extended options.
//!
//! Every suboption name memcached 1.6.18 (built with extstore and TLS) accepts is accepted
//! here and checked the way memcached checks it, with memcached's message plus the
//! suboption; an unknown name is `Illegal suboption "..."` as in memcached. The few that
//! larder implements set [`Config`] fields; the rest are recorded in [`Config::ignored`].
//! larder adds names of its own: `slab_page_size`, `eviction`, `snapshot_interval`,
//! `metrics_port`, `cluster_config`, `udp_allow_public` and `hotkeys`/`no_hotkeys`.

use super::{parse_size, Config, ConfigError};

/// memcached's default `hot_lru_pct` and `warm_lru_pct`, for their combined check.
const HOT_LRU_PCT_DEFAULT: u32 = 20;
const WARM_LRU_PCT_DEFAULT: u32 = 40;

/// `hot_lru_pct` and `warm_lru_pct` as given, checked together after all `-o` lists.
#[derive(Debug, Default)]
pub(super) struct LruPct {
    hot: Option<u32>,
    warm: Option<u32>,
}

impl LruPct {
    /// memcached: the two together may not exceed 80%.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let hot = self.hot.unwrap_or(HOT_LRU_PCT_DEFAULT);
        let warm = self.warm.unwrap_or(WARM_LRU_PCT_DEFAULT);
        if hot + warm > 80 {
            return Err(ConfigError::new(format!(
                "hot_lru_pct + warm_lru_pct cannot be more than 80% combined (-o hot_lru_pct={hot},warm_lru_pct={warm})"
            )));
        }
        Ok(())
    }
}

/// How memcached words a missing value for each suboption.
enum Missing {
    /// "Missing numeric argument for NAME"
    Numeric,
    /// "Missing NAME value"
    Value,
    /// "Missing NAME argument"
    Argument,
}

fn err(message: impl AsRef<str>, token: &str) -> ConfigError {
    ConfigError::new(format!("{} (-o {token})", message.as_ref()))
}

fn need<'a>(
    name: &str,
    value: Option<&'a str>,
    token: &str,
    missing: Missing,
) -> Result<&'a str, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(err(
            match missing {
                Missing::Numeric => format!("Missing numeric argument for {name}"),
                Missing::Value => format!("Missing {name} value"),
                Missing::Argument => format!("Missing {name} argument"),
            },
            token,
        )),
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str, token: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| err(format!("{name}: invalid number \"{value}\""), token))
}

/// Applies one `-o` argument (a comma separated list) to `c`.
pub(super) fn apply(c: &mut Config, lru: &mut LruPct, list: &str) -> Result<(), ConfigError> {
    for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        if apply_one(c, lru, name, value, token)? {
            let entry = format!("-o {token}");
            if !c.ignored.contains(&entry) {
                c.ignored.push(entry);
            }
        }
    }
    Ok(())
}

/// Applies one suboption; returns true when it is accepted without effect.
fn apply_one(
    c: &mut Config,
    lru: &mut LruPct,
    name: &str,
    value: Option<&str>,
    token: &str,
) -> Result<bool, ConfigError> {
    if let Some(ignored) = c.tls.apply(name, value, token)? {
        return Ok(ignored);
    }
    match name {
        // Implemented by larder.
        "idle_timeout" => {
            let v = need(name, value, token, Missing::Numeric)?;
            c.idle_timeout = number(name, v, token)?;
            Ok(false)
        }
        "maxconns_fast" => {
            c.maxconns_fast = true;
            Ok(false)
        }
        "no_maxconns_fast" => {
            c.maxconns_fast = false;
            Ok(false)
        }
        "track_sizes" => {
            c.track_sizes = true;
            Ok(false)
        }
        // larder's own: the Prometheus endpoint and the cluster file.
        "metrics_port" => {
            let v = need(name, value, token, Missing::Numeric)?;
            c.metrics_port = Some(number(name, v, token)?);
            Ok(false)
        }
        "udp_allow_public" => {
            c.udp_allow_public = true;
            Ok(false)
        }
        "hotkeys" => {
            c.hot_keys = true;
            Ok(false)
        }
        "no_hotkeys" => {
            c.hot_keys = false;
            Ok(false)
        }
        "cluster_config" => {
            let v = need(name, value, token, Missing::Argument)?;
            c.cluster_config = Some(std::path::PathBuf::from(v));
            Ok(false)
        }
        "eviction" => {
            let v = need(name, value, token, Missing::Argument)?;
            c.eviction = v.parse().map_err(|e: String| err(e, token))?;
            Ok(false)
        }
        "output_held_limit" => {
            let v = need(name, value, token, Missing::Numeric)?;
            let mb: usize = number(name, v, token)?;
            if mb == 0 || mb > 1 << 20 {
                return Err(err(
                    format!("output_held_limit must be 1..1048576 (megabytes), not {mb}"),
                    token,
                ));
            }
            c.output_held_limit = mb << 20;
            Ok(false)
        }
        "snapshot_interval" => {
            let v = need(name, value, token, Missing::Numeric)?;
            c.snapshot_interval = number(name, v, token)?;
            Ok(false)
        }
        "slab_page_size" => {
            let v = need(name, value, token, Missing::Argument)?;
            c.slab_page_size = parse_size(v).ok_or_else(|| {
                err(
                    format!("slab_page_size: invalid size \"{v}\" (bytes, or k/m suffix)"),
                    token,
                )
            })?;
            Ok(false)
        }

        // Accepted for compatibility, checked as memcached checks them.
        "hashpower" => {
            let v = need(name, value, token, Missing::Numeric)?;
            let n: i64 = number(name, v, token)?;
            if n < 12 {
                return Err(err(
                    format!("Initial hashtable multiplier of {n} is too low"),
                    token,
                ));
            }
            if n > 32 {
                return Err(err(
                    format!("Initial hashtable multiplier of {n} is too high"),
                    token,
                ));
            }
            Ok(true)
        }
        "tail_repair_time" => {
            let v = need(name, value, token, Missing::Numeric)?;
            let n: i64 = number(name, v, token)?;
            if n < 10 {
                return Err(err(
                    "Cannot set tail_repair_time to less than 10 seconds",
                    token,
                ));
            }
            Ok(true)
        }
        "hash_algorithm" => {
            let v = need(name, value, token, Missing::Argument)?;
            match v {
                "jenkins" | "murmur3" | "xxh3" => Ok(true),
                _ => Err(err(
                    "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
                    token,
                )),
            }
        }
        "slab_automove" => {
            if let Some(v) = value {
                match v.trim().parse::<i64>() {
                    Ok(0..=2) => {}
                    _ => return Err(err("slab_automove must be between 0 and 2", token)),
                }
            }
            Ok(true)
        }
        "slab_automove_ratio" => {
            let v = need(name, value, token, Missing::Argument)?;
            match v.trim().parse::<f64>() {
                Ok(r) if r > 0.0 && r < 1.0 => Ok(true),
                _ => Err(err("slab_automove_ratio must be > 0 and < 1", token)),
            }
        }
        "slab_automove_window" => {
            let v = need(name, value, token, Missing::Argument)?;
            match v.trim().parse::<i64>() {
                Ok(n) if n > 2 => Ok(true),
                _ => Err(err("slab_automove_window must be > 2", token)),
            }
        }
        "lru_crawler_sleep" => {
            let v = need(name, value, token, Missing::Value)?;
            match v.trim().parse::<i64>() {
                Ok(0..=1_000_000) => Ok(true),
                _ => Err(err(
                    "LRU crawler sleep must be between 0 and 1 second",
                    token,
                )),
            }
        }
        "lru_crawler_tocrawl" => {
            let v = need(name, value, token, Missing::Value)?;
            match v.trim().parse::<u32>() {
                Ok(_) => Ok(true),
                Err(_) => Err(err(
                    "lru_crawler_tocrawl takes a numeric 32bit value",
                    token,
                )),
            }
        }
        "hot_lru_pct" | "warm_lru_pct" => {
            let v = need(name, value, token, Missing::Argument)?;
            let pct = match v.trim().parse::<u32>() {
                Ok(p @ 1..=79) => p,
                _ => return Err(err(format!("{name} must be > 1 and < 80"), token)),
            };
            if name == "hot_lru_pct" {
                lru.hot = Some(pct);
            } else {
                lru.warm = Some(pct);
            }
            Ok(true)
        }
        "hot_max_factor" | "warm_max_factor" => {
            let v = need(name, value, token, Missing::Argument)?;
            match v.trim().parse::<f64>() {
                Ok(f) if f > 0.0 && f.is_finite() => Ok(true),
                _ => Err(err(format!("{name} must be > 0"), token)),
            }
        }
        "read_buf_mem_limit" | "watcher_logbuf_size" | "worker_logbuf_size" => {
            let v = need(name, value, token, Missing::Argument)?;
            match v.trim().parse::<u32>() {
                Ok(_) => Ok(true),
                Err(_) => Err(err(format!("could not parse argument to {name}"), token)),
            }
        }
        "temporary_ttl" | "slab_chunk_max" => {
            let v = need(name, value, token, Missing::Argument)?;
            number::<u32>(name, v, token)?;
            Ok(true)
        }
        "slab_automove_freeratio" | "ext_max_frag" => {
            let v = need(name, value, token, Missing::Argument)?;
            number::<f64>(name, v, token)?;
            Ok(true)
        }
        "ext_path" => {
            let v = value.filter(|v| !v.is_empty()).ok_or_else(|| {
                err(
                    "missing argument to ext_path, ie: ext_path=/d/file:5G",
                    token,
                )
            })?;
            if !v.contains(':') {
                return Err(err(
                    "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)",
                    token,
                ));
            }
            Ok(true)
        }
        "resp_obj_mem_limit" => {
            c.warnings.push(
                "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit".to_string(),
            );
            Ok(true)
        }
        // Suboptions that need a value memcached does not check further.
        "slab_sizes" | "sock_cookie_id" | "ext_page_size" | "ext_wbuf_size" | "ext_threads"
        | "ext_io_depth" | "ext_item_size" | "ext_item_age" | "ext_low_ttl"
        | "ext_recache_rate" | "ext_compact_under" | "ext_drop_under" | "ext_max_sleep" => {
            need(name, value, token, Missing::Argument)?;
            Ok(true)
        }
        // Switches.
        "no_hashexpand"
        | "lru_crawler"
        | "no_lru_crawler"
        | "lru_maintainer"
        | "no_lru_maintainer"
        | "slab_reassign"
        | "no_slab_reassign"
        | "no_slab_automove"
        | "inline_ascii_resp"
        | "no_inline_ascii_resp"
        | "no_chunked_items"
        | "modern"
        | "no_modern"
        | "drop_privileges"
        | "no_drop_privileges"
        | "ext_drop_unread" => Ok(true),
        _ => Err(ConfigError::new(format!(
            "Illegal suboption \"{token}\" (-o, --extended)"
        ))),
    }
}
