//! The meta commands that write: `ms` (set and its modes) and `ma` (arithmetic), plus the
//! unlink memcached does when an `ms` is refused as too large.
//!
//! `ms` follows memcached 1.6.18's `do_store_item`: `C` turns set and replace into a CAS
//! store (`NF` without an item, `EX` on a mismatch); with `I` an *older* CAS is accepted
//! too, and the value is stored stale, keeping the old TTL and recache-token state;
//! append and prepend check a `C` but stay append/prepend; add ignores it. The `N` flag is
//! accepted and has no effect (1.6.18 does not vivify appends). An item stored with a
//! base64 key (`b`) is marked so (memcached's ITEM_KEY_BINARY), except by append and
//! prepend, which build a new item without the mark, as memcached does. An `E<cas>` flag
//! (later memcached, not 1.6.18) is the CAS of whatever `ms` or `ma` stores or changes.

use super::{reply, Ctx, Plan};
use crate::command::count_miss_reason;
use crate::decimal::{format_u64, MAX_U64_DIGITS};
use crate::protocol::meta::{MetaRequest, MetaStatus, ReturnFlags};
use crate::protocol::text::StorageCommand;
use crate::protocol::ErrorReply;
use crate::stats::classes::ClassCmd;
use crate::store::{Entry, NewItem, StoreError};

const NON_NUMERIC: ErrorReply =
    ErrorReply::Client("cannot increment or decrement non-numeric value");

/// How a request CAS compares with the item's (memcached's `cas_res`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum CasCheck {
    /// No CAS given (or `C0`).
    None,
    /// Equal.
    Match,
    /// Older than the item's, with `I`: accepted, the value is stored stale.
    Stale,
    /// Different.
    Mismatch,
}

/// `ms <key> <datalen> <flags>*` and its data block.
pub(super) fn set(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &req.flags;
    let stats = ctx.stats;
    let kind = f.store_mode();
    let req_cas = f.compare_cas.unwrap_or(0);
    // A CAS turns set and replace into memcached's NREAD_CAS.
    let cas_mode =
        f.compare_cas.is_some() && matches!(kind, StorageCommand::Set | StorageCommand::Replace);
    let class = ctx
        .store
        .class_for(req.key.as_bytes().len(), req.data.len());
    let new = NewItem {
        value: req.data,
        flags: f.set_client_flags.unwrap_or(0),
        exptime: f.new_ttl.map_or(0, |t| ctx.store.clock().expiry(t)),
        cas: f.new_cas,
    };
    let outcome = ctx
        .store
        .entry(req.key.as_bytes(), |entry| -> Result<_, StoreError> {
            let o = match entry {
                Entry::Vacant(v) => {
                    count_miss_reason(ctx.stats, v.miss());
                    return if cas_mode {
                        stats.cas_misses.incr();
                        Ok((MetaStatus::Nf, 0))
                    } else if matches!(kind, StorageCommand::Set | StorageCommand::Add) {
                        let mut o = v.insert(new)?;
                        o.set_key_binary(f.base64_key);
                        Ok((MetaStatus::Hd, o.item().cas()))
                    } else {
                        Ok((MetaStatus::Ns, 0))
                    };
                }
                Entry::Occupied(o) => o,
            };
            let item = o.item();
            let old_cas = item.cas();
            let check = if req_cas == 0 {
                CasCheck::None
            } else if req_cas == old_cas {
                CasCheck::Match
            } else if f.invalidate && req_cas < old_cas {
                CasCheck::Stale
            } else {
                CasCheck::Mismatch
            };
            if cas_mode {
                return match check {
                    CasCheck::Match => {
                        stats.cas_hits.incr();
                        stats.classes.incr(class, ClassCmd::CasHit);
                        let mut o = o.replace(new)?;
                        o.set_key_binary(f.base64_key);
                        Ok((MetaStatus::Hd, o.item().cas()))
                    }
                    CasCheck::Stale => {
                        stats.cas_hits.incr();
                        stats.classes.incr(class, ClassCmd::CasHit);
                        let (exptime, token_sent) = (item.exptime(), item.win_token_sent());
                        let mut o = o.replace(NewItem { exptime, ..new })?;
                        o.set_stale(true);
                        o.set_win_token_sent(token_sent);
                        o.set_key_binary(f.base64_key);
                        Ok((MetaStatus::Hd, o.item().cas()))
                    }
                    CasCheck::None | CasCheck::Mismatch => {
                        stats.cas_badval.incr();
                        stats.classes.incr(class, ClassCmd::CasBadval);
                        Ok((MetaStatus::Ex, 0))
                    }
                };
            }
            match kind {
                StorageCommand::Add => Ok((MetaStatus::Ns, 0)),
                StorageCommand::Append | StorageCommand::Prepend => {
                    if !matches!(check, CasCheck::None | CasCheck::Match) {
                        return Ok((MetaStatus::Ex, 0));
                    }
                    // memcached answers NS when the combined item cannot be allocated.
                    match o.concat(req.data, kind == StorageCommand::Prepend) {
                        Ok(mut o) => {
                            let cas = match f.new_cas {
                                Some(e) => o.set_cas(Some(e)),
                                None => o.item().cas(),
                            };
                            Ok((MetaStatus::Hd, cas))
                        }
                        Err(_) => Ok((MetaStatus::Ns, 0)),
                    }
                }
                _ => {
                    let mut o = o.replace(new)?;
                    o.set_key_binary(f.base64_key);
                    Ok((MetaStatus::Hd, o.item().cas()))
                }
            }
        });
    match outcome {
        Ok((status, cas)) => {
            stats.cmd_set.incr();
            stats.classes.incr(class, ClassCmd::Set);
            let ret = ReturnFlags {
                // memcached reports c0 when nothing was stored.
                cas: Some(cas),
                ..ReturnFlags::default()
            };
            reply(out, req, status, &ret, false);
        }
        Err(e) => out.extend_from_slice(super::super::text::store_error(stats, e)),
    }
}

/// What `ma` found.
enum Arith {
    /// The counter's value after the operation; `created` when `N` vivified it.
    Value { n: u64, created: bool },
    /// A status without an item (`NF`, `EX`).
    Status(MetaStatus),
    /// An error line.
    Error(ErrorReply),
}

/// `ma <key> <flags>*`.
pub(super) fn arithmetic(req: &MetaRequest<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &req.flags;
    let stats = ctx.stats;
    let incr = f.incr();
    let delta = f.delta.unwrap_or(1);
    let (hits, misses) = if incr {
        (&stats.incr_hits, &stats.incr_misses)
    } else {
        (&stats.decr_hits, &stats.decr_misses)
    };
    let mut digits = [0u8; MAX_U64_DIGITS];
    let mut ret = ReturnFlags::default();
    let found = ctx.store.entry(req.key.as_bytes(), |entry| {
        let (mut o, n, created) = match entry {
            Entry::Vacant(v) => {
                count_miss_reason(ctx.stats, v.miss());
                if f.vivify_ttl.is_none() {
                    misses.incr();
                    return Arith::Status(MetaStatus::Nf);
                }
                let n = f.initial.unwrap_or(0);
                let value = format_u64(n, &mut digits);
                let new = NewItem {
                    value,
                    flags: 0,
                    exptime: 0,
                    cas: f.new_cas,
                };
                match v.insert(new) {
                    Ok(o) => (o, n, true),
                    Err(_) => {
                        return Arith::Error(ErrorReply::Server(
                            "Out of memory allocating new item",
                        ))
                    }
                }
            }
            Entry::Occupied(o) => {
                let item = o.item();
                // memcached's do_add_delta: an empty value, then the CAS, then the number.
                if item.value_len() == 0 {
                    return Arith::Error(NON_NUMERIC);
                }
                if f.compare_cas.is_some_and(|c| c != 0 && c != item.cas()) {
                    return Arith::Status(MetaStatus::Ex);
                }
                let Some(cur) = o.number() else {
                    return Arith::Error(NON_NUMERIC);
                };
                let n = if incr {
                    cur.wrapping_add(delta)
                } else {
                    cur.saturating_sub(delta)
                };
                match o.write_number(n) {
                    Ok(mut o) => {
                        if f.new_cas.is_some() {
                            o.set_cas(f.new_cas);
                        }
                        hits.incr();
                        let cmd = if incr {
                            ClassCmd::IncrHit
                        } else {
                            ClassCmd::DecrHit
                        };
                        stats.classes.incr(o.item().class_id(), cmd);
                        (o, n, false)
                    }
                    Err(_) => return Arith::Error(ErrorReply::Server("out of memory")),
                }
            }
        };
        let item = o.item();
        let plan = Plan::new(req, ctx, item.exptime(), created, false);
        ret.ttl = plan.ttl;
        ret.cas = Some(item.cas());
        if plan.exptime != item.exptime() {
            o.set_exptime(plan.exptime);
        }
        Arith::Value { n, created }
    });
    match found {
        Arith::Value { n, created } => {
            let value = format_u64(n, &mut digits);
            let status = if f.value {
                MetaStatus::Va(value.len())
            } else {
                MetaStatus::Hd
            };
            if reply(out, req, status, &ret, created) && f.value {
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        Arith::Status(status) => {
            reply(out, req, status, &ReturnFlags::default(), false);
        }
        Arith::Error(e) => e.encode(out),
    }
}
