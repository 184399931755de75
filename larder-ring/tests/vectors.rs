//! Golden placement vectors: every row produced by libmemcached 1.1.4 and twemproxy 0.5.0
//! (`tests/data/vectors.tsv`, from the shared ketama set) and by libmemcached 1.1.4 through
//! `tests/data/libmemcached_oracle.c` (`libmemcached_extra.tsv`, `libmemcached_hashes.tsv`).

use std::collections::HashMap;

use larder_ring::{Compat, Distribution, Hash, NodeSpec, Ring, RingConfig};

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
            distribution: if weighted == "1" {
                Distribution::KetamaWeighted
            } else {
                Distribution::Ketama
            },
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
            let config = RingConfig {
                distribution: if f[2] == "1" {
                    Distribution::KetamaWeighted
                } else {
                    Distribution::Ketama
                },
                hash,
                ..RingConfig::default()
            };
            current = Some((f[1].to_string(), Ring::new(&config, &servers(f[4]))));
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
                distribution: Distribution::KetamaWeighted,
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
