//! Key listings: `lru_crawler metadump|mgdump` (streamed) and `stats cachedump`.
//!
//! A listing walks the store with [`Store::scan`](crate::store::Store::scan): each call
//! holds one stripe lock for at most [`SLICE`] records. `metadump`/`mgdump` stream: once
//! the connection's output passes its limit the request is suspended with the walk's
//! cursor (as a multiget is suspended between keys) and resumed when the client has read,
//! so memory stays bounded however many keys the cache holds, and other clients are
//! served between slices. `stats cachedump` answers at most 2 MB, as memcached does.

use super::{Action, Ctx};
use crate::protocol::admin::{self, ClassSet, DumpFormat, MetaLine};
use crate::store::ScanCursor;

/// Records visited per stripe lock hold.
pub const SLICE: usize = 1024;

/// memcached's cap on a `stats cachedump` reply.
const CACHEDUMP_MAX: usize = 2 * 1024 * 1024;

/// `lru_crawler metadump|mgdump`: appends listing lines until the output limit, then
/// suspends with the cursor (`resume` is 0 for a fresh request, else the cursor + 1).
pub fn listing(
    ctx: &Ctx<'_>,
    format: DumpFormat,
    classes: ClassSet,
    prefix: Option<&[u8]>,
    resume: usize,
    out: &mut Vec<u8>,
) -> Action {
    if ctx.settings.dump_disabled {
        out.extend_from_slice(match format {
            DumpFormat::Meta => admin::METADUMP_NOT_ALLOWED,
            DumpFormat::Mg => b"ERROR mgdump not allowed\r\n",
        });
        return Action::Continue;
    }
    let clock = ctx.store.clock();
    let mut cursor = match resume {
        0 => ScanCursor::START,
        n => ScanCursor::from_u64(n as u64 - 1),
    };
    let limit = ctx.settings.output_limit;
    loop {
        if out.len() >= limit {
            return Action::Suspend(usize::try_from(cursor.to_u64() + 1).unwrap_or(usize::MAX));
        }
        let next = ctx.store.scan(cursor, SLICE, |s| {
            let item = &s.item;
            let key = item.key();
            if !classes.contains(s.class) || !key.starts_with(prefix.unwrap_or_default()) {
                return;
            }
            match format {
                DumpFormat::Meta => admin::encode_meta_line(
                    out,
                    &MetaLine {
                        key,
                        exp: match item.exptime() {
                            0 => -1,
                            e => clock.unix_time(e) as i64,
                        },
                        la: clock.unix_time(item.last_access()),
                        cas: item.cas(),
                        fetched: item.fetched(),
                        class: s.class,
                        size: item.total_size(),
                    },
                ),
                DumpFormat::Mg => admin::encode_mg_line(out, key, item.key_binary()),
            }
        });
        match next {
            Some(c) => cursor = c,
            None => {
                admin::encode_dump_end(out, format);
                return Action::Continue;
            }
        }
    }
}

/// `stats cachedump <class> <limit>`: up to `limit` items of the class (0: no limit),
/// at most 2 MB of lines, then `END`.
pub fn cachedump(ctx: &Ctx<'_>, class: u32, limit: u32, out: &mut Vec<u8>) {
    let clock = ctx.store.clock();
    let start = out.len();
    let mut left = if limit == 0 { u32::MAX } else { limit };
    let mut cursor = Some(ScanCursor::START);
    while let Some(c) = cursor {
        if left == 0 || out.len() - start >= CACHEDUMP_MAX {
            break;
        }
        cursor = ctx.store.scan(c, SLICE, |s| {
            if u32::from(s.class) != class || left == 0 || out.len() - start >= CACHEDUMP_MAX {
                return;
            }
            let exp = match s.item.exptime() {
                0 => 0,
                e => clock.unix_time(e),
            };
            admin::encode_cachedump_line(out, s.item.key(), s.item.value_len(), exp);
            left -= 1;
        });
    }
    out.extend_from_slice(b"END\r\n");
}
