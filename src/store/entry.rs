//! The entry API: one key's slot with its stripe lock held, for the meta protocol.
//!
//! `Store::entry` locks the key's stripe, looks the key up (unlinking it if it expired or was
//! flushed) and hands the caller an [`Entry`]. Everything done through the entry happens under
//! that one lock, so a meta command's read-decide-write sequence is atomic per key.

use super::stripe::{Moment, Stripe};
use super::{item, ItemRef, Miss, StoreError};
use crate::clock::RelTime;

/// One key's slot, looked up with the stripe lock held.
pub enum Entry<'s> {
    /// The key has a live item.
    Occupied(OccupiedEntry<'s>),
    /// The key has no live item.
    Vacant(VacantEntry<'s>),
}

/// A new item for [`VacantEntry::insert`] and [`OccupiedEntry::replace`].
#[derive(Debug, Clone, Copy)]
pub struct NewItem<'v> {
    /// The value bytes.
    pub value: &'v [u8],
    /// Client flags.
    pub flags: u32,
    /// Expiry (0 = never).
    pub exptime: RelTime,
    /// Explicit CAS (meta `E` flag); `None` takes a fresh unique.
    pub cas: Option<u64>,
}

/// A key with a live item.
pub struct OccupiedEntry<'s> {
    pub(crate) st: &'s mut Stripe,
    pub(crate) ctx: Moment,
    pub(crate) hash: u64,
    pub(crate) head: u32,
}

/// A key without a live item.
pub struct VacantEntry<'s> {
    pub(crate) st: &'s mut Stripe,
    pub(crate) ctx: Moment,
    pub(crate) hash: u64,
    pub(crate) key: &'s [u8],
    pub(crate) miss: Miss,
}

impl<'s> OccupiedEntry<'s> {
    /// A view of the item.
    pub fn item(&self) -> ItemRef<'_> {
        ItemRef {
            mem: &self.st.mem,
            head: self.head,
        }
    }

    /// Marks the item used: ACCESSED, last access = now, FETCHED.
    pub fn bump(&mut self) {
        self.st.bump(self.head, self.ctx.now);
    }

    /// Sets the expiry (0 = never). The item may move to a new record for it (one without
    /// an exptime field is copied: `Stripe::set_item_exptime`); in the rare case that no
    /// room could be made for the copy the item is gone (counted as evicted) and the entry's
    /// later bit and CAS writes land on the dead record, where nothing reads them, and
    /// `remove`, `replace`, `concat` and `write_number` find nothing to work on.
    pub fn set_exptime(&mut self, exptime: RelTime) {
        if let Some(h) = self
            .st
            .set_item_exptime(&self.ctx, self.hash, self.head, exptime)
        {
            self.head = h;
        }
    }

    /// Sets or clears the fetched-since-set bit.
    pub fn set_fetched(&mut self, on: bool) {
        self.st.set_bit(self.head, item::FETCHED, on);
    }

    /// Sets or clears the stale bit (meta `I` invalidation).
    pub fn set_stale(&mut self, on: bool) {
        self.st.set_bit(self.head, item::STALE, on);
    }

    /// Sets or clears the win-token-handed-out bit.
    pub fn set_win_token_sent(&mut self, on: bool) {
        self.st.set_bit(self.head, item::WIN_SENT, on);
    }

    /// Sets or clears the key-sent-in-base64 bit (meta `ms ... b`).
    pub fn set_key_binary(&mut self, on: bool) {
        self.st.set_bit(self.head, item::KEY_BINARY, on);
    }

    /// Sets the CAS: `Some` explicit, `None` a fresh unique. Returns the CAS now stored
    /// (0 when the store runs without CAS).
    pub fn set_cas(&mut self, cas: Option<u64>) -> u64 {
        self.st.set_item_cas(self.head, cas)
    }

    /// Is the entry's item still in the cache? (Only a failed copy in `set_exptime` ends it
    /// while the entry is held.)
    fn live(&self) -> bool {
        self.st.mem.tag(self.head) == item::TAG_HEAD
    }

    /// Removes the item.
    pub fn remove(self) {
        if self.live() {
            self.st
                .unlink(self.head, super::stripe::Exit::Removed, &self.ctx);
        }
    }

    /// Replaces the item with a new one (fresh bits).
    ///
    /// # Errors
    /// `TooLarge` or `OutOfMemory`; the old item is then removed (memcached's rule for `set`:
    /// never leave stale data behind).
    pub fn replace(self, item: NewItem<'_>) -> Result<OccupiedEntry<'s>, StoreError> {
        if !self.live() {
            return Err(StoreError::OutOfMemory);
        }
        let OccupiedEntry {
            st,
            ctx,
            hash,
            head,
        } = self;
        match st.replace(
            &ctx,
            hash,
            head,
            item.value,
            item.flags,
            item.exptime,
            item.cas,
        ) {
            Ok(h) => Ok(OccupiedEntry {
                st,
                ctx,
                hash,
                head: h,
            }),
            Err(e) => {
                st.unlink(head, super::stripe::Exit::Removed, &ctx);
                Err(e)
            }
        }
    }

    /// Appends (`prepend` false) or prepends `data`; keeps flags and exptime, new CAS.
    ///
    /// # Errors
    /// `TooLarge` or `OutOfMemory`; the old item stays.
    pub fn concat(self, data: &[u8], prepend: bool) -> Result<OccupiedEntry<'s>, StoreError> {
        if !self.live() {
            return Err(StoreError::OutOfMemory);
        }
        let h = self
            .st
            .concat(&self.ctx, self.hash, self.head, data, prepend)?;
        Ok(OccupiedEntry { head: h, ..self })
    }

    /// Writes `n` as a decimal value with a new CAS (in place, space padded, when it fits).
    ///
    /// # Errors
    /// `OutOfMemory` (or `TooLarge`) when a longer value needs a new item; the old item stays.
    pub fn write_number(self, n: u64) -> Result<OccupiedEntry<'s>, StoreError> {
        if !self.live() {
            return Err(StoreError::OutOfMemory);
        }
        let h = self.st.write_number(&self.ctx, self.hash, self.head, n)?;
        Ok(OccupiedEntry { head: h, ..self })
    }

    /// The item's value as a decimal u64 (None: not numeric), as incr/decr parse it.
    pub fn number(&self) -> Option<u64> {
        self.st.read_number(self.head)
    }
}

impl<'s> VacantEntry<'s> {
    /// The key looked up.
    pub fn key(&self) -> &[u8] {
        self.key
    }

    /// Why there is no item (absent, expired or flushed).
    pub fn miss(&self) -> Miss {
        self.miss
    }

    /// Stores a new item under the key.
    ///
    /// # Errors
    /// `TooLarge` or `OutOfMemory`.
    pub fn insert(self, item: NewItem<'_>) -> Result<OccupiedEntry<'s>, StoreError> {
        let h = self.st.insert(
            &self.ctx,
            self.hash,
            self.key,
            item.value,
            item.flags,
            item.exptime,
            item.cas,
        )?;
        Ok(OccupiedEntry {
            st: self.st,
            ctx: self.ctx,
            hash: self.hash,
            head: h,
        })
    }
}
