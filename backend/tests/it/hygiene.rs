//! Drive hygiene: the file pseudo-drive and the station's own files are private, server paths
//! never reach users, xorriso dies with its station, and a drive another process holds is
//! refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use burnstand_station::config::DriveTarget;
use burnstand_station::drive::{Drive, XorrisoDrive};
use burnstand_station::StationError;
use burnstand_testlab::xorriso_children_of;
use burnstand_wire::burner::{DriveKind, Event, Percent, Phase, Request};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::harness::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn the_file_drive_and_the_digest_cache_are_created_private() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 256 << 10, b"", true);
    assert!(!lab.disc.exists());
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.burn_verified("exam.iso").await;
    drop(m);
    running.stop().await;
    // The pseudo-drive holds a copy of a restricted image: owner only.
    assert_eq!(mode(&lab.disc), 0o600, "{}", lab.disc.display());
    let cache = lab.state.join("digests.json");
    assert_eq!(mode(&cache), 0o600, "{}", cache.display());
}

/// The drive's error text as a user would get it.
fn user_text(result: Result<impl std::fmt::Debug, StationError>) -> String {
    match result {
        Err(e) => e.report().text,
        Ok(v) => panic!("expected a failure, got {v:?}"),
    }
}

#[tokio::test]
async fn server_paths_in_xorriso_failures_never_reach_users() {
    let dir = tempfile::tempdir().unwrap();
    let disc = dir.path().join("drive/disc.img");
    std::fs::create_dir_all(disc.parent().unwrap()).unwrap();
    let drive = XorrisoDrive::new(
        DriveKind::Dvd,
        DriveTarget::File(disc.clone()),
        None,
        "xorriso".into(),
    );
    // An image that vanished: real xorriso names the catalog path in its FAILURE line.
    let gone = dir.path().join("catalog/secret-exam.iso");
    let (tx, _rx) = watch::channel(Percent::ZERO);
    let text = user_text(drive.burn(&gone, &tx, &CancellationToken::new()).await);
    let root = dir.path().display().to_string();
    assert!(
        !text.contains(&root),
        "a server path reached the user: {text}"
    );
    assert!(!text.contains("/catalog/"), "{text}");
    assert!(text.contains("the image"), "{text}");

    // A real device that is not there: xorriso names the device path.
    let drive = XorrisoDrive::new(
        DriveKind::Dvd,
        DriveTarget::Device(dir.path().join("sr9")),
        None,
        "xorriso".into(),
    );
    let text = user_text(drive.medium().await);
    assert!(
        !text.contains(&root),
        "a server path reached the user: {text}"
    );
    assert!(text.contains("the drive"), "{text}");
}

/// Whether `pid` still runs (a zombie has stopped running: it only waits to be reaped).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xorriso_dies_with_its_station() {
    let lab = Lab::new();
    // 100 MiB at speed 1 takes over a minute: xorriso is certainly still writing when the
    // station is killed, and long after the 30 s this test waits for it to die.
    let image = lab.images.join("large.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    lab.publish("large.img", "name = \"Large\"\n");
    lab.entitle("large.img", &format!("allow_users = [\"*@{REALM}\"]"));
    let mut station = lab.start_binary(&lab.config_text("", "speed = 1"));
    let mut m = connect_as_master(&lab, station.addr).await.module();
    m.send(&Request::Burn {
        image_id: "large.img".into(),
        copies: 1,
    })
    .await;
    m.until(|e| matches!(e, Event::Status(p) if p.phase == Phase::Writing && p.percent.get() > 0))
        .await;
    let pid = station.child.id();
    let burners = xorriso_children_of(pid);
    assert_eq!(burners.len(), 1, "one xorriso, the station's child");

    station.child.kill().unwrap(); // SIGKILL: no chance to clean up
    station.child.wait().unwrap();
    for _ in 0..600 {
        if !burners.iter().any(|&b| running(b)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let survivors: Vec<u32> = burners.iter().copied().filter(|&b| running(b)).collect();
    for &survivor in &survivors {
        // Ours to clean up: started by the station this test started.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(survivor as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        survivors.is_empty(),
        "xorriso outlived its station: {survivors:?}"
    );
}

/// A process this test started, killed and reaped when dropped (also when the test fails).
struct Holder(std::process::Child);

impl Holder {
    fn release(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.release();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_held_by_another_process_is_refused_until_it_lets_go() {
    let lab = Lab::new();
    std::fs::write(&lab.disc, b"").unwrap();
    // Another process with the pseudo-drive open, as a stray xorriso or a `dd` would have.
    let mut holder = Holder(
        Command::new("bash")
            .arg("-c")
            .arg(format!("exec 3<'{}'; exec sleep 600", lab.disc.display()))
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let holder_pid = holder.0.id();
    eventually("the holder has the drive open", || {
        std::fs::read_dir(format!("/proc/{holder_pid}/fd"))
            .map(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).ok().as_deref() == Some(&*lab.disc))
            })
            .unwrap_or(false)
    })
    .await;

    let station = lab.start_binary(&lab.config_text("", ""));
    let stderr = std::fs::read_to_string(lab.dir.path().join("station.stderr")).unwrap();
    assert!(
        stderr.contains("WARN") && stderr.contains(&format!("PID {holder_pid} (sleep)")),
        "the start-up warns who holds the drive: {stderr}"
    );
    assert!(matches!(
        connect_as_master(&lab, station.addr).await,
        Connected::NotAvailable
    ));
    let refusals = lab.records_named("session.refuse");
    let reason = refusals[0].get_str("reason").unwrap();
    assert!(
        reason.contains(&format!("PID {holder_pid} (sleep)")),
        "{reason}"
    );

    holder.release();
    let mut m = connect_as_master(&lab, station.addr).await.module();
    assert!(matches!(m.ask(&Request::Capab).await, Event::Cap(_)));
}
