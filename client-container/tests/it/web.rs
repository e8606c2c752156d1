//! The status page against the whole real lab: the real `burnstand-master` serving `[web]`,
//! real stations burning with xorriso, and Debian's headless chromium logging in by Negotiate
//! with each user's own ticket (`burnstand_testlab::browser`). alice watches her real burn's
//! progress move on the page (Server-Sent Events, no reload), then finds her receipt — and not
//! bob's — downloads its JSON from the page and verifies it against the station's log the way
//! the page says to; the admin sees both receipts; a browser without a ticket sees the wall.

use std::path::{Path, PathBuf};

use burnstand_testlab::browser::{Browser, Identity};

use crate::lab::{text, wait_for, Lab, Policy, REALM};

/// The progress bar of the first burning station on the page, or -1 without one.
const PROGRESS: &str =
    "const p = document.querySelector('#stations progress'); return p ? p.value : -1;";
/// The receipt downloads the page links, space-separated.
const RECEIPT_LINKS: &str = "return Array.from(document.querySelectorAll('#receipts a[download]')).map(a => a.getAttribute('href')).join(' ');";

fn url(lab: &Lab, path: &str) -> String {
    let port = lab.web_addr.expect("the status page is on").port();
    format!("https://localhost:{port}{path}")
}

/// Where the screenshot goes (CI keeps `target/artifacts`).
fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/artifacts")
        .join(name)
}

/// `user`'s browser with the ticket of the lab's kinit, logged in by Negotiate.
async fn logged_in(lab: &Lab, user: &str) -> Browser {
    let principal = format!("{user}@{REALM}");
    Browser::logged_in(
        &lab.realm,
        &lab.ccache(user),
        &url(lab, "/login"),
        &principal,
    )
    .await
}

/// The copy id of `user`'s receipt in the master's audit log.
fn copy_of(lab: &Lab, user: &str) -> String {
    let principal = lab.principal(user);
    let record = wait_for(&format!("{user}'s receipt at the master"), || {
        lab.master_records()
            .into_iter()
            .find(|r| r.event == "burn.receipt" && r.get_str("user") == Some(principal.as_str()))
    });
    record.get_str("copy_id").expect("copy_id").to_owned()
}

#[test]
fn in_chromium_alice_watches_her_real_burn_move_and_sees_and_verifies_only_her_receipt() {
    let lab = Lab::start_with_policy(&Policy {
        web: true,
        master_extra: format!("admin = [\"dave@{REALM}\"]\n"),
        ..Policy::default()
    });
    // The browser's WebDriver session runs on this runtime while a block_on drives it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // alice opens the page, then burns the 12 MiB image with the real client and xorriso.
    let alice = rt.block_on(async {
        let alice = logged_in(&lab, "alice").await;
        alice.client.goto(&url(&lab, "/")).await.expect("page");
        alice
    });
    let burn = lab.spawn("alice", &["burn", "big"]);
    rt.block_on(async {
        let first = alice.number_when(PROGRESS, |v| v > 0.0 && v < 100.0).await;
        alice.number_when(PROGRESS, |v| v > first).await;
        let page = alice.text().await;
        assert!(page.contains("burning"), "{page}");
        alice.screenshot(&artifact("status-page-burn.png")).await;
    });
    let (status, stdout, stderr) = burn.wait();
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}\n{}", lab.logs());
    assert!(stdout.contains("VERIFIED"), "{stdout}");
    let out = lab.run("bob", &["burn", "sample"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (alices, bobs) = (copy_of(&lab, "alice"), copy_of(&lab, "bob"));

    let receipt = lab.dir.path().join("alice-receipt-from-the-page.json");
    rt.block_on(async {
        // Her receipt, not bob's; downloaded from the page.
        alice
            .client
            .goto(&url(&lab, "/receipts"))
            .await
            .expect("receipts");
        let links = alice.string(RECEIPT_LINKS).await;
        assert!(links.contains(&alices) && !links.contains(&bobs), "{links}");
        let href = format!("/receipts/{alices}.json");
        let json = alice
            .string(&format!("return fetch('{href}').then(r => r.text());"))
            .await;
        std::fs::write(&receipt, json).expect("save the receipt");
        alice.close().await;

        // The admin sees both.
        let dave = logged_in(&lab, "dave").await;
        dave.client
            .goto(&url(&lab, "/receipts"))
            .await
            .expect("receipts");
        let links = dave.string(RECEIPT_LINKS).await;
        assert!(links.contains(&alices) && links.contains(&bobs), "{links}");
        dave.close().await;

        // No ticket: the wall, with the stations and without anyone's name.
        let visitor = Browser::start(&lab.realm, Identity::Anonymous).await;
        visitor.client.goto(&url(&lab, "/")).await.expect("wall");
        let wall = visitor.text().await;
        assert!(wall.contains("dvd-1") && wall.contains("dvd-2"), "{wall}");
        assert!(!wall.contains("alice") && !wall.contains("bob"), "{wall}");
        visitor.close().await;
    });

    // The receipt from the page verifies against the station's log, as the page says.
    let log = lab
        .station_log_of("alice")
        .expect("the station that burned");
    let out = lab.run(
        "alice",
        &[
            "audit",
            "verify",
            log.to_str().unwrap(),
            "--receipt",
            receipt.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
