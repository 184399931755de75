//! larder-ring: client-side sharding for memcached-compatible nodes (crate docs below are
//! completed with the client).

pub mod hash;
pub mod node;
pub mod ring;

pub use hash::Hash;
pub use node::{Address, Compat, NodeSpec, SpecError};
pub use ring::{Distribution, Ring, RingConfig};
