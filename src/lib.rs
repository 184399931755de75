//! larder: a memcached-compatible cache daemon.

pub mod config;
pub mod process;
