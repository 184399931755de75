//! [`Output`]: a connection's pending replies, as bytes with large values spliced in by
//! reference.
//!
//! Reply encoders append bytes (`Output` derefs to the `Vec<u8>` they write into). A value
//! of at least [`BY_REF_MIN`](crate::store::BY_REF_MIN) bytes is not copied: [`Output::value`] queues the store's
//! [`ValuePart`]s at the current position instead, and the connection writes the whole
//! sequence with one vectored write (`writev`) straight from segment memory. The logical
//! output is `buf[..at1] part1 buf[at1..at2] part2 ... buf[atN..]`.
//!
//! Why: a 1 MiB value read by a slow client was a second copy per reader for as long as the
//! client took (RSS grew by a megabyte per slow reader), and for 16 KiB values the copy was
//! most of what a get costs. memcached does the same with item references and `sendmsg`.
//!
//! Values are copied instead when the output is for a datagram (UDP builds its frames from
//! the bytes) or while `-vv` logs replies (the log reads the bytes): see [`Output::by_ref`].

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::{Deref, DerefMut};

use crate::store::{ItemRef, ValuePart};

/// Most `iovec`s handed to one `writev` (Linux allows 1024; 64 covers a 1 MiB value's 17
/// parts with the reply lines between several of them).
pub const MAX_IOVECS: usize = 64;

/// One value part, sent just before `buf[at..]`.
#[derive(Debug)]
struct Spliced {
    at: usize,
    part: ValuePart,
}

/// A connection's pending output (module doc).
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// Parts spliced into `buf`, in order of position.
    refs: VecDeque<Spliced>,
    /// Bytes of the parts in `refs`, the front one's sent bytes included.
    ref_bytes: usize,
    /// Bytes of `buf` sent.
    sent: usize,
    /// Bytes of the front part sent.
    front_sent: usize,
    /// Send large values by reference (else copy them).
    by_ref: bool,
}

/// A position in the output to truncate back to ([`Output::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    len: usize,
    refs: usize,
}

impl Output {
    /// Empty output with room for `capacity` bytes; `by_ref`: see [`Output::set_by_ref`].
    pub fn with_capacity(capacity: usize, by_ref: bool) -> Output {
        Output {
            buf: Vec::with_capacity(capacity),
            by_ref,
            ..Output::default()
        }
    }

    /// Whether large values are sent by reference from now on (false: copied, for output
    /// that is read as bytes: datagram framing, the `-vv` reply log).
    pub fn set_by_ref(&mut self, on: bool) {
        self.by_ref = on;
    }

    /// Appends an item's value: by reference if it is large (module doc), else copied.
    pub fn value(&mut self, item: &ItemRef<'_>) {
        if self.by_ref {
            if let Some(parts) = item.value_parts() {
                let at = self.buf.len();
                for part in parts {
                    self.ref_bytes += part.len();
                    self.refs.push_back(Spliced { at, part });
                }
                return;
            }
        }
        for part in item.value() {
            self.buf.extend_from_slice(part);
        }
    }

    /// Bytes queued since the buffer last started over, values by reference included (what
    /// a multiget's output limit counts).
    pub fn size(&self) -> usize {
        self.buf.len() + self.ref_bytes
    }

    /// Bytes not yet sent.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.sent + self.ref_bytes - self.front_sent
    }

    /// Values queued by reference (and not yet fully sent).
    pub fn has_refs(&self) -> bool {
        !self.refs.is_empty()
    }

    /// The current end, to truncate back to.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            refs: self.refs.len(),
        }
    }

    /// Drops everything appended since `mark` (nothing of it was sent: replies are written
    /// only between requests).
    pub fn truncate(&mut self, mark: Mark) {
        while self.refs.len() > mark.refs {
            if let Some(s) = self.refs.pop_back() {
                self.ref_bytes -= s.part.len();
            }
        }
        self.buf.truncate(mark.len);
    }

    /// Fills `dst` with the unsent output, in order, up to its length; returns how many
    /// slices it used.
    pub fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut pos = self.sent;
        for (i, s) in self.refs.iter().enumerate() {
            if n == dst.len() {
                return n;
            }
            if pos < s.at {
                dst[n] = IoSlice::new(&self.buf[pos..s.at]);
                n += 1;
                pos = s.at;
                if n == dst.len() {
                    return n;
                }
            }
            let skip = if i == 0 { self.front_sent } else { 0 };
            dst[n] = IoSlice::new(&s.part.as_slice()[skip..]);
            n += 1;
        }
        if n < dst.len() && pos < self.buf.len() {
            dst[n] = IoSlice::new(&self.buf[pos..]);
            n += 1;
        }
        n
    }

    /// The first unsent piece (for writers that take one slice at a time: TLS).
    pub fn first_slice(&self) -> &[u8] {
        match self.refs.front() {
            Some(s) if s.at == self.sent => &s.part.as_slice()[self.front_sent..],
            Some(s) => &self.buf[self.sent..s.at],
            None => &self.buf[self.sent..],
        }
    }

    /// Marks `n` more bytes as sent (parts fully sent are released: their segment may be
    /// reused); once everything is sent the buffer starts over.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.refs.front() {
                Some(s) if s.at == self.sent => {
                    let left = s.part.len() - self.front_sent;
                    if n >= left {
                        n -= left;
                        self.ref_bytes -= s.part.len();
                        self.front_sent = 0;
                        self.refs.pop_front();
                    } else {
                        self.front_sent += n;
                        n = 0;
                    }
                }
                front => {
                    let end = front.map_or(self.buf.len(), |s| s.at);
                    let take = n.min(end - self.sent);
                    debug_assert!(take > 0, "advanced past the output");
                    if take == 0 {
                        break;
                    }
                    self.sent += take;
                    n -= take;
                }
            }
        }
        if self.pending() == 0 {
            self.buf.clear();
            self.sent = 0;
        }
    }

    /// Drops the sent prefix of the buffer (positions of queued parts move with it).
    pub fn drop_sent(&mut self) {
        if self.sent == 0 {
            return;
        }
        self.buf.drain(..self.sent);
        for s in &mut self.refs {
            s.at -= self.sent;
        }
        self.sent = 0;
    }

    /// Bytes of the buffer already sent.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Empties the output (what was queued is dropped, parts released).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.refs.clear();
        self.ref_bytes = 0;
        self.sent = 0;
        self.front_sent = 0;
    }

    /// Drops the sent prefix and gives capacity beyond `keep` bytes back.
    pub fn shrink_to(&mut self, keep: usize) {
        self.drop_sent();
        self.buf.shrink_to(keep);
        if self.refs.is_empty() {
            self.refs.shrink_to(0);
        }
    }

    /// The buffer's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl Deref for Output {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Output {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests;
