//! In-process transcripts: the table the socket tests run (`tests/common/transcripts.rs`)
//! through [`step`] on a fresh store, byte for byte, without a server or a socket; and the
//! `Settings` the command unit tests share.

use super::*;
use crate::clock::Clock;
use crate::protocol::Limits;
use crate::stats::Registry;
use crate::store::StoreConfig;
use std::sync::Arc;

#[path = "../../tests/common/transcripts.rs"]
mod transcripts;

/// Settings as a server started with defaults has them (`-I` as given; with `creds`, SASL
/// required with the user `u`, password `p`).
pub(crate) fn settings(creds: bool, item_size_max: usize) -> Settings {
    Settings {
        reqs_per_event: 20,
        limits: Limits { item_size_max },
        flush_enabled: true,
        shutdown_enabled: false,
        max_connections: 10,
        threads: 1,
        idle_timeout: 0,
        output_limit: 1 << 20,
        output_held_limit: 32 << 20,
        forced_dialect: None,
        auth_required: creds,
        credentials: creds
            .then(|| Arc::new(auth::Credentials::parse(b"u:p\n").expect("valid credentials"))),
        stats_settings: Vec::new(),
        dump_disabled: false,
        cluster: None,
        snapshot: None,
        tls: None,
    }
}

/// Runs `f` with a request context over `store` (a fresh registry and default settings;
/// with `creds`, SASL required) and a session authenticated unless `creds`.
pub(crate) fn with_ctx<R>(
    store: &Store,
    creds: bool,
    item_size_max: usize,
    f: impl FnOnce(&Ctx<'_>, &mut Session) -> R,
) -> R {
    let registry = Registry::new(1);
    let stats = registry.worker(0);
    let settings = settings(creds, item_size_max);
    let ctx = Ctx {
        store,
        stats: &stats,
        registry: &registry,
        settings: &settings,
    };
    let mut session = Session {
        authenticated: !creds,
    };
    f(&ctx, &mut session)
}

/// Runs `input` through `step` as a connection would (swallowing refused data blocks) and
/// returns every reply byte.
fn feed(input: &[u8], ctx: &Ctx<'_>, session: &mut Session) -> Vec<u8> {
    let mut out = Output::with_capacity(0, false);
    let (mut at, mut swallow) = (0, 0usize);
    let mut resume = 0;
    while at < input.len() {
        if swallow > 0 {
            let n = swallow.min(input.len() - at);
            at += n;
            swallow -= n;
            continue;
        }
        match step(Dialect::Text, &input[at..], resume, ctx, session, &mut out) {
            Stepped::NeedInput => break,
            Stepped::Done {
                consumed,
                swallow: s,
                action,
            } => {
                at += consumed;
                swallow = s;
                resume = match action {
                    Action::Suspend(n) => n,
                    _ => 0,
                };
            }
        }
    }
    out.to_vec()
}

#[test]
fn transcripts_through_step() {
    for t in transcripts::TRANSCRIPTS {
        let store = Store::new(StoreConfig::default(), Clock::manual()).expect("store");
        with_ctx(&store, false, 1 << 20, |ctx, session| {
            for (i, (request, reply)) in t.steps.iter().enumerate() {
                let got = feed(request, ctx, session);
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(reply),
                    "transcript {:?}, step {i}: {:?}",
                    t.name,
                    String::from_utf8_lossy(request)
                );
            }
        });
    }
}
