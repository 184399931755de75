//! Statistical properties of the ring: balance, movement on membership changes, weights,
//! and ejection equivalence.

use larder_ring::{Distribution, Hash, NodeSpec, Ring, RingConfig};

const KEYS: usize = 100_000;

fn nodes(n: u16) -> Vec<NodeSpec> {
    (0..n)
        .map(|i| NodeSpec::tcp(format!("10.0.{}.{}", i / 200, i % 200 + 1), 11211))
        .collect()
}

fn key(i: usize) -> String {
    format!("user:{i}:profile")
}

fn counts(ring: &Ring, n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for i in 0..KEYS {
        c[ring.route(key(i).as_bytes()).unwrap()] += 1;
    }
    c
}

#[test]
fn balance_stays_within_ketama_bounds() {
    for (distribution, weighted, n) in [
        (Distribution::Ketama, true, 5),
        (Distribution::Ketama, true, 10),
        (Distribution::Ketama, false, 10),
    ] {
        let config = RingConfig {
            distribution,
            weighted,
            ..RingConfig::default()
        };
        let ring = Ring::new(&config, &nodes(n));
        let c = counts(&ring, n as usize);
        let mean = KEYS as f64 / n as f64;
        for (i, got) in c.iter().enumerate() {
            let ratio = *got as f64 / mean;
            // 160 (or 100) points per node: shares stay within about +-25% of the mean.
            assert!(
                (0.75..1.25).contains(&ratio),
                "{distribution:?} n={n} node {i}: {ratio:.3}"
            );
            // The key counts agree with the exact share of the hash space.
            assert!((ring.share(i) * n as f64 - ratio).abs() < 0.05);
        }
    }
}

#[test]
fn adding_a_node_moves_about_one_in_n_keys_all_to_it() {
    let before = nodes(10);
    let after = nodes(11);
    let config = RingConfig::default();
    let (r0, r1) = (Ring::new(&config, &before), Ring::new(&config, &after));
    let mut moved = 0;
    for i in 0..KEYS {
        let k = key(i);
        let (a, b) = (
            r0.route(k.as_bytes()).unwrap(),
            r1.route(k.as_bytes()).unwrap(),
        );
        if a != b {
            assert_eq!(b, 10, "a key moved between two old nodes");
            moved += 1;
        }
    }
    let frac = moved as f64 / KEYS as f64;
    assert!((0.6 / 11.0..1.4 / 11.0).contains(&frac), "moved {frac:.4}");
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    let all = nodes(8);
    let mut fewer = all.clone();
    let removed = fewer.remove(3);
    let config = RingConfig::default();
    let (r0, r1) = (Ring::new(&config, &all), Ring::new(&config, &fewer));
    let mut moved = 0;
    for i in 0..KEYS {
        let k = key(i);
        let a = &all[r0.route(k.as_bytes()).unwrap()];
        let b = &fewer[r1.route(k.as_bytes()).unwrap()];
        if a != b {
            assert_eq!(a, &removed, "a key of a surviving node moved");
            moved += 1;
        }
    }
    let frac = moved as f64 / KEYS as f64;
    assert!((0.6 / 8.0..1.4 / 8.0).contains(&frac), "moved {frac:.4}");
}

#[test]
fn weights_shift_load_proportionally() {
    // Eight nodes of weight 1 and eight of weight 3: the heavy half takes 3/4 of the keys.
    // (Single nodes with few points vary by +-15% around their share, as in any ketama.)
    let specs: Vec<NodeSpec> = (0..16u16)
        .map(|i| NodeSpec::tcp("10.1.0.1", 20000 + i).with_weight(if i % 2 == 0 { 1 } else { 3 }))
        .collect();
    let ring = Ring::new(&RingConfig::default(), &specs);
    let c = counts(&ring, 16);
    let heavy: usize = c.iter().skip(1).step_by(2).sum();
    let frac = heavy as f64 / KEYS as f64;
    assert!((0.72..0.78).contains(&frac), "heavy half got {frac:.3}");
    for (i, spec) in specs.iter().enumerate() {
        // 16 nodes, total weight 32: a weight-w node gets floor(w/32*40*16)*4 = 80w points.
        assert_eq!(ring.points_of(i), 80 * spec.weight as usize);
    }
    // Doubling one node's weight roughly doubles its share.
    let mut heavier = specs.clone();
    heavier[0].weight = 2;
    let r2 = Ring::new(&RingConfig::default(), &heavier);
    let ratio = r2.share(0) / ring.share(0);
    assert!((1.6..2.4).contains(&ratio), "share ratio {ratio:.3}");
}

#[test]
fn ejecting_a_node_equals_building_without_it() {
    // Both C clients rebuild from the live nodes only; so must we, weights included.
    let specs: Vec<NodeSpec> = [3, 1, 4, 1, 5]
        .iter()
        .enumerate()
        .map(|(i, w)| NodeSpec::tcp("10.2.0.1", 30000 + i as u16).with_weight(*w))
        .collect();
    for hash in [Hash::Md5, Hash::Fnv1a_64] {
        let config = RingConfig {
            hash,
            ..RingConfig::default()
        };
        let ejected = Ring::with_liveness(&config, &specs, |i| i != 2);
        let mut without = specs.clone();
        without.remove(2);
        let rebuilt = Ring::new(&config, &without);
        assert_eq!(ejected.point_count(), rebuilt.point_count());
        for i in 0..10_000 {
            let k = key(i);
            let a = &specs[ejected.route(k.as_bytes()).unwrap()];
            let b = &without[rebuilt.route(k.as_bytes()).unwrap()];
            assert_eq!(a, b);
        }
    }
}

#[test]
fn named_nodes_keep_their_keys_across_address_changes() {
    let a: Vec<NodeSpec> = (0..4)
        .map(|i| NodeSpec::tcp("10.3.0.1", 40000 + i).with_name(format!("shard{i}")))
        .collect();
    let b: Vec<NodeSpec> = (0..4)
        .map(|i| NodeSpec::tcp("10.9.9.9", 50000 + i).with_name(format!("shard{i}")))
        .collect();
    let config = RingConfig::default();
    let (ra, rb) = (Ring::new(&config, &a), Ring::new(&config, &b));
    for i in 0..10_000 {
        let k = key(i);
        assert_eq!(ra.route(k.as_bytes()), rb.route(k.as_bytes()));
    }
}

fn config(distribution: Distribution, weighted: bool) -> RingConfig {
    RingConfig::new(distribution, weighted, Hash::Md5)
}

#[test]
fn jump_and_rendezvous_balance_within_a_few_percent() {
    for distribution in [Distribution::Jump, Distribution::Rendezvous] {
        let ring = Ring::new(&config(distribution, false), &nodes(10));
        let c = counts(&ring, 10);
        let mean = KEYS as f64 / 10.0;
        let max = *c.iter().max().unwrap() as f64 / mean;
        let min = *c.iter().min().unwrap() as f64 / mean;
        // 10 000 keys per node: the sampling noise alone is about 1%.
        assert!(max < 1.04 && min > 0.96, "{distribution:?}: {c:?}");
        for i in 0..10 {
            assert!((ring.share(i) - 0.1).abs() < 1e-9);
        }
    }
}

#[test]
fn jump_and_rendezvous_move_the_minimum_on_add_and_eject() {
    for distribution in [Distribution::Jump, Distribution::Rendezvous] {
        let cfg = config(distribution, false);
        let (r10, r11) = (Ring::new(&cfg, &nodes(10)), Ring::new(&cfg, &nodes(11)));
        let ejected = Ring::with_liveness(&cfg, &nodes(10), |i| i != 4);
        let (mut added, mut ejected_moves) = (0, 0);
        for i in 0..KEYS {
            let k = key(i);
            let (a, b, e) = (
                r10.route(k.as_bytes()).unwrap(),
                r11.route(k.as_bytes()).unwrap(),
                ejected.route(k.as_bytes()).unwrap(),
            );
            if a != b {
                assert_eq!(b, 10, "{distribution:?}: a key moved between old nodes");
                added += 1;
            }
            if a != e {
                assert_eq!(a, 4, "{distribution:?}: a live node's key moved");
                ejected_moves += 1;
            }
            assert_ne!(e, 4);
        }
        let frac = added as f64 / KEYS as f64;
        assert!(
            (0.85 / 11.0..1.15 / 11.0).contains(&frac),
            "{distribution:?} {frac}"
        );
        let frac = ejected_moves as f64 / KEYS as f64;
        assert!(
            (0.85 / 10.0..1.15 / 10.0).contains(&frac),
            "{distribution:?} {frac}"
        );
    }
}

#[test]
fn weighted_jump_and_rendezvous_follow_weights() {
    let specs: Vec<NodeSpec> = (0..4u16)
        .map(|i| NodeSpec::tcp("10.4.0.1", 20000 + i).with_weight(u32::from(i) + 1))
        .collect();
    for distribution in [
        Distribution::Jump,
        Distribution::Rendezvous,
        Distribution::Modula,
    ] {
        let ring = Ring::new(&config(distribution, true), &specs);
        let c = counts(&ring, 4);
        for (i, got) in c.iter().enumerate() {
            let want = (i + 1) as f64 / 10.0;
            let share = *got as f64 / KEYS as f64;
            assert!(
                (share - want).abs() < 0.01,
                "{distribution:?} node {i}: {share}"
            );
            assert!((ring.share(i) - want).abs() < 1e-6);
        }
    }
}

#[test]
fn successors_are_distinct_live_nodes_for_every_distribution() {
    let specs = nodes(6);
    for distribution in [
        Distribution::Ketama,
        Distribution::KetamaSpy,
        Distribution::Spymemcached(larder_ring::SpyFormat::Spymemcached),
        Distribution::Modula,
        Distribution::Jump,
        Distribution::Rendezvous,
    ] {
        let ring = Ring::with_liveness(&config(distribution, false), &specs, |i| i != 2);
        let mut out = [usize::MAX; 4];
        let mut all = [0; 8];
        for i in 0..2_000 {
            let k = key(i);
            assert_eq!(
                ring.successors(k.as_bytes(), &mut out),
                4,
                "{distribution:?}"
            );
            assert_eq!(Some(out[0]), ring.route(k.as_bytes()), "{distribution:?}");
            let mut sorted = out.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 4, "{distribution:?}");
            assert!(!out.contains(&2), "{distribution:?}");
            assert_eq!(
                ring.successors(k.as_bytes(), &mut all),
                5,
                "{distribution:?}"
            );
        }
    }
}
