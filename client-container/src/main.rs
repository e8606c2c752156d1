//! `burnstand`: the user's command. See `burnstand --help` and docs/client.md.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use burnstand::burn::BurnRequest;
use burnstand::cli::{Action, AdminAction, AuditAction, Cli};
use burnstand::config::{Overrides, Settings};
use burnstand::output::{Output, Report};
use burnstand::{admin, commands, holder, listing, ClientError};
use clap::Parser;
use serde::Serialize;

/// `burnstand audit verify` with --json.
#[derive(Debug, Serialize)]
struct AuditReport {
    file: String,
    intact: bool,
    report: String,
}

impl Report for AuditReport {
    fn human(&self) -> String {
        self.report.clone()
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = Output::new(cli.json);
    if cli.json {
        // JSON mode prints no notes: the master's notices neither (protocol.md §4.5).
        burnstand::master::silence_notices();
    }
    burnstand_wire::gss::set_fast_path_default(fast_path_wanted());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&ClientError::Internal(format!("cannot start: {e}")));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether sessions to the master use the Rust RFC 4121 fast path (where the context allows
/// it): yes unless `BURNSTAND_FAST_PATH=0` (or `false`/`off`) is set, and only if its
/// known-answer self-test passes (checked once per run; it takes well under a millisecond).
fn fast_path_wanted() -> bool {
    let off = std::env::var("BURNSTAND_FAST_PATH")
        .is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off" | "no"));
    !off && burnstand_wire::fastpath::self_test().is_ok()
}

/// A command line clap refused: its own text, or with --json a JSON error (exit code 2);
/// `--help` and `--version` print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !std::env::args().any(|a| a == "--json") {
        e.exit()
    }
    let message = e.render().to_string();
    Output::new(true).error(&ClientError::Usage(message.trim_end().to_owned()));
    ExitCode::from(2)
}

async fn run(cli: Cli, out: &Output) -> Result<(), ClientError> {
    let overrides = Overrides {
        master: cli.master,
        master_principal: cli.master_principal,
        config_path: cli.config,
    };
    let settings = || Settings::resolve(overrides.clone());
    match cli.command {
        Action::Audit(AuditAction::Show { files, by }) => {
            out.report(&burnstand::stats::show(&files, by)?);
            Ok(())
        }
        Action::Audit(AuditAction::Repair { file, dry_run }) => {
            out.report(&burnstand::audit::repair_log(&file, dry_run)?);
            Ok(())
        }
        Action::Audit(AuditAction::Verify {
            file,
            head,
            receipt,
        }) => {
            let mut report = burnstand::audit::verify_log(&file, head.as_deref())?;
            if let Some(receipt) = &receipt {
                let n = burnstand::audit::check_receipts(&file, receipt)?;
                report.push_str(&format!(
                    "\nOK: all {n} receipt record(s) of {} are in the log byte for byte",
                    receipt.display()
                ));
            }
            out.report(&AuditReport {
                file: file.display().to_string(),
                intact: true,
                report,
            });
            Ok(())
        }
        Action::Doctor => burnstand::doctor::doctor(overrides, out).await,
        Action::Login { principal } => commands::login(principal.as_deref(), out),
        Action::List => listing::list(&settings()?, out).await,
        Action::Images(pick) => commands::images(&settings()?, &pick.want(), out).await,
        Action::Burn {
            image,
            pick,
            copies,
            drives,
            save_receipt,
        } => {
            let request = BurnRequest {
                image,
                copies,
                drives: BurnRequest::drives_for(copies, drives),
                save_receipt,
            };
            commands::burn(&settings()?, &pick.want(), &request, out).await
        }
        Action::Status(pick) => commands::status(&settings()?, &pick.want(), out).await,
        Action::Eject(pick) => commands::eject(&settings()?, &pick.want(), out).await,
        Action::Reserve(pick) => holder::commands::reserve(&settings()?, &pick.want(), out).await,
        Action::Release => holder::commands::release(&settings()?, out).await,
        Action::Admin(AdminAction::Push(args)) => admin::push::push(&settings()?, &args, out).await,
        Action::Admin(action) => match action.command() {
            Some(command) => admin::admin(&settings()?, &command, out).await,
            None => Err(ClientError::Internal(
                "an admin command without a request".into(),
            )),
        },
        Action::HoldReservation(pick) => {
            let code = holder::hold(&settings()?, &pick.want()).await;
            // The holder reported everything over its pipe already; its code is for `ps`.
            if code == 0 {
                Ok(())
            } else {
                std::process::exit(i32::from(code))
            }
        }
    }
}
