//! The command line of the in-process examples (`hitsim`, `hitref`, `index_growth`,
//! `snapshot_speed`): `NAME VALUE` options and bare flags, read from the process's
//! arguments. Each example includes this file with `#[path]`; it is not an example itself.

/// The value after the argument `name`, or `default` when `name` is absent or last.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Whether the flag `name` is given.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
