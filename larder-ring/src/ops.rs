//! Single-key operations: retrievals, storage commands, delete, incr/decr, touch, gat.
//!
//! Each routes its key to its replica set (`replicas` distinct nodes following the key on
//! the ring; one node by default) and then:
//! - **reads** ask the first node and fall over to the next only when a node is
//!   unavailable (a miss is an answer, not a failure);
//! - **writes and deletes** go to every replica; the call succeeds when any replica
//!   succeeded, else it returns the first definite answer (e.g. `NotStored`), else the
//!   first `Unavailable`.

use crate::backend::Backend;
use crate::client::{Client, MAX_REPLICAS};
use crate::conn::Conn;
use crate::error::{check_key, Error};
use crate::proto::{self, classify, Line, StoreCmd};

/// A retrieved item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The value bytes.
    pub value: Vec<u8>,
    /// The opaque 32-bit client flags stored with it.
    pub flags: u32,
    /// The CAS token (from `gets`; `None` from `get`/`gat`).
    pub cas: Option<u64>,
}

impl Client {
    /// Fetches `key`. `Ok(None)` is a miss.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NoNodes`], [`Error::Unavailable`] when no replica
    /// answered, [`Error::Protocol`], [`Error::Server`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.fetch("get", None, key.as_ref())
    }

    /// Fetches `key` with its CAS token (for [`Client::cas`]).
    ///
    /// # Errors
    /// As [`Client::get`].
    pub fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.fetch("gets", None, key.as_ref())
    }

    /// Fetches `key` and sets its expiration time to `exptime` (get-and-touch).
    ///
    /// # Errors
    /// As [`Client::get`].
    pub fn gat(&self, key: impl AsRef<[u8]>, exptime: u32) -> Result<Option<Item>, Error> {
        self.fetch("gat", Some(exptime), key.as_ref())
    }

    /// Stores `value` unconditionally. `exptime` is memcached's: 0 never expires, up to
    /// 30 days is relative seconds, larger is a unix time.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NoNodes`], [`Error::Unavailable`],
    /// [`Error::Server`] (e.g. `SERVER_ERROR object too large for cache`).
    pub fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: u32,
        exptime: u32,
    ) -> Result<(), Error> {
        self.store(StoreCmd::Set, key.as_ref(), value.as_ref(), flags, exptime)
    }

    /// Stores only if the key does not exist.
    ///
    /// # Errors
    /// [`Error::NotStored`] when it exists; otherwise as [`Client::set`].
    pub fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: u32,
        exptime: u32,
    ) -> Result<(), Error> {
        self.store(StoreCmd::Add, key.as_ref(), value.as_ref(), flags, exptime)
    }

    /// Stores only if the key exists.
    ///
    /// # Errors
    /// [`Error::NotStored`] when it does not; otherwise as [`Client::set`].
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: u32,
        exptime: u32,
    ) -> Result<(), Error> {
        self.store(
            StoreCmd::Replace,
            key.as_ref(),
            value.as_ref(),
            flags,
            exptime,
        )
    }

    /// Appends `value` to an existing item (flags and exptime are ignored by the server).
    ///
    /// # Errors
    /// [`Error::NotStored`] when the key does not exist; otherwise as [`Client::set`].
    pub fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.store(StoreCmd::Append, key.as_ref(), value.as_ref(), 0, 0)
    }

    /// Prepends `value` to an existing item.
    ///
    /// # Errors
    /// [`Error::NotStored`] when the key does not exist; otherwise as [`Client::set`].
    pub fn prepend(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.store(StoreCmd::Prepend, key.as_ref(), value.as_ref(), 0, 0)
    }

    /// Stores only if the item's CAS token is still `cas` (from [`Client::gets`]).
    /// With replicas, tokens differ per node: only the first replica's token matches.
    ///
    /// # Errors
    /// [`Error::Exists`] when the item changed, [`Error::NotFound`] when it is gone;
    /// otherwise as [`Client::set`].
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: u32,
        exptime: u32,
        cas: u64,
    ) -> Result<(), Error> {
        self.store(
            StoreCmd::Cas(cas),
            key.as_ref(),
            value.as_ref(),
            flags,
            exptime,
        )
    }

    /// Deletes `key` (on every replica).
    ///
    /// # Errors
    /// [`Error::NotFound`] when no replica had it; otherwise as [`Client::set`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), Error> {
        let key = key.as_ref();
        self.write_all(key, |c, b| {
            proto::delete(&mut c.out, key);
            reply(c, b, |l| match l {
                Line::Deleted => Some(Ok(())),
                Line::NotFound => Some(Err(Error::NotFound)),
                _ => None,
            })
        })
    }

    /// Adds `delta` to a decimal value (wrapping at 2^64 as memcached does); returns the
    /// new value.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Server`] when the value is not a number.
    pub fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.arith(true, key.as_ref(), delta)
    }

    /// Subtracts `delta` (stopping at 0 as memcached does); returns the new value.
    ///
    /// # Errors
    /// As [`Client::incr`].
    pub fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.arith(false, key.as_ref(), delta)
    }

    /// Sets a new expiration time on `key`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; otherwise as [`Client::set`].
    pub fn touch(&self, key: impl AsRef<[u8]>, exptime: u32) -> Result<(), Error> {
        let key = key.as_ref();
        self.write_all(key, |c, b| {
            proto::touch(&mut c.out, key, exptime);
            reply(c, b, |l| match l {
                Line::Touched => Some(Ok(())),
                Line::NotFound => Some(Err(Error::NotFound)),
                _ => None,
            })
        })
    }

    fn fetch(&self, verb: &str, exptime: Option<u32>, key: &[u8]) -> Result<Option<Item>, Error> {
        self.read_one(key, |c, b| {
            proto::retrieve(&mut c.out, verb, exptime, [key]);
            c.send().map_err(|e| b.io_error(&e))?;
            let mut found = None;
            read_items(c, b, |k, item| {
                if k == key {
                    found = Some(item);
                }
            })?;
            Ok(found)
        })
    }

    fn store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: u32,
    ) -> Result<(), Error> {
        self.write_all(key, |c, b| {
            proto::store(&mut c.out, cmd, key, flags, exptime, value);
            reply(c, b, |l| match l {
                Line::Stored => Some(Ok(())),
                Line::NotStored => Some(Err(Error::NotStored)),
                Line::Exists => Some(Err(Error::Exists)),
                Line::NotFound => Some(Err(Error::NotFound)),
                _ => None,
            })
        })
    }

    fn arith(&self, incr: bool, key: &[u8], delta: u64) -> Result<u64, Error> {
        self.write_all(key, |c, b| {
            proto::arith(&mut c.out, incr, key, delta);
            reply(c, b, |l| match l {
                Line::Number(n) => Some(Ok(n)),
                Line::NotFound => Some(Err(Error::NotFound)),
                _ => None,
            })
        })
    }

    /// Runs `f` on the first replica that is available.
    fn read_one<T>(
        &self,
        key: &[u8],
        f: impl Fn(&mut Conn, &Backend) -> Result<T, Error>,
    ) -> Result<T, Error> {
        check_key(key)?;
        let topo = self.topology();
        let mut targets = [0; MAX_REPLICAS];
        let n = self.targets(&topo, key, &mut targets)?;
        let mut first_err = Error::NoNodes;
        for (k, &i) in targets[..n].iter().enumerate() {
            match self.call(&topo.backends[i], &f) {
                Err(e) if e.is_unavailable() => {
                    if k == 0 {
                        first_err = e;
                    }
                }
                result => return result,
            }
        }
        Err(first_err)
    }

    /// Runs `f` on every replica; see the module docs for how results combine.
    fn write_all<T>(
        &self,
        key: &[u8],
        f: impl Fn(&mut Conn, &Backend) -> Result<T, Error>,
    ) -> Result<T, Error> {
        check_key(key)?;
        let topo = self.topology();
        let mut targets = [0; MAX_REPLICAS];
        let n = self.targets(&topo, key, &mut targets)?;
        let mut best: Option<Result<T, Error>> = None;
        for &i in &targets[..n] {
            let result = self.call(&topo.backends[i], &f);
            let better = match (&best, &result) {
                (None, _) => true,
                (Some(Ok(_)), _) => false,
                (Some(Err(_)), Ok(_)) => true,
                (Some(Err(old)), Err(new)) => old.is_unavailable() && !new.is_unavailable(),
            };
            if better {
                best = Some(result);
            }
        }
        best.unwrap_or(Err(Error::NoNodes))
    }
}

/// Sends the pending request and maps its one-line reply with `map`; error lines become
/// [`Error::Server`], anything `map` rejects becomes [`Error::Protocol`].
pub(crate) fn reply<T>(
    c: &mut Conn,
    b: &Backend,
    map: impl FnOnce(Line<'_>) -> Option<Result<T, Error>>,
) -> Result<T, Error> {
    c.send().map_err(|e| b.io_error(&e))?;
    let line = c.read_line().map_err(|e| b.io_error(&e))?;
    match classify(line) {
        Line::Error(text) => Err(b.server(text)),
        other => match map(other) {
            Some(result) => result,
            None => Err(b.protocol(format!(
                "unexpected reply {:?}",
                String::from_utf8_lossy(line)
            ))),
        },
    }
}

/// Reads `VALUE` blocks until `END`, handing each to `on`.
pub(crate) fn read_items(
    c: &mut Conn,
    b: &Backend,
    mut on: impl FnMut(&[u8], Item),
) -> Result<(), Error> {
    let mut key = Vec::new();
    loop {
        let line = c.read_line().map_err(|e| b.io_error(&e))?;
        let (flags, bytes, cas) = match classify(line) {
            Line::End => return Ok(()),
            Line::Value(h) => {
                key.clear();
                key.extend_from_slice(h.key);
                (h.flags, h.bytes, h.cas)
            }
            Line::Error(text) => return Err(b.server(text)),
            _ => {
                return Err(b.protocol(format!(
                    "unexpected reply {:?}",
                    String::from_utf8_lossy(line)
                )))
            }
        };
        let mut value = Vec::new();
        match c.read_data(bytes, &mut value) {
            Ok(true) => on(&key, Item { value, flags, cas }),
            Ok(false) => return Err(b.protocol("data block not terminated by \\r\\n")),
            Err(e) => return Err(b.io_error(&e)),
        }
    }
}
