//! The ketama continuum: an immutable sorted array of 32-bit points, each owned by a node.
//!
//! Built exactly as libmemcached's `update_continuum` (hosts.cc) and twemproxy's
//! `ketama_update` (nc_ketama.c) build theirs, so every key lands on the same node:
//!
//! - **Weighted** ([`Distribution::KetamaWeighted`]; libmemcached
//!   `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, twemproxy `distribution: ketama`): a live node
//!   with weight `w` out of a live total `W` among `L` live nodes gets
//!   `floor(w / W * 160 / 4 * L + 1e-10) * 4` points, computed in `f32` as the C code
//!   does. For `i` in `0..points/4` the MD5 digest of `"<point name>-<i>"` yields four
//!   points, its four little-endian 32-bit words.
//! - **Unweighted** ([`Distribution::Ketama`]; libmemcached
//!   `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA`): 100 points per node, point `i` being
//!   the *key hash* of `"<point name>-<i>"`. As in libmemcached, any node with weight > 1
//!   switches the ring to the weighted formula.
//!
//! Points are sorted by value, ties by node index (libmemcached's `continuum_item_cmp`).
//! A key's hash finds the first point `>=` it, wrapping to the first point.
//! Ejected (not live) nodes contribute no points and do not count in `L` or `W`.
//!
//! Node indices are positions in the slice the ring was built from; the ring stores no
//! addresses, so a client pairs it with its node list. This module does no I/O.

use crate::hash::{md5, md5_point, Hash};
use crate::node::{Compat, NodeSpec};

/// Points per weight share under weighted ketama (`MEMCACHED_POINTS_PER_SERVER_KETAMA`).
pub const POINTS_PER_SERVER_KETAMA: u32 = 160;
/// Points per node under unweighted ketama (`MEMCACHED_POINTS_PER_SERVER`).
pub const POINTS_PER_SERVER: u32 = 100;

/// How points are laid out on the continuum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// libmemcached `KETAMA_WEIGHTED` (pylibmc `ketama_weighted`, php-memcached
    /// `OPT_LIBKETAMA_COMPATIBLE`) and twemproxy `distribution: ketama`.
    #[default]
    KetamaWeighted,
    /// libmemcached's unweighted `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA`.
    Ketama,
}

/// Everything that decides placement besides the node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingConfig {
    /// Point layout.
    pub distribution: Distribution,
    /// Key hash (and, for [`Distribution::Ketama`], point hash).
    pub hash: Hash,
    /// twemproxy's `hash_tag`: when a key contains `tag[0]` followed later by `tag[1]`
    /// with at least one byte between, only those bytes are hashed.
    pub hash_tag: Option<[u8; 2]>,
    /// Naming of unix-socket nodes.
    pub compat: Compat,
}

impl Default for RingConfig {
    /// Weighted ketama with MD5 keys: what the C clients call "ketama compatible".
    fn default() -> RingConfig {
        RingConfig {
            distribution: Distribution::KetamaWeighted,
            hash: Hash::Md5,
            hash_tag: None,
            compat: Compat::Libmemcached,
        }
    }
}

/// An immutable continuum. Cheap to query from many threads; rebuild to change it.
#[derive(Clone, Debug)]
pub struct Ring {
    /// Sorted point values.
    values: Vec<u32>,
    /// `owners[i]` is the node index owning `values[i]`.
    owners: Vec<u32>,
    /// Number of nodes in the list the ring was built from (live or not).
    nodes: usize,
    hash: Hash,
    hash_tag: Option<[u8; 2]>,
}

impl Ring {
    /// Builds the ring for `nodes`, all live.
    pub fn new(config: &RingConfig, nodes: &[NodeSpec]) -> Ring {
        Ring::with_liveness(config, nodes, |_| true)
    }

    /// Builds the ring for `nodes`, leaving out those for which `live(index)` is false
    /// (auto-ejected nodes), exactly as the C clients rebuild after an ejection.
    pub fn with_liveness(
        config: &RingConfig,
        nodes: &[NodeSpec],
        live: impl Fn(usize) -> bool,
    ) -> Ring {
        let live: Vec<bool> = (0..nodes.len()).map(live).collect();
        let live_count = live.iter().filter(|l| **l).count() as u32;
        let weighted = match config.distribution {
            Distribution::KetamaWeighted => true,
            Distribution::Ketama => nodes.iter().any(|n| n.weight > 1),
        };
        let total_weight: u64 = nodes
            .iter()
            .zip(&live)
            .filter(|(_, l)| **l)
            .map(|(n, _)| u64::from(n.weight))
            .sum();
        let mut points: Vec<(u32, u32)> = Vec::new();
        let mut label = Vec::with_capacity(64);
        for (index, node) in nodes.iter().enumerate() {
            if !live[index] {
                continue;
            }
            let name = node.point_name(config.compat);
            let mut point_label = |i: u32| {
                label.clear();
                label.extend_from_slice(name.as_bytes());
                label.push(b'-');
                label.extend_from_slice(i.to_string().as_bytes());
                label.clone()
            };
            if weighted {
                let count = weighted_point_count(node.weight, total_weight, live_count);
                for i in 0..count / 4 {
                    let digest = md5(&point_label(i));
                    for alignment in 0..4 {
                        points.push((md5_point(&digest, alignment), index as u32));
                    }
                }
            } else {
                for i in 0..POINTS_PER_SERVER {
                    points.push((config.hash.hash(&point_label(i)), index as u32));
                }
            }
        }
        points.sort_unstable();
        Ring {
            values: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.1).collect(),
            nodes: nodes.len(),
            hash: config.hash,
            hash_tag: config.hash_tag,
        }
    }

    /// The 32-bit hash that places `key` (after applying the hash tag, if any).
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u32 {
        self.hash.hash(tagged(key, self.hash_tag))
    }

    /// The index of the node holding `key`, or `None` when no node is live.
    /// Allocation-free: one hash and one binary search.
    #[inline]
    pub fn route(&self, key: &[u8]) -> Option<usize> {
        self.route_hash(self.key_hash(key))
    }

    /// The node owning the first point `>=` `hash`, wrapping around.
    #[inline]
    pub fn route_hash(&self, hash: u32) -> Option<usize> {
        let at = self.first_point(hash)?;
        Some(self.owners[at] as usize)
    }

    /// The replica set of `key`: up to `out.len()` distinct nodes in ring order, starting
    /// at its home node. Fills `out` from the front and returns how many it found (fewer
    /// when fewer nodes are live). Allocation-free.
    pub fn successors(&self, key: &[u8], out: &mut [usize]) -> usize {
        let Some(start) = self.first_point(self.key_hash(key)) else {
            return 0;
        };
        let len = self.values.len();
        let mut found = 0;
        for step in 0..len {
            if found == out.len() {
                break;
            }
            let owner = self.owners[(start + step) % len] as usize;
            if !out[..found].contains(&owner) {
                out[found] = owner;
                found += 1;
            }
        }
        found
    }

    /// Number of points on the continuum.
    pub fn point_count(&self) -> usize {
        self.values.len()
    }

    /// Number of points owned by node `index`.
    pub fn points_of(&self, index: usize) -> usize {
        self.owners.iter().filter(|o| **o as usize == index).count()
    }

    /// Points owned by each node, indexed like the node list (one pass over the ring).
    pub fn point_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes];
        for owner in &self.owners {
            counts[*owner as usize] += 1;
        }
        counts
    }

    /// Fraction of the 32-bit hash space that routes to node `index`.
    pub fn share(&self, index: usize) -> f64 {
        let len = self.values.len();
        let mut owned: u64 = 0;
        for i in 0..len {
            if self.owners[i] as usize != index {
                continue;
            }
            // Point i owns the hashes in (previous point, this point].
            let prev = if i == 0 {
                i64::from(self.values[len - 1]) - (1i64 << 32)
            } else {
                i64::from(self.values[i - 1])
            };
            owned += (i64::from(self.values[i]) - prev) as u64;
        }
        owned as f64 / (1u64 << 32) as f64
    }

    /// Size of the node list the ring was built from (including ejected nodes).
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The hash this ring applies to keys.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    fn first_point(&self, hash: u32) -> Option<usize> {
        if self.values.is_empty() {
            return None;
        }
        let at = self.values.partition_point(|v| *v < hash);
        Some(if at == self.values.len() { 0 } else { at })
    }
}

/// Points a weighted node gets, in the C code's `float` arithmetic.
pub fn weighted_point_count(weight: u32, total_weight: u64, live_nodes: u32) -> u32 {
    if total_weight == 0 {
        return 0;
    }
    let pct = weight as f32 / total_weight as f32;
    let per4 = pct * POINTS_PER_SERVER_KETAMA as f32 / 4.0 * live_nodes as f32 + 1e-10_f32;
    (per4.floor() * 4.0) as u32
}

/// twemproxy's hash-tag rule: hash only what lies between the first `tag[0]` and the next
/// `tag[1]`, when that span is non-empty.
fn tagged(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([open, close]) = tag else {
        return key;
    };
    let Some(start) = key.iter().position(|b| *b == open) else {
        return key;
    };
    match key[start + 1..].iter().position(|b| *b == close) {
        Some(len) if len > 0 => &key[start + 1..start + 1 + len],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_point_counts_match_the_c_code() {
        // Three equal nodes: 160 each; libmemcached's test suite weights.
        assert_eq!(weighted_point_count(1, 3, 3), 160);
        assert_eq!(weighted_point_count(1, 6, 3), 80);
        assert_eq!(weighted_point_count(3, 6, 3), 240);
        // The W8 recipe (weights 600,300,200,350,1000,800,950,100; total 4300).
        let w8: [u32; 8] = [600, 300, 200, 350, 1000, 800, 950, 100];
        let total: u64 = w8.iter().map(|w| u64::from(*w)).sum();
        let sum: u32 = w8.iter().map(|w| weighted_point_count(*w, total, 8)).sum();
        assert_eq!(sum, 1264);
        // Weights where f64 arithmetic would give 192 points instead of 188.
        let w5: [u32; 5] = [7, 12, 12, 12, 7];
        let counts: Vec<u32> = w5.iter().map(|w| weighted_point_count(*w, 50, 5)).collect();
        assert_eq!(counts, [112, 188, 188, 188, 112]);
    }

    #[test]
    fn hash_tag_selects_the_tagged_span() {
        let t = Some([b'{', b'}']);
        assert_eq!(tagged(b"user:{42}:name", t), b"42");
        assert_eq!(tagged(b"user:{}:name", t), b"user:{}:name");
        assert_eq!(tagged(b"user:{42", t), b"user:{42");
        assert_eq!(tagged(b"plain", t), b"plain");
        assert_eq!(tagged(b"a{b}c", None), b"a{b}c");
    }

    #[test]
    fn empty_ring_routes_nowhere() {
        let ring = Ring::new(&RingConfig::default(), &[]);
        assert_eq!(ring.route(b"k"), None);
        let nodes = [NodeSpec::tcp("a", 1)];
        let ring = Ring::with_liveness(&RingConfig::default(), &nodes, |_| false);
        assert_eq!(ring.route(b"k"), None);
        let mut out = [7; 2];
        assert_eq!(ring.successors(b"k", &mut out), 0);
    }

    #[test]
    fn successors_are_distinct_and_start_at_home() {
        let nodes: Vec<NodeSpec> = (0..5)
            .map(|i| NodeSpec::tcp("10.0.0.1", 20000 + i))
            .collect();
        let ring = Ring::new(&RingConfig::default(), &nodes);
        let mut out = [0; 3];
        for k in 0..200u32 {
            let key = k.to_string();
            assert_eq!(ring.successors(key.as_bytes(), &mut out), 3);
            assert_eq!(Some(out[0]), ring.route(key.as_bytes()));
            assert!(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
        }
        let mut many = [0; 9];
        assert_eq!(ring.successors(b"x", &mut many), 5);
        let mut sorted = many[..5].to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn shares_sum_to_one() {
        let nodes: Vec<NodeSpec> = (0..4).map(|i| NodeSpec::tcp("h", 1000 + i)).collect();
        let ring = Ring::new(&RingConfig::default(), &nodes);
        let total: f64 = (0..4).map(|i| ring.share(i)).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert_eq!(ring.point_count(), 640);
        assert_eq!(ring.points_of(2), 160);
        assert_eq!(ring.point_counts(), [160; 4]);
    }
}
