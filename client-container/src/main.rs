//! `burnstand`: the user's command. See `burnstand --help`.

use std::process::ExitCode;

use burnstand::master::MasterConnection;
use burnstand::ClientError;
use clap::{Parser, Subcommand};

/// Burn lab disc images on a burner station, with your campus Kerberos login.
///
/// Run `kinit` first: burnstand uses the Kerberos ticket in your credential cache and never
/// asks for a password.
///
/// Exit codes: 0 success, 2 usage error, 3 no Kerberos ticket (run kinit), 4 master
/// unreachable, 5 login refused, 6 not a burnstand master or incompatible version,
/// 7 connection failed after login.
#[derive(Debug, Parser)]
#[command(name = "burnstand", version)]
struct Cli {
    /// The master's address, HOST:PORT.
    #[arg(
        long,
        env = "BURNSTAND_MASTER",
        default_value = "localhost:4040",
        global = true
    )]
    master: String,

    /// The master's Kerberos service principal.
    #[arg(
        long,
        env = "BURNSTAND_MASTER_PRINCIPAL",
        default_value = "burnstand/localhost",
        global = true
    )]
    master_principal: String,

    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the kinds of burner station that are up.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("burnstand: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burnstand: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), ClientError> {
    match cli.command {
        Action::List => {
            let mut master = MasterConnection::connect(&cli.master, &cli.master_principal).await?;
            let stations = master.list().await?;
            println!("logged in to {}", master.master());
            if stations.is_empty() {
                println!("no burner stations are up");
            }
            for station in &stations {
                println!(
                    "{:>4}  {}  ({})",
                    station.id, station.name, station.description
                );
            }
            master.quit().await
        }
    }
}
