//! A sharded get/set round trip: stores keys across the given nodes, reads them back
//! one by one and with one multi-get, and shows where each key lives.
//!
//! ```text
//! memcached -p 11211 -l 127.0.0.1 & memcached -p 11212 -l 127.0.0.1 &
//! cargo run -p larder-ring --example roundtrip -- 127.0.0.1:11211 127.0.0.1:11212
//! ```

use std::process::ExitCode;

use larder_ring::{Client, ClientConfig};

fn main() -> ExitCode {
    let specs: Vec<String> = std::env::args().skip(1).collect();
    if specs.is_empty() {
        eprintln!("usage: roundtrip host:port[:weight] ...");
        return ExitCode::from(2);
    }
    match run(&specs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(specs: &[String]) -> Result<(), larder_ring::Error> {
    let client = Client::from_specs(specs, ClientConfig::default())?;
    let keys: Vec<String> = (0..10).map(|i| format!("roundtrip:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        client.set(key, format!("value {i}"), 0, 60)?;
    }
    for key in &keys {
        let item = client.get(key)?.expect("just stored");
        let node = client.route(key.as_bytes()).unwrap_or_default();
        println!("{key} -> {node}: {}", String::from_utf8_lossy(&item.value));
    }
    let multi = client.get_multi(&keys)?;
    println!(
        "get_multi: {} of {} hits, {} node errors",
        multi.items.len(),
        keys.len(),
        multi.failed.len()
    );
    for reply in client.version() {
        match reply.result {
            Ok(v) => println!("{}: version {v}", reply.node),
            Err(e) => println!("{}: {e}", reply.node),
        }
    }
    Ok(())
}
