//! The `larder` daemon: parse the command line (and `--config` file), start the
//! server, wait for it to stop.

use larder::config::{Config, ConfigOutcome};
use larder::{process, server::Server};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic in any thread ends the process (release builds also set panic = "abort"): a
    // worker that died quietly would strand its connections behind a live listener.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    process::return_large_buffers();
    let config = match Config::from_args(std::env::args_os()) {
        Ok(ConfigOutcome::Run(config)) => config,
        Ok(ConfigOutcome::Help(text)) | Ok(ConfigOutcome::Version(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64); // EX_USAGE, as memcached exits on bad flags
        }
    };
    init_logging(config.verbosity);
    for option in &config.ignored {
        log::info!("option {option} is accepted for compatibility and has no effect");
    }
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            log::error!("{e}");
            ExitCode::from(71) // EX_OSERR
        }
    }
}

fn run(config: &Config) -> std::io::Result<()> {
    if let Err(e) = process::raise_nofile_limit(config.max_connections as u64 + 64) {
        log::warn!("failed to raise the open-file limit: {e}");
    }
    process::refuse_root_without_user(config.user.as_deref())?;
    if let Some(user) = &config.user {
        process::drop_privileges(user)?;
    }
    if config.daemonize {
        process::daemonize()?;
    }
    let server = Server::start(config)?;
    let _pid_file = match &config.pid_file {
        Some(path) => Some(process::write_pid_file(path)?),
        None => None,
    };
    for addr in server.tcp_addrs() {
        log::info!("listening on {addr}");
    }
    if let Err(e) = process::notify_ready() {
        log::warn!("systemd notify failed: {e}");
    }
    server.wait();
    let _ = process::notify_stopping();
    Ok(())
}

/// `-v`/`-vv`/`-vvv` as memcached's verbosity (warnings, then info, debug, trace);
/// `RUST_LOG` overrides.
fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
}
