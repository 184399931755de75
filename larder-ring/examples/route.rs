//! Which node does a key map to? Prints the node for each key under a server list, as
//! libmemcached (ketama weighted, md5) and twemproxy (`distribution: ketama`) place it.
//!
//! ```text
//! cargo run -p larder-ring --example route -- -s 10.0.0.1:11211,10.0.0.2:11211:2 user:1 user:2
//! cargo run -p larder-ring --example route -- -s a:11211,b:11211 --hash fnv1a_64 --unweighted key
//! ```

use std::process::ExitCode;

use larder_ring::{Distribution, Hash, NodeSpec, Ring, RingConfig, SpyFormat};

fn usage() -> ExitCode {
    eprintln!(
        "usage: route -s host:port[:weight][,...] [--hash NAME] [--unweighted] [--hash-tag XY]\n\
         \x20            [--distribution ketama|ketama_spy|spymemcached|modula|jump|rendezvous] KEY...\n\
         hashes: md5 one_at_a_time fnv1_32 fnv1a_32 fnv1_64 fnv1a_64 crc32 crc32a crc16 murmur\n\
         \x20       jenkins hsieh murmur3"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut servers = None;
    let mut config = RingConfig::default();
    let mut keys = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-s" | "--servers" => servers = args.next(),
            "--hash" => match args.next().as_deref().and_then(Hash::from_name) {
                Some(h) => config.hash = h,
                None => return usage(),
            },
            "--unweighted" => config.weighted = false,
            "--distribution" => match args.next().as_deref() {
                Some("ketama") => config.distribution = Distribution::Ketama,
                Some("ketama_spy") => config.distribution = Distribution::KetamaSpy,
                Some("spymemcached") => {
                    config.distribution = Distribution::Spymemcached(SpyFormat::Spymemcached)
                }
                Some("modula") => config.distribution = Distribution::Modula,
                Some("jump") => config.distribution = Distribution::Jump,
                Some("rendezvous") => config.distribution = Distribution::Rendezvous,
                _ => return usage(),
            },
            "--hash-tag" => match args.next().map(String::into_bytes).as_deref() {
                Some(&[open, close]) => config.hash_tag = Some([open, close]),
                _ => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ => keys.push(arg),
        }
    }
    let Some(servers) = servers else {
        return usage();
    };
    let nodes: Result<Vec<NodeSpec>, _> = servers.split(',').map(NodeSpec::parse).collect();
    let nodes = match nodes {
        Ok(n) if !n.is_empty() => n,
        Ok(_) => return usage(),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ring = Ring::new(&config, &nodes);
    for key in keys {
        let hash = ring.key_hash(key.as_bytes());
        match ring.route_hash(hash) {
            Some(i) => println!("{key}\t{hash}\t{i}\t{}", nodes[i].label()),
            None => println!("{key}\t{hash}\t-\t(no live node)"),
        }
    }
    ExitCode::SUCCESS
}
