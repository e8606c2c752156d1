//! Logging for both daemons: tracing events to stderr, where systemd's journal (or whatever
//! supervises the daemon) picks them up.
//!
//! Two formats, chosen with `--log-format`:
//! - `text` (default): one human line per event. ANSI colour codes only when stderr is a
//!   terminal and `NO_COLOR` is not set: under systemd, or redirected to a file, escape codes
//!   would end up in the journal and in grep results as garbage.
//! - `json`: one JSON object per line (`timestamp`, `level`, `fields` with `message`, `target`,
//!   the current spans), for log shippers that parse structured logs. Never coloured.
//!
//! The level filter is `RUST_LOG`, `info` by default.

use std::io::IsTerminal;

/// How events are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Whether text logs get colour: stderr is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn colour_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// The logging options both daemons take (`#[command(flatten)]` in their command lines), so
/// the flag, its environment variable and its help are one definition.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LogArgs {
    /// How log lines on stderr look: `text` (colour only on a terminal) or `json` (one object
    /// per line, for log shippers).
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        default_value_t,
        env = "BURNSTAND_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// Installs the process's logger. Call once, early in `main`; a second call is ignored.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: an error only means a logger is already installed (a test calling twice).
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colour_wanted()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
