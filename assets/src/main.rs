//! `burnstand-assets OUTDIR`: writes the man pages and shell completions of `burnstand`,
//! `burnstand-master` and `burnstand-station` under OUTDIR (see the library's documentation).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out_dir), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: burnstand-assets OUTDIR   (e.g. cargo run -p burnstand-assets -- \
             target/assets)"
        );
        return ExitCode::from(2);
    };
    match burnstand_assets::generate(&PathBuf::from(out_dir)) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("burnstand-assets: {e}");
            ExitCode::FAILURE
        }
    }
}
