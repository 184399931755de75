//! larder: a memcached-compatible cache daemon.
