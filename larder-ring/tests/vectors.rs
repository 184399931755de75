//! Golden placement vectors: every row produced by libmemcached 1.1.4 and twemproxy 0.5.0
//! (`tests/data/vectors.tsv`, from the shared ketama set) and by libmemcached 1.1.4 through
//! `tests/data/libmemcached_oracle.c` (`libmemcached_extra.tsv`, `libmemcached_hashes.tsv`).

use std::collections::HashMap;

use larder_ring::{Compat, Distribution, Hash, NodeSpec, Ring, RingConfig, SpyFormat};

const KEYS: &str = include_str!("data/keys.tsv");
const CONFIGS: &str = include_str!("data/configs.tsv");
const VECTORS: &str = include_str!("data/vectors.tsv");
const EXTRA: &str = include_str!("data/libmemcached_extra.tsv");
const HASHES: &str = include_str!("data/libmemcached_hashes.tsv");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn keys() -> HashMap<u32, Vec<u8>> {
    KEYS.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), unhex(f[3]))
        })
        .collect()
}

/// `host:port:weight,...` as the data files write server lists (unix sockets as
/// `/path:0:weight`).
fn servers(list: &str) -> Vec<NodeSpec> {
    list.split(',')
        .map(|s| {
            let (rest, weight) = s.rsplit_once(':').unwrap();
            let (host, port) = rest.rsplit_once(':').unwrap();
            let weight: u32 = weight.parse().unwrap();
            if host.starts_with('/') {
                NodeSpec::unix(host).with_weight(weight)
            } else {
                NodeSpec::tcp(host, port.parse().unwrap()).with_weight(weight)
            }
        })
        .collect()
}

#[test]
fn shared_vectors_every_row() {
    let keys = keys();
    let mut rings = HashMap::new();
    for line in CONFIGS.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, weighted, list) = (f[0], f[4], f[6]);
        let config = RingConfig {
            distribution: Distribution::Ketama,
            weighted: weighted == "1",
            hash: Hash::Md5,
            hash_tag: None,
            compat: if name.starts_with("tp_") {
                Compat::Twemproxy
            } else {
                Compat::Libmemcached
            },
        };
        let nodes = servers(list);
        let ring = Ring::new(&config, &nodes);
        if !f[5].is_empty() {
            assert_eq!(
                ring.point_count(),
                f[5].parse::<usize>().unwrap(),
                "{name} points"
            );
        }
        rings.insert(name.to_string(), (ring, nodes));
    }
    let mut rows = 0;
    for line in VECTORS.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (ring, nodes) = &rings[f[0]];
        let key = unhex(f[2]);
        assert_eq!(key, keys[&f[1].parse::<u32>().unwrap()]);
        let got = ring.route(&key).expect("live ring");
        assert_eq!(got, f[3].parse::<usize>().unwrap(), "{} key {}", f[0], f[1]);
        assert_eq!(nodes[got].label(), f[4]);
        rows += 1;
    }
    assert_eq!(rows, 6 * 178);
}

#[test]
fn libmemcached_extra_configs_every_row() {
    let keys = keys();
    let mut current: Option<(String, Ring)> = None;
    let mut rows = 0;
    let mut configs = 0;
    for line in EXTRA.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#config" {
            // #config name mode hash_enum servers; mode 1 = KETAMA_WEIGHTED behaviour.
            let hash = match f[3] {
                "0" => Hash::OneAtATime,
                "1" => Hash::Md5,
                "2" => Hash::Crc32,
                "3" => Hash::Fnv1_64,
                "4" => Hash::Fnv1a_64,
                "5" => Hash::Fnv1_32,
                "6" => Hash::Fnv1a_32,
                "8" => Hash::Murmur,
                "9" => Hash::Jenkins,
                other => panic!("hash enum {other}"),
            };
            // The oracle set the distribution first and added servers after, so
            // libmemcached's flag is set by KETAMA_WEIGHTED (mode 1) or by adding a server
            // of weight > 1 under a consistent distribution.
            let nodes = servers(f[4]);
            let config = RingConfig {
                distribution: Distribution::Ketama,
                weighted: f[2] == "1" || nodes.iter().any(|n| n.weight > 1),
                hash,
                ..RingConfig::default()
            };
            current = Some((f[1].to_string(), Ring::new(&config, &nodes)));
            configs += 1;
            continue;
        }
        let (name, ring) = current.as_ref().expect("config line first");
        assert_eq!(f[0], name);
        let key = &keys[&f[1].parse::<u32>().unwrap()];
        assert_eq!(
            ring.route(key),
            Some(f[2].parse().unwrap()),
            "{name} key {}",
            f[1]
        );
        rows += 1;
    }
    assert_eq!(configs, 13);
    assert_eq!(rows, 13 * 178);
}

#[test]
fn key_hashes_match_libhashkit() {
    let keys = keys();
    let mut lines = HASHES.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let hashes: Vec<Hash> = header[1..]
        .iter()
        .map(|n| Hash::from_name(n).unwrap())
        .collect();
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let key = &keys[&f[0].parse::<u32>().unwrap()];
        for (h, want) in hashes.iter().zip(&f[1..]) {
            assert_eq!(
                h.hash(key),
                want.parse::<u32>().unwrap(),
                "{} of key {}",
                h.name(),
                f[0]
            );
        }
        rows += 1;
    }
    assert_eq!(rows, 178);
}

/// Placements made by a real twemproxy (nutcracker 0.5.0, `distribution: ketama`) in front
/// of memcached: named servers under every twemproxy hash, a `{}` hash tag, and unix
/// sockets (`tests/data/twemproxy_oracle.py`).
#[test]
fn twemproxy_extra_configs_every_row() {
    const TP: &str = include_str!("data/twemproxy_extra.tsv");
    let mut current: Option<(String, Ring, Vec<NodeSpec>)> = None;
    let (mut rows, mut configs) = (0, 0);
    for line in TP.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#config" {
            // #config name hash hash_tag servers ("addr:weight [name]" joined by ',')
            let nodes: Vec<NodeSpec> = f[4].split(',').map(|s| s.parse().unwrap()).collect();
            let tag = f[3].as_bytes();
            let config = RingConfig {
                distribution: Distribution::Ketama,
                weighted: true,
                hash: Hash::from_name(f[2]).unwrap(),
                hash_tag: (tag.len() == 2).then(|| [tag[0], tag[1]]),
                compat: Compat::Twemproxy,
            };
            current = Some((f[1].to_string(), Ring::new(&config, &nodes), nodes));
            configs += 1;
            continue;
        }
        let (name, ring, nodes) = current.as_ref().expect("config line first");
        assert_eq!(f[0], name);
        let key = unhex(f[2]);
        let got = ring.route(&key).unwrap();
        assert_eq!(got, f[3].parse::<usize>().unwrap(), "{name} key {}", f[1]);
        assert_eq!(nodes[got].label(), f[4]);
        rows += 1;
    }
    assert_eq!(configs, 13);
    assert_eq!(rows, 13 * (178 + 40));
}

/// libmemcached 1.1.4 through `libmemcached_oracle.c ... more`: `KETAMA_SPY`, `MODULA`,
/// `MURMUR3`, and the weighted flag as the library decided it from the order of calls.
#[test]
fn libmemcached_more_configs_every_row() {
    const MORE: &str = include_str!("data/libmemcached_more.tsv");
    let keys = keys();
    let mut current: Option<(String, Ring)> = None;
    let (mut rows, mut configs) = (0, 0);
    for line in MORE.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#config" {
            // #config name distribution_enum weighted_flag hash_enum servers
            let distribution = match f[2] {
                "0" => Distribution::Modula,
                "2" | "5" => Distribution::Ketama,
                "4" => Distribution::KetamaSpy,
                other => panic!("distribution enum {other}"),
            };
            let hash = match f[4] {
                "0" => Hash::OneAtATime,
                "1" => Hash::Md5,
                "2" => Hash::Crc32,
                "4" => Hash::Fnv1a_64,
                "10" => Hash::Murmur3,
                other => panic!("hash enum {other}"),
            };
            // libmemcached's modula ignores weights whatever the flag says.
            let weighted = f[3] == "1" && distribution != Distribution::Modula;
            let config = RingConfig::new(distribution, weighted, hash);
            current = Some((f[1].to_string(), Ring::new(&config, &servers(f[5]))));
            configs += 1;
            continue;
        }
        let (name, ring) = current.as_ref().expect("config line first");
        assert_eq!(f[0], name);
        let key = &keys[&f[1].parse::<u32>().unwrap()];
        let want: usize = f[2].parse().unwrap();
        assert_eq!(ring.route(key), Some(want), "{name} key {}", f[1]);
        rows += 1;
    }
    assert_eq!(configs, 13);
    assert_eq!(rows, 13 * 178);
}

#[test]
fn murmur3_matches_libhashkit_for_every_key() {
    const M3: &str = include_str!("data/libmemcached_murmur3.tsv");
    let keys = keys();
    let mut rows = 0;
    for line in M3.lines().skip(1) {
        let (id, want) = line.split_once('\t').unwrap();
        let key = &keys[&id.parse::<u32>().unwrap()];
        assert_eq!(
            Hash::Murmur3.hash(key),
            want.parse::<u32>().unwrap(),
            "key {id}"
        );
        rows += 1;
    }
    assert_eq!(rows, 178);
}

/// A real twemproxy (nutcracker 0.5.0) with `distribution: modula` under several hashes, and
/// the `hsieh` hash under ketama and modula (`twemproxy_oracle.py keys.tsv more`).
#[test]
fn twemproxy_modula_and_hsieh_every_row() {
    const TP: &str = include_str!("data/twemproxy_more.tsv");
    let mut current: Option<(String, Ring, Vec<NodeSpec>)> = None;
    let (mut rows, mut configs) = (0, 0);
    for line in TP.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#config" {
            // #config name hash hash_tag servers distribution
            let nodes: Vec<NodeSpec> = f[4].split(',').map(|s| s.parse().unwrap()).collect();
            let distribution = match f[5] {
                "modula" => Distribution::Modula,
                "ketama" => Distribution::Ketama,
                other => panic!("distribution {other}"),
            };
            // twemproxy counts weights under both distributions.
            let config = RingConfig {
                compat: Compat::Twemproxy,
                ..RingConfig::new(distribution, true, Hash::from_name(f[2]).unwrap())
            };
            current = Some((f[1].to_string(), Ring::new(&config, &nodes), nodes));
            configs += 1;
            continue;
        }
        let (name, ring, nodes) = current.as_ref().expect("config line first");
        assert_eq!(f[0], name);
        let key = unhex(f[2]);
        let got = ring.route(&key).unwrap();
        assert_eq!(got, f[3].parse::<usize>().unwrap(), "{name} key {}", f[1]);
        assert_eq!(nodes[got].label(), f[4]);
        rows += 1;
    }
    assert_eq!(configs, 7);
    assert_eq!(rows, 7 * (178 + 40));
}

/// spymemcached 2.12.3's own `KetamaNodeLocator` (`SpyOracle.java`): both node-key formats,
/// KETAMA_HASH and the FNV and CRC hashes, weighted and not, host names, IPv6 and unresolved
/// addresses; `getPrimary` and the seven-node `getSequence` for every UTF-8 key.
#[test]
fn spymemcached_every_row_and_sequence() {
    const SPY: &str = include_str!("data/spymemcached_vectors.tsv");
    let keys = keys();
    let mut current: Option<(String, Ring)> = None;
    let (mut rows, mut configs) = (0, 0);
    for line in SPY.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#config" {
            // #config name format hash weighted spec=point_name,...
            let format = match f[2] {
                "SPYMEMCACHED" => SpyFormat::Spymemcached,
                "LIBMEMCACHED" => SpyFormat::Libmemcached,
                other => panic!("format {other}"),
            };
            let hash = match f[3] {
                "KETAMA_HASH" => Hash::Md5,
                "FNV1A_64_HASH" => Hash::Fnv1a_64,
                "FNV1_64_HASH" => Hash::Fnv1_64,
                "FNV1_32_HASH" => Hash::Fnv1_32,
                "FNV1A_32_HASH" => Hash::Fnv1a_32,
                "CRC_HASH" => Hash::Crc32,
                other => panic!("hash {other}"),
            };
            let nodes: Vec<NodeSpec> = f[5]
                .split(',')
                .map(|entry| {
                    let (spec, point_name) = entry.split_once('=').unwrap();
                    let mut node: NodeSpec = spec.trim_start_matches('~').parse().unwrap();
                    if node.spy_point_name(format) != point_name {
                        // Only a resolved host name needs its `host/ip` given as the name.
                        assert!(spec.starts_with("localhost"), "{spec} -> {point_name}");
                        node = node.with_name(point_name);
                    }
                    node
                })
                .collect();
            let config = RingConfig::new(Distribution::Spymemcached(format), f[4] == "1", hash);
            current = Some((f[1].to_string(), Ring::new(&config, &nodes)));
            configs += 1;
            continue;
        }
        let (name, ring) = current.as_ref().expect("config line first");
        assert_eq!(f[0], name);
        let key = &keys[&f[1].parse::<u32>().unwrap()];
        let want: usize = f[2].parse().unwrap();
        assert_eq!(ring.route(key), Some(want), "{name} key {}", f[1]);
        let mut seq = [0; larder_ring::ring::SPY_SEQUENCE_LEN];
        assert_eq!(ring.spy_sequence(key, &mut seq), seq.len());
        let want_seq: Vec<usize> = f[3].split(',').map(|n| n.parse().unwrap()).collect();
        assert_eq!(seq.to_vec(), want_seq, "{name} key {} sequence", f[1]);
        rows += 1;
    }
    assert_eq!(configs, 14);
    assert_eq!(rows, 14 * 150);
}

/// Rows of one configuration of a vector file: key id -> node index.
fn rows_of(file: &str, config: &str) -> HashMap<u32, usize> {
    file.lines()
        .filter(|l| l.starts_with(config) && l.as_bytes().get(config.len()) == Some(&b'\t'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

/// Two facts the README states, from the real libraries' rows: libmemcached's KETAMA_SPY
/// does not place keys as spymemcached 2.12.3 does (the leading `/` of its point names),
/// and spymemcached's LIBMEMCACHED format, weighted, places them as libmemcached's weighted
/// ketama does (same servers, weights 1, 2, 3, 5).
#[test]
fn ketama_spy_is_not_spymemcached_but_libmemcached_format_is_ketama() {
    const SPY: &str = include_str!("data/spymemcached_vectors.tsv");
    const MORE: &str = include_str!("data/libmemcached_more.tsv");
    let java = rows_of(SPY, "spy_spyfmt_weighted_ketama_W4");
    let lm_spy = rows_of(MORE, "lmm_spy_weighted_md5_W4");
    let differ = java.iter().filter(|(k, v)| lm_spy[*k] != **v).count();
    assert!(
        differ > java.len() / 3,
        "only {differ} of {} differ",
        java.len()
    );

    let java_lib = rows_of(SPY, "spy_libfmt_weighted_ketama_W4");
    let ring = Ring::new(
        &RingConfig::default(),
        &servers("10.0.0.1:11211:1,10.0.0.2:11211:2,10.0.0.3:11212:3,10.0.0.4:22122:5"),
    );
    let keys = keys();
    for (id, want) in &java_lib {
        assert_eq!(ring.route(&keys[id]), Some(*want), "key {id}");
    }
}
