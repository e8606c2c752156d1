//! `burnstand-station`: serve one optical drive to the burnstand master.
//!
//! Reads the configuration, points Kerberos at the station's keytab through the environment
//! (before any thread exists, so nothing races on it), then runs the server until SIGINT or
//! SIGTERM. See `docs/station.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use burnstand_station::cli::{Args, StationCommand};
use burnstand_station::{doctor, preflight, server, Config};
use clap::Parser;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let args = Args::parse();
    burnstand_daemon::logging::init(args.log.log_format);
    if let Some(StationCommand::Doctor) = args.command {
        return doctor::run(&args.config);
    }
    match real_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burnstand-station: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&args.config)?;

    // Kerberos reads these when credentials are acquired; set them while the process is
    // still single-threaded.
    burnstand_wire::gss::use_service_keytab(&config.keytab);
    if let Some(krb5_config) = &config.krb5_config {
        std::env::set_var("KRB5_CONFIG", krb5_config);
    }

    // The fast path only after its known-answer test: a wrong build must not protect a session.
    burnstand_daemon::choose_fast_path(config.fast_path);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if args.check_config {
            return check(config, &args.config).await;
        }
        preflight::startup(&config, &args.config)?;
        let listen = config.listen;
        let station = server::prepare(config).await?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        // SIGTERM is handled before the station says it is ready: a stop right after the
        // start drains cleanly.
        let shutdown = CancellationToken::new();
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(stop_on_signal(term, shutdown.clone()));
        // SIGHUP too: `serve` takes it over for reloads; tokio keeps a signal's handler for
        // the process's life, so a `systemctl reload` right after READY=1 never ends it.
        let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        // One line on stdout for supervisors and tests, once the station is ready: the
        // address actually bound (the configuration may say port 0).
        let local = listener.local_addr()?;
        println!("listening on {local}");
        burnstand_daemon::notify::ready(local);
        burnstand_daemon::notify::watched(server::serve(listener, station, shutdown)).await?;
        Ok(())
    })
}

/// `--check-config`: everything `run` needs, without listening and without side effects.
async fn check(config: Config, origin: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let report = preflight::check(&config, origin).await?;
    println!(
        "configuration ok: station {} ({}), {} image(s) in {}",
        burnstand_station::station_id::peek(&config)
            .unwrap_or_else(|| "id not made yet (made at first start)".to_owned()),
        config.friendly_name,
        report.images,
        config.catalog.display()
    );
    for note in report.notes {
        println!("note: {note}");
    }
    println!(
        "fast path: {}",
        burnstand_daemon::fast_path_summary(config.fast_path)
    );
    Ok(())
}

async fn stop_on_signal(mut term: tokio::signal::unix::Signal, shutdown: CancellationToken) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("signal received; stopping");
    burnstand_daemon::notify::stopping();
    shutdown.cancel();
}
