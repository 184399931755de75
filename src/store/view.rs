//! Read-only views of live items handed to callers while the stripe lock is held:
//! [`ItemRef`] (key, flags, CAS, times, bits), the value as slices ([`ValueChunks`], for
//! copying) or as [`ValuePart`]s that outlive the lock ([`ValueParts`], for sending by
//! reference).

use super::item::{
    get_u32, head, CONT_HDR, CONT_LEN, CONT_NEXT, FETCHED, KEY_BINARY, NIL, STALE, WIN_SENT,
};
use super::page::{ValuePart, BY_REF_MIN};
use super::segment::Mem;
use crate::clock::RelTime;

/// A read-only view of one live item, valid while its stripe lock is held.
pub struct ItemRef<'a> {
    pub(crate) mem: &'a Mem,
    pub(crate) head: u32,
}

impl<'a> ItemRef<'a> {
    #[inline]
    fn c(&self) -> &'a [u8] {
        self.mem.chunk(self.head)
    }

    /// The key.
    pub fn key(&self) -> &'a [u8] {
        head::key(self.c(), &self.mem.geo.layout)
    }

    /// The client flags.
    pub fn flags(&self) -> u32 {
        head::flags(self.c(), &self.mem.geo.layout)
    }

    /// The CAS unique (0 when the store runs without CAS).
    pub fn cas(&self) -> u64 {
        head::cas(self.c(), &self.mem.geo.layout)
    }

    /// Expiry time (0 = never).
    pub fn exptime(&self) -> RelTime {
        head::exptime(self.c(), &self.mem.geo.layout)
    }

    /// Last access time (the store time if never read since).
    pub fn last_access(&self) -> RelTime {
        head::atime(self.c())
    }

    /// Value length in bytes.
    pub fn value_len(&self) -> usize {
        head::value_len(self.c())
    }

    /// The value as one slice per chunk (a single slice unless the item is chained).
    pub fn value(&self) -> ValueChunks<'a> {
        let c = self.c();
        let layout = &self.mem.geo.layout;
        ValueChunks {
            mem: self.mem,
            first: Some(head::value_part(c, layout)),
            next: head::next(c, layout),
            remaining: head::value_len(c),
        }
    }

    /// The value as [`ValuePart`]s, one per chunk, which stay readable after the stripe lock
    /// is released (a connection writes them to its socket later: no copy). For values of
    /// at least [`BY_REF_MIN`] bytes: smaller ones are cheaper to copy, and only values this
    /// large are promised never to be rewritten in place (page.rs); None below it.
    pub fn value_parts(&self) -> Option<ValueParts<'a>> {
        let c = self.c();
        let layout = &self.mem.geo.layout;
        let value_len = head::value_len(c);
        if value_len < BY_REF_MIN {
            return None;
        }
        let first = head::value_part(c, layout).len();
        Some(ValueParts {
            mem: self.mem,
            first: Some((self.head, layout.key_off(c) + head::key_len(c), first)),
            next: head::next(c, layout),
            remaining: value_len,
        })
    }

    /// Has the item been fetched since it was stored? (meta `h`)
    pub fn fetched(&self) -> bool {
        head::bits(self.c()) & FETCHED != 0
    }

    /// Is the item marked stale? (meta `I` invalidation)
    pub fn stale(&self) -> bool {
        head::bits(self.c()) & STALE != 0
    }

    /// Has a win token been handed out for this item? (meta `W`/`Z`)
    pub fn win_token_sent(&self) -> bool {
        head::bits(self.c()) & WIN_SENT != 0
    }

    /// Was the key stored in base64 by a meta `ms ... b`? (memcached's ITEM_KEY_BINARY)
    pub fn key_binary(&self) -> bool {
        head::bits(self.c()) & KEY_BINARY != 0
    }

    /// The slab class of the item's head chunk.
    pub fn class_id(&self) -> u8 {
        self.mem.class_of(self.head)
    }

    /// Header + key + value bytes (memcached's ITEM_ntotal, without its suffix bytes).
    pub fn total_size(&self) -> usize {
        let c = self.c();
        let l = &self.mem.geo.layout;
        l.total_of(c)
    }
}

impl std::fmt::Debug for ItemRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemRef")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value_len", &self.value_len())
            .field("flags", &self.flags())
            .field("cas", &self.cas())
            .field("exptime", &self.exptime())
            .finish()
    }
}

/// Iterator over the value's slices, one per chunk.
pub struct ValueChunks<'a> {
    mem: &'a Mem,
    first: Option<&'a [u8]>,
    next: u32,
    remaining: usize,
}

impl<'a> Iterator for ValueChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some(first) = self.first.take() {
            self.remaining -= first.len();
            return Some(first);
        }
        if self.remaining == 0 || self.next == NIL {
            return None;
        }
        let c = self.mem.chunk(self.next);
        self.next = get_u32(c, CONT_NEXT);
        let n = self.remaining.min(get_u32(c, CONT_LEN) as usize);
        self.remaining -= n;
        Some(&c[CONT_HDR..CONT_HDR + n])
    }
}

/// Iterator over the value's [`ValuePart`]s, one per chunk ([`ItemRef::value_parts`]).
pub struct ValueParts<'a> {
    mem: &'a Mem,
    /// The head record, the value's offset in it and the length of its first part.
    first: Option<(u32, usize, usize)>,
    next: u32,
    remaining: usize,
}

impl Iterator for ValueParts<'_> {
    type Item = ValuePart;

    fn next(&mut self) -> Option<ValuePart> {
        if let Some((h, off, len)) = self.first.take() {
            self.remaining -= len;
            return Some(self.mem.value_part(h, off, len));
        }
        if self.remaining == 0 || self.next == NIL {
            return None;
        }
        let r = self.next;
        let c = self.mem.chunk(r);
        self.next = get_u32(c, CONT_NEXT);
        let n = self.remaining.min(get_u32(c, CONT_LEN) as usize);
        self.remaining -= n;
        Some(self.mem.value_part(r, CONT_HDR, n))
    }
}
