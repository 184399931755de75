//! Model test: random operation sequences against a plain `HashMap` model.
//!
//! The model knows every rule of the store (modes, CAS, incr/decr padding, expiry, delayed
//! flush, last-access times). The only freedom the store has is eviction: a key the model
//! holds may be missing from the store only if an eviction or page move happened since the
//! key was last used, and evictions may only happen while every page of the budget is
//! handed out. A key the store holds must always be in the model with equal value, flags and
//! CAS. A key read by the previous operation must survive a following small operation that
//! moved no page (CLOCK second chance).

use std::collections::HashMap;

use larder::clock::{Clock, RelTime};
use larder::store::{
    ArithOutcome, Delta, Entry, Miss, SetMode, SetOutcome, Store, StoreConfig, StoreError,
};
use proptest::prelude::*;

const PAGE: usize = 4096;
const PAGES: usize = 16;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, usize, u32, u8),
    Add(u8, usize, u32, u8),
    Replace(u8, usize, u32, u8),
    Append(u8, usize),
    Prepend(u8, usize),
    Cas(u8, usize, bool),
    Get(u8),
    Gat(u8, u8),
    Delete(u8),
    SetNum(u8, u64),
    Incr(u8, u64),
    Decr(u8, u64),
    Touch(u8, u8),
    Advance(u8),
    Flush(u8),
    Maintain,
}

fn vlen() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..300, 2 => 300usize..1000, 1 => 1000usize..9000]
}

/// Client flags: 0 (no flags field in the record) as often as any other value.
fn flags() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), any::<u32>()]
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..120;
    prop_oneof![
        6 => (k.clone(), vlen(), flags(), 0u8..4).prop_map(|(k, l, f, t)| Op::Set(k, l, f, t)),
        2 => (k.clone(), vlen(), flags(), 0u8..4).prop_map(|(k, l, f, t)| Op::Add(k, l, f, t)),
        2 => (k.clone(), vlen(), flags(), 0u8..4).prop_map(|(k, l, f, t)| Op::Replace(k, l, f, t)),
        2 => (k.clone(), 0usize..400).prop_map(|(k, l)| Op::Append(k, l)),
        1 => (k.clone(), 0usize..400).prop_map(|(k, l)| Op::Prepend(k, l)),
        2 => (k.clone(), vlen(), any::<bool>()).prop_map(|(k, l, g)| Op::Cas(k, l, g)),
        8 => k.clone().prop_map(Op::Get),
        1 => (k.clone(), 0u8..4).prop_map(|(k, t)| Op::Gat(k, t)),
        2 => k.clone().prop_map(Op::Delete),
        2 => (0u8..8, prop_oneof![Just(u64::MAX), Just(9), Just(99), 0u64..1000])
            .prop_map(|(k, n)| Op::SetNum(k, n)),
        2 => (0u8..8, prop_oneof![Just(1u64), Just(u64::MAX), 0u64..100]).prop_map(|(k, d)| Op::Incr(k, d)),
        2 => (0u8..8, prop_oneof![Just(1u64), Just(u64::MAX), 0u64..100]).prop_map(|(k, d)| Op::Decr(k, d)),
        1 => (k.clone(), 0u8..4).prop_map(|(k, t)| Op::Touch(k, t)),
        2 => (0u8..3).prop_map(Op::Advance),
        1 => prop_oneof![3 => Just(0u8), 1 => 1u8..4].prop_map(Op::Flush),
        1 => Just(Op::Maintain),
    ]
}

#[derive(Debug, Clone)]
struct Item {
    value: Vec<u8>,
    flags: u32,
    exptime: RelTime,
    /// The record has an exptime field (store/item.rs): written with an exptime, chained,
    /// or given an exptime since; setting it back to 0 keeps the field.
    exptime_field: bool,
    atime: RelTime,
    cas: u64,
    /// Evictions + page moves when the key was last used.
    used_at: u64,
}

struct Model {
    items: HashMap<Vec<u8>, Item>,
    passed: RelTime,
    pending: RelTime,
    store: Store,
    clock: Clock,
    seed: u8,
}

/// The model's reading of a stored counter, as memcached's `safe_strtoull` reads an item:
/// leading whitespace, an optional sign, digits, then the end or a whitespace or NUL byte;
/// over u64::MAX refused; a negative number only where it wraps below 2^63 ("-0" is 0).
/// Written independently of the store's parser (via `str::parse` on the digits).
fn parse_number(v: &[u8]) -> Option<u64> {
    let space = |b: &u8| b" \t\n\x0b\x0c\r".contains(b);
    let start = v.iter().position(|b| !space(b))?;
    let rest = &v[start..];
    let (negative, rest) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    match rest.get(digits) {
        None | Some(0) => {}
        Some(b) if space(b) => {}
        Some(_) => return None,
    }
    let n: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    if !negative {
        return Some(n);
    }
    let n = n.wrapping_neg();
    (n < 1 << 63).then_some(n)
}

impl Model {
    fn churn(&self) -> u64 {
        let s = self.store.stats();
        s.evictions + s.slabs_moved
    }

    fn flush_before(&self) -> RelTime {
        let now = self.clock.now();
        if self.pending != 0 && self.pending <= now {
            self.passed.max(self.pending)
        } else {
            self.passed
        }
    }

    fn value(&mut self, len: usize) -> Vec<u8> {
        self.seed = self.seed.wrapping_add(1);
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(self.seed))
            .collect()
    }

    fn ttl(&self, t: u8) -> RelTime {
        if t == 0 {
            0
        } else {
            self.clock.expiry(i64::from(t))
        }
    }

    /// Reconciles one key before an operation: drops it from the model if it is no longer
    /// visible by the rules, or if the store evicted it (which must be allowed).
    fn reconcile(&mut self, key: &[u8]) {
        let now = self.clock.now();
        let fb = self.flush_before();
        if let Some(it) = self.items.get(key) {
            if (it.exptime != 0 && it.exptime <= now) || it.atime < fb {
                self.items.remove(key);
            }
        }
        let in_store = self.store.entry(key, |e| matches!(e, Entry::Occupied(_)));
        match (self.items.get(key), in_store) {
            (Some(it), false) => {
                let churn = self.churn();
                assert!(
                    churn > it.used_at,
                    "key {:?} vanished without an eviction",
                    String::from_utf8_lossy(key)
                );
                self.items.remove(key);
            }
            (None, true) => panic!(
                "store holds {:?} which the model does not",
                String::from_utf8_lossy(key)
            ),
            _ => {}
        }
        if let Some(it) = self.items.get(key) {
            let (value, flags, cas) = self.store.entry(key, |e| match e {
                Entry::Occupied(o) => {
                    let i = o.item();
                    (
                        i.value().flatten().copied().collect::<Vec<u8>>(),
                        i.flags(),
                        i.cas(),
                    )
                }
                Entry::Vacant(_) => unreachable!("checked above"),
            });
            assert_eq!(value, it.value);
            assert_eq!((flags, cas), (it.flags, it.cas));
        }
    }

    fn touch_model(&mut self, key: &[u8]) {
        let now = self.clock.now();
        let churn = self.churn();
        if let Some(it) = self.items.get_mut(key) {
            it.atime = now;
            it.used_at = churn;
        }
    }

    /// A new record for `key`.
    fn put(&mut self, key: &[u8], value: Vec<u8>, flags: u32, exptime: RelTime, cas: u64) {
        let churn = self.churn();
        let now = self.clock.now();
        let opt = |v: u32| if v == 0 { 0 } else { 4 };
        let chained = 18 + opt(exptime) + opt(flags) + key.len() + value.len() > PAGE;
        self.items.insert(
            key.to_vec(),
            Item {
                value,
                flags,
                exptime,
                exptime_field: exptime != 0 || chained,
                atime: now,
                cas,
                used_at: churn,
            },
        );
    }

    fn store_op(&mut self, mode: SetMode, key: &[u8], len: usize, flags: u32, exptime: RelTime) {
        let value = self.value(len);
        let present = self.items.get(key).cloned();
        let out = self.store.store(mode, key, &value, flags, exptime);
        let expect_stored = match mode {
            SetMode::Set => true,
            SetMode::Add => present.is_none(),
            SetMode::Replace | SetMode::Append | SetMode::Prepend => present.is_some(),
            SetMode::Cas(c) => present.as_ref().is_some_and(|p| p.cas == c),
        };
        match out {
            Ok(SetOutcome::Stored { cas }) => {
                assert!(expect_stored, "{mode:?} stored unexpectedly");
                let (value, flags, exptime) = match (mode, &present) {
                    (SetMode::Append, Some(p)) => {
                        ([&p.value[..], &value].concat(), p.flags, p.exptime)
                    }
                    (SetMode::Prepend, Some(p)) => {
                        ([&value[..], &p.value].concat(), p.flags, p.exptime)
                    }
                    _ => (value, flags, exptime),
                };
                self.put(key, value, flags, exptime, cas);
            }
            Ok(SetOutcome::NotStored) => {
                assert!(!expect_stored);
                assert!(matches!(
                    mode,
                    SetMode::Add | SetMode::Replace | SetMode::Append | SetMode::Prepend
                ));
                if mode == SetMode::Add {
                    self.touch_model(key);
                }
            }
            Ok(SetOutcome::Exists) => {
                assert!(matches!(mode, SetMode::Cas(_)) && present.is_some() && !expect_stored);
            }
            Ok(SetOutcome::NotFound) => {
                assert!(matches!(mode, SetMode::Cas(_)) && present.is_none());
            }
            Err(StoreError::TooLarge) => panic!("values here are below the item size limit"),
            Err(StoreError::OutOfMemory) => {
                let st = self.store.stats();
                assert_eq!(
                    st.total_pages as usize, PAGES,
                    "OutOfMemory before memory is full"
                );
                if mode == SetMode::Set {
                    self.items.remove(key);
                }
            }
        }
    }

    fn arith(&mut self, key: &[u8], delta: Delta) {
        let present = self.items.get(key).cloned();
        let out = self.store.arith(key, delta);
        match (present, out) {
            (None, Ok(ArithOutcome::NotFound)) => {}
            (Some(p), Ok(ArithOutcome::NonNumeric)) => assert_eq!(parse_number(&p.value), None),
            (Some(p), Ok(ArithOutcome::Value { value, cas })) => {
                let n = parse_number(&p.value).expect("store found a number");
                let want = match delta {
                    Delta::Incr(d) => n.wrapping_add(d),
                    Delta::Decr(d) => n.saturating_sub(d),
                };
                assert_eq!(value, want);
                let digits = want.to_string().into_bytes();
                if digits.len() <= p.value.len() {
                    // In place (the values here are below 16 KiB and numbers unchained):
                    // the record, and so its exptime field, stays.
                    let mut v = digits;
                    v.resize(p.value.len(), b' ');
                    self.put(key, v, p.flags, p.exptime, cas);
                    if let Some(it) = self.items.get_mut(key) {
                        it.exptime_field = p.exptime_field;
                    }
                } else {
                    self.put(key, digits, p.flags, p.exptime, cas);
                }
            }
            (Some(_), Err(StoreError::OutOfMemory)) => {
                assert_eq!(self.store.stats().total_pages as usize, PAGES);
            }
            (p, o) => panic!("arith on {p:?} gave {o:?}"),
        }
    }

    fn apply(&mut self, op: &Op) -> Option<Vec<u8>> {
        let key_of = |k: &u8| format!("key{k}").into_bytes();
        let key = match op {
            Op::Set(k, ..)
            | Op::Add(k, ..)
            | Op::Replace(k, ..)
            | Op::Append(k, _)
            | Op::Prepend(k, _)
            | Op::Cas(k, ..)
            | Op::Get(k)
            | Op::Gat(k, _)
            | Op::Delete(k)
            | Op::SetNum(k, _)
            | Op::Incr(k, _)
            | Op::Decr(k, _)
            | Op::Touch(k, _) => Some(key_of(k)),
            _ => None,
        };
        if let Some(key) = &key {
            self.reconcile(key);
        }
        let mut read_hit = None;
        match op {
            Op::Set(_, l, f, t) => {
                let e = self.ttl(*t);
                self.store_op(SetMode::Set, key.as_ref()?, *l, *f, e)
            }
            Op::Add(_, l, f, t) => {
                let e = self.ttl(*t);
                self.store_op(SetMode::Add, key.as_ref()?, *l, *f, e)
            }
            Op::Replace(_, l, f, t) => {
                let e = self.ttl(*t);
                self.store_op(SetMode::Replace, key.as_ref()?, *l, *f, e)
            }
            Op::Append(_, l) => self.store_op(SetMode::Append, key.as_ref()?, *l, 0, 0),
            Op::Prepend(_, l) => self.store_op(SetMode::Prepend, key.as_ref()?, *l, 0, 0),
            Op::Cas(_, l, good) => {
                let key = key.as_ref()?;
                let cas = self
                    .items
                    .get(key)
                    .map_or(12345, |i| i.cas + u64::from(!*good));
                self.store_op(SetMode::Cas(cas), key, *l, 7, 0)
            }
            Op::Get(_) | Op::Gat(..) => {
                let key = key.as_ref()?;
                let got = match op {
                    Op::Gat(_, t) => {
                        let e = self.ttl(*t);
                        if let Some(it) = self.items.get_mut(key) {
                            it.exptime = e;
                            it.exptime_field |= e != 0;
                        }
                        self.store.get_and_touch(key, e, |i| {
                            i.value().flatten().copied().collect::<Vec<u8>>()
                        })
                    }
                    _ => self
                        .store
                        .get(key, |i| i.value().flatten().copied().collect::<Vec<u8>>()),
                };
                match (self.items.get(key), got) {
                    (Some(it), Ok(v)) => {
                        assert_eq!(v, it.value);
                        read_hit = Some(key.clone());
                    }
                    (None, Err(Miss::Absent)) => {}
                    (m, g) => panic!("get: model {m:?}, store {g:?}"),
                }
                self.touch_model(key);
            }
            Op::Delete(_) => {
                let key = key.as_ref()?;
                assert_eq!(self.store.delete(key), self.items.remove(key).is_some());
            }
            Op::SetNum(_, n) => {
                let key = key.as_ref()?;
                let v = n.to_string();
                let out = self.store.store(SetMode::Set, key, v.as_bytes(), 1, 0);
                match out {
                    Ok(SetOutcome::Stored { cas }) => self.put(key, v.into_bytes(), 1, 0, cas),
                    Err(StoreError::OutOfMemory) => {
                        self.items.remove(key);
                    }
                    o => panic!("set number: {o:?}"),
                }
            }
            Op::Incr(_, d) => self.arith(key.as_ref()?, Delta::Incr(*d)),
            Op::Decr(_, d) => self.arith(key.as_ref()?, Delta::Decr(*d)),
            Op::Touch(_, t) => {
                let key = key.as_ref()?;
                let e = self.ttl(*t);
                let present = self.items.contains_key(key);
                assert_eq!(self.store.touch(key, e), present);
                if let Some(it) = self.items.get_mut(key) {
                    it.exptime = e;
                    it.exptime_field |= e != 0;
                }
                self.touch_model(key);
            }
            Op::Advance(s) => self.clock.advance(u32::from(*s)),
            Op::Flush(d) => {
                let now = self.clock.now();
                if self.pending != 0 && self.pending <= now {
                    self.passed = self.passed.max(self.pending);
                }
                if *d == 0 {
                    self.pending = 0;
                    self.passed = self.passed.max(now);
                    self.items.clear();
                } else {
                    self.pending = now + u32::from(*d);
                }
                self.store.flush_all(u32::from(*d));
            }
            Op::Maintain => self.store.maintain(),
        }
        // Check the key right after the operation too (entry() does not bump).
        if let Some(key) = &key {
            self.reconcile(key);
        }
        read_hit
    }
}

fn run(ops: &[Op]) {
    let clock = Clock::manual();
    let store = Store::new(
        StoreConfig {
            memory_limit: PAGES * PAGE,
            page_size: PAGE,
            stripes: 2,
            item_size_max: 16 << 10,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .expect("valid config");
    let mut m = Model {
        items: HashMap::new(),
        passed: 0,
        pending: 0,
        store,
        clock,
        seed: 0,
    };
    let mut last_read: Option<Vec<u8>> = None;
    for op in ops {
        let before = m.store.stats();
        let read = m.apply(op);
        let after = m.store.stats();
        assert!(after.total_pages as usize <= PAGES);
        if after.evictions > before.evictions {
            assert_eq!(
                after.total_pages as usize, PAGES,
                "eviction before memory was full"
            );
        }
        // A key just read survives one following small store that moved no page.
        let small = matches!(op, Op::Set(_, l, ..) | Op::Add(_, l, ..) | Op::Replace(_, l, ..) if *l < 1000);
        if let Some(k) = last_read.take() {
            if small && after.slabs_moved == before.slabs_moved && m.items.contains_key(&k) {
                assert!(m.store.entry(&k, |e| matches!(e, Entry::Occupied(_))));
            }
        }
        last_read = read;
    }
    // Final full reconciliation of every key.
    for k in 0u8..120 {
        m.reconcile(format!("key{k}").as_bytes());
    }
    let st = m.store.stats();
    assert_eq!(st.curr_items as usize, m.items.len());
    // Every item's record is the size the layout gives, and `bytes` is their sum.
    let mut bytes = 0;
    for (k, v) in &m.items {
        let size = m.store.entry(k, |e| match e {
            Entry::Occupied(o) => o.item().total_size(),
            Entry::Vacant(_) => panic!("reconciled key {k:?} is gone"),
        });
        assert_eq!(size, record_bytes(k.len(), v), "key {k:?}: record size");
        bytes += size;
    }
    assert_eq!(st.bytes as usize, bytes);
}

/// Bytes the store counts for an item (store/item.rs): an 18-byte header, 4 more for an
/// exptime field and for flags other than 0.
fn record_bytes(key_len: usize, it: &Item) -> usize {
    let field = if it.exptime_field { 4 } else { 0 };
    let flags = if it.flags == 0 { 0 } else { 4 };
    18 + field + flags + key_len + it.value.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_hashmap_model(ops in proptest::collection::vec(op(), 1..400)) {
        run(&ops);
    }
}
