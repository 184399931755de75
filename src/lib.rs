//! larder: a memcached-compatible cache daemon.

pub mod protocol;
