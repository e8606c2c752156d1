//! `burnstand-assets`: the files packages install beside the binaries, generated from the
//! very clap definitions the binaries parse, so a man page or a completion can never
//! describe an option that does not exist:
//!
//! ```text
//! OUTDIR/man/burnstand.1, burnstand-<sub>.1 …          man pages (clap_mangen), one per
//! OUTDIR/man/burnstand-master.1                          command and visible sub-command
//! OUTDIR/man/burnstand-station.1, burnstand-station-doctor.1
//! OUTDIR/completions/bash/<command>                      bash-completion's file names
//! OUTDIR/completions/zsh/_<command>                      zsh's $fpath convention
//! OUTDIR/completions/fish/<command>.fish                 fish's vendor_completions.d
//! ```
//!
//! `cargo run -p burnstand-assets -- target/assets` makes them; the packages take them from
//! there (Debian paths: /usr/share/man/man1, /usr/share/bash-completion/completions,
//! /usr/share/zsh/vendor-completions, /usr/share/fish/vendor_completions.d).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};
use clap_complete::Shell;

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// A directory or file under the output directory could not be made or written.
    #[error("cannot write {path}: {source}; check that the output directory is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The three commands, by the name they are installed as.
pub fn commands() -> Vec<Command> {
    vec![
        burnstand::cli::Cli::command(),
        burnstand_master::cli::Cli::command(),
        burnstand_station::cli::Args::command(),
    ]
}

/// The shells completions are written for, each with its directory and file name for a
/// command.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash"),
    (Shell::Zsh, "zsh"),
    (Shell::Fish, "fish"),
];

fn file_name(shell: Shell, command: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{command}"),
        Shell::Fish => format!("{command}.fish"),
        _ => command.to_owned(),
    }
}

/// `command` without its hidden sub-commands (at any depth): clap_complete's bash and fish
/// scripts would offer them (`burnstand hold-reservation`, started by `burnstand reserve`,
/// is not for people). Only what completion uses is kept: name, texts, version, arguments.
fn without_hidden(command: &Command) -> Command {
    let mut out = Command::new(command.get_name().to_owned())
        .args(command.get_arguments().cloned())
        .subcommands(
            command
                .get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .map(without_hidden),
        );
    if let Some(about) = command.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        out = out.version(version.to_owned());
    }
    out
}

/// Writes every man page and completion under `out_dir`; the files written, sorted.
pub fn generate(out_dir: &Path) -> Result<Vec<PathBuf>, AssetsError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| AssetsError::Write { path, source }
    };
    let man_dir = out_dir.join("man");
    std::fs::create_dir_all(&man_dir).map_err(write_err(&man_dir))?;
    let mut written = Vec::new();
    for command in commands() {
        let name = command.get_name().to_owned();
        // One page for the command and one for each visible sub-command (`burnstand-burn.1`).
        clap_mangen::generate_to(command.clone(), &man_dir).map_err(write_err(&man_dir))?;
        for (shell, dir) in SHELLS {
            let dir = out_dir.join("completions").join(dir);
            std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
            let path = dir.join(file_name(shell, &name));
            let file = File::create(&path).map_err(write_err(&path))?;
            let mut out = BufWriter::new(file);
            clap_complete::generate(shell, &mut without_hidden(&command), &name, &mut out);
            out.flush().map_err(write_err(&path))?;
            written.push(path);
        }
    }
    for entry in std::fs::read_dir(&man_dir).map_err(write_err(&man_dir))? {
        written.push(entry.map_err(write_err(&man_dir))?.path());
    }
    written.sort();
    Ok(written)
}
