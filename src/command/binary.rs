//! Executes binary-protocol requests: one frame in, one reply (or none, for quiet hits and
//! successes) out, with memcached 1.6.18's statuses, messages, CAS and quiet rules
//! (`proto_bin.c`, checked against a running memcached).
//!
//! Order of checks, as memcached's `dispatch_bin_command`: broken framing (wrong magic,
//! key longer than the body), then authentication (with `-S`/`-Y`, every opcode but SASL
//! and Version answers "Auth failure." and closes until the connection authenticates), then
//! the opcode's own checks. Counters are the same as the text dialect's.

use super::{Action, Ctx, Output, Session, Stepped, PROTOCOL_VERSION};
use crate::decimal::{format_u64, MAX_U64_DIGITS};
use crate::protocol::binary::{
    self, encode_error, encode_header, encode_response, Body, Frame, Opcode, Request, Status,
    ARITH_NO_CREATE,
};
use crate::protocol::Parsed;
use crate::stats::classes::ClassCmd;
use crate::stats::prefix::PrefixOp;
use crate::store::{ArithOutcome, Delta, Entry, ItemRef, SetMode, SetOutcome, StoreError};

/// The one SASL mechanism larder offers.
pub const SASL_MECHANISMS: &str = "PLAIN";

fn done(consumed: usize, action: Action) -> Stepped {
    Stepped::Done {
        consumed,
        swallow: 0,
        action,
    }
}

/// Handles the binary frame at the front of `input`, appending the reply to `out`.
pub fn step(input: &[u8], ctx: &Ctx<'_>, session: &mut Session, out: &mut Output) -> Stepped {
    match binary::parse(input, &ctx.settings.limits) {
        Parsed::Incomplete => Stepped::NeedInput,
        Parsed::Invalid(e) => done(e.consumed.min(input.len()), Action::Close),
        Parsed::Complete(Frame::Reject(r), consumed) => {
            if !r.before_auth
                && refuse_unauthenticated(r.header.opcode, r.header.opaque, session, out)
            {
                return done(consumed, Action::Close);
            }
            if r.status == Status::TooLarge {
                let set = matches!(
                    Opcode::from_u8(r.header.opcode),
                    Some(Opcode::Set | Opcode::SetQ)
                );
                super::refuse_too_large(ctx, r.key, set);
            }
            encode_error(out, r.header.opcode, r.status, r.header.opaque);
            Stepped::Done {
                consumed,
                swallow: r.swallow,
                action: if r.close {
                    Action::Close
                } else {
                    Action::Continue
                },
            }
        }
        Parsed::Complete(Frame::Request(req), consumed) => {
            if refuse_unauthenticated(req.header.opcode, req.header.opaque, session, out) {
                return done(consumed, Action::Close);
            }
            done(consumed, execute(&req, ctx, session, out))
        }
    }
}

/// With authentication on, answers "Auth failure." for an opcode an unauthenticated
/// connection may not use; true if it did (the connection then closes, as memcached's).
fn refuse_unauthenticated(opcode: u8, opaque: u32, session: &Session, out: &mut Vec<u8>) -> bool {
    if session.authenticated || Opcode::allowed_before_auth(opcode) {
        return false;
    }
    encode_error(out, opcode, Status::AuthError, opaque);
    true
}

/// Writes a success reply unless the opcode is quiet.
fn ok(out: &mut Vec<u8>, req: &Request<'_>, cas: u64, value: &[u8]) {
    if !req.opcode.is_quiet() {
        encode_response(
            out,
            req.header.opcode,
            Status::Success,
            req.header.opaque,
            cas,
            &[],
            &[],
            value,
        );
    }
}

fn err(out: &mut Vec<u8>, req: &Request<'_>, status: Status) {
    encode_error(out, req.header.opcode, status, req.header.opaque);
}

/// Executes one well-formed, authorised request.
pub fn execute(
    req: &Request<'_>,
    ctx: &Ctx<'_>,
    session: &mut Session,
    out: &mut Output,
) -> Action {
    let clock = ctx.store.clock();
    let stats = ctx.stats;
    match req.body {
        Body::Get { key } => {
            retrieve(req, key, None, ctx, out);
            Action::Continue
        }
        Body::Touch { key, exptime } => {
            let exp = clock.expiry(i64::from(exptime));
            retrieve(req, key, Some(exp), ctx, out);
            Action::Continue
        }
        Body::Store {
            key,
            flags,
            exptime,
            value,
        } => {
            stats.cmd_set.incr();
            let cas = req.header.cas;
            let base = match req.opcode {
                Opcode::Add | Opcode::AddQ => SetMode::Add,
                Opcode::Replace | Opcode::ReplaceQ => SetMode::Replace,
                _ => SetMode::Set,
            };
            let mode = if cas != 0 { SetMode::Cas(cas) } else { base };
            let exp = clock.expiry(i64::from(exptime));
            let class = ctx.store.class_for(key.len(), value.len());
            stats.classes.incr(class, ClassCmd::Set);
            ctx.registry.prefixes.record(key, PrefixOp::Set);
            match ctx.store.store(mode, key, value, flags, exp) {
                Ok(SetOutcome::Stored { cas: new }) => {
                    if cas != 0 {
                        stats.cas_hits.incr();
                        stats.classes.incr(class, ClassCmd::CasHit);
                    }
                    ok(out, req, new, &[]);
                }
                Ok(SetOutcome::NotStored) => {
                    let status = match base {
                        SetMode::Add => Status::KeyExists,
                        SetMode::Replace => Status::KeyNotFound,
                        _ => Status::NotStored,
                    };
                    err(out, req, status);
                }
                Ok(SetOutcome::Exists) => {
                    stats.cas_badval.incr();
                    stats.classes.incr(class, ClassCmd::CasBadval);
                    err(out, req, Status::KeyExists);
                }
                Ok(SetOutcome::NotFound) => {
                    stats.cas_misses.incr();
                    err(out, req, Status::KeyNotFound);
                }
                Err(e) => err(out, req, store_error(ctx, e)),
            }
            Action::Continue
        }
        Body::Concat { key, value } => {
            stats.cmd_set.incr();
            let class = ctx.store.class_for(key.len(), value.len());
            stats.classes.incr(class, ClassCmd::Set);
            ctx.registry.prefixes.record(key, PrefixOp::Set);
            let prepend = matches!(req.opcode, Opcode::Prepend | Opcode::PrependQ);
            concat(req, key, value, prepend, ctx, out);
            Action::Continue
        }
        Body::Delete { key } => {
            let cas = req.header.cas;
            ctx.registry.prefixes.record(key, PrefixOp::Delete);
            let found = ctx.store.entry(key, |e| match e {
                Entry::Occupied(o) => {
                    if cas != 0 && o.item().cas() != cas {
                        Some(None)
                    } else {
                        let class = o.item().class_id();
                        o.remove();
                        Some(Some(class))
                    }
                }
                Entry::Vacant(_) => None,
            });
            match found {
                Some(Some(class)) => {
                    stats.delete_hits.incr();
                    stats.classes.incr(class, ClassCmd::DeleteHit);
                    ok(out, req, 0, &[]);
                }
                Some(None) => err(out, req, Status::KeyExists),
                None => {
                    stats.delete_misses.incr();
                    err(out, req, Status::KeyNotFound);
                }
            }
            Action::Continue
        }
        Body::Arith {
            key,
            delta,
            initial,
            exptime,
        } => {
            arith(req, key, delta, initial, exptime, ctx, out);
            Action::Continue
        }
        Body::Flush { exptime } => {
            if !ctx.settings.flush_enabled {
                // memcached answers a disabled flush with an auth error, even when quiet.
                err(out, req, Status::AuthError);
                return Action::Continue;
            }
            stats.cmd_flush.incr();
            let delay = if exptime > 0 {
                clock.expiry(i64::from(exptime)).saturating_sub(clock.now())
            } else {
                0
            };
            ctx.store.flush_all(delay);
            ok(out, req, 0, &[]);
            Action::Continue
        }
        Body::Stat { group } => {
            stat(req, group, ctx, out);
            Action::Continue
        }
        Body::ConfigGet { key } => {
            match (&ctx.settings.cluster, key) {
                (Some(cluster), b"cluster") => {
                    let (version, nodes) = cluster.get();
                    let body = crate::protocol::admin::cluster_body(version, &nodes);
                    ok(out, req, 0, &body);
                }
                // memcached knows no such opcode.
                _ => err(out, req, Status::UnknownCommand),
            }
            Action::Continue
        }
        Body::Sasl { mechanism, data } => {
            sasl(req, mechanism, data, ctx, session, out);
            Action::Continue
        }
        Body::Empty => match req.opcode {
            Opcode::Noop => {
                ok(out, req, 0, &[]);
                Action::Continue
            }
            Opcode::Version => {
                ok(out, req, 0, PROTOCOL_VERSION.as_bytes());
                Action::Continue
            }
            Opcode::Quit | Opcode::QuitQ => {
                ok(out, req, 0, &[]);
                Action::Close
            }
            _ => {
                // SASL list mechanisms: the only other opcode without a body.
                if ctx.settings.credentials.is_none() {
                    err(out, req, Status::UnknownCommand);
                } else {
                    ok(out, req, 0, SASL_MECHANISMS.as_bytes());
                }
                Action::Continue
            }
        },
    }
}

/// Get, GetQ, GetK, GetKQ, and with `touch` Touch and the GAT family.
fn retrieve(req: &Request<'_>, key: &[u8], touch: Option<u32>, ctx: &Ctx<'_>, out: &mut Output) {
    let stats = ctx.stats;
    let op = req.opcode;
    let with_key = op.returns_key();
    let with_value = op != Opcode::Touch;
    let write = |item: &ItemRef<'_>| {
        let key = if with_key { item.key() } else { &[][..] };
        let value_len = if with_value { item.value_len() } else { 0 };
        encode_header(
            out,
            req.header.opcode,
            Status::Success,
            key.len() as u16,
            4,
            u32::try_from(4 + key.len() + value_len).unwrap_or(u32::MAX),
            req.header.opaque,
            item.cas(),
        );
        out.extend_from_slice(&item.flags().to_be_bytes());
        out.extend_from_slice(key);
        if with_value {
            out.value(item);
        }
        item.class_id()
    };
    stats.hot.lookup(key, || ctx.store.clock().now());
    let found = match touch {
        None => {
            stats.cmd_get.incr();
            ctx.store.get(key, write)
        }
        Some(exp) => {
            stats.cmd_touch.incr();
            if op != Opcode::Touch {
                stats.cmd_get.incr();
            }
            ctx.store.get_and_touch(key, exp, write)
        }
    };
    if op != Opcode::Touch {
        ctx.registry
            .prefixes
            .record(key, PrefixOp::Get { hit: found.is_ok() });
    }
    super::count_lookup(stats, touch.is_some(), found);
    if found.is_err() && !op.is_quiet() {
        if with_key {
            // memcached's GetK/GatK miss: the key, no message.
            encode_response(
                out,
                req.header.opcode,
                Status::KeyNotFound,
                req.header.opaque,
                0,
                &[],
                key,
                &[],
            );
        } else {
            err(out, req, Status::KeyNotFound);
        }
    }
}

/// Append / Prepend, honouring a CAS in the header as memcached does.
fn concat(
    req: &Request<'_>,
    key: &[u8],
    value: &[u8],
    prepend: bool,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
) {
    let cas = req.header.cas;
    let use_cas = ctx.store.config().use_cas;
    let result = ctx.store.entry(key, |e| match e {
        Entry::Occupied(o) => {
            if cas != 0 && use_cas && o.item().cas() != cas {
                return Ok(Err(Status::KeyExists));
            }
            o.concat(value, prepend).map(|o| Ok(o.item().cas()))
        }
        Entry::Vacant(_) => Ok(Err(Status::NotStored)),
    });
    match result {
        Ok(Ok(new)) => ok(out, req, new, &[]),
        Ok(Err(status)) => err(out, req, status),
        Err(e) => err(out, req, store_error(ctx, e)),
    }
}

/// Increment / Decrement with memcached's initial value and no-create expiration.
#[allow(clippy::too_many_arguments)]
fn arith(
    req: &Request<'_>,
    key: &[u8],
    delta: u64,
    initial: u64,
    exptime: u32,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
) {
    let stats = ctx.stats;
    let incr = matches!(req.opcode, Opcode::Increment | Opcode::IncrementQ);
    let d = if incr {
        Delta::Incr(delta)
    } else {
        Delta::Decr(delta)
    };
    let (hits, misses) = if incr {
        (&stats.incr_hits, &stats.incr_misses)
    } else {
        (&stats.decr_hits, &stats.decr_misses)
    };
    // A miss creates the counter with `add`, as memcached does; should another client
    // create it in between, the add fails and the operation applies to its value.
    for _ in 0..2 {
        let outcome = match arith_checked(ctx, key, d, req.header.cas) {
            Ok(Some(o)) => o,
            Ok(None) => {
                err(out, req, Status::KeyExists);
                return;
            }
            Err(_) => {
                err(out, req, Status::OutOfMemory);
                return;
            }
        };
        match outcome {
            ArithOutcome::Value { value, cas } => {
                hits.incr();
                let cmd = if incr {
                    ClassCmd::IncrHit
                } else {
                    ClassCmd::DecrHit
                };
                stats.classes.incr(super::arith_class(ctx, key, value), cmd);
                ok(out, req, cas, &value.to_be_bytes());
                return;
            }
            ArithOutcome::NonNumeric => {
                err(out, req, Status::NonNumeric);
                return;
            }
            ArithOutcome::NotFound => {
                misses.incr();
                if exptime == ARITH_NO_CREATE {
                    err(out, req, Status::KeyNotFound);
                    return;
                }
                let mut digits = [0u8; MAX_U64_DIGITS];
                let initial_text = format_u64(initial, &mut digits);
                let exp = ctx.store.clock().expiry(i64::from(exptime));
                match ctx.store.store(SetMode::Add, key, initial_text, 0, exp) {
                    Ok(SetOutcome::Stored { cas }) => {
                        ok(out, req, cas, &initial.to_be_bytes());
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        err(out, req, store_error(ctx, e));
                        return;
                    }
                }
            }
        }
    }
    err(out, req, Status::KeyNotFound);
}

/// `Store::arith` honouring the request's CAS as memcached's `do_add_delta` does: with a
/// non-zero CAS that is not the item's, nothing changes and the answer is `None` ("Data
/// exists for key."). The check comes after the empty-value check and before the number
/// is parsed, in memcached's order. A miss is a miss whatever the CAS (the caller may then
/// create the counter).
///
/// # Errors
/// As `Store::arith`: no memory for a longer number (the old item stays).
fn arith_checked(
    ctx: &Ctx<'_>,
    key: &[u8],
    d: Delta,
    cas: u64,
) -> Result<Option<ArithOutcome>, StoreError> {
    if cas == 0 {
        return ctx.store.arith(key, d).map(Some);
    }
    ctx.store.entry(key, |e| {
        let o = match e {
            Entry::Vacant(_) => return Ok(Some(ArithOutcome::NotFound)),
            Entry::Occupied(o) => o,
        };
        if o.item().value_len() == 0 {
            return Ok(Some(ArithOutcome::NonNumeric));
        }
        if o.item().cas() != cas {
            return Ok(None);
        }
        let Some(n) = o.number() else {
            return Ok(Some(ArithOutcome::NonNumeric));
        };
        let value = match d {
            Delta::Incr(d) => n.wrapping_add(d),
            Delta::Decr(d) => n.saturating_sub(d),
        };
        let mut o = o.write_number(value)?;
        // The LRU touch `Store::arith` gives (accessed, last access), leaving the
        // fetched bit as it was.
        let fetched = o.item().fetched();
        o.bump();
        o.set_fetched(fetched);
        Ok(Some(ArithOutcome::Value {
            value,
            cas: o.item().cas(),
        }))
    })
}

fn store_error(ctx: &Ctx<'_>, e: StoreError) -> Status {
    match e {
        StoreError::TooLarge => {
            ctx.stats.store_too_large.incr();
            Status::TooLarge
        }
        StoreError::OutOfMemory => {
            ctx.stats.store_no_memory.incr();
            Status::OutOfMemory
        }
    }
}

mod session;
use session::{sasl, stat};

#[cfg(test)]
mod tests;
