//! Image push end to end (issue 14, item 4): the real `burnstand admin push` through the
//! real master to real stations, each with its own catalog.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::lab::{text, wait_for, Lab, Policy, REALM};

/// dave is the lab staff; every station has its own catalog and the given `[push]` table.
fn push_lab(push_table: &str) -> Lab {
    Lab::start_with_policy(&Policy {
        master_extra: format!("admin = [\"dave@{REALM}\"]"),
        separate_catalogs: true,
        station_extra: push_table.to_owned(),
        ..Policy::default()
    })
}

/// A copy of `from` (a catalog image) outside the catalogs, to push under a new name.
fn copy_of(lab: &Lab, from: &str, name: &str) -> PathBuf {
    let path = lab.dir.path().join(name);
    std::fs::copy(lab.catalogs[0].join(from), &path).unwrap();
    path
}

/// A file of `len` pseudo-random bytes (no two chunks alike), to push.
fn noise_file(lab: &Lab, name: &str, len: usize) -> PathBuf {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..len / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let path = lab.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn push_json(lab: &Lab, user: &str, file: &Path, args: &[&str]) -> (i32, Value, String) {
    let file = file.to_str().unwrap();
    let mut all = vec!["--json", "admin", "push", file];
    all.extend_from_slice(args);
    let out = lab.run(user, &all);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        doc,
        format!("{}\n{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn published(catalog: &Path, id: &str) -> bool {
    catalog.join(id).exists() && catalog.join(format!("{id}.toml")).exists()
}

/// The partial files a push left in a catalog.
fn partials(catalog: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(catalog)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".partial")))
        .collect()
}

#[test]
fn an_image_pushed_to_a_type_reaches_every_station_and_burns() {
    let lab = push_lab("");
    let file = copy_of(&lab, "sample.iso", "pushed.iso");
    let (code, doc, output) = push_json(
        &lab,
        "dave",
        &file,
        &["--type", "1", "--name", "Pushed sample"],
    );
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    let stations = doc["push"]["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 2, "{doc}");
    assert!(stations.iter().all(|s| s["result"] == "stored"), "{doc}");
    assert_eq!(doc["push"]["sent"], lab.sample.size);
    assert_eq!(doc["push"]["sha256"], lab.sample.sha256.as_str());
    for catalog in &lab.catalogs {
        assert!(published(catalog, "pushed.iso"), "{}", catalog.display());
        assert!(partials(catalog).is_empty());
        let sidecar = std::fs::read_to_string(catalog.join("pushed.iso.toml")).unwrap();
        assert!(sidecar.contains("restricted = true"), "{sidecar}");
        assert!(sidecar.contains("Pushed sample"), "{sidecar}");
    }
    // Audited at the master (after the admin command record) and at each station.
    let pushed = lab.wait_for_master_record("image.push", |r| r.event == "image.push");
    assert_eq!(pushed.get_str("sha256"), Some(lab.sample.sha256.as_str()));
    assert_eq!(pushed.get_str("result"), Some("done"));
    assert!(pushed
        .get_str("stations")
        .is_some_and(|s| s.contains("dvd-1: stored") && s.contains("dvd-2: stored")));
    let station_records = lab.station_records();
    assert_eq!(
        station_records
            .iter()
            .filter(|r| r.event == "image.pushed")
            .count(),
        2
    );
    // The image is in the catalog: users see it and burn it.
    let images = lab.run("alice", &["--json", "images", "--station", "dvd-2"]);
    assert!(
        text(&images.stdout).contains("Pushed sample"),
        "{}",
        text(&images.stdout)
    );
    let burn = lab.run("alice", &["burn", "pushed.iso", "--station", "dvd-2"]);
    assert!(
        burn.status.success(),
        "{}\n{}\n{}",
        text(&burn.stdout),
        text(&burn.stderr),
        lab.logs()
    );
    // The same push again sends nothing: both stations have it.
    let (code, again, output) = push_json(&lab, "dave", &file, &["--type", "1"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(again["push"]["sent"], 0, "{again}");
}

#[test]
fn pushes_that_may_not_or_must_not_be_published_are_refused_and_nothing_appears() {
    let lab = push_lab("[push]\nmax_image_size = 67108864\n");
    let sample = copy_of(&lab, "sample.iso", "mine.iso");
    // A user who is not an admin: refused at the master, audited like any admin command.
    let (code, _, output) = push_json(&lab, "alice", &sample, &["--station", "dvd-1"]);
    assert_eq!(code, 22, "{output}");
    let refusal = lab.wait_for_master_record("refused push", |r| {
        r.event == "admin" && r.get_str("command") == Some("PUSH (refused: not an admin)")
    });
    assert_eq!(refusal.get_str("target"), Some("dvd-1"));
    // An unrestricted image of a user: the station takes none by default.
    let (code, doc, output) = push_json(
        &lab,
        "alice",
        &sample,
        &["--station", "dvd-1", "--unrestricted"],
    );
    assert_eq!(code, 26, "{output}");
    let detail = doc["push"]["stations"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("[push] users = false"), "{doc}");
    // Larger than the station's max_image_size (64 MiB).
    let big = lab.dir.path().join("large.iso");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let (code, doc, output) = push_json(&lab, "dave", &big, &["--station", "dvd-1"]);
    assert_eq!(code, 26, "{output}");
    let detail = doc["push"]["stations"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("max_image_size"), "{doc}");
    // The file changes while it is pushed: the station's digests differ from the announced
    // ones, and it publishes nothing and keeps nothing.
    // Large enough that the last chunk is still unread when the first one is on disk.
    let file = noise_file(&lab, "changing.iso", 48 << 20);
    let running = lab.spawn(
        "dave",
        &[
            "--json",
            "admin",
            "push",
            file.to_str().unwrap(),
            "--station",
            "dvd-2",
        ],
    );
    let catalog = &lab.catalogs[1];
    wait_for("the push's partial file", || {
        std::thread::sleep(Duration::from_millis(5));
        partials(catalog).first().cloned()
    });
    running.signal(Signal::SIGSTOP);
    let mut bytes = std::fs::read(&file).unwrap();
    let end = bytes.len() - 1;
    bytes[end] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    running.signal(Signal::SIGCONT);
    let (status, stdout, stderr) = running.wait();
    assert_eq!(
        status.code(),
        Some(26),
        "{stdout}\n{stderr}\n{}",
        lab.logs()
    );
    assert!(stdout.contains("SHA-256"), "{stdout}");
    for catalog in &lab.catalogs {
        for id in ["mine.iso", "large.iso", "changing.iso"] {
            assert!(!published(catalog, id), "{id} in {}", catalog.display());
        }
        assert!(partials(catalog).is_empty(), "{:?}", partials(catalog));
    }
    let refused: Vec<_> = lab
        .station_records()
        .into_iter()
        .filter(|r| r.event == "image.push.refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(!lab
        .station_records()
        .iter()
        .any(|r| r.event == "image.pushed"));
}

#[test]
fn a_push_cut_off_midway_resumes_from_what_the_station_has() {
    let lab = push_lab("");
    let size = 48 << 20;
    let file = noise_file(&lab, "large.iso", size);
    let catalog = &lab.catalogs[0];
    let running = lab.spawn(
        "dave",
        &[
            "--json",
            "admin",
            "push",
            file.to_str().unwrap(),
            "--station",
            "dvd-1",
        ],
    );
    let partial = wait_for("the push's partial file with bytes in it", || {
        std::thread::sleep(Duration::from_millis(5));
        partials(catalog)
            .into_iter()
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    // The client stops (what it sent drains to the station), then dies.
    running.signal(Signal::SIGSTOP);
    let kept = wait_for("the partial file to stop growing", || {
        let before = std::fs::metadata(&partial).map(|m| m.len()).ok()?;
        std::thread::sleep(Duration::from_millis(500));
        let after = std::fs::metadata(&partial).map(|m| m.len()).ok()?;
        (before == after).then_some(after)
    });
    assert!(
        kept < size as u64,
        "the whole image went through before the cut"
    );
    running.signal(Signal::SIGKILL);
    drop(running);
    // The master and the station notice; the station keeps the partial.
    lab.wait_for_master_record("the interrupted push", |r| {
        r.event == "image.push" && r.get_str("result") == Some("client lost")
    });
    assert!(partial.exists());
    assert!(!published(catalog, "large.iso"));

    let (code, doc, output) = push_json(&lab, "dave", &file, &["--station", "dvd-1"]);
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    let resumed = doc["push"]["stations"][0]["resumed_from"].as_u64().unwrap();
    assert!(resumed > 0, "{doc}");
    assert_eq!(doc["push"]["sent"].as_u64(), Some(size as u64 - resumed));
    assert_eq!(
        std::fs::read(catalog.join("large.iso")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let record = lab.wait_for_station_record("image.pushed", |r| r.event == "image.pushed");
    assert_eq!(record.get_u64("resumed_from"), Some(resumed));
    assert!(partials(catalog).is_empty());
}
