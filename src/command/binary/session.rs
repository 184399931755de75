//! Binary commands about the connection and the server rather than items: `Stat` (every
//! group memcached's `process_bin_stat` answers) and SASL authentication.

use super::{err, ok, SASL_MECHANISMS};
use crate::command::stats::{self, Group};
use crate::command::{Ctx, Session};
use crate::protocol::auth::sasl_plain;
use crate::protocol::binary::{
    encode_header, encode_stat, Opcode, Request, Status, MAX_SASL_MECH_LEN,
};

/// Stat: one response per row, then an empty one; groups as memcached 1.6.18's
/// `process_bin_stat` matches them (`reset` and `settings` by prefix; `items`, `slabs`,
/// `sizes` exactly; anything else, `conns` included, is "Not found").
pub(super) fn stat(req: &Request<'_>, group: &[u8], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let g = if group.is_empty() {
        Some(Group::General)
    } else if group.starts_with(b"reset") {
        ctx.registry.reset();
        None
    } else if group.starts_with(b"settings") {
        Some(Group::Settings)
    } else if let Some(sub) = group.strip_prefix(b"detail") {
        // memcached compares prefixes: " dump", " on", " off".
        let prefixes = &ctx.registry.prefixes;
        if sub.starts_with(b" dump") {
            let mut dump = Vec::new();
            prefixes.dump(&mut dump);
            stat_row(out, req, &"detailed", &String::from_utf8_lossy(&dump));
        } else if sub.starts_with(b" on") {
            prefixes.set_enabled(true);
        } else if sub.starts_with(b" off") {
            prefixes.set_enabled(false);
        } else {
            err(out, req, Status::KeyNotFound);
            return;
        }
        None
    } else {
        match group {
            b"items" => Some(Group::Items),
            b"slabs" => Some(Group::Slabs),
            b"sizes" => Some(Group::Sizes),
            _ => {
                err(out, req, Status::KeyNotFound);
                return;
            }
        }
    };
    if let Some(g) = g {
        stats::rows(ctx, g, &mut |name, value| stat_row(out, req, name, value));
    }
    encode_header(
        out,
        req.header.opcode,
        Status::Success,
        0,
        0,
        0,
        req.header.opaque,
        0,
    );
}

/// One Stat response: the row's name as key, its value as value.
fn stat_row(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    name: &dyn std::fmt::Display,
    value: &dyn std::fmt::Display,
) {
    encode_stat(out, req.header.opcode, req.header.opaque, name, value);
}

/// SASL auth and step. PLAIN is a single step, so a step is always a failure.
pub(super) fn sasl(
    req: &Request<'_>,
    mechanism: &[u8],
    data: &[u8],
    ctx: &Ctx<'_>,
    session: &mut Session,
    out: &mut Vec<u8>,
) {
    let Some(creds) = ctx.settings.credentials.as_deref() else {
        err(out, req, Status::UnknownCommand);
        return;
    };
    if mechanism.len() > MAX_SASL_MECH_LEN {
        err(out, req, Status::InvalidArguments);
        return;
    }
    ctx.stats.auth_cmds.incr();
    let accepted = req.opcode == Opcode::SaslAuth
        && mechanism == SASL_MECHANISMS.as_bytes()
        && sasl_plain(data).is_some_and(|(user, pass)| creds.check(user, pass));
    if accepted {
        session.authenticated = true;
        ok(out, req, 0, b"Authenticated");
    } else {
        ctx.stats.auth_errors.incr();
        err(out, req, Status::AuthError);
    }
}
