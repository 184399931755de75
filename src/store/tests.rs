//! Unit tests of the store through its public door (plus a few internals).
