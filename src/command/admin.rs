//! Operator commands: `lru_crawler ...` and `slabs ...` (parsed in
//! [`crate::protocol::admin`]).
//!
//! larder has no slab classes holding memory and its crawler cannot be stopped, so these
//! answer as memcached does with the values that are true here (see the README):
//! `slabs automove` is recorded for `stats settings` and changes nothing (memory moves
//! between sizes by itself); `slabs reassign` between valid classes answers `NOSPARE`
//! (a class never holds a page of its own); `lru_crawler crawl` ends the crawler's back-off,
//! so the next maintenance round (within 100 ms) starts a lap; `lru_crawler sleep|tocrawl|
//! enable|disable` are accepted (the maintenance crawl runs regardless).

use super::{dump, Action, Ctx};
use crate::protocol::admin::{self, Admin};
use std::sync::atomic::Ordering;

/// Executes one operator request.
pub fn execute(req: &Admin<'_>, resume: usize, ctx: &Ctx<'_>, out: &mut Vec<u8>) -> Action {
    match *req {
        Admin::Dump {
            format,
            classes,
            prefix,
        } => return dump::listing(ctx, format, classes, prefix, resume, out),
        Admin::Crawl => {
            ctx.store.crawl_soon();
            out.extend_from_slice(crate::protocol::text::OK);
        }
        Admin::SlabsAutomove(level) => {
            ctx.registry.slab_automove.store(level, Ordering::Relaxed);
            out.extend_from_slice(crate::protocol::text::OK);
        }
        Admin::SlabsReassign { src, dst } => {
            let largest = ctx.store.class_sizes().len() as i64 - 1;
            // Class 0 is memcached's global page pool, a valid source and destination.
            let valid = |c: i64| (0..=largest).contains(&c);
            out.extend_from_slice(if valid(src) && valid(dst) {
                admin::REASSIGN_NOSPARE
            } else {
                admin::REASSIGN_BADCLASS
            });
        }
        Admin::ConfigGet(key) => match (&ctx.settings.cluster, key) {
            (Some(cluster), b"cluster") => {
                let (version, nodes) = cluster.get();
                admin::encode_config_cluster(out, version, &nodes);
            }
            // Without -o cluster_config larder answers as memcached, which has no config.
            _ => crate::protocol::ErrorReply::Error.encode(out),
        },
        Admin::Reply(reply) => out.extend_from_slice(reply),
    }
    Action::Continue
}
