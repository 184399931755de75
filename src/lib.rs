//! larder: a memcached-compatible cache daemon.

pub mod clock;
pub mod store;
