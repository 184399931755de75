//! `-Z` and the `-o ssl_*` suboptions: memcached 1.6's TLS settings as plain data.
//!
//! Parsing and checking only; the files are read (and the rustls configuration built) by
//! `crate::tls` when the server starts and on `refresh_certs`. Where memcached hands a
//! value to OpenSSL and rustls has no equivalent, the option is refused with a message
//! saying why (TLS 1.0/1.1, `ENGINE` keys, cipher names rustls does not implement).

use super::ConfigError;
use std::path::PathBuf;

/// memcached's default `ssl_wbuf_size`: 16 kilobytes.
pub const DEFAULT_WBUF_SIZE: usize = 16 * 1024;

/// How the private key file is encoded (`ssl_keyformat`: OpenSSL's `SSL_FILETYPE_*`
/// numbers, as memcached takes them, or their names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PEM (`1`, memcached's default).
    Pem,
    /// DER, also called ASN1 (`2`).
    Der,
}

/// `ssl_verify_mode`: whether clients must present a certificate signed by `ssl_ca_cert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// 0: no client certificate is asked for (the default).
    None,
    /// 1: asked for; a client without one is let in, one with a bad one is refused.
    Request,
    /// 2: required: a client without a valid certificate fails the handshake.
    Require,
    /// 3: OpenSSL's "once" (no re-check on renegotiation); TLS as rustls speaks it has no
    /// renegotiation, so this is `Require`.
    Once,
}

impl VerifyMode {
    /// memcached's number for the mode.
    pub fn number(self) -> u8 {
        match self {
            VerifyMode::None => 0,
            VerifyMode::Request => 1,
            VerifyMode::Require => 2,
            VerifyMode::Once => 3,
        }
    }
}

/// `ssl_min_version`: the oldest protocol version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 (memcached's default, `2`).
    Tls12,
    /// TLS 1.3 (`3`).
    Tls13,
}

impl MinVersion {
    /// As `stats settings` prints it.
    pub fn name(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "tlsv1.2",
            MinVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// TLS settings from `-Z` and `-o ssl_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// `-Z, --enable-ssl`: TCP listeners speak TLS (except `-l notls:...` ones).
    pub enabled: bool,
    /// `ssl_chain_cert`: the server's certificate chain, PEM, leaf first.
    pub chain_cert: Option<PathBuf>,
    /// `ssl_key`: the private key; memcached's default is the chain file itself.
    pub key: Option<PathBuf>,
    /// `ssl_keyformat`.
    pub key_format: KeyFormat,
    /// `ssl_verify_mode`.
    pub verify_mode: VerifyMode,
    /// `ssl_ca_cert`: PEM file of the CAs whose client certificates are accepted.
    pub ca_cert: Option<PathBuf>,
    /// `ssl_ciphers`: OpenSSL-style `:`-separated list (see `crate::tls` for the mapping).
    pub ciphers: Option<String>,
    /// `ssl_min_version`.
    pub min_version: MinVersion,
    /// `ssl_session_cache`: a server-side session cache, so clients can resume.
    pub session_cache: bool,
    /// `ssl_session_tickets` (larder; memcached 1.6.18 has no such option): stateless
    /// resumption with session tickets.
    pub session_tickets: bool,
    /// `ssl_wbuf_size` in bytes (given in kilobytes): the most encrypted output a
    /// connection's TLS layer holds beyond its output buffer.
    pub wbuf_size: usize,
    /// `ssl_kernel_tls`: accepted, not done (reported `no`).
    pub kernel_tls: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            enabled: false,
            chain_cert: None,
            key: None,
            key_format: KeyFormat::Pem,
            verify_mode: VerifyMode::None,
            ca_cert: None,
            ciphers: None,
            min_version: MinVersion::Tls12,
            session_cache: false,
            session_tickets: false,
            wbuf_size: DEFAULT_WBUF_SIZE,
            kernel_tls: false,
        }
    }
}

fn err(message: impl AsRef<str>, token: &str) -> ConfigError {
    ConfigError::new(format!("{} (-o {token})", message.as_ref()))
}

fn value<'a>(name: &str, value: Option<&'a str>, token: &str) -> Result<&'a str, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(err(format!("Missing {name} argument"), token)),
    }
}

impl TlsOptions {
    /// Applies one `ssl_*` suboption: `None` when `name` is not a TLS suboption, else
    /// whether it is accepted without effect (`ssl_kernel_tls`).
    ///
    /// # Errors
    /// A missing or invalid value, or one rustls cannot honour.
    pub(super) fn apply(
        &mut self,
        name: &str,
        v: Option<&str>,
        token: &str,
    ) -> Result<Option<bool>, ConfigError> {
        match name {
            "ssl_chain_cert" => self.chain_cert = Some(value(name, v, token)?.into()),
            "ssl_key" => self.key = Some(value(name, v, token)?.into()),
            "ssl_ca_cert" => self.ca_cert = Some(value(name, v, token)?.into()),
            "ssl_ciphers" => self.ciphers = Some(value(name, v, token)?.to_string()),
            "ssl_keyformat" => {
                self.key_format = match value(name, v, token)?.trim() {
                    "1" | "PEM" | "pem" => KeyFormat::Pem,
                    "2" | "DER" | "der" | "ASN1" | "asn1" => KeyFormat::Der,
                    "ENGINE" | "engine" | "3" => {
                        return Err(err(
                            "ssl_keyformat ENGINE is not supported by larder (keys are read \
                             from PEM or DER files; there are no OpenSSL engines)",
                            token,
                        ))
                    }
                    other => {
                        return Err(err(
                            format!("Invalid ssl_keyformat \"{other}\": use PEM (1) or DER (2)"),
                            token,
                        ))
                    }
                }
            }
            "ssl_verify_mode" => {
                self.verify_mode = match value(name, v, token)?.trim() {
                    "0" => VerifyMode::None,
                    "1" => VerifyMode::Request,
                    "2" => VerifyMode::Require,
                    "3" => VerifyMode::Once,
                    _ => {
                        return Err(err(
                            "Invalid ssl_verify_mode. Use help to see valid options.",
                            token,
                        ))
                    }
                }
            }
            "ssl_min_version" => {
                self.min_version = match value(name, v, token)?.trim() {
                    "2" | "tlsv1.2" => MinVersion::Tls12,
                    "3" | "tlsv1.3" => MinVersion::Tls13,
                    "0" | "1" | "tlsv1" | "tlsv1.0" | "tlsv1.1" => {
                        return Err(err(
                            "ssl_min_version below TLS 1.2 is not supported by larder \
                             (rustls implements only TLS 1.2 and 1.3): use 2 (tlsv1.2) or 3 \
                             (tlsv1.3)",
                            token,
                        ))
                    }
                    _ => {
                        return Err(err(
                            "Invalid ssl_min_version. Use help to see valid options.",
                            token,
                        ))
                    }
                }
            }
            "ssl_wbuf_size" => {
                let kb = value(name, v, token)?
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| err(format!("{name}: invalid number \"{token}\""), token))?;
                if kb == 0 {
                    return Err(err("ssl_wbuf_size must be at least 1 (kilobyte)", token));
                }
                self.wbuf_size = kb as usize * 1024;
            }
            "ssl_session_cache" => self.session_cache = true,
            "ssl_session_tickets" => self.session_tickets = true,
            "ssl_kernel_tls" => {
                self.kernel_tls = true;
                return Ok(Some(true));
            }
            _ => return Ok(None),
        }
        Ok(Some(false))
    }

    /// Cross-option checks made when `-Z` is given.
    ///
    /// # Errors
    /// No `ssl_chain_cert`, or client verification without `ssl_ca_cert`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.chain_cert.is_none() {
            return Err(ConfigError::new(
                "-Z, --enable-ssl needs a certificate: -o ssl_chain_cert=FILE[,ssl_key=FILE]",
            ));
        }
        if self.verify_mode != VerifyMode::None && self.ca_cert.is_none() {
            return Err(ConfigError::new(format!(
                "ssl_verify_mode={} needs -o ssl_ca_cert=FILE (the CAs client certificates \
                 are checked against)",
                self.verify_mode.number()
            )));
        }
        Ok(())
    }

    /// The key file: `ssl_key`, or the chain file when the key is in it.
    pub fn key_path(&self) -> Option<&PathBuf> {
        self.key.as_ref().or(self.chain_cert.as_ref())
    }

    /// memcached 1.6.18's `stats settings` TLS rows, in its order (printed with `-Z`).
    pub fn stats_settings(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or_else(|| "NULL".to_string(), |p| p.display().to_string())
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        vec![
            ("ssl_enabled", yes_no(self.enabled)),
            ("ssl_chain_cert", path(&self.chain_cert)),
            ("ssl_key", path(&self.key)),
            ("ssl_verify_mode", self.verify_mode.number().to_string()),
            (
                "ssl_keyformat",
                match self.key_format {
                    KeyFormat::Pem => "1",
                    KeyFormat::Der => "2",
                }
                .to_string(),
            ),
            (
                "ssl_ciphers",
                self.ciphers.clone().unwrap_or_else(|| "NULL".to_string()),
            ),
            ("ssl_ca_cert", path(&self.ca_cert)),
            ("ssl_wbuf_size", self.wbuf_size.to_string()),
            ("ssl_session_cache", yes_no(self.session_cache)),
            ("ssl_kernel_tls", yes_no(false)),
            ("ssl_min_version", self.min_version.name().to_string()),
        ]
    }
}
