//! (h) Image push: `burnstand admin push FILE --type 1` of one image to the two stations of a
//! type, through the real master (every chunk sealed on the client's session, opened and
//! re-sealed per station at the master, opened at each station, hashed and written to the
//! catalog), against `scp` of the same file to two hosts at once through the bench's own sshd
//! ([`crate::ssh::SshLab`]) — what a lab did by hand before push existed.
//!
//! Both are timed from the start of the command(s) to the end; the client's own hashing of
//! the file before it streams is part of the push (it is part of the command), and each run is
//! checked: the image must be in both catalogs with the right size.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use burnstand_testlab::Daemon;
use kdc_test::Realm;

use crate::burn::{make_image, station_at};
use crate::lab;
use crate::ssh::SshLab;
use crate::{Error, Figure};

/// Stations the image is pushed to (the figure: 2).
const STATIONS: usize = 2;

fn has_image(dir: &Path, name: &str, size: u64) -> Result<(), Error> {
    let found = std::fs::metadata(dir.join(name))
        .map(|m| m.len())
        .unwrap_or(0);
    if found != size {
        return Err(format!("{}: {found} of {size} bytes arrived", dir.display()).into());
    }
    Ok(())
}

/// Two `scp` at once, each to its own directory on the bench's sshd.
fn scp_twice(file: &Path, dirs: &[std::path::PathBuf]) -> Result<Duration, Error> {
    let ssh = SshLab::start()?;
    let started = Instant::now();
    let children = dirs
        .iter()
        .map(|dir| ssh.scp(file, dir))
        .collect::<Result<Vec<_>, _>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("scp: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
        }
    }
    Ok(started.elapsed())
}

pub async fn run(realm: &Realm, mib: u64) -> Result<Figure, Error> {
    let dir = tempfile::tempdir()?;
    let image = dir.path().join("pushed.img");
    let sha = make_image(&image, mib)?;
    let size = mib << 20;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, lab::open_policy(&sha))?;

    // Baseline first: scp of the file to two "hosts" at once.
    let scp_dirs: Vec<_> = (0..STATIONS)
        .map(|n| dir.path().join(format!("scp-{n}")))
        .collect();
    for d in &scp_dirs {
        std::fs::create_dir_all(d)?;
    }
    let file = image.clone();
    let dirs = scp_dirs.clone();
    let by_scp = tokio::task::spawn_blocking(move || scp_twice(&file, &dirs)).await??;
    for d in &scp_dirs {
        has_image(d, "pushed.img", size)?;
        std::fs::remove_file(d.join("pushed.img"))?;
    }

    let mut stations: Vec<Daemon> = Vec::with_capacity(STATIONS);
    let mut catalogs = Vec::with_capacity(STATIONS);
    for n in 0..STATIONS {
        let home = dir.path().join(format!("st-{n}"));
        let catalog = home.join("images");
        std::fs::create_dir_all(&catalog)?;
        stations.push(station_at(
            realm,
            &home,
            &catalog,
            &policy,
            &format!("bench-push-{n}"),
            "",
        )?);
        catalogs.push(catalog);
    }
    let addrs: Vec<_> = stations.iter().map(|s| s.addr).collect();
    let admin = format!("admin = [\"{}\"]", realm.principal(lab::USER));
    let master = lab::master_with(
        realm,
        &lab::sibling("burnstand-master")?,
        &addrs,
        &lab::open_policy(&sha),
        &admin,
    )?;
    crate::farm::wait_free(realm, &master, STATIONS).await?;
    let ccache = dir.path().join("user.ccache");
    realm.kinit_into(lab::USER, &ccache)?;
    let mut push = lab::client(realm, &master, &ccache)?;
    push.args(["admin", "push"])
        .arg(&image)
        .args(["--type", "1", "--id", "pushed.img", "--name", "pushed"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || push.output()).await??;
    let by_push = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "burnstand admin push failed: {}\nmaster log:\n{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            master.log_tail()
        )
        .into());
    }
    for catalog in &catalogs {
        has_image(catalog, "pushed.img", size)?;
    }
    drop(master);
    drop(stations);

    let secs = |d: Duration| d.as_secs_f64();
    let ratio = secs(by_push) / secs(by_scp);
    Ok(Figure {
        bench: "h",
        what: format!(
            "`burnstand admin push` of a {mib} MiB image to the {STATIONS} stations of a type \
             (client hashing, master fan-out, station digests and catalog): {:.0} MiB/s per station",
            mib as f64 / secs(by_push)
        ),
        value: secs(by_push),
        unit: "s",
        baseline: format!("`scp` of the same file to {STATIONS} hosts at once (own sshd, aes128-gcm)"),
        baseline_value: secs(by_scp),
        ratio,
        target: "<= 1.2".into(),
        met: ratio <= 1.2,
    })
}
