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

/// The sidecar of a published image, parsed.
fn sidecar(catalog: &Path, id: &str) -> toml::Table {
    let text = std::fs::read_to_string(catalog.join(format!("{id}.toml"))).unwrap();
    toml::from_str(&text).unwrap()
}

/// Lists dvd-1's images as alice: a session, so a CAP, so a catalog refresh at the station.
fn refresh_catalog(lab: &Lab) {
    std::thread::sleep(Duration::from_millis(200));
    let _ = lab.run("alice", &["images", "--station", "dvd-1"]);
}

#[test]
fn a_user_pushes_own_unrestricted_images_within_a_space_quota() {
    let quota = 3 << 20;
    let lab = push_lab(&format!(
        "[push]\nusers = true\nuser_quota_bytes = {quota}\n"
    ));
    assert!(lab.sample.size <= quota && 2 * lab.sample.size > quota);
    let catalog = &lab.catalogs[0];
    let first = copy_of(&lab, "sample.iso", "alice-1.iso");
    let (code, doc, output) = push_json(
        &lab,
        "alice",
        &first,
        &["--station", "dvd-1", "--unrestricted"],
    );
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    assert_eq!(doc["push"]["stations"][0]["result"], "stored", "{doc}");
    let owned = sidecar(catalog, "alice-1.iso");
    let alice = lab.principal("alice");
    assert_eq!(owned["owner"].as_str(), Some(alice.as_str()), "{owned}");
    assert_eq!(owned["pushed_by"].as_str(), Some(alice.as_str()), "{owned}");
    assert_eq!(owned["restricted"].as_bool(), Some(false), "{owned}");
    assert!(owned["pushed_at"].is_str(), "{owned}");
    let pushed = lab.wait_for_station_record("alice's push", |r| r.event == "image.pushed");
    assert_eq!(pushed.get_str("user"), Some(alice.as_str()));

    // Other bytes, another id: over the quota, refused, nothing published, nothing kept.
    let second = noise_file(&lab, "alice-2.iso", 2 << 20);
    let (code, doc, output) = push_json(
        &lab,
        "alice",
        &second,
        &["--station", "dvd-1", "--unrestricted"],
    );
    assert_eq!(code, 26, "{output}");
    let detail = doc["push"]["stations"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("user_quota_bytes"), "{doc}");
    assert!(
        detail.contains(&format!("use {} of the {quota} bytes", lab.sample.size)),
        "{detail}"
    );
    assert!(!published(catalog, "alice-2.iso"));
    assert!(partials(catalog).is_empty(), "{:?}", partials(catalog));
    assert!(std::fs::read_dir(catalog).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".owner")));

    // Someone else's image cannot be replaced by a user, even an unrestricted one.
    let theirs = second;
    let (code, doc, output) = push_json(
        &lab,
        "bob",
        &theirs,
        &[
            "--station",
            "dvd-1",
            "--unrestricted",
            "--id",
            "alice-1.iso",
            "--replace",
        ],
    );
    assert_eq!(code, 26, "{output}");
    let detail = doc["push"]["stations"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("only your own images"), "{doc}");
    assert_eq!(
        sidecar(catalog, "alice-1.iso")["owner"].as_str(),
        Some(alice.as_str())
    );
    // bob's quota is his own: the same bytes under his own id are taken.
    let (code, _, output) = push_json(
        &lab,
        "bob",
        &theirs,
        &["--station", "dvd-1", "--unrestricted", "--id", "bob-1.iso"],
    );
    assert_eq!(code, 0, "{output}");
}

#[test]
fn user_images_expire_and_abandoned_partials_are_removed_at_a_catalog_refresh() {
    let lab =
        push_lab("[push]\nusers = true\nuser_image_lifetime = \"1s\"\npartial_lifetime = \"1h\"\n");
    let catalog = &lab.catalogs[0];
    // A push given up long ago, and one of a minute ago (still resumable).
    let abandoned = catalog.join(format!(".push-{}-4096.partial", "ab".repeat(32)));
    let recent = catalog.join(format!(".push-{}-4096.partial", "cd".repeat(32)));
    for path in [&abandoned, &recent] {
        std::fs::write(path, b"some bytes").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    let file = copy_of(&lab, "sample.iso", "short-lived.iso");
    let (code, _, output) = push_json(
        &lab,
        "alice",
        &file,
        &["--station", "dvd-1", "--unrestricted"],
    );
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    let expired = wait_for("image.expired at a catalog refresh", || {
        refresh_catalog(&lab);
        lab.station_records()
            .into_iter()
            .find(|r| r.event == "image.expired")
    });
    assert_eq!(expired.get_str("image_id"), Some("short-lived.iso"));
    assert_eq!(
        expired.get_str("owner"),
        Some(lab.principal("alice").as_str())
    );
    assert_eq!(expired.get_str("sha256"), Some(lab.sample.sha256.as_str()));
    assert!(!catalog.join("short-lived.iso").exists());
    assert!(!catalog.join("short-lived.iso.toml").exists());
    let images = lab.run("alice", &["--json", "images", "--station", "dvd-1"]);
    assert!(
        !text(&images.stdout).contains("short-lived"),
        "{}",
        text(&images.stdout)
    );
    // The images of the lab staff do not expire.
    assert!(published(catalog, "sample.iso"));

    let removed = lab.wait_for_station_record("image.partial.removed", |r| {
        r.event == "image.partial.removed"
    });
    let name = abandoned.file_name().unwrap().to_str().unwrap();
    assert_eq!(removed.get_str("file"), Some(name));
    assert!(!abandoned.exists());
    assert!(recent.exists(), "a partial written lately is kept");
}

#[test]
fn replace_publishes_the_new_bytes_and_a_burn_uses_the_new_digest() {
    let lab = push_lab("");
    let catalog = &lab.catalogs[0];
    let old = copy_of(&lab, "sample.iso", "old.iso");
    let new = copy_of(&lab, "big.iso", "new.iso");
    let push = |file: &Path, extra: &[&str]| {
        let mut args = vec!["--station", "dvd-1", "--id", "course.iso", "--unrestricted"];
        args.extend_from_slice(extra);
        push_json(&lab, "dave", file, &args)
    };
    let (code, _, output) = push(&old, &["--name", "Course v1"]);
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    // Other bytes under that id without --replace: refused, the old image stays.
    let (code, doc, output) = push(&new, &["--name", "Course v2"]);
    assert_eq!(code, 26, "{output}");
    let detail = doc["push"]["stations"][0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("--replace"), "{doc}");
    assert_eq!(
        sidecar(catalog, "course.iso")["name"].as_str(),
        Some("Course v1")
    );

    let (code, doc, output) = push(&new, &["--name", "Course v2", "--replace"]);
    assert_eq!(code, 0, "{output}\n{}", lab.logs());
    assert_eq!(doc["push"]["stations"][0]["result"], "stored", "{doc}");
    assert_eq!(
        sidecar(catalog, "course.iso")["name"].as_str(),
        Some("Course v2")
    );
    assert_eq!(
        std::fs::read(catalog.join("course.iso")).unwrap(),
        std::fs::read(&new).unwrap()
    );
    assert!(partials(catalog).is_empty());
    // An admin's push is nobody's own image: no owner, no expiry.
    assert!(sidecar(catalog, "course.iso").get("owner").is_none());

    let burn = lab.run("alice", &["burn", "course.iso", "--station", "dvd-1"]);
    assert!(
        burn.status.success(),
        "{}\n{}\n{}",
        text(&burn.stdout),
        text(&burn.stderr),
        lab.logs()
    );
    let start = lab.wait_for_station_record("burn.start", |r| r.event == "burn.start");
    assert_eq!(start.get_str("image"), Some("course.iso"));
    assert_eq!(start.get_str("image_sha256"), Some(lab.big.sha256.as_str()));
}
