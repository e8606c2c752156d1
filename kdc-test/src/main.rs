//! `kdc-test`: keeps a throwaway Kerberos realm up for burnstand's demo and manual testing.
//!
//! `kdc-test up --dir D` prints `export VAR='value'` lines on stdout (for `eval` or `source`) and
//! human information on stderr, then serves until SIGINT or SIGTERM and stops the KDC.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kdc_test::RealmBuilder;

#[derive(Parser, Debug)]
#[command(
    name = "kdc-test",
    version,
    about = "A throwaway MIT Kerberos realm on 127.0.0.1 for burnstand's tests and demo",
    long_about = "A throwaway MIT Kerberos realm on 127.0.0.1 for burnstand's tests and demo.\n\n\
        Everything lives in one directory and is selected through KRB5_* environment variables; \
        nothing under /etc or /var is touched. Needs MIT krb5 (run scripts/install-deps.sh)."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a realm in DIR, print its environment as shell `export` lines, and keep its KDC
    /// running until SIGINT/SIGTERM.
    ///
    /// stdout gets `export VAR='value'` lines, a `# keytab PRINCIPAL: PATH` comment per
    /// service and finally `# ready`; human information goes to stderr. Example:
    ///
    ///   kdc-test up --dir /tmp/realm > /tmp/realm.env &
    ///   until grep -q '^# ready' /tmp/realm.env 2>/dev/null; do sleep 0.1; done
    ///   . /tmp/realm.env; echo alice-pw | kinit alice; klist
    #[command(verbatim_doc_comment)]
    Up(UpArgs),
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    /// Directory for the realm (created if missing; left on disk on exit; a previous kdc-test
    /// realm in it is replaced).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// Realm name.
    #[arg(long, value_name = "NAME", default_value = "BURNSTAND.TEST")]
    realm: String,

    /// A user principal as name:password (repeatable) [default: alice:alice-pw bob:bob-pw].
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    users: Vec<(String, String)>,

    /// A service principal without realm, e.g. burnstand/localhost (repeatable)
    /// [default: burnstand/localhost burnstand-station/localhost].
    #[arg(long = "service", value_name = "PRINCIPAL")]
    services: Vec<String>,

    /// Maximum ticket lifetime in seconds (default: MIT's, 24 h).
    #[arg(long, value_name = "SECONDS")]
    ticket_lifetime: Option<u64>,

    /// Also enable the anonymous principal (anonymous PKINIT; needs krb5-pkinit and openssl).
    #[arg(long)]
    anonymous: bool,
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, pw)) if !name.is_empty() && !pw.is_empty() => {
            Ok((name.to_string(), pw.to_string()))
        }
        _ => Err(format!("expected NAME:PASSWORD, got `{s}`")),
    }
}

/// Single-quotes `value` for POSIX shells.
fn shell_quote(value: &OsStr) -> String {
    let s = String::from_utf8_lossy(value.as_bytes());
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Up(args) => match up(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kdc-test: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn up(args: UpArgs) -> Result<(), Box<dyn std::error::Error>> {
    let users = if args.users.is_empty() {
        vec![
            ("alice".to_string(), "alice-pw".to_string()),
            ("bob".to_string(), "bob-pw".to_string()),
        ]
    } else {
        args.users
    };
    let services = if args.services.is_empty() {
        vec![
            "burnstand/localhost".to_string(),
            "burnstand-station/localhost".to_string(),
        ]
    } else {
        args.services
    };

    let mut builder = RealmBuilder::new(&args.realm)
        .dir(&args.dir)
        .anonymous(args.anonymous);
    for (name, pw) in &users {
        builder = builder.user(name, pw);
    }
    for s in &services {
        builder = builder.service(s);
    }
    if let Some(secs) = args.ticket_lifetime {
        builder = builder.ticket_lifetime(Duration::from_secs(secs));
    }
    let mut realm = builder.start()?;

    println!(
        "# kdc-test realm {} on 127.0.0.1:{}",
        realm.name(),
        realm.port()
    );
    for (k, v) in realm.env() {
        println!("export {k}={}", shell_quote(&v));
    }
    for s in &services {
        if let Some(kt) = realm.keytab(s) {
            println!("# keytab {}: {}", realm.principal(s), kt.display());
        }
    }
    println!("# ready");
    eprintln!(
        "kdc-test: realm {} up on 127.0.0.1:{} (KDC pid {}), dir {}",
        realm.name(),
        realm.port(),
        realm.kdc_pid().unwrap_or(0),
        realm.dir().display()
    );
    for (name, pw) in &users {
        eprintln!("kdc-test: user {} password {pw}", realm.principal(name));
    }
    eprintln!("kdc-test: press Ctrl-C (or send SIGTERM) to stop the KDC");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reason = runtime.block_on(wait_for_stop(&realm))?;
    realm.stop_kdc();
    eprintln!(
        "kdc-test: {reason}; KDC stopped, files left in {}",
        realm.dir().display()
    );
    if reason.starts_with("KDC exited") {
        return Err(reason.into());
    }
    Ok(())
}

/// Waits for SIGINT/SIGTERM, or for the KDC to die on its own.
async fn wait_for_stop(realm: &kdc_test::Realm) -> std::io::Result<String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = int.recv() => return Ok("SIGINT received".into()),
            _ = term.recv() => return Ok("SIGTERM received".into()),
            _ = tick.tick() => {
                if !realm.kdc_running() {
                    return Ok(format!("KDC exited unexpectedly; see {}", realm.kdc_log().display()));
                }
            }
        }
    }
}
