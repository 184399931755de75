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
    // memcached: "can't run as root without the -u switch", exit status EX_USAGE.
    if let Err(e) = process::refuse_root_without_user(config.user.as_deref()) {
        eprintln!("{e}");
        return ExitCode::from(64);
    }
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, on stderr (the logger writes to stderr too).
            eprintln!("{e}");
            ExitCode::from(71) // EX_OSERR
        }
    }
}

fn run(config: &Config) -> std::io::Result<()> {
    if let Err(e) = process::raise_nofile_limit(config.max_connections as u64 + 64) {
        log::warn!("failed to raise the open-file limit: {e}");
    }
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

/// `-v`/`-vv`/`-vvv` as memcached's verbosity (warnings, then info, debug with client
/// commands and replies, trace); the `verbosity` command changes the level at run time
/// (`command::set_verbosity`). `RUST_LOG` overrides both.
fn init_logging(verbosity: u8) {
    use std::io::Write;
    let from_env = std::env::var_os("RUST_LOG").is_some();
    // Without RUST_LOG the logger lets everything through and the global maximum level
    // (which `verbosity` sets) decides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("trace"))
        .format(|buf, record| {
            if record.target() == larder::server::wirelog::TARGET {
                // memcached's form: "<fd command" / ">fd reply", nothing else.
                writeln!(buf, "{}", record.args())
            } else {
                writeln!(
                    buf,
                    "[{:<5} {}] {}",
                    record.level(),
                    record.target(),
                    record.args()
                )
            }
        })
        .init();
    if !from_env {
        larder::command::set_verbosity(u32::from(verbosity));
    }
}
