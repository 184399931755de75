//! The server's TLS context (`-Z`): the rustls configuration built from `-o ssl_*`, its
//! reload (`refresh_certs`), and the counters `stats` prints.
//!
//! rustls with the ring provider. One [`rustls::ServerConfig`] is shared by every TLS
//! connection (behind an `Arc`); a worker takes a clone of the current one when it
//! adopts a connection, so `refresh_certs` swaps it under a lock taken once per new
//! connection, never per request, and connections already open keep the configuration
//! they started with (as OpenSSL's do with memcached).
//!
//! Mapping of memcached's options onto rustls:
//! - `ssl_verify_mode` 0: no client certificate; 1: asked for, optional (a bad one
//!   still fails); 2 and 3: required, checked against `ssl_ca_cert`.
//! - `ssl_min_version`: 2 offers TLS 1.3 and 1.2, 3 only 1.3.
//! - `ssl_ciphers`: a `:`-separated list of names, OpenSSL's (`ECDHE-RSA-AES128-GCM-SHA256`)
//!   or IANA's (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`).
//!   As with OpenSSL's cipher list, naming only TLS 1.2 suites leaves the TLS 1.3 ones on.
//!   `DEFAULT`, `HIGH` and `ALL` mean every suite rustls has; `!`/`-` entries remove the
//!   named suite (or nothing, for a suite rustls never offers); any other name is refused.
//! - `ssl_session_cache`: a server-side cache of 8192 sessions (stateful resumption);
//!   without it no session is kept, as memcached's default. `ssl_session_tickets`: stateless
//!   tickets (ring's ticketer, keys rotated every 6 hours).

use crate::config::tls::{KeyFormat, MinVersion, TlsOptions, VerifyMode};
use parking_lot::{Mutex, RwLock};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{
    NoServerSessionStorage, ProducesTickets, ServerSessionMemoryCache, StoresServerSessions,
    WebPkiClientVerifier,
};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Sessions kept for resumption with `ssl_session_cache`.
const SESSION_CACHE_SIZE: usize = 8192;

/// The TLS state shared by every worker.
#[derive(Debug)]
pub struct TlsContext {
    options: TlsOptions,
    current: RwLock<Arc<ServerConfig>>,
    refreshed: Mutex<Instant>,
    sessions: Arc<CountingCache>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
}

impl TlsContext {
    /// Reads the certificate, key and CA files and builds the configuration.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, a key that does not match the certificate, or
    /// an option rustls cannot honour; the message names the file or option, in
    /// memcached's words where it has them.
    pub fn new(options: &TlsOptions) -> Result<TlsContext, String> {
        let sessions = Arc::new(CountingCache {
            inner: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
            new_sessions: AtomicU64::new(0),
        });
        let ticketer = if options.session_tickets {
            Some(provider::Ticketer::new().map_err(|e| format!("session tickets: {e}"))?)
        } else {
            None
        };
        let config = build(options, &sessions, ticketer.as_ref())?;
        Ok(TlsContext {
            options: options.clone(),
            current: RwLock::new(Arc::new(config)),
            refreshed: Mutex::new(Instant::now()),
            sessions,
            ticketer,
        })
    }

    /// The configuration new connections start with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read())
    }

    /// The most encrypted output one connection's TLS layer holds (`ssl_wbuf_size`).
    pub fn wbuf_size(&self) -> usize {
        self.options.wbuf_size
    }

    /// `refresh_certs`: reads the certificate chain and key (and CA file) again; on
    /// success new connections use them, on failure the old configuration stays.
    ///
    /// # Errors
    /// memcached's message: `Error loading the certificate chain: PATH : WHY` and the like.
    pub fn refresh(&self) -> Result<(), String> {
        let config = build(&self.options, &self.sessions, self.ticketer.as_ref())?;
        *self.current.write() = Arc::new(config);
        *self.refreshed.lock() = Instant::now();
        Ok(())
    }

    /// `stats` `ssl_new_sessions`: sessions stored for resumption (`None` without
    /// `ssl_session_cache`, where memcached leaves the row out).
    pub fn new_sessions(&self) -> Option<u64> {
        self.options
            .session_cache
            .then(|| self.sessions.new_sessions.load(Ordering::Relaxed))
    }

    /// `stats` `time_since_server_cert_refresh`, in seconds.
    pub fn secs_since_refresh(&self) -> u64 {
        self.refreshed.lock().elapsed().as_secs()
    }
}

/// The server-side session cache, counting the sessions stored (`ssl_new_sessions`).
#[derive(Debug)]
struct CountingCache {
    inner: Arc<ServerSessionMemoryCache>,
    new_sessions: AtomicU64,
}

impl StoresServerSessions for CountingCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let stored = self.inner.put(key, value);
        if stored {
            self.new_sessions.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

fn build(
    o: &TlsOptions,
    sessions: &Arc<CountingCache>,
    ticketer: Option<&Arc<dyn ProducesTickets>>,
) -> Result<ServerConfig, String> {
    let chain_path = o
        .chain_cert
        .as_deref()
        .ok_or("TLS needs -o ssl_chain_cert=FILE")?;
    let chain = load_chain(chain_path).map_err(|e| {
        format!(
            "Error loading the certificate chain: {} : {e}",
            chain_path.display()
        )
    })?;
    let key_path = o.key_path().ok_or("TLS needs -o ssl_key=FILE")?;
    let key = load_key(key_path, o.key_format)
        .map_err(|e| format!("Error loading the key: {} : {e}", key_path.display()))?;
    let mut crypto = provider::default_provider();
    if let Some(list) = &o.ciphers {
        crypto.cipher_suites = cipher_suites(&crypto.cipher_suites, list)?;
    }
    let crypto = Arc::new(crypto);
    let versions: &[&rustls::SupportedProtocolVersion] = match o.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&crypto))
        .with_protocol_versions(versions)
        .map_err(|e| format!("ssl_ciphers/ssl_min_version: {e}"))?;
    let builder = match o.verify_mode {
        VerifyMode::None => builder.with_no_client_auth(),
        mode => {
            let ca_path = o
                .ca_cert
                .as_deref()
                .ok_or("ssl_verify_mode needs -o ssl_ca_cert=FILE")?;
            let mut roots = RootCertStore::empty();
            let cas = load_chain(ca_path).map_err(|e| {
                format!(
                    "Error loading the CA certificate: {} : {e}",
                    ca_path.display()
                )
            })?;
            for ca in cas {
                roots.add(ca).map_err(|e| {
                    format!(
                        "Error loading the CA certificate: {} : {e}",
                        ca_path.display()
                    )
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&crypto));
            let verifier = if mode == VerifyMode::Request {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("ssl_ca_cert {}: {e}", ca_path.display()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("Error validating the certificate: {e}"))?;
    config.session_storage = if o.session_cache {
        Arc::clone(sessions) as Arc<dyn StoresServerSessions>
    } else {
        Arc::new(NoServerSessionStorage {})
    };
    if let Some(t) = ticketer {
        config.ticketer = Arc::clone(t);
    }
    // Without a cache or tickets there is nothing to resume: send no TLS 1.3 tickets.
    if !o.session_cache && ticketer.is_none() {
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".to_string());
    }
    Ok(certs)
}

fn load_key(path: &Path, format: KeyFormat) -> Result<PrivateKeyDer<'static>, String> {
    match format {
        KeyFormat::Pem => PrivateKeyDer::from_pem_file(path).map_err(|e| e.to_string()),
        KeyFormat::Der => {
            let der = std::fs::read(path).map_err(|e| e.to_string())?;
            // PKCS#8 is what `openssl pkey -outform DER` writes; PKCS#1 and SEC1 are
            // recognised by their structure.
            PrivateKeyDer::try_from(der.clone())
                .or_else(|_| Ok::<_, String>(PrivatePkcs8KeyDer::from(der).into()))
        }
    }
}

/// OpenSSL's names for the TLS 1.2 suites rustls has, with IANA's.
const OPENSSL_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// A suite's IANA name (rustls spells TLS 1.3 ones `TLS13_...`).
fn iana_name(s: &SupportedCipherSuite) -> String {
    let name = format!("{:?}", s.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// `ssl_ciphers` → the suites to offer (see the module doc).
fn cipher_suites(
    all: &[SupportedCipherSuite],
    list: &str,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let lookup = |name: &str| -> Option<SupportedCipherSuite> {
        let iana = OPENSSL_NAMES
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(name))
            .map_or(name, |(_, i)| i);
        all.iter()
            .find(|s| iana_name(s).eq_ignore_ascii_case(iana))
            .copied()
    };
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<SupportedCipherSuite> = Vec::new();
    for entry in list.split([':', ',', ' ']).filter(|e| !e.is_empty()) {
        if let Some(name) = entry.strip_prefix(['!', '-']) {
            removed.extend(lookup(name));
            continue;
        }
        if entry.starts_with('+') || entry.starts_with('@') {
            continue;
        }
        if ["DEFAULT", "HIGH", "ALL"].contains(&entry) {
            chosen.extend(all.iter().copied());
            continue;
        }
        match lookup(entry) {
            Some(s) => chosen.push(s),
            None => {
                let names: Vec<String> = all.iter().map(iana_name).collect();
                return Err(format!(
                    "ssl_ciphers: \"{entry}\" is not a cipher suite larder (rustls) \
                     implements; these are: {} (or their OpenSSL names)",
                    names.join(":")
                ));
            }
        }
    }
    // OpenSSL's cipher list governs TLS 1.2 only: TLS 1.3 suites stay unless named.
    if !chosen
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
    {
        chosen.extend(
            all.iter()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
                .copied(),
        );
    }
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    for s in all {
        let name = iana_name(s);
        let is = |x: &SupportedCipherSuite| iana_name(x) == name;
        if chosen.iter().any(is) && !removed.iter().any(is) {
            out.push(*s);
        }
    }
    if out.is_empty() {
        return Err(format!("ssl_ciphers: \"{list}\" leaves no cipher suite"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<SupportedCipherSuite> {
        provider::default_provider().cipher_suites
    }

    #[test]
    fn cipher_names_map_openssl_and_iana() {
        let got = cipher_suites(&all(), "ECDHE-RSA-AES128-GCM-SHA256").expect("maps");
        let names: Vec<String> = got.iter().map(iana_name).collect();
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()));
        // TLS 1.3 suites stay on when only 1.2 ones are named, as with OpenSSL.
        assert!(names.contains(&"TLS_AES_128_GCM_SHA256".to_string()));
        assert!(!names.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_string()));
        let only13 = cipher_suites(&all(), "TLS_AES_256_GCM_SHA384").expect("maps");
        assert_eq!(only13.len(), 1);
        assert_eq!(
            cipher_suites(&all(), "HIGH:!aNULL:!MD5")
                .expect("all")
                .len(),
            all().len()
        );
        let err = cipher_suites(&all(), "RC4-SHA").expect_err("refused");
        assert!(err.contains("\"RC4-SHA\""), "{err}");
        assert!(cipher_suites(&all(), "ALL:!TLS_AES_128_GCM_SHA256")
            .expect("all but one")
            .iter()
            .all(|s| iana_name(s) != "TLS_AES_128_GCM_SHA256"));
    }
}
