//! (d) Burn + verify of a large image on a file pseudo-drive through the real station via the
//! real master (the `burnstand` client, as a user runs it), against running the station's own
//! xorriso command line and `md5sum` of the written bytes by hand.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burnstand_station::config::DriveTarget;
use burnstand_station::drive::burn_args;
use burnstand_testlab::{daemon_command, try_start_daemon, Daemon, Noise};
use kdc_test::Realm;
use sha2::Digest as _;

use crate::lab::{self, REALM, STATION};
use crate::{Error, Figure};

/// Writes `mib` MiB of pseudo-random bytes (incompressible, like a real image).
pub(crate) fn make_image(path: &Path, mib: u64) -> Result<String, Error> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut sha = sha2::Sha256::new();
    let mut noise = Noise::new(Noise::SEED);
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        noise.fill(&mut block);
        sha.update(&block);
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(hex::encode(sha.finalize()))
}

fn station(realm: &Realm, dir: &Path, policy: &Path) -> Result<Daemon, Error> {
    station_at(realm, dir, &dir.join("images"), policy, "bench", "")
}

/// A real `burnstand-station` on a file drive (`dir/disc.img`) with its state, audit log and
/// log in `dir`, the image catalog `catalog`, station id `id`, and `drive_extra` lines added
/// to its `[drive]` section (e.g. `speed = 4`).
pub(crate) fn station_at(
    realm: &Realm,
    dir: &Path,
    catalog: &Path,
    policy: &Path,
    id: &str,
    drive_extra: &str,
) -> Result<Daemon, Error> {
    let config = dir.join("station.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nprincipal = \"{}\"\nkeytab = \"{}\"\ntrusted_masters = [\"{}\"]\n\
             friendly_name = \"{id}\"\nstation_id = \"{id}\"\ncatalog = \"{}\"\nstate_dir = \"{}\"\naudit_log = \"{}\"\npolicy = \"{}\"\n\
             idle_report_secs = 0\n{}\n[drive]\nkind = \"DVD\"\nfile = \"{}\"\nallow_file_drive = true\n{drive_extra}\n",
            realm.principal(STATION),
            realm.keytab(STATION).ok_or("no station keytab")?.display(),
            realm.principal(lab::MASTER),
            catalog.display(),
            dir.join("state").display(),
            dir.join("station.audit").display(),
            policy.display(),
            lab::fast_path_line(),
            dir.join("disc.img").display(),
        ),
    )?;
    let mut cmd = daemon_command(&lab::sibling("burnstand-station")?, realm);
    cmd.arg("--config").arg(&config).env("RUST_LOG", "warn");
    Ok(try_start_daemon(
        cmd,
        &dir.join("station.log"),
        "listening on ",
    )?)
}

pub async fn run(realm: &Realm, mib: u64) -> Result<Figure, Error> {
    let dir = tempfile::tempdir()?;
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images)?;
    let image = images.join("bench.img");
    let sha = make_image(&image, mib)?;
    std::fs::write(
        images.join("bench.img.toml"),
        "name = \"bench\"\nid = \"bench\"\n",
    )?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, lab::open_policy(&sha))?;

    // Baseline: the station's own xorriso command line, then md5sum of the image's length.
    let disc = dir.path().join("by-hand.img");
    let started = Instant::now();
    let status = Command::new("xorriso")
        .args(burn_args(&DriveTarget::File(disc.clone()), None, &image))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("xorriso failed in the baseline".into());
    }
    let size = std::fs::metadata(&image)?.len();
    let md5 = Command::new("sh")
        .arg("-c")
        .arg(format!("head -c {size} '{}' | md5sum", disc.display()))
        .output()?;
    if !md5.status.success() {
        return Err("md5sum failed in the baseline".into());
    }
    let by_hand = started.elapsed();
    std::fs::remove_file(&disc)?;

    // burnstand: station and master daemons, the user's ticket, `burnstand burn`.
    let mut station = station(realm, dir.path(), &policy)?;
    let station_addr = station.addr;
    let master = lab::master_with_policy(
        realm,
        &lab::sibling("burnstand-master")?,
        station_addr,
        &lab::open_policy(&sha),
    )?;
    let ccache = dir.path().join("user.ccache");
    realm.kinit_into(lab::USER, &ccache)?;
    // The station hashes the catalog at start; wait until it is ready (`burnstand images`).
    let client = |args: &[&str]| {
        let mut cmd = lab::client(realm, &master, &ccache)?;
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        Ok::<_, Error>(cmd)
    };
    let started = Instant::now();
    let out = client(&["burn", "bench"])?.output()?;
    let through = started.elapsed();
    let _ = station.child.kill();
    let _ = station.child.wait();
    drop(master);
    if !out.status.success() {
        return Err(format!(
            "burnstand burn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let secs = |d: Duration| d.as_secs_f64();
    let ratio = secs(through) / secs(by_hand);
    Ok(Figure {
        bench: "d",
        what: format!(
            "burnstand burn + verify of a {mib} MiB image (client, master, station, {REALM})"
        ),
        value: secs(through),
        unit: "s",
        baseline: "the same xorriso command and md5sum by hand".into(),
        baseline_value: secs(by_hand),
        ratio,
        target: "<= 1.15".into(),
        met: ratio <= 1.15,
    })
}
