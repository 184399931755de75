//! The configuration file: Debian's `/etc/memcached.conf` format.
//!
//! One option per line, written exactly as on the command line (`-m 64`, `-l 127.0.0.1`,
//! `-o idle_timeout=30`); blank lines and lines starting with `#` are skipped, and an
//! unquoted word starting with `#` ends the line. Words are split on whitespace; single
//! quotes keep text literally and double quotes allow `\"` and `\\`. Debian's
//! `logfile PATH` line is accepted and reported as ignored (larder logs to stderr).
//!
//! The file only becomes arguments here; the command-line grammar parses them.

use std::ffi::OsString;
use std::path::Path;

use super::ConfigError;

/// Reads `path` into arguments, plus the lines accepted without effect (`logfile ...`).
pub(super) fn read(path: &Path) -> Result<(Vec<OsString>, Vec<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "--config {}: cannot read the configuration file: {e}",
            path.display()
        ))
    })?;
    tokenize(&text).map_err(|e| e.in_file(path))
}

/// Splits the file's text into arguments and ignored lines.
pub(super) fn tokenize(text: &str) -> Result<(Vec<OsString>, Vec<String>), ConfigError> {
    let mut args = Vec::new();
    let mut ignored = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words =
            split_words(line).map_err(|e| ConfigError::new(format!("line {}: {e}", index + 1)))?;
        if words.first().map(String::as_str) == Some("logfile") {
            ignored.push(format!(
                "logfile {} (larder logs to stderr)",
                words[1..].join(" ")
            ));
            continue;
        }
        args.extend(words.into_iter().map(OsString::from));
    }
    Ok((args, ignored))
}

/// Shell-like word splitting of one line (no expansions).
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        if first == '#' {
            return Ok(words);
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err("unterminated single quote".to_string()),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(q) => word.push(q),
                        None => return Err("unterminated double quote".to_string()),
                    }
                },
                _ => word.push(c),
            }
        }
        words.push(word);
    }
}
