//! Live tests against real server processes on loopback ports (`$LARDER_RING_SERVER`,
//! default `memcached`): sharded round trips, typed outcomes, failure handling with and
//! without auto-eject, replicas, and runtime membership changes.

mod common;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use common::{cluster, Server};
use larder_ring::{Cause, Client, ClientConfig, Error, NodeSpec, Timeouts};

fn config() -> ClientConfig {
    ClientConfig {
        timeouts: Timeouts {
            connect: Duration::from_millis(500),
            read: Duration::from_millis(500),
            write: Duration::from_millis(500),
        },
        server_failure_limit: 2,
        server_retry_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    }
}

fn client(servers: &[Server], config: ClientConfig) -> Client {
    let specs: Vec<String> = servers.iter().map(Server::spec).collect();
    Client::from_specs(&specs, config).expect("client")
}

/// A client talking to one server only (to inspect where keys landed).
fn direct(server: &Server) -> Client {
    client(std::slice::from_ref(server), config())
}

fn key(i: usize) -> String {
    format!("live:{i}")
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn sharded_set_get_and_get_multi() {
    let Some(servers) = cluster(4) else { return };
    let c = client(&servers, config());
    for i in 0..400 {
        c.set(key(i), format!("value-{i}"), i as u32, 0).unwrap();
    }
    for i in 0..400 {
        let item = c.get(key(i)).unwrap().expect("hit");
        assert_eq!(item.value, format!("value-{i}").as_bytes());
        assert_eq!(item.flags, i as u32);
        assert_eq!(item.cas, None);
    }
    // Every key is on exactly the node route() names, and every node holds some.
    let labels: HashMap<String, usize> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.spec(), i))
        .collect();
    let mut per_node = [0usize; 4];
    for i in 0..400 {
        let home = labels[&c.route(key(i).as_bytes()).unwrap()];
        per_node[home] += 1;
        for (n, s) in servers.iter().enumerate() {
            let hit = direct(s).get(key(i)).unwrap().is_some();
            assert_eq!(hit, n == home, "key {i} on node {n}");
        }
    }
    assert!(per_node.iter().all(|n| *n > 40), "{per_node:?}");
    let mut keys: Vec<String> = (0..400).map(key).collect();
    keys.push("live:missing".into());
    let multi = c.get_multi(&keys).unwrap();
    assert!(multi.failed.is_empty());
    assert_eq!(multi.items.len(), 400);
    assert_eq!(multi.items[key(7).as_bytes()].value, b"value-7");
    // Long key lists are split into several pipelined gets per node; requests this large
    // (> 32 KiB per node) take the thread-per-node path.
    let long: Vec<String> = (0..1000)
        .map(|i| format!("{}:{}", "x".repeat(200), i))
        .collect();
    for k in &long {
        c.set(k, k, 0, 0).unwrap();
    }
    let multi = c.get_multi(&long).unwrap();
    assert!(multi.failed.is_empty());
    assert_eq!(multi.items.len(), 1000);
    assert!(long
        .iter()
        .all(|k| multi.items[k.as_bytes()].value == k.as_bytes()));
    // Per-node commands reach every node.
    let versions = c.version();
    assert_eq!(versions.len(), 4);
    assert!(versions
        .iter()
        .all(|v| v.result.as_ref().is_ok_and(|s| !s.is_empty())));
    let total: u64 = c
        .stats(None)
        .iter()
        .map(|r| {
            let stats = r.result.as_ref().unwrap();
            stats
                .iter()
                .find(|(k, _)| k == "curr_items")
                .unwrap()
                .1
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1400);
    assert!(c.flush_all(None).iter().all(|r| r.result.is_ok()));
    assert_eq!(c.get(key(1)).unwrap(), None);
}

#[test]
fn operations_return_typed_outcomes() {
    let Some(servers) = cluster(3) else { return };
    let c = client(&servers, config());
    assert_eq!(c.add("op:a", "1", 0, 0), Ok(()));
    assert_eq!(c.add("op:a", "2", 0, 0), Err(Error::NotStored));
    assert_eq!(c.replace("op:missing", "x", 0, 0), Err(Error::NotStored));
    assert_eq!(c.replace("op:a", "10", 3, 0), Ok(()));
    assert_eq!(c.append("op:a", "0"), Ok(()));
    assert_eq!(c.prepend("op:a", "9"), Ok(()));
    assert_eq!(c.get("op:a").unwrap().unwrap().value, b"9100");
    assert_eq!(c.append("op:missing", "x"), Err(Error::NotStored));
    assert_eq!(c.incr("op:a", 5), Ok(9105));
    assert_eq!(c.decr("op:a", 10_000), Ok(0));
    assert_eq!(c.incr("op:missing", 1), Err(Error::NotFound));
    c.set("op:text", "abc", 0, 0).unwrap();
    assert!(matches!(c.incr("op:text", 1), Err(Error::Server { .. })));
    let item = c.gets("op:text").unwrap().unwrap();
    let token = item.cas.expect("gets returns a cas token");
    assert_eq!(
        c.cas("op:text", "new", 7, 0, token + 1000),
        Err(Error::Exists)
    );
    assert_eq!(c.cas("op:text", "new", 7, 0, token), Ok(()));
    assert_eq!(c.cas("op:missing", "x", 0, 0, token), Err(Error::NotFound));
    let item = c.gat("op:text", 100).unwrap().unwrap();
    assert_eq!((item.value.as_slice(), item.flags), (&b"new"[..], 7));
    assert_eq!(c.touch("op:text", 100), Ok(()));
    assert_eq!(c.touch("op:missing", 100), Err(Error::NotFound));
    assert_eq!(c.delete("op:text"), Ok(()));
    assert_eq!(c.delete("op:text"), Err(Error::NotFound));
    assert_eq!(c.get("op:text"), Ok(None));
    // Binary values, empty values, a value larger than one read chunk.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    c.set("op:big", &big, 1, 0).unwrap();
    c.set("op:empty", b"", 2, 0).unwrap();
    c.set("op:crlf", b"a\r\nEND\r\n", 3, 0).unwrap();
    assert_eq!(c.get("op:big").unwrap().unwrap().value, big);
    assert_eq!(c.get("op:empty").unwrap().unwrap().value, b"");
    assert_eq!(c.get("op:crlf").unwrap().unwrap().value, b"a\r\nEND\r\n");
    let m = c
        .get_multi(&["op:big", "op:empty", "op:crlf", "op:a"])
        .unwrap();
    assert_eq!(m.items.len(), 4);
    assert_eq!(m.items[&b"op:big"[..]].value, big);
    // Invalid keys never reach the network.
    for bad in ["", "has space", "ctl\x01", &"k".repeat(251)] {
        assert_eq!(c.set(bad, "v", 0, 0), Err(Error::InvalidKey));
        assert_eq!(c.get(bad), Err(Error::InvalidKey));
    }
    assert_eq!(
        c.get_multi(&["ok", "bad key"]).unwrap_err(),
        Error::InvalidKey
    );
    // Too large for the server: a server error, and the connection stays usable.
    let huge = vec![b'h'; 2 * 1024 * 1024];
    assert!(matches!(
        c.set("op:huge", &huge, 0, 0),
        Err(Error::Server { .. })
    ));
    assert_eq!(c.get("op:empty").unwrap().unwrap().flags, 2);
}

#[test]
fn client_is_shared_across_threads_during_membership_changes() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    let Some(servers) = cluster(4) else { return };
    let c = client(&servers[..3], config());
    let extra = NodeSpec::parse(&servers[3].spec()).unwrap();
    thread::scope(|s| {
        for t in 0..4u32 {
            let c = &c;
            s.spawn(move || {
                for i in 0..300 {
                    let k = format!("t{t}:{i}");
                    c.set(&k, &k, t, 0).unwrap();
                    // The key may have moved between the set and the get: a miss is fine,
                    // a wrong value or an error is not.
                    if let Some(item) = c.get(&k).unwrap() {
                        assert_eq!((item.value.as_slice(), item.flags), (k.as_bytes(), t));
                    }
                }
            });
        }
        for _ in 0..20 {
            c.add_node(extra.clone()).unwrap();
            c.set_weight(&servers[0].spec(), 2).unwrap();
            c.remove_node(&extra.label()).unwrap();
            c.set_weight(&servers[0].spec(), 1).unwrap();
        }
    });
    assert_eq!(c.nodes().len(), 3);
}

/// Keys of node `n` and keys of the other nodes, under `c`'s current ring.
fn split_keys(c: &Client, label: &str, count: usize) -> (Vec<String>, Vec<String>) {
    (0..count)
        .map(key)
        .partition(|k| c.route(k.as_bytes()).as_deref() == Some(label))
}

#[test]
fn auto_eject_moves_keys_and_brings_them_back() {
    let Some(mut servers) = cluster(3) else {
        return;
    };
    let c = client(
        &servers,
        ClientConfig {
            auto_eject_hosts: true,
            ..config()
        },
    );
    let victim = servers[1].spec();
    let (theirs, ours) = split_keys(&c, &victim, 300);
    assert!(!theirs.is_empty() && !ours.is_empty());
    for k in theirs.iter().chain(&ours) {
        c.set(k, k, 0, 0).unwrap();
    }
    servers[1].kill();
    // The first failures surface as Unavailable, quickly (refused connections).
    for k in theirs.iter().take(2) {
        let t = Instant::now();
        let e = c.get(k).unwrap_err();
        assert!(
            matches!(e, Error::Unavailable { ref node, cause: Cause::Connect(_) } if *node == victim),
            "{e:?}"
        );
        assert!(t.elapsed() < Duration::from_millis(600));
    }
    // Two failures reached the limit: the node is out of the ring, its keys moved.
    let status = c.nodes();
    assert!(status[1].resting && !status[1].in_ring);
    for k in &theirs {
        assert_ne!(c.route(k.as_bytes()).unwrap(), victim);
        assert_eq!(c.get(k).unwrap(), None, "moved keys miss on their new node");
        c.set(k, "moved", 0, 0).unwrap();
        assert_eq!(c.get(k).unwrap().unwrap().value, b"moved");
    }
    for k in &ours {
        assert_eq!(
            c.get(k).unwrap().unwrap().value,
            k.as_bytes(),
            "other keys untouched"
        );
    }
    let m = c.get_multi(&theirs).unwrap();
    assert!(m.failed.is_empty());
    assert_eq!(m.items.len(), theirs.len());
    // Restart: after the retry timeout the ring is rebuilt and the keys go home.
    servers[1].restart();
    assert!(eventually(Duration::from_secs(5), || {
        c.route(theirs[0].as_bytes()).as_deref() == Some(victim.as_str())
    }));
    for k in &theirs {
        assert_eq!(c.route(k.as_bytes()).unwrap(), victim);
        assert_eq!(c.get(k).unwrap(), None, "a restarted node starts empty");
        c.set(k, "home", 0, 0).unwrap();
    }
    assert_eq!(
        direct(&servers[1]).get(&theirs[0]).unwrap().unwrap().value,
        b"home"
    );
    assert!(c
        .nodes()
        .iter()
        .all(|n| n.in_ring && !n.resting && n.failures == 0));
}

#[test]
fn without_auto_eject_a_resting_node_fails_fast() {
    let Some(mut servers) = cluster(3) else {
        return;
    };
    let c = client(&servers, config());
    let victim = servers[0].spec();
    let (theirs, ours) = split_keys(&c, &victim, 200);
    servers[0].kill();
    for k in theirs.iter().take(2) {
        assert!(matches!(
            c.set(k, "v", 0, 0),
            Err(Error::Unavailable {
                cause: Cause::Connect(_),
                ..
            })
        ));
    }
    // Now resting: refused without touching the network, and keys do not move.
    for k in &theirs {
        let t = Instant::now();
        let e = c.get(k).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Unavailable {
                    cause: Cause::RetryWindow,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(t.elapsed() < Duration::from_millis(50));
        assert_eq!(c.route(k.as_bytes()).unwrap(), victim);
    }
    for k in &ours {
        c.set(k, "v", 0, 0).unwrap();
    }
    let m = c
        .get_multi(&[theirs[0].as_str(), ours[0].as_str()])
        .unwrap();
    assert_eq!(m.items.len(), 1);
    assert!(matches!(
        m.failed.as_slice(),
        [Error::Unavailable {
            cause: Cause::RetryWindow,
            ..
        }]
    ));
    servers[0].restart();
    assert!(eventually(Duration::from_secs(5), || c
        .set(&theirs[0], "back", 0, 0)
        .is_ok()));
    assert_eq!(c.get(&theirs[0]).unwrap().unwrap().value, b"back");
}

#[test]
fn replicas_keep_every_key_readable_with_a_node_down() {
    let Some(mut servers) = cluster(3) else {
        return;
    };
    let c = client(
        &servers,
        ClientConfig {
            replicas: 2,
            ..config()
        },
    );
    let keys: Vec<String> = (0..150).map(key).collect();
    for k in &keys {
        c.set(k, k, 0, 0).unwrap();
    }
    // Each key is on exactly two nodes.
    for k in keys.iter().take(30) {
        let copies = servers
            .iter()
            .filter(|s| direct(s).get(k).unwrap().is_some())
            .count();
        assert_eq!(copies, 2, "{k}");
    }
    servers[2].kill();
    for k in &keys {
        assert_eq!(c.get(k).unwrap().unwrap().value, k.as_bytes());
    }
    let m = c.get_multi(&keys).unwrap();
    assert_eq!(m.items.len(), keys.len());
    // Writes and deletes still succeed on the surviving replica.
    c.set(&keys[0], "updated", 0, 0).unwrap();
    assert_eq!(c.get(&keys[0]).unwrap().unwrap().value, b"updated");
    c.delete(&keys[1]).unwrap();
    assert_eq!(c.get(&keys[1]).unwrap(), None);
    for s in &servers[..2] {
        assert_eq!(
            direct(s).get(&keys[1]).unwrap(),
            None,
            "deleted on every replica"
        );
    }
}

#[test]
fn membership_changes_move_about_one_in_n_keys() {
    let Some(servers) = cluster(5) else { return };
    let c = client(&servers[..4], config());
    let keys: Vec<String> = (0..2000).map(key).collect();
    let before: Vec<String> = keys
        .iter()
        .map(|k| c.route(k.as_bytes()).unwrap())
        .collect();
    c.add_node(NodeSpec::parse(&servers[4].spec()).unwrap())
        .unwrap();
    assert_eq!(
        c.add_node(NodeSpec::parse(&servers[4].spec()).unwrap()),
        Err(Error::DuplicateNode(servers[4].spec()))
    );
    let after: Vec<String> = keys
        .iter()
        .map(|k| c.route(k.as_bytes()).unwrap())
        .collect();
    let moved: Vec<usize> = (0..keys.len())
        .filter(|i| before[*i] != after[*i])
        .collect();
    assert!(
        moved.iter().all(|i| after[*i] == servers[4].spec()),
        "keys only move to the new node"
    );
    let frac = moved.len() as f64 / keys.len() as f64;
    assert!((0.1..0.32).contains(&frac), "moved {frac}");
    // The new node serves its keys.
    c.set(&keys[moved[0]], "new-node", 0, 0).unwrap();
    assert_eq!(
        direct(&servers[4])
            .get(&keys[moved[0]])
            .unwrap()
            .unwrap()
            .value,
        b"new-node"
    );
    // Reweighting shifts load toward the node; removing it restores the old placement.
    c.set_weight(&servers[4].spec(), 3).unwrap();
    let heavy = keys
        .iter()
        .filter(|k| c.route(k.as_bytes()).unwrap() == servers[4].spec())
        .count();
    // Expected share 3/7 vs 1/5 before (ports are random, so allow ketama's spread).
    assert!(heavy * 2 > moved.len() * 3, "{heavy} vs {}", moved.len());
    assert_eq!(c.remove_node(&servers[4].spec()).unwrap().weight, 3);
    assert_eq!(
        c.remove_node("nope:1"),
        Err(Error::UnknownNode("nope:1".into()))
    );
    let back: Vec<String> = keys
        .iter()
        .map(|k| c.route(k.as_bytes()).unwrap())
        .collect();
    assert_eq!(back, before);
}
