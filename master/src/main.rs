//! `burnstand-master`: the daemon. Reads the config, points GSSAPI at the keytab, opens the
//! audit log, and serves until SIGTERM or SIGINT (then drains).
#![forbid(unsafe_code)]

use std::error::Error as StdError;
use std::path::PathBuf;
use std::process::ExitCode;

use burnstand_audit::SharedAuditLog;
use burnstand_master::cli::Cli;
use burnstand_master::Config;
use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Exit status for an unusable configuration.
const EXIT_BAD_CONFIG: u8 = 1;
/// Exit status for a failure while running (audit log, listener, credentials).
const EXIT_RUNTIME: u8 = 2;

type BoxError = Box<dyn StdError + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    burnstand_daemon::logging::init(cli.log.log_format);

    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("burnstand-master: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    // GSSAPI reads its keytabs from the environment. Set it now, before the runtime (or any
    // other thread) exists, so no thread can be reading the environment concurrently.
    burnstand_wire::gss::use_service_keytab(&config.keytab);

    // A keytab others can read is refused by the check and at start alike.
    if let Some(problem) = burnstand_wire::gss::keytab_problem(&config.keytab, &config.principal) {
        eprintln!("burnstand-master: {}: {problem}", cli.config.display());
        return ExitCode::from(EXIT_BAD_CONFIG);
    }

    // The fast path only after its known-answer test: a wrong build must not protect a session.
    burnstand_daemon::choose_fast_path(config.fast_path);

    if cli.check_config {
        return match check(&config) {
            Ok(()) => {
                println!("{}", summary(&cli.config, &config));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("burnstand-master: {}: {e}", cli.config.display());
                ExitCode::from(EXIT_BAD_CONFIG)
            }
        };
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("burnstand-master: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burnstand-master: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// What `--check-config` verifies beyond parsing (and the keytab's permissions, checked for
/// start-up too): the keytab holds the master's key, and the audit log's directory exists.
/// Nothing is created or changed. The log itself is not opened: a running master holds its lock.
fn check(config: &Config) -> Result<(), BoxError> {
    std::fs::File::open(&config.keytab)
        .map_err(|e| format!("cannot read keytab {}: {e}", config.keytab.display()))?;

    burnstand_wire::gss::acceptor_credentials(&config.principal).map_err(|e| {
        format!(
            "keytab {} cannot accept as {}: {e}",
            config.keytab.display(),
            config.principal
        )
    })?;
    let dir = match config.audit_log.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(format!("audit log directory {} does not exist", dir.display()).into());
    }
    if let Some(web) = &config.web {
        burnstand_master::web::tls::server_config(web).map_err(|e| format!("[web] {e}"))?;
        burnstand_wire::gss::http_acceptor_credentials(&web.service_principal).map_err(|e| {
            format!(
                "[web] keytab {} cannot accept as {}: {e}; add the HTTP principal's key to the \
                 master's keytab (kadmin: ktadd -k KEYTAB {})",
                config.keytab.display(),
                web.service_principal,
                web.service_principal
            )
        })?;
    }
    Ok(())
}

fn summary(path: &std::path::Path, config: &Config) -> String {
    let mut out = format!(
        "{}: OK\n  listen {}\n  principal {} (keytab {})\n  audit log {}\n  fast path {}\n",
        path.display(),
        config.listen,
        config.principal,
        config.keytab.display(),
        config.audit_log.display(),
        burnstand_daemon::fast_path_summary(config.fast_path)
    );
    for entry in burnstand_master::registry::station_types(config) {
        let names: Vec<&str> = entry
            .stations
            .iter()
            .filter_map(|&i| config.stations.get(i))
            .map(|s| s.name.as_str())
            .collect();
        out.push_str(&format!(
            "  station type {} \"{}\": {}\n",
            entry.record.id,
            entry.record.name,
            names.join(", ")
        ));
    }
    for station in &config.stations {
        out.push_str(&format!(
            "  {} may be reserved by: {}\n",
            station.name,
            station.allow.entries.join(", ")
        ));
    }
    let admins = &config.admin.entries;
    out.push_str(&format!(
        "  admins: {}
",
        if admins.is_empty() {
            "nobody".to_owned()
        } else {
            admins.join(", ")
        }
    ));
    let farm = &config.farm;
    out.push_str(&format!(
        "  quarantine: after {:?} without a heartbeat, or {} failed verifies in a row (for {:?})
",
        farm.silence_limit(),
        farm.verify_failures,
        farm.verify_quarantine
    ));
    match &config.web {
        Some(web) => out.push_str(&format!(
            "  status page https://{} as {} (public wall: {}, sessions {:?})\n",
            web.listen,
            web.service_principal,
            if web.public_wall { "yes" } else { "no" },
            web.session_lifetime
        )),
        None => out.push_str("  status page: off\n"),
    }
    for class in &config.queue.classes {
        out.push_str(&format!(
            "  queue class \"{}\" (priority {}): {}\n",
            class.name,
            class.priority,
            class.members.entries.join(", ")
        ));
    }
    out
}

async fn serve(config: Config) -> Result<(), BoxError> {
    // A torn last line (an append a crash or a full disk cut short, never acknowledged) is
    // cut off and the cut recorded, with a warning, before anyone is served; any other
    // damage refuses the start.
    let log = burnstand_audit::OpenOptions::new()
        .repair_torn_tail(true)
        .settings(config.audit.clone())
        .open(&config.audit_log)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let web = match &config.web {
        Some(web) => Some(
            TcpListener::bind(web.listen)
                .await
                .map_err(|e| format!("[web] cannot listen on {}: {e}", web.listen))?,
        ),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        burnstand_daemon::notify::stopping();
        signals.cancel();
    });
    // SIGHUP too: `run` takes it over for reloads; tokio keeps a signal's handler for the
    // process's life, so a `systemctl reload` right after READY=1 can never end the master.
    let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    // One machine-readable line on stdout, first: scripts and tests learn the port of "…:0"
    // from it (and wait for it as the sign the master started). Only now, with SIGTERM
    // handled, is it ready (a stop right after start drains cleanly).
    let local = listener.local_addr()?;
    println!("burnstand-master listening on {local}");
    if let Some(web) = &web {
        println!(
            "burnstand-master status page on https://{}",
            web.local_addr()?
        );
    }
    burnstand_daemon::notify::ready(local);
    burnstand_daemon::notify::watched(burnstand_master::run_with_web(
        listener,
        web,
        config,
        SharedAuditLog::new(log),
        shutdown,
    ))
    .await?;
    Ok(())
}
