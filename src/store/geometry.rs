//! The shape of segment memory, fixed at start: segment size, record reference bits, the
//! reporting classes (`-n`/`-f` sizes; memory is not divided by them) and the item layout.

use super::item::Layout;

/// memcached allows at most 63 slab classes (ids 1..=63); larder reports items grouped by
/// the same classes (sizes only: memory is not divided by them).
pub(crate) const MAX_CLASSES: usize = 63;

/// The shape of segment memory, fixed at start.
#[derive(Debug)]
pub(crate) struct Geometry {
    /// Bytes per segment.
    pub page_size: usize,
    /// Low bits of a record reference that hold the byte offset.
    pub off_bits: u32,
    /// Page slots a stripe may use (so that `NIL` is never a valid reference).
    pub max_slots: u32,
    /// Reporting classes: size by class id (index 0 unused), as memcached's -n / -f give.
    pub sizes: Vec<usize>,
    /// Item header layout (with or without CAS).
    pub layout: Layout,
    /// memcached -I: the largest header + key + value.
    pub item_size_max: usize,
    /// memcached -M inverted: may live items be evicted?
    pub evict: bool,
}

impl Geometry {
    /// Builds the geometry; reporting class sizes are size_i = ceil(min * factor^i), strictly
    /// increasing, the last exactly `page_size`, at most 63 classes.
    pub fn new(
        page_size: usize,
        chunk_size_min: usize,
        factor: f64,
        layout: Layout,
        item_size_max: usize,
        evict: bool,
    ) -> Geometry {
        let mut sizes = vec![0usize];
        let mut i = 0i32;
        while sizes.len() < MAX_CLASSES {
            let exact = (chunk_size_min as f64) * factor.powi(i);
            let prev = *sizes.last().expect("sizes starts with a sentinel");
            let size = (exact.ceil() as usize).max(prev + 1);
            if size >= page_size {
                break;
            }
            sizes.push(size);
            i += 1;
        }
        sizes.push(page_size);
        let off_bits = usize::BITS - (page_size - 1).leading_zeros();
        let max_slots = ((1u64 << (32 - off_bits)) - 1) as u32;
        Geometry {
            page_size,
            off_bits,
            max_slots,
            sizes,
            layout,
            item_size_max,
            evict,
        }
    }

    /// The largest class id.
    pub fn largest(&self) -> u8 {
        (self.sizes.len() - 1) as u8
    }

    /// The smallest class whose size holds `n` bytes (None if `n` exceeds a segment).
    pub fn class_for(&self, n: usize) -> Option<u8> {
        let i = self.sizes[1..].partition_point(|&s| s < n) + 1;
        (i < self.sizes.len()).then_some(i as u8)
    }
}

/// memcached's default shape (48-byte minimum, factor 1.25, CAS, -I 1m, evicting) with
/// segments of `page` bytes, for tests.
#[cfg(test)]
pub(crate) fn test_geometry(page: usize) -> std::sync::Arc<Geometry> {
    std::sync::Arc::new(Geometry::new(
        page,
        48,
        1.25,
        Layout::new(true, false),
        1 << 20,
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(page: usize) -> std::sync::Arc<Geometry> {
        test_geometry(page)
    }

    #[test]
    fn reporting_classes_follow_the_growth_factor() {
        let g = geo(64 * 1024);
        assert_eq!(&g.sizes[1..8], &[48, 60, 75, 94, 118, 147, 184]);
        assert_eq!(*g.sizes.last().unwrap(), 64 * 1024);
        assert!(g.sizes.len() - 1 <= MAX_CLASSES);
        assert!(g.sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(g.class_for(138), Some(6));
        assert_eq!(g.class_for(147), Some(6));
        assert_eq!(g.class_for(148), Some(7));
        assert_eq!(g.class_for(1), Some(1));
        assert_eq!(g.class_for(65536), Some(g.largest()));
        assert_eq!(g.class_for(65537), None);
        assert_eq!(g.off_bits, 16);
        assert_eq!(g.max_slots, 65535);
    }

    #[test]
    fn classes_cap_at_63_and_stay_increasing_with_tiny_factor() {
        let g = Geometry::new(1 << 20, 48, 1.01, Layout::new(true, false), 1 << 20, true);
        assert_eq!(g.sizes.len() - 1, MAX_CLASSES);
        assert!(g.sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*g.sizes.last().unwrap(), 1 << 20);
    }
}
