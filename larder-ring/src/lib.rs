//! larder-ring
