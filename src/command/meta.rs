//! Executes the meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) against the store, as
//! memcached 1.6.18's `proto_text.c` does (`process_mget_command` and friends).
//!
//! Every command runs inside one [`Store::entry`](crate::store::Store::entry) call, so its
//! read-decide-write sequence (vivify on miss, hand out a recache token, compare a CAS,
//! invalidate) is atomic per key. Replies are written with [`crate::protocol::meta`]'s
//! encoders while the stripe lock is held (a value is copied straight out of segment memory).
//!
//! memcached applies the flags of `mg` and `ma` in the order the client sent them: `T`
//! (new TTL), `N` (TTL of a vivified item) and `R` (recache check) change or read the expiry
//! at their position, and `t` reports the expiry as it is at *its* position (`mg k t T30`
//! shows the old TTL). `Plan` replays that walk over the flag tokens.
//!
//! Counting, as memcached 1.6.18 does (checked against its `stats`): `mg` counts `cmd_get`
//! with `get_hits`/`get_misses` (a vivified miss counts as a hit), or `cmd_touch` with
//! `touch_hits` when a `T` flag touched a hit; `ms` counts `cmd_set` and the `cas_*` trio
//! in CAS mode; `md` counts `delete_hits` (not for `I`) and `delete_misses` (also for a CAS
//! mismatch); `ma` counts `incr_*`/`decr_*` (not for a vivified miss); only `me` counts
//! `cmd_meta`. A lookup that finds an expired or flushed item counts `get_expired` /
//! `get_flushed`, as memcached's `do_item_get` does for every command.
//!
//! As in memcached, a `mg` hit echoes its key (`k`) in base64 when the *item* was stored by
//! `ms ... b` (the store's KEY_BINARY bit), whatever the request used; `me` does the same.
//!
//! From later memcached 1.6 releases (1.6.21 on), not in 1.6.18: `E<cas>` gives a stored or
//! changed item that CAS (`ms`, `ma`, `md` with `I` or `x`, a vivifying `mg`), and `md`'s
//! `x` replaces the item with an empty one that takes the request's `F` and `T`, as
//! memcached's `process_mdelete_cmd` does.
//!
//! Divergences from memcached 1.6.18 (documented in docs/META.md):
//! - `me` prints larder's own slab class and item size (`cls=`, `size=`), which follow
//!   larder's item layout rather than memcached's.
//! - `l` (seconds since last access) follows the store's access time, updated on every
//!   fetch; memcached's segmented LRU only updates it on the second fetch of an item.

mod update;

use super::{count_miss_reason, Action, Ctx, Output};
use crate::clock::RelTime;
use crate::protocol::meta::{
    encode_me, encode_meta, encode_mn, MetaCommand, MetaRequest, MetaStatus, ReturnFlags,
};
use crate::protocol::ErrorReply;
use crate::stats::classes::ClassCmd;
use crate::store::{Entry, ItemRef, Miss, NewItem};

/// Executes one meta request, appending its reply (if `q` does not hide it) to `out`.
pub fn execute(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Output) -> Action {
    match req.command {
        MetaCommand::Get => get(req, ctx, out),
        MetaCommand::Set => update::set(req, ctx, out),
        MetaCommand::Delete => delete(req, ctx, out),
        MetaCommand::Arithmetic => update::arithmetic(req, ctx, out),
        MetaCommand::Noop => encode_mn(out),
        MetaCommand::Debug => debug(req, ctx, out),
    }
    Action::Continue
}

/// Writes a reply line unless `q` hides it. `created`: `ma` just vivified the item.
fn reply(
    out: &mut Vec<u8>,
    req: &MetaRequest<'_>,
    status: MetaStatus,
    ret: &ReturnFlags,
    created: bool,
) -> bool {
    if req.quiet_hides(status, created) {
        return false;
    }
    encode_meta(out, status, req, ret);
    true
}

/// memcached's `t`: seconds left as an unsigned 32-bit difference, `-1` for no expiry.
fn ttl_left(exptime: RelTime, now: RelTime) -> i64 {
    if exptime == 0 {
        -1
    } else {
        i64::from(exptime.wrapping_sub(now))
    }
}

/// The effect of the order-sensitive flags of `mg` and `ma` (`T`, `N`, `R`, `t`), replayed
/// in the order the client sent them.
struct Plan {
    /// The expiry after every `T` and `N`.
    exptime: RelTime,
    /// `t` as of its position.
    ttl: Option<i64>,
    /// A `T` was applied (memcached then counts a touch instead of a get).
    touched: bool,
    /// `N` vivified the item or `R` found its TTL below the threshold.
    won: bool,
}

impl Plan {
    /// Walks the flags for an item whose expiry is `exptime` (0 for a just-vivified item,
    /// `created`), whose recache token was or was not handed out yet (`token_sent`).
    fn new(
        req: &MetaRequest<'_>,
        ctx: &Ctx<'_>,
        exptime: RelTime,
        created: bool,
        token_sent: bool,
    ) -> Plan {
        let clock = ctx.store.clock();
        let now = clock.now();
        let f = &req.flags;
        let mut plan = Plan {
            exptime,
            ttl: None,
            touched: false,
            won: false,
        };
        for tok in f.tokens {
            match tok[0] {
                b'T' => {
                    if let Some(t) = f.new_ttl {
                        plan.exptime = clock.expiry(t);
                        plan.touched = true;
                    }
                }
                b'N' if created => {
                    if let Some(t) = f.vivify_ttl {
                        plan.exptime = clock.expiry(t);
                        // Only mg hands out a token for a vivified item; ma ignores `won`.
                        plan.won = true;
                    }
                }
                b'R' => {
                    if let Some(r) = f.recache_ttl {
                        if !token_sent
                            && !created
                            && plan.exptime != 0
                            && plan.exptime < clock.expiry(r)
                        {
                            plan.won = true;
                        }
                    }
                }
                b't' => plan.ttl = Some(ttl_left(plan.exptime, now)),
                _ => {}
            }
        }
        plan
    }
}

/// `mg <key> <flags>*`.
fn get(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Output) {
    let f = &req.flags;
    let stats = ctx.stats;
    let now = ctx.store.clock().now();
    stats.hot.lookup(req.key.as_bytes(), || now);
    let hit = ctx.store.entry(req.key.as_bytes(), |entry| {
        let (mut entry, created) = match entry {
            Entry::Occupied(o) => (o, false),
            Entry::Vacant(v) => {
                count_miss_reason(ctx.stats, v.miss());
                // Without N a miss is a miss.
                f.vivify_ttl?;
                let empty = NewItem {
                    value: b"",
                    flags: 0,
                    exptime: 0,
                    cas: f.new_cas,
                };
                // memcached answers a miss when it cannot allocate the vivified item.
                (v.insert(empty).ok()?, true)
            }
        };
        let item = entry.item();
        let token_sent = item.win_token_sent();
        let stale = item.stale();
        let class = item.class_id();
        let plan = Plan::new(req, ctx, item.exptime(), created, token_sent);
        let mut ret = hit_flags(&item, now);
        ret.ttl = plan.ttl;
        ret.token_sent = token_sent;
        ret.stale = stale;
        ret.key_binary = Some(item.key_binary());
        // A stale item hands its recache token to the first reader.
        ret.won = plan.won || (stale && !token_sent);
        let status = if f.value {
            MetaStatus::Va(item.value_len())
        } else {
            MetaStatus::Hd
        };
        encode_meta(out, status, req, &ret);
        if f.value {
            out.value(&item);
            out.extend_from_slice(crate::protocol::text::VALUE_END);
        }
        if plan.exptime != item.exptime() {
            entry.set_exptime(plan.exptime);
        }
        if ret.won {
            entry.set_win_token_sent(true);
        }
        if !f.no_bump {
            entry.bump();
        }
        Some((plan.touched, class))
    });
    // (Why a miss missed was counted by the lookup, `count_miss_reason`.)
    let touched = matches!(hit, Some((true, _)));
    if touched {
        stats.cmd_touch.incr();
    } else {
        stats.cmd_get.incr();
    }
    super::count_lookup(
        stats,
        touched,
        hit.map(|(_, class)| class).ok_or(Miss::Absent),
    );
    if hit.is_none() {
        reply(out, req, MetaStatus::En, &ReturnFlags::default(), false);
    }
}

/// The return flags a `mg` hit reports from the item as it was before this request.
fn hit_flags(item: &ItemRef<'_>, now: RelTime) -> ReturnFlags {
    ReturnFlags {
        size: Some(item.value_len()),
        cas: Some(item.cas()),
        client_flags: Some(item.flags()),
        last_access: Some(u64::from(now.wrapping_sub(item.last_access()))),
        fetched: Some(item.fetched()),
        ..ReturnFlags::default()
    }
}

/// `md <key> <flags>*`.
fn delete(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &req.flags;
    if f.prefix {
        // `md <prefix> X`: delete by prefix; HD, or the error line.
        let line = super::flush_prefix(ctx, req.key.as_bytes());
        if line == crate::protocol::text::OK {
            reply(out, req, MetaStatus::Hd, &ReturnFlags::default(), false);
        } else {
            out.extend_from_slice(line);
        }
        return;
    }
    let stats = ctx.stats;
    let clock = ctx.store.clock();
    let status = ctx.store.entry(req.key.as_bytes(), |entry| match entry {
        Entry::Vacant(v) => {
            count_miss_reason(ctx.stats, v.miss());
            stats.delete_misses.incr();
            Ok(MetaStatus::Nf)
        }
        Entry::Occupied(o) if f.compare_cas.is_some_and(|c| c != o.item().cas()) => {
            stats.delete_misses.incr();
            Ok(MetaStatus::Ex)
        }
        Entry::Occupied(mut o) => {
            if f.remove_value {
                // `x`: a new, empty item with the request's F and T (0 without them) and
                // the old CAS unless E gives one; its bits (stale, fetched, base64 key)
                // start fresh, as memcached's new item.
                let old_cas = o.item().cas();
                let empty = NewItem {
                    value: b"",
                    flags: f.set_client_flags.unwrap_or(0),
                    exptime: f.new_ttl.map_or(0, |t| clock.expiry(t)),
                    cas: Some(f.new_cas.unwrap_or(old_cas)),
                };
                // If even the empty item cannot be allocated, the old one is gone too
                // (memcached keeps it); the reply is the same.
                o = match o.replace(empty) {
                    Ok(o) => o,
                    Err(_) => return Err(ErrorReply::Server("out of memory")),
                };
            }
            if f.invalidate {
                // Keep the item, mark it stale, and let the next reader win the recache.
                if let Some(t) = f.new_ttl {
                    o.set_exptime(clock.expiry(t));
                }
                o.set_stale(true);
                o.set_win_token_sent(false);
                o.set_cas(f.new_cas);
            } else {
                stats.delete_hits.incr();
                stats.classes.incr(o.item().class_id(), ClassCmd::DeleteHit);
                if !f.remove_value {
                    o.remove();
                }
            }
            Ok(MetaStatus::Hd)
        }
    });
    match status {
        Ok(status) => {
            reply(out, req, status, &ReturnFlags::default(), false);
        }
        Err(e) => e.encode(out),
    }
}

/// `me <key> [b]`: memcached's debug line, without touching the item.
fn debug(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    ctx.stats.cmd_meta.incr();
    let now = ctx.store.clock().now();
    let found = ctx.store.entry(req.key.as_bytes(), |entry| match entry {
        Entry::Occupied(o) => {
            let item = o.item();
            let exp = match item.exptime() {
                0 => -1,
                // memcached prints `current_time - exptime` as a signed int.
                e => i64::from(now.wrapping_sub(e) as i32),
            };
            encode_me(
                out,
                item.key(),
                item.key_binary(),
                exp,
                u64::from(now.wrapping_sub(item.last_access())),
                item.cas(),
                item.fetched(),
                u32::from(item.class_id()),
                item.total_size(),
            );
            true
        }
        Entry::Vacant(v) => {
            count_miss_reason(ctx.stats, v.miss());
            false
        }
    });
    if !found {
        out.extend_from_slice(crate::protocol::meta::ME_MISS);
    }
}
