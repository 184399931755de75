//! Placement: which node holds a key. Every [`Distribution`] but two copies a client's
//! code exactly, so a mixed fleet agrees on every key:
//!
//! - **Ketama** ([`Distribution::Ketama`]; libmemcached `CONSISTENT_KETAMA`, twemproxy
//!   `distribution: ketama`). Weighted ([`RingConfig::weighted`]): a live node with
//!   weight `w` out of a live total `W` among `L` live nodes gets
//!   `floor(w / W * 160 / 4 * L + 1e-10) * 4` points, computed in `f32` as the C code
//!   does; for `i` in `0..points/4` the MD5 digest of `"<point name>-<i>"` yields four
//!   points, its four little-endian 32-bit words. Unweighted: 100 points per node, point
//!   `i` being the *key hash* of `"<point name>-<i>"`. Points are sorted by value, ties
//!   by node index (`continuum_item_cmp`).
//! - **libmemcached `KETAMA_SPY`** ([`Distribution::KetamaSpy`]): the same, with point
//!   names `/host:port-<i>` (hosts.cc).
//! - **spymemcached** ([`Distribution::Spymemcached`]; `KetamaNodeLocator`): 160 points
//!   per node, named by [`SpyFormat`]; MD5 in fours when weighted or when the hash is
//!   `KETAMA_HASH`, else one [`Hash::hash_java`] per point; a later node overwrites an
//!   equal point (a `TreeMap`); keys hash with [`Hash::hash_java`].
//! - **Modula** ([`Distribution::Modula`]): `hash % slots`, one slot per node
//!   (libmemcached, unweighted) or `weight` consecutive slots per node (twemproxy,
//!   weighted), nodes in list order (libmemcached) or in twemproxy's sorted order
//!   ([`Compat::Twemproxy`], see [`NodeSpec::twemproxy_name`]).
//! - **Jump** and **Rendezvous**: larder-ring only (no other client speaks them).
//!
//! A key's hash finds the first point `>=` it, wrapping to the first point.
//! Ejected (not live) nodes contribute no points and do not count in `L` or `W`.
//!
//! Node indices are positions in the slice the ring was built from; the ring stores no
//! addresses, so a client pairs it with its node list. This module does no I/O.

use crate::hash::{md5, md5_point, Hash};
use crate::node::{Compat, NodeSpec, SpyFormat};

/// Points per weight share under weighted ketama (`MEMCACHED_POINTS_PER_SERVER_KETAMA`).
pub const POINTS_PER_SERVER_KETAMA: u32 = 160;
/// Points per node under unweighted ketama (`MEMCACHED_POINTS_PER_SERVER`).
pub const POINTS_PER_SERVER: u32 = 100;
/// Points per node in spymemcached (`getNodeRepetitions()`, weighted or not).
pub const SPY_NODE_REPETITIONS: u32 = 160;
/// Length of spymemcached's `getSequence` (`KetamaIterator` tries).
pub const SPY_SEQUENCE_LEN: usize = 7;

/// How keys are spread over nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Ketama as libmemcached (`MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA`, pylibmc,
    /// php-memcached) and twemproxy (`distribution: ketama`) build it.
    #[default]
    Ketama,
    /// libmemcached's `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY`: ketama with point
    /// names `/host:port`. (Not what spymemcached 2.x itself does: see
    /// [`Distribution::Spymemcached`].)
    KetamaSpy,
    /// spymemcached's `KetamaNodeLocator` with a `DefaultKetamaNodeKeyFormatter` format.
    Spymemcached(SpyFormat),
    /// Modula: libmemcached `MEMCACHED_DISTRIBUTION_MODULA` (unweighted) and twemproxy
    /// `distribution: modula` (weighted).
    Modula,
    /// Jump consistent hash (Lamping and Veach). larder-ring only.
    Jump,
    /// Rendezvous (highest random weight) hashing. larder-ring only.
    Rendezvous,
}

/// Everything that decides placement besides the node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingConfig {
    /// Placement algorithm.
    pub distribution: Distribution,
    /// Whether node weights count. Each client has its own rule, and this field is set
    /// to what it decided; larder-ring never infers it from the weights:
    /// - libmemcached: its weighted-ketama flag. `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` and
    ///   `MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED` set it, and so does adding a server
    ///   of weight 2 or more while a consistent distribution is set; setting
    ///   `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA` clears it (so the order of calls
    ///   matters). Modula ignores weights (`false`).
    /// - twemproxy: always weighted (`true`), for ketama and modula.
    /// - spymemcached: weighted when the locator is given a non-empty weights map.
    pub weighted: bool,
    /// Key hash (and, for unweighted ketama, point hash).
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
            distribution: Distribution::Ketama,
            weighted: true,
            hash: Hash::Md5,
            hash_tag: None,
            compat: Compat::Libmemcached,
        }
    }
}

impl RingConfig {
    /// Weighted ketama with `hash`: libmemcached `KETAMA_WEIGHTED`, twemproxy `ketama`.
    pub fn ketama_weighted(hash: Hash) -> RingConfig {
        RingConfig {
            hash,
            ..RingConfig::default()
        }
    }

    /// `distribution` with `hash`, weights counting or not.
    pub fn new(distribution: Distribution, weighted: bool, hash: Hash) -> RingConfig {
        RingConfig {
            distribution,
            weighted,
            hash,
            ..RingConfig::default()
        }
    }
}

/// The placement structure of a [`Ring`].
#[derive(Clone, Debug)]
enum Layout {
    /// Sorted point values and, at the same index, the node owning each.
    Continuum { values: Vec<u32>, owners: Vec<u32> },
    /// `slots[hash % len]` owns the key.
    Modula { slots: Vec<u32> },
    /// Jump buckets (one per weight unit when weighted, over every node) and whether
    /// each node is live: a key whose bucket is not live jumps again with a rehash.
    Jump { buckets: Vec<u32>, live: Vec<bool> },
    /// Live nodes: (index, 64-bit seed from the point name, weight).
    Rendezvous { nodes: Vec<(u32, u64, f64)> },
}

/// An immutable placement. Cheap to query from many threads; rebuild to change it.
#[derive(Clone, Debug)]
pub struct Ring {
    layout: Layout,
    /// Number of nodes in the list the ring was built from (live or not).
    nodes: usize,
    hash: Hash,
    hash_tag: Option<[u8; 2]>,
    /// spymemcached semantics for key hashes (`hash_java`).
    java: bool,
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
        let layout = match config.distribution {
            Distribution::Ketama | Distribution::KetamaSpy | Distribution::Spymemcached(_) => {
                continuum(config, nodes, &live)
            }
            Distribution::Modula => {
                // twemproxy lays its slots out in its own server order: sorted by name,
                // shorter names first (conf.c). libmemcached keeps the list order.
                let mut order: Vec<(usize, &NodeSpec)> = nodes.iter().enumerate().collect();
                if config.compat == Compat::Twemproxy {
                    order.sort_by_cached_key(|(_, n)| {
                        let name = n.twemproxy_name();
                        (name.len(), name)
                    });
                }
                let mut slots = Vec::new();
                for (index, node) in order {
                    if live[index] {
                        let copies = if config.weighted { node.weight } else { 1 };
                        slots.extend(std::iter::repeat(index as u32).take(copies as usize));
                    }
                }
                Layout::Modula { slots }
            }
            Distribution::Jump => {
                let mut buckets = Vec::new();
                for (index, node) in nodes.iter().enumerate() {
                    let copies = if config.weighted { node.weight } else { 1 };
                    buckets.extend(std::iter::repeat(index as u32).take(copies as usize));
                }
                let live = if live.iter().any(|l| *l) {
                    live
                } else {
                    Vec::new()
                };
                Layout::Jump { buckets, live }
            }
            Distribution::Rendezvous => {
                let nodes = nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| live[*i])
                    .map(|(i, n)| {
                        let d = md5(n.point_name(config.compat).as_bytes());
                        let seed = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
                        let w = if config.weighted { n.weight } else { 1 };
                        (i as u32, seed, f64::from(w))
                    })
                    .collect();
                Layout::Rendezvous { nodes }
            }
        };
        Ring {
            layout,
            nodes: nodes.len(),
            hash: config.hash,
            hash_tag: config.hash_tag,
            java: matches!(config.distribution, Distribution::Spymemcached(_)),
        }
    }

    /// The 32-bit hash that places `key` (after applying the hash tag, if any).
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u32 {
        let key = tagged(key, self.hash_tag);
        if self.java {
            self.hash.hash_java(key)
        } else {
            self.hash.hash(key)
        }
    }

    /// The index of the node holding `key`, or `None` when no node is live.
    /// Allocation-free (one hash and one search), except for spymemcached's FNV hashes of
    /// non-ASCII keys, which are decoded to UTF-16 first.
    #[inline]
    pub fn route(&self, key: &[u8]) -> Option<usize> {
        self.route_hash(self.key_hash(key))
    }

    /// The node for a key whose hash is `hash`.
    #[inline]
    pub fn route_hash(&self, hash: u32) -> Option<usize> {
        match &self.layout {
            Layout::Continuum { owners, .. } => {
                let at = self.first_point(hash)?;
                Some(owners[at] as usize)
            }
            Layout::Modula { slots } => {
                if slots.is_empty() {
                    return None;
                }
                Some(slots[hash as usize % slots.len()] as usize)
            }
            Layout::Jump { buckets, live } => {
                if live.is_empty() {
                    return None;
                }
                let mut key = mix64(u64::from(hash));
                loop {
                    let node = buckets[jump(key, buckets.len() as u32) as usize];
                    if live[node as usize] {
                        return Some(node as usize);
                    }
                    key = mix64(key);
                }
            }
            Layout::Rendezvous { nodes } => {
                let key = mix64(u64::from(hash));
                nodes
                    .iter()
                    .map(|(i, seed, w)| (rendezvous_score(key, *seed, *w), *i))
                    .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
                    .map(|(_, i)| i as usize)
            }
        }
    }

    /// The replica set of `key`: up to `out.len()` distinct nodes, starting at its home
    /// node. Ketama rings walk the continuum; modula walks the slots; jump rehashes as
    /// it does past a dead node; rendezvous takes the next-highest scores. Fills `out`
    /// from the front and returns how many it found (fewer when fewer nodes are live).
    /// Allocation-free.
    pub fn successors(&self, key: &[u8], out: &mut [usize]) -> usize {
        let hash = self.key_hash(key);
        let mut found = 0;
        // Adds `owner` unless already there; true once `out` is full.
        fn push(owner: usize, out: &mut [usize], found: &mut usize) -> bool {
            if *found < out.len() && !out[..*found].contains(&owner) {
                out[*found] = owner;
                *found += 1;
            }
            *found == out.len()
        }
        match &self.layout {
            Layout::Continuum { owners, .. } => {
                let Some(start) = self.first_point(hash) else {
                    return 0;
                };
                let len = owners.len();
                for step in 0..len {
                    if push(owners[(start + step) % len] as usize, out, &mut found) {
                        break;
                    }
                }
            }
            Layout::Modula { slots } => {
                let len = slots.len();
                for step in 0..len {
                    let at = (hash as usize % len + step) % len;
                    if push(slots[at] as usize, out, &mut found) {
                        break;
                    }
                }
            }
            Layout::Jump { buckets, live } => {
                if live.is_empty() {
                    return 0;
                }
                let live_count = live.iter().filter(|l| **l).count();
                let mut key = mix64(u64::from(hash));
                // Rehash until enough distinct live nodes are found (bounded, then a scan).
                for _ in 0..64 * buckets.len() {
                    let node = buckets[jump(key, buckets.len() as u32) as usize] as usize;
                    if (live[node] && push(node, out, &mut found)) || found == live_count {
                        break;
                    }
                    key = mix64(key);
                }
                for node in (0..live.len()).filter(|n| live[*n]) {
                    if found == live_count || push(node, out, &mut found) {
                        break;
                    }
                }
            }
            Layout::Rendezvous { nodes } => {
                let key = mix64(u64::from(hash));
                // Selection of the top scores without allocating: repeated max below a bound.
                let mut bound = (f64::INFINITY, u32::MAX);
                for _ in 0..out.len().min(nodes.len()) {
                    let best = nodes
                        .iter()
                        .map(|(i, seed, w)| (rendezvous_score(key, *seed, *w), *i))
                        .filter(|s| {
                            (s.0, std::cmp::Reverse(s.1)) < (bound.0, std::cmp::Reverse(bound.1))
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
                    let Some(best) = best else { break };
                    push(best.1 as usize, out, &mut found);
                    bound = best;
                }
            }
        }
        found
    }

    /// spymemcached's `getSequence(key)`: the nodes its `Redistribute` failure mode tries,
    /// in order, when the primary is down. Seven entries, the first being the primary;
    /// each next one is the node for the previous hash plus `hash("<n><key>")`, n counting
    /// from 0 (a running 32-bit sum, as `KetamaIterator.nextHash` computes it), so nodes
    /// can repeat. Returns how
    /// many entries were written (0 when no node is live). Meaningful for every
    /// distribution, but only [`Distribution::Spymemcached`] rings equal spymemcached's.
    pub fn spy_sequence(&self, key: &[u8], out: &mut [usize; SPY_SEQUENCE_LEN]) -> usize {
        let mut hash = self.key_hash(key);
        let mut buf = Vec::with_capacity(key.len() + 2);
        for (tries, slot) in out.iter_mut().enumerate() {
            let Some(node) = self.route_hash(hash) else {
                return 0;
            };
            *slot = node;
            buf.clear();
            buf.extend_from_slice(tries.to_string().as_bytes());
            buf.extend_from_slice(key);
            hash = hash.wrapping_add(self.key_hash(&buf));
        }
        SPY_SEQUENCE_LEN
    }

    /// Number of points on the continuum (slots for modula, buckets for jump, live nodes
    /// for rendezvous).
    pub fn point_count(&self) -> usize {
        match &self.layout {
            Layout::Continuum { values, .. } => values.len(),
            Layout::Modula { slots } => slots.len(),
            Layout::Jump { buckets, .. } => buckets.len(),
            Layout::Rendezvous { nodes } => nodes.len(),
        }
    }

    /// Number of points owned by node `index`.
    pub fn points_of(&self, index: usize) -> usize {
        self.point_counts().get(index).copied().unwrap_or(0)
    }

    /// Points (slots, live buckets) owned by each node, indexed like the node list; a node
    /// with 0 receives no keys.
    pub fn point_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes];
        match &self.layout {
            Layout::Continuum { owners: list, .. } | Layout::Modula { slots: list } => {
                for owner in list {
                    counts[*owner as usize] += 1;
                }
            }
            Layout::Jump { buckets, live } => {
                for owner in buckets {
                    if live.get(*owner as usize) == Some(&true) {
                        counts[*owner as usize] += 1;
                    }
                }
            }
            Layout::Rendezvous { nodes } => {
                for (i, _, _) in nodes {
                    counts[*i as usize] = 1;
                }
            }
        }
        counts
    }

    /// Fraction of the 32-bit hash space that routes to node `index` (exact for ketama and
    /// modula, the expected share for jump and rendezvous).
    pub fn share(&self, index: usize) -> f64 {
        match &self.layout {
            Layout::Continuum { values, owners } => {
                let len = values.len();
                let mut owned: u64 = 0;
                for i in 0..len {
                    if owners[i] as usize != index {
                        continue;
                    }
                    // Point i owns the hashes in (previous point, this point].
                    let prev = if i == 0 {
                        i64::from(values[len - 1]) - (1i64 << 32)
                    } else {
                        i64::from(values[i - 1])
                    };
                    owned += (i64::from(values[i]) - prev) as u64;
                }
                owned as f64 / (1u64 << 32) as f64
            }
            Layout::Modula { slots } => {
                let n = slots.len() as u64;
                let space = 1u64 << 32;
                let owned: u64 = (0..n)
                    .filter(|s| slots[*s as usize] as usize == index)
                    .map(|s| space / n + u64::from(s < space % n))
                    .sum();
                owned as f64 / space as f64
            }
            Layout::Jump { .. } => {
                let counts = self.point_counts();
                let total: usize = counts.iter().sum();
                if total == 0 {
                    0.0
                } else {
                    counts[index] as f64 / total as f64
                }
            }
            Layout::Rendezvous { nodes } => {
                let total: f64 = nodes.iter().map(|n| n.2).sum();
                nodes
                    .iter()
                    .find(|n| n.0 as usize == index)
                    .map_or(0.0, |n| n.2 / total)
            }
        }
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
        let Layout::Continuum { values, .. } = &self.layout else {
            return None;
        };
        if values.is_empty() {
            return None;
        }
        let at = values.partition_point(|v| *v < hash);
        Some(if at == values.len() { 0 } else { at })
    }
}

/// The ketama-family continuum for the live nodes.
fn continuum(config: &RingConfig, nodes: &[NodeSpec], live: &[bool]) -> Layout {
    let live_count = live.iter().filter(|l| **l).count() as u32;
    let total_weight: u64 = nodes
        .iter()
        .zip(live)
        .filter(|(_, l)| **l)
        .map(|(n, _)| u64::from(n.weight))
        .sum();
    let spy = match config.distribution {
        Distribution::Spymemcached(format) => Some(format),
        _ => None,
    };
    let mut points: Vec<(u32, u32)> = Vec::new();
    let mut label = Vec::with_capacity(64);
    for (index, node) in nodes.iter().enumerate() {
        if !live[index] {
            continue;
        }
        let name = match config.distribution {
            Distribution::KetamaSpy => node.ketama_spy_point_name(),
            Distribution::Spymemcached(format) => node.spy_point_name(format),
            _ => node.point_name(config.compat),
        };
        let mut point_label = |i: u32| {
            label.clear();
            label.extend_from_slice(name.as_bytes());
            label.push(b'-');
            label.extend_from_slice(i.to_string().as_bytes());
            label.clone()
        };
        // How many points, and whether they come four to an MD5 digest.
        let (count, md5_fours) = match (spy, config.weighted) {
            (_, true) => (
                weighted_point_count(node.weight, total_weight, live_count),
                true,
            ),
            (Some(_), false) => (SPY_NODE_REPETITIONS, config.hash == Hash::Md5),
            (None, false) => (POINTS_PER_SERVER, false),
        };
        if md5_fours {
            for i in 0..count / 4 {
                let digest = md5(&point_label(i));
                for alignment in 0..4 {
                    points.push((md5_point(&digest, alignment), index as u32));
                }
            }
        } else {
            for i in 0..count {
                let l = point_label(i);
                let value = if spy.is_some() {
                    config.hash.hash_java(&l)
                } else {
                    config.hash.hash(&l)
                };
                points.push((value, index as u32));
            }
        }
    }
    points.sort_unstable();
    if spy.is_some() {
        // A TreeMap: an equal position put later (a later node) replaces the earlier.
        points.reverse();
        points.dedup_by_key(|p| p.0);
        points.reverse();
    }
    Layout::Continuum {
        values: points.iter().map(|p| p.0).collect(),
        owners: points.iter().map(|p| p.1).collect(),
    }
}

/// Jump consistent hash (Lamping and Veach 2014): the bucket in `0..buckets` for `key`.
fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// SplitMix64's finaliser: spreads a 32-bit key hash over 64 bits.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Weighted rendezvous score (`-w / ln(u)`, u uniform in (0, 1) from key and node).
#[inline]
fn rendezvous_score(key: u64, seed: u64, weight: f64) -> f64 {
    let h = mix64(key ^ seed);
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -weight / u.ln()
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
        // 100 equal nodes: 39.999996 in f32, so 156 points each; 99 and 101 give 160.
        assert_eq!(weighted_point_count(1, 100, 100), 156);
        assert_eq!(weighted_point_count(1, 99, 99), 160);
        assert_eq!(weighted_point_count(1, 101, 101), 160);
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
