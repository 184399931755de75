//! Property tests: the parsers never panic, and what they accept round-trips.

use larder_ring::proto::{self, classify, Line, StoreCmd, ValueHeader};
use larder_ring::{Hash, NodeSpec, Ring, RingConfig};
use proptest::prelude::*;

proptest! {
    #[test]
    fn classify_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = classify(&line);
    }

    #[test]
    fn value_headers_round_trip(
        key in "[!-~]{1,250}",
        flags in any::<u32>(),
        bytes in 0usize..10_000_000,
        cas in proptest::option::of(any::<u64>()),
    ) {
        let mut line = format!("VALUE {key} {flags} {bytes}");
        if let Some(c) = cas {
            line.push_str(&format!(" {c}"));
        }
        prop_assert_eq!(
            classify(line.as_bytes()),
            Line::Value(ValueHeader { key: key.as_bytes(), flags, bytes, cas })
        );
    }

    #[test]
    fn storage_requests_frame_the_value(
        key in "[!-~]{1,250}",
        value in proptest::collection::vec(any::<u8>(), 0..512),
        flags in any::<u32>(),
        exptime in any::<u32>(),
    ) {
        let mut out = Vec::new();
        proto::store(&mut out, StoreCmd::Set, key.as_bytes(), flags, exptime, &value);
        let header = format!("set {key} {flags} {exptime} {}\r\n", value.len());
        prop_assert!(out.starts_with(header.as_bytes()));
        prop_assert_eq!(&out[header.len()..out.len() - 2], &value[..]);
        prop_assert!(out.ends_with(b"\r\n"));
    }

    #[test]
    fn node_spec_parse_never_panics_and_display_round_trips(spec in "\\PC{0,40}") {
        if let Ok(node) = NodeSpec::parse(&spec) {
            prop_assert!(node.weight >= 1);
            let again = NodeSpec::parse(&node.to_string());
            prop_assert_eq!(again, Ok(node));
        }
    }

    #[test]
    fn every_key_routes_to_a_live_node(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        live_mask in 1u8..=255,
    ) {
        let nodes: Vec<NodeSpec> = (0..8).map(|i| NodeSpec::tcp("10.0.0.9", 7000 + i)).collect();
        for hash in Hash::ALL {
            let config = RingConfig { hash, ..RingConfig::default() };
            let ring = Ring::with_liveness(&config, &nodes, |i| live_mask & (1 << i) != 0);
            let home = ring.route(&key).expect("some node is live");
            prop_assert!(live_mask & (1 << home) != 0);
        }
    }
}
