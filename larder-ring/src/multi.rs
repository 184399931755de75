//! Operations that span nodes: multi-get (keys grouped by node, one pipelined request per
//! node, nodes queried in parallel on scoped threads, results merged) and the per-node
//! commands `flush_all`, `version` and `stats`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread;

use crate::backend::Backend;
use crate::client::{stale, Client, MAX_REPLICAS};
use crate::conn::Conn;
use crate::error::{check_key, Error};
use crate::ops::{read_items, reply, Item};
use crate::proto::{self, Line};

/// Longest `get` line sent; longer key lists are split into several pipelined `get`s.
const MAX_GET_LINE: usize = 2000;
/// Largest per-node request written before any reply is read (well under a socket buffer).
const SEND_FIRST_LIMIT: usize = 32 * 1024;

/// Pipelined `get` lines: keys split so no line exceeds [`MAX_GET_LINE`]. Returns how many
/// `get` commands were encoded (each answers with its own `END`).
fn encode_gets(out: &mut Vec<u8>, keys: &[&[u8]]) -> usize {
    let mut batches = 0;
    let mut start = 0;
    while start < keys.len() {
        let mut end = start;
        let mut len = 3;
        while end < keys.len() && (end == start || len + 1 + keys[end].len() <= MAX_GET_LINE) {
            len += 1 + keys[end].len();
            end += 1;
        }
        proto::retrieve(out, "get", None, keys[start..end].iter().copied());
        batches += 1;
        start = end;
    }
    batches
}

/// Reads the replies to `batches` pipelined `get`s.
fn read_hits(c: &mut Conn, b: &Backend, batches: usize, expect: usize) -> NodeHits {
    let mut hits = Vec::with_capacity(expect);
    for _ in 0..batches {
        read_items(c, b, |k, item| hits.push((k.to_vec(), item)))?;
    }
    Ok(hits)
}

/// One node's multi-get hits, or why it could not be read.
type NodeHits = Result<Vec<(Vec<u8>, Item)>, Error>;

/// The result of [`Client::get_multi`].
#[derive(Debug, Default)]
pub struct MultiGet {
    /// Hits, by key. Requested keys absent here missed (or their nodes failed).
    pub items: HashMap<Vec<u8>, Item>,
    /// One error per node that could not be read (its keys fell over to the next replica
    /// when there was one).
    pub failed: Vec<Error>,
}

/// One node's answer to a per-node command.
#[derive(Debug)]
pub struct NodeReply<T> {
    /// The node's label.
    pub node: String,
    /// Its answer.
    pub result: Result<T, Error>,
}

impl Client {
    /// Fetches many keys: groups them by node, sends each node one pipelined request,
    /// queries the nodes in parallel and merges the hits. Keys whose node is unavailable
    /// are retried on their next replica (when `replicas > 1`); otherwise they are absent
    /// and the node's error is in [`MultiGet::failed`].
    ///
    /// # Errors
    /// [`Error::InvalidKey`] (nothing is sent), [`Error::NoNodes`].
    pub fn get_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet, Error> {
        for k in keys {
            check_key(k.as_ref())?;
        }
        let mut out = MultiGet::default();
        if keys.is_empty() {
            return Ok(out);
        }
        let topo = self.topology();
        // Replica candidates per key.
        let mut candidates: Vec<([usize; MAX_REPLICAS], usize)> = Vec::with_capacity(keys.len());
        for k in keys {
            let mut t = [0; MAX_REPLICAS];
            let n = self.targets(&topo, k.as_ref(), &mut t)?;
            candidates.push((t, n));
        }
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        for round in 0..self.config.replicas {
            let mut groups: BTreeMap<usize, Vec<&[u8]>> = BTreeMap::new();
            let mut owners: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for &k in &pending {
                let (t, n) = &candidates[k];
                if round < *n {
                    groups.entry(t[round]).or_default().push(keys[k].as_ref());
                    owners.entry(t[round]).or_default().push(k);
                }
            }
            if groups.is_empty() {
                break;
            }
            let results = self.fan_out(&groups, &topo.backends);
            pending.clear();
            for (node, result) in results {
                match result {
                    Ok(hits) => out.items.extend(hits),
                    Err(e) => {
                        if e.is_unavailable() {
                            pending.extend(&owners[&node]);
                        }
                        out.failed.push(e);
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// Runs one pipelined multi-get per node, all nodes at once.
    ///
    /// Small requests (the usual case) are written to every node first and the replies
    /// read afterwards, so the nodes work in parallel without a thread per node. A node
    /// whose request exceeds [`SEND_FIRST_LIMIT`] could stall that scheme (it may stop
    /// reading while its replies wait to be read), so then each node gets a scoped thread.
    fn fan_out(
        &self,
        groups: &BTreeMap<usize, Vec<&[u8]>>,
        backends: &[Arc<Backend>],
    ) -> Vec<(usize, NodeHits)> {
        if groups.len() == 1 {
            return groups
                .iter()
                .map(|(&node, keys)| (node, self.get_from(&backends[node], keys)))
                .collect();
        }
        let large = groups
            .values()
            .any(|keys| keys.iter().map(|k| k.len() + 1).sum::<usize>() > SEND_FIRST_LIMIT);
        if large {
            return self.fan_out_threads(groups, backends);
        }
        let mut results = Vec::with_capacity(groups.len());
        let mut sent = Vec::with_capacity(groups.len());
        for (&node, keys) in groups {
            let b = &backends[node];
            let (mut conn, reused) = match self.begin(b) {
                Ok(c) => c,
                Err(e) => {
                    results.push((node, Err(e)));
                    continue;
                }
            };
            let batches = encode_gets(&mut conn.out, keys);
            match conn.send() {
                Ok(()) => sent.push((node, conn, reused, batches)),
                Err(e) => {
                    let r: NodeHits = Err(b.io_error(&e));
                    results.push((node, self.settle(b, keys, conn, reused, r)));
                }
            }
        }
        for (node, mut conn, reused, batches) in sent {
            let b = &backends[node];
            let keys = &groups[&node];
            let r = read_hits(&mut conn, b, batches, keys.len());
            results.push((node, self.settle(b, keys, conn, reused, r)));
        }
        results
    }

    /// Accounts one node's multi-get; a stale pooled connection is retried on a fresh one.
    fn settle(
        &self,
        b: &Backend,
        keys: &[&[u8]],
        conn: Conn,
        reused: bool,
        r: NodeHits,
    ) -> NodeHits {
        if reused && stale(&conn, &r) {
            b.discard_idle();
            return self.get_from(b, keys);
        }
        self.finish(b, conn, &r);
        r
    }

    /// One scoped thread per node (the first group on this thread).
    fn fan_out_threads(
        &self,
        groups: &BTreeMap<usize, Vec<&[u8]>>,
        backends: &[Arc<Backend>],
    ) -> Vec<(usize, NodeHits)> {
        let one = |node: usize, keys: &[&[u8]]| (node, self.get_from(&backends[node], keys));
        let mut iter = groups.iter();
        let Some((&first, first_keys)) = iter.next() else {
            return Vec::new();
        };
        thread::scope(|s| {
            let handles: Vec<_> = iter
                .map(|(&node, keys)| s.spawn(move || one(node, keys)))
                .collect();
            let mut results = vec![one(first, first_keys)];
            for (h, (&node, _)) in handles.into_iter().zip(groups.iter().skip(1)) {
                // A panic in a worker is a bug; report it as that node's protocol error.
                results.push(h.join().unwrap_or_else(|_| {
                    (
                        node,
                        Err(backends[node].protocol("multi-get worker panicked")),
                    )
                }));
            }
            results
        })
    }

    fn get_from(&self, b: &Backend, keys: &[&[u8]]) -> NodeHits {
        self.call(b, |c, b| {
            let batches = encode_gets(&mut c.out, keys);
            c.send().map_err(|e| b.io_error(&e))?;
            read_hits(c, b, batches, keys.len())
        })
    }

    /// Sends `flush_all [delay]` to every node.
    pub fn flush_all(&self, delay: Option<u32>) -> Vec<NodeReply<()>> {
        self.each_node(|c, b| {
            proto::flush_all(&mut c.out, delay);
            reply(c, b, |l| matches!(l, Line::Ok).then_some(Ok(())))
        })
    }

    /// Every node's `version`.
    pub fn version(&self) -> Vec<NodeReply<String>> {
        self.each_node(|c, b| {
            c.out.extend_from_slice(b"version\r\n");
            reply(c, b, |l| match l {
                Line::Version(v) => Some(Ok(v.to_string())),
                _ => None,
            })
        })
    }

    /// Every node's `stats [arg]` as (name, value) pairs in the server's order.
    pub fn stats(&self, arg: Option<&str>) -> Vec<NodeReply<Vec<(String, String)>>> {
        self.each_node(|c, b| {
            proto::stats(&mut c.out, arg);
            c.send().map_err(|e| b.io_error(&e))?;
            let mut stats = Vec::new();
            loop {
                let line = c.read_line().map_err(|e| b.io_error(&e))?;
                match proto::classify(line) {
                    Line::End => return Ok(stats),
                    Line::Stat(name, value) => stats.push((name.to_string(), value.to_string())),
                    Line::Error(text) => return Err(b.server(text)),
                    _ => {
                        return Err(b.protocol(format!(
                            "unexpected stats line {:?}",
                            String::from_utf8_lossy(line)
                        )))
                    }
                }
            }
        })
    }

    fn each_node<T>(
        &self,
        f: impl Fn(&mut Conn, &Backend) -> Result<T, Error>,
    ) -> Vec<NodeReply<T>> {
        let topo = self.topology();
        topo.backends
            .iter()
            .map(|b| NodeReply {
                node: b.label.clone(),
                result: self.call(b, &f),
            })
            .collect()
    }
}
