//! What store operations return: why a lookup missed, how a store treats an existing item,
//! the outcomes of storing and of incr/decr, and the errors.

use std::fmt;

/// Why a lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No item under the key.
    Absent,
    /// The item had expired (counts as `get_expired`).
    Expired,
    /// The item was invalidated by flush_all (counts as `get_flushed`).
    Flushed,
}

/// How `store` treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the existing value.
    Append,
    /// Add the data before the existing value.
    Prepend,
    /// Store only if the item's CAS unique equals this one.
    Cas(u64),
}

/// The result of a storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// Stored, with the item's new CAS (0 without CAS).
    Stored {
        /// The new CAS unique.
        cas: u64,
    },
    /// The mode's condition failed (add: present; replace/append/prepend: absent).
    NotStored,
    /// cas: the item changed since the client read it.
    Exists,
    /// cas: no such item.
    NotFound,
}

/// Storage failures (become `SERVER_ERROR ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The item exceeds the item size limit.
    TooLarge,
    /// No memory could be found without breaking the rules (limit, -M, pinned items).
    OutOfMemory,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreError::TooLarge => "object too large for cache",
            StoreError::OutOfMemory => "out of memory storing object",
        })
    }
}

impl std::error::Error for StoreError {}

/// Why [`Store::flush_prefix`](super::Store::flush_prefix) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixDeleteError {
    /// The store keeps no CAS (`-C`), which prefix deletes are ordered by.
    NoCas,
    /// Too many prefix deletes are still pending (their items not yet reclaimed).
    TooMany,
}

/// incr / decr amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// Add, wrapping at 2^64.
    Incr(u64),
    /// Subtract, flooring at 0.
    Decr(u64),
}

/// The result of incr / decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOutcome {
    /// The new value and the item's new CAS.
    Value {
        /// The counter after the operation.
        value: u64,
        /// The new CAS unique.
        cas: u64,
    },
    /// No such item.
    NotFound,
    /// The value is not a decimal u64.
    NonNumeric,
}
