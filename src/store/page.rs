//! Segment memory that readers may share: [`PageBuf`], one segment's bytes, and
//! [`ValuePart`], a piece of a value that a connection sends after the stripe lock is released.
//!
//! Why: a large value used to be copied into the connection's output buffer under the stripe
//! lock. For a 1 MiB value and a client that reads slowly, that is a second megabyte per
//! reader for as long as it takes (200 slow readers of one 1 MB value took the RSS from 4 to
//! 402 MB), and for 16 KiB values the copy is most of the CPU a get costs. Values of
//! [`BY_REF_MIN`] bytes and more are instead handed out as [`ValuePart`]s: an `Arc` on the
//! segment plus a byte range, written to the socket from segment memory (memcached does the
//! same with a reference count on the item).
//!
//! # The rule that makes sharing sound
//! A segment's bytes are reached only through raw pointers, and references to them are made
//! for exact ranges:
//! - a `ValuePart` covers value bytes of an item that was complete and linked when the part
//!   was made (under the stripe lock), and only values of at least [`BY_REF_MIN`] bytes or
//!   parts of chained items;
//! - the stripe that owns the segment (holding its lock) writes, while the segment is shared
//!   (`Arc::strong_count > 1`), only record headers (tags, bits, use counts, times, CAS,
//!   chain links: never value bytes) and bytes past every record (appends); an item's value
//!   is written in place only when shorter than [`BY_REF_MIN`] and unchained (incr/decr);
//! - anything that rewrites a segment from its start (compaction, reuse after eviction,
//!   the pool) first takes it back as unique (`Arc::get_mut`, or `strong_count == 1` under
//!   the stripe lock: new parts are made only under that lock, so the count can only fall
//!   while the lock is held), and eviction passes over segments readers still share.
//!
//! So no byte is ever written while a shared reference to it exists, and every mutable
//! reference covers bytes no reader's range includes. `segment.rs` (`Mem`) is the only user
//! of the unsafe accessors, and states at each call which case of the rule applies.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::Arc;

/// Values of this many bytes and more are sent from segment memory by reference (see the
/// module doc); smaller ones are copied into the output buffer, which costs less than
/// the reference count and the extra `iovec`.
pub const BY_REF_MIN: usize = 16 * 1024;

/// One segment's bytes: an owned, zeroed allocation of fixed length, like a `Box<[u8]>`
/// that several threads may read (through [`ValuePart`]) while its stripe writes other
/// ranges of it.
pub(crate) struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a PageBuf owns its allocation as a Box<[u8]> would (no thread-local state); the
// access rule in the module doc keeps readers on other threads and the owning stripe on
// disjoint bytes, and the stripe writes only under its lock.
unsafe impl Send for PageBuf {}
// SAFETY: as for Send; shared access goes through the unsafe accessors below, whose callers
// uphold the rule.
unsafe impl Sync for PageBuf {}

impl PageBuf {
    /// A zeroed segment of `len` bytes (calloc: untouched pages cost no RSS).
    pub fn zeroed(len: usize) -> PageBuf {
        let boxed: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut u8;
        PageBuf {
            // A boxed slice's pointer is never null (dangling but non-null when empty).
            ptr: NonNull::new(raw).unwrap_or(NonNull::dangling()),
            len,
        }
    }

    /// Bytes in the segment.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `len` bytes from `off`, read-only.
    ///
    /// # Safety
    /// `off + len <= self.len()`, and no mutable reference to any of these bytes exists
    /// while the returned one is alive (the module doc's rule).
    #[inline]
    pub unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        debug_assert!(off + len <= self.len);
        // SAFETY: in bounds of the allocation (caller); no overlapping &mut (caller).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }

    /// `len` bytes from `off`, writable.
    ///
    /// # Safety
    /// `off + len <= self.len()`, and no other reference (shared or mutable, on any thread)
    /// to any of these bytes exists while the returned one is alive (the module doc's rule).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn bytes_mut(&self, off: usize, len: usize) -> &mut [u8] {
        debug_assert!(off + len <= self.len);
        // SAFETY: in bounds (caller); exclusive for its lifetime (caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) }
    }

    /// The whole segment, writable: only through a unique `&mut` (`Arc::get_mut`), so no
    /// reader can hold any part of it.
    #[inline]
    pub fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: `&mut self` on a PageBuf reached through `Arc::get_mut` or owned outright
        // means no ValuePart (an Arc clone) exists, and the owner's own borrows are tracked by
        // the borrow checker through `&mut self`; in bounds by construction.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a `Box<[u8]>` of this length in
        // `zeroed`, and are freed once, here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl std::fmt::Debug for PageBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageBuf").field("len", &self.len).finish()
    }
}

/// A piece of a value that stays readable without the stripe lock: it keeps its segment
/// alive, and the segment's value bytes unwritten, until dropped. A chained value (larger
/// than a segment) is one part per segment.
pub struct ValuePart {
    page: Arc<PageBuf>,
    off: u32,
    len: u32,
}

impl ValuePart {
    /// A part covering `len` value bytes at `off` of `page`. Only `Mem` makes parts, under
    /// the stripe lock, for value bytes of a complete, linked item.
    pub(crate) fn new(page: Arc<PageBuf>, off: usize, len: usize) -> ValuePart {
        debug_assert!(off + len <= page.len());
        ValuePart {
            page,
            off: off as u32,
            len: len as u32,
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is value bytes of an item that was complete when this part was
        // made (bounds checked then); while this Arc clone exists the segment is shared, so
        // its stripe writes none of its value bytes and does not reuse it (module doc).
        unsafe { self.page.bytes(self.off as usize, self.len as usize) }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Is it empty? (Never, for parts the store makes.)
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for ValuePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuePart")
            .field("off", &self.off)
            .field("len", &self.len)
            .finish()
    }
}
