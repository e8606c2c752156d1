//! The one integration-test binary of `burnstand-assets`: the real generator into a temporary
//! directory, then the shells' own syntax checks on what it wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

/// Runs `burnstand-assets OUTDIR` as the packaging does.
fn generate(out: &Path) {
    let run = Command::new(env!("CARGO_BIN_EXE_burnstand-assets"))
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // It lists what it wrote, one path a line.
    let listed = String::from_utf8_lossy(&run.stdout);
    assert!(
        listed
            .lines()
            .any(|l| Path::new(l) == out.join("man/burnstand.1")),
        "{listed}"
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `program` can be run at all (the optional shells).
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn man_pages_name_every_sub_command_and_have_a_page_each() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let man = dir.path().join("man");
    for command in burnstand_assets::commands() {
        let name = command.get_name();
        let page = read(&man.join(format!("{name}.1")));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{name}.1 is roff"
        );
        assert!(page.contains(".SH NAME"), "{page}");
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let sub_name = sub.get_name();
            assert!(
                page.contains(sub_name),
                "{name}.1 names its sub-command {sub_name}"
            );
            let sub_page = read(&man.join(format!("{name}-{sub_name}.1")));
            assert!(sub_page.contains(".SH NAME"), "{sub_page}");
        }
        for hidden in command.get_subcommands().filter(|s| s.is_hide_set()) {
            assert!(
                !man.join(format!("{name}-{}.1", hidden.get_name())).exists(),
                "no page for a hidden sub-command"
            );
        }
    }
    // The sub-commands an operator looks up, by name (not only what clap says exists).
    for page in [
        "burnstand-doctor.1",
        "burnstand-burn.1",
        "burnstand-admin-push.1",
        "burnstand-audit-verify.1",
        "burnstand-station-doctor.1",
    ] {
        assert!(man.join(page).is_file(), "{page}");
    }
    assert!(read(&man.join("burnstand-master.1")).contains("check\\-config"));
}

#[test]
fn completions_parse_in_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let completions = dir.path().join("completions");
    for command in ["burnstand", "burnstand-master", "burnstand-station"] {
        let bash = completions.join("bash").join(command);
        let out = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
        assert!(
            out.status.success(),
            "bash -n {}: {}",
            bash.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(read(&bash).contains(&format!("complete -F _{}", command.replace('-', "__"))));
        for (shell, file) in [
            ("zsh", completions.join("zsh").join(format!("_{command}"))),
            (
                "fish",
                completions.join("fish").join(format!("{command}.fish")),
            ),
        ] {
            let text = read(&file);
            assert!(text.contains(command), "{}", file.display());
            if installed(shell) {
                let out = Command::new(shell).arg("-n").arg(&file).output().unwrap();
                assert!(
                    out.status.success(),
                    "{shell} -n {}: {}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            } else {
                eprintln!("{shell} is not installed: only bash's syntax check ran for {command}");
            }
        }
    }
    // Every visible sub-command of the client is completed, hidden ones are not.
    let bash = read(&completions.join("bash").join("burnstand"));
    let fish = read(&completions.join("fish").join("burnstand.fish"));
    for sub in burnstand::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        if sub.is_hide_set() {
            assert!(
                !fish.contains(&format!("-a \"{name}\"")),
                "{name} offered by fish"
            );
            assert!(
                !bash.contains(&format!(" {name} ")),
                "{name} offered by bash"
            );
        } else {
            assert!(
                bash.contains(&format!("burnstand__subcmd__{name}")),
                "{name} in bash"
            );
            assert!(fish.contains(&format!("-a \"{name}\"")), "{name} in fish");
        }
    }
}

#[test]
fn a_missing_argument_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_burnstand-assets"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: burnstand-assets OUTDIR"));
}
