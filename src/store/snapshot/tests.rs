//! Unit tests of the store's snapshot side: export order and coverage, import fields,
//! batches, and never evicting.

use super::*;
use crate::clock::Clock;
use crate::store::{SetMode, StoreConfig};

fn store(mb: usize) -> Store {
    Store::new(
        StoreConfig {
            memory_limit: mb << 20,
            stripes: 4,
            ..StoreConfig::default()
        },
        Clock::manual(),
    )
    .unwrap()
}

type Exported = (Vec<u8>, Vec<u8>, u32, u64, ExportMeta);

fn export_all(s: &Store) -> Vec<Exported> {
    let mut out = Vec::new();
    let mut cur = ExportCursor::new();
    while s.export_batch(&mut cur, 4096, |it, meta| {
        out.push((
            it.key().to_vec(),
            it.value().flatten().copied().collect(),
            it.flags(),
            it.cas(),
            meta,
        ))
    }) {}
    out
}

#[test]
fn export_visits_every_live_item_once_hot_first() {
    let s = store(16);
    for i in 0..5000u32 {
        let v = vec![b'a' + (i % 26) as u8; (i % 300) as usize];
        s.store(SetMode::Set, format!("k{i}").as_bytes(), &v, i, 0)
            .unwrap();
    }
    // A large (chained) item and a few used ones.
    s.store(SetMode::Set, b"big", &vec![7u8; 200_000], 1, 0)
        .unwrap();
    for i in 0..100u32 {
        s.get(format!("k{i}").as_bytes(), |_| ()).unwrap();
    }
    s.delete(b"k4999");
    let items = export_all(&s);
    assert_eq!(items.len(), 5000);
    let mut keys: Vec<_> = items.iter().map(|i| i.0.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5000);
    // The used items come first.
    assert!(items[..100].iter().all(|i| i.4.use_count >= 1));
    assert!(items[100..].iter().all(|i| i.4.use_count == 0));
    let big = items.iter().find(|i| i.0 == b"big").unwrap();
    assert_eq!(big.1.len(), 200_000);
}

#[test]
fn import_keeps_fields_and_never_evicts() {
    let src = store(16);
    for i in 0..3000u32 {
        src.store(SetMode::Set, format!("k{i}").as_bytes(), &[b'x'; 100], i, 0)
            .unwrap();
    }
    for i in 0..10u32 {
        src.get(format!("k{i}").as_bytes(), |_| ()).unwrap();
    }
    let items = export_all(&src);
    let dst = store(16);
    let mut max_cas = 0;
    for (k, v, flags, cas, meta) in &items {
        let it = ImportItem {
            key: k,
            value: v,
            flags: *flags,
            cas: *cas,
            use_count: meta.use_count,
            main: meta.main,
            ..ImportItem::default()
        };
        assert_eq!(dst.import(&it), Imported::Loaded);
        max_cas = max_cas.max(*cas);
    }
    dst.raise_cas_above(max_cas);
    for (k, v, flags, cas, _) in &items {
        let (v2, f2, c2) = dst
            .get(k, |it| {
                (
                    it.value().flatten().copied().collect::<Vec<u8>>(),
                    it.flags(),
                    it.cas(),
                )
            })
            .unwrap();
        assert_eq!((&v2, f2, c2), (v, *flags, *cas));
    }
    match dst.store(SetMode::Set, b"new", b"v", 0, 0).unwrap() {
        crate::store::SetOutcome::Stored { cas } => assert!(cas > max_cas),
        other => panic!("{other:?}"),
    }
    // Into a tiny store: loads until full, evicts nothing.
    let small = store(1);
    let mut loaded = 0;
    for (k, v, ..) in &items {
        let it = ImportItem {
            key: k,
            value: v,
            main: true,
            ..ImportItem::default()
        };
        match small.import(&it) {
            Imported::Loaded => loaded += 1,
            Imported::Full => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(loaded > 1000, "{loaded}");
    assert_eq!(small.stats().evictions, 0);
    assert_eq!(small.stats().curr_items, loaded);
}

fn item<'a>(key: &'a [u8], value: &'a [u8], cas: u64, exptime_unix: u64) -> ImportItem<'a> {
    ImportItem {
        key,
        value,
        flags: 7,
        cas,
        exptime_unix,
        use_count: 1,
        main: true,
        ..ImportItem::default()
    }
}

#[test]
fn import_batch_groups_by_stripe_later_duplicate_wins_and_counts() {
    let s = store(16);
    let keys: Vec<String> = (0..3000).map(|i| format!("b{i}")).collect();
    let big = vec![0u8; 2 << 20];
    let mut items: Vec<ImportItem<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| item(k.as_bytes(), b"first", i as u64 + 1, 0))
        .collect();
    // Later records of the same keys (the loader keeps the later copy).
    for k in keys.iter().take(500) {
        items.push(item(k.as_bytes(), b"second", 9999, 0));
    }
    items.push(item(b"gone", b"v", 1, 1)); // expired long ago
    items.push(item(b"", b"v", 1, 0)); // invalid key
    items.push(item(b"huge", &big, 1, 0)); // over -I (1 MiB)
    let mut tally = ImportTally::default();
    s.import_batch(&items, &mut ImportScratch::default(), &mut tally);
    assert_eq!(
        tally,
        ImportTally {
            loaded: 3500,
            expired: 1,
            too_large: 2,
            full: 0,
            max_cas: 9999,
        }
    );
    assert_eq!(s.stats().curr_items, 3000);
    for (i, k) in keys.iter().enumerate() {
        let (v, cas) = s
            .get(k.as_bytes(), |it| {
                (it.value().flatten().copied().collect::<Vec<u8>>(), it.cas())
            })
            .unwrap();
        if i < 500 {
            assert_eq!((v.as_slice(), cas), (&b"second"[..], 9999));
        } else {
            assert_eq!((v.as_slice(), cas), (&b"first"[..], i as u64 + 1));
        }
    }
    // Into a store too small for the batch: stops at full, evicts nothing.
    let small = store(1);
    let mut tally = ImportTally::default();
    let value = [b'x'; 1000];
    let many: Vec<ImportItem<'_>> = keys
        .iter()
        .map(|k| item(k.as_bytes(), &value, 1, 0))
        .collect();
    small.import_batch(&many, &mut ImportScratch::default(), &mut tally);
    assert!(tally.loaded > 100 && tally.full > 0, "{tally:?}");
    assert_eq!(tally.loaded + tally.full, 3000);
    assert_eq!(small.stats().curr_items, tally.loaded);
    assert_eq!(small.stats().evictions, 0);
}

#[test]
fn import_batch_waits_for_a_stripe_another_thread_holds() {
    let s = store(16);
    let keys: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    let mut items: Vec<ImportItem<'_>> = keys
        .iter()
        .map(|k| item(k.as_bytes(), b"first", 1, 0))
        .collect();
    // Later copies of the first 300 keys, within the same batch (and so the same groups).
    for k in keys.iter().take(300) {
        items.push(item(k.as_bytes(), b"second", 2, 0));
    }
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let mut tally = ImportTally::default();
    std::thread::scope(|scope| {
        let s = &s;
        scope.spawn(move || {
            // Stripe 0 is busy when the batch starts: its group is stored after the others.
            let guard = s.stripes[0].lock();
            held_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(guard);
        });
        held_rx.recv().unwrap();
        s.import_batch(&items, &mut ImportScratch::default(), &mut tally);
    });
    assert_eq!(tally.loaded, 2300, "{tally:?}");
    assert_eq!(s.stats().curr_items, 2000);
    for (i, k) in keys.iter().enumerate() {
        let v = s
            .get(k.as_bytes(), |it| {
                it.value().flatten().copied().collect::<Vec<u8>>()
            })
            .unwrap();
        let want: &[u8] = if i < 300 { b"second" } else { b"first" };
        assert_eq!(v, want, "key {k}");
    }
}

#[test]
fn import_batch_runs_with_repeated_keys_and_segment_boundaries_keep_the_later_copy() {
    // Runs whose records are linked after all are written, runs that hold a key twice or
    // cross into a new segment (stored one by one): every key ends with its last copy.
    let s = store(32);
    let keys: Vec<String> = (0..4000).map(|i| format!("r{i}")).collect();
    let values: Vec<Vec<u8>> = (0..4000)
        .map(|i| vec![b'a' + (i % 26) as u8; i % 300])
        .collect();
    let dups: Vec<String> = (0..4000).map(|i| format!("dup{i}")).collect();
    let big = vec![b'B'; 200 << 10];
    let mut items = Vec::new();
    for i in 0..4000 {
        items.push(item(keys[i].as_bytes(), &values[i], i as u64 + 1, 0));
        if i % 7 == 0 {
            // The next record repeats the key: the same stripe, most often the same run.
            items.push(item(keys[i].as_bytes(), dups[i].as_bytes(), 50_000, 0));
        }
        if i % 100 == 0 {
            items.push(item(dups[i].as_bytes(), &big, 7, 0));
        }
    }
    let mut tally = ImportTally::default();
    s.import_batch(&items, &mut ImportScratch::default(), &mut tally);
    assert_eq!(tally.loaded, items.len() as u64, "{tally:?}");
    assert_eq!(tally.max_cas, 50_000);
    assert_eq!(s.stats().curr_items, 4000 + 40);
    for i in 0..4000 {
        let v = s
            .get(keys[i].as_bytes(), |it| {
                it.value().flatten().copied().collect::<Vec<u8>>()
            })
            .unwrap();
        let want: &[u8] = if i % 7 == 0 {
            dups[i].as_bytes()
        } else {
            &values[i]
        };
        assert_eq!(v, want, "key {}", keys[i]);
    }
    for i in (0..4000).step_by(100) {
        let n = s.get(dups[i].as_bytes(), |it| {
            it.value().flatten().filter(|&&b| b == b'B').count()
        });
        assert_eq!(n, Ok(big.len()));
    }
}
