//! The status page in a real browser: Debian's headless chromium over WebDriver
//! (`burnstand_testlab::browser`), logging in by Negotiate with a ticket from the lab's KDC —
//! no password, no test client in between. alice watches the progress on her station move
//! (Server-Sent Events, drawn by the page's script), sees her receipt and not bob's; the admin
//! sees both; a browser without a ticket gets the wall view without names; a forged cookie
//! is only a visitor, and a cross-site form cannot drain a station.
//!
//! The burn's progress comes from the master tests' station (`StationMode::Burns`), which
//! reports a climbing percentage over the real control link; the page cannot tell it from a
//! station burning with xorriso.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burnstand_testlab::browser::{Browser, Identity};
use burnstand_wire::farm::{Reserve, ReserveReply};

use crate::client::{connect, reserve};
use crate::common::{guard, lab_test, Lab, StationSpec};
use crate::station::StationMode;
use crate::web::{certs, receipt, web_spec};

/// Where the screenshot of a burn goes (CI keeps `target/artifacts`).
fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/artifacts")
        .join(name)
}

fn url(lab: &Lab, path: &str) -> String {
    let port = lab.web_addr.expect("status page").port();
    format!("https://localhost:{port}{path}")
}

/// A browser with `user`'s ticket (kinit into its own ccache), logged in.
async fn logged_in(lab: &Lab, dir: &Path, user: &str) -> Browser {
    let ccache = dir.join(format!("{user}.ccache"));
    lab.realm.kinit_into(user, &ccache).expect("kinit");
    Browser::logged_in(
        &lab.realm,
        &ccache,
        &url(lab, "/login"),
        &lab.principal(user),
    )
    .await
}

const PROGRESS: &str =
    "const p = document.querySelector('#stations progress'); return p ? p.value : -1;";

fn burning_lab(certs: &crate::web::Certs) -> crate::common::LabSpec {
    web_spec(
        certs,
        "public_wall = true\n\n[farm]\nheartbeat = \"200ms\"\nheartbeat_misses = 25\n",
    )
    .stations(vec![
        StationSpec::new("dvd-1", "DVD").mode(StationMode::Burns)
    ])
    .seed(vec![
        receipt("alice", "copy-of-alice", "st-alice"),
        receipt("bob", "copy-of-bob", "st-bob"),
    ])
}

#[test]
fn in_chromium_alice_watches_her_burn_sees_her_receipts_and_the_wall_shows_no_names() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(burning_lab(&certs), |lab| async move {
        let dir = tempfile::tempdir().expect("ccache dir");
        let mut alice_session = connect(&lab, "alice").await;
        let request = Reserve {
            type_id: 1,
            station: String::new(),
            drives: 1,
            flags: 0,
        };
        assert!(matches!(
            reserve(&mut alice_session, request).await,
            ReserveReply::Reserved { .. }
        ));

        let alice = logged_in(&lab, dir.path(), "alice").await;
        alice.client.goto(&url(&lab, "/")).await.expect("page");
        // Her burn moves on the page without a reload.
        let first = alice.number_when(PROGRESS, |v| v >= 0.0).await;
        alice
            .number_when(PROGRESS, |v| v >= 0.0 && v != first)
            .await;
        let text = alice.text().await;
        assert!(text.contains("burning, copy 1 of 2"), "{text}");
        assert!(text.contains("exam-2025"), "her own image: {text}");
        assert!(text.contains("live: updated"), "events arrive: {text}");
        let shot = artifact("status-page.png");
        alice.screenshot(&shot).await;
        assert!(std::fs::metadata(&shot).expect("screenshot").len() > 0);
        // Her receipts, not bob's.
        alice
            .client
            .goto(&url(&lab, "/receipts"))
            .await
            .expect("receipts");
        let text = alice.text().await;
        assert!(
            text.contains("st-alice") && !text.contains("st-bob"),
            "{text}"
        );
        alice.close().await;

        let dave = logged_in(&lab, dir.path(), "dave").await;
        dave.client
            .goto(&url(&lab, "/receipts"))
            .await
            .expect("receipts");
        let text = dave.text().await;
        assert!(
            text.contains("st-alice") && text.contains("st-bob"),
            "{text}"
        );
        dave.client.goto(&url(&lab, "/")).await.expect("page");
        let text = dave.text().await;
        assert!(
            text.contains(&lab.principal("alice")),
            "the admin sees who burns: {text}"
        );
        dave.close().await;

        // No ticket: the wall, live, with the burn but without names or images.
        let visitor = Browser::start(&lab.realm, Identity::Anonymous).await;
        visitor.client.goto(&url(&lab, "/")).await.expect("wall");
        let first = visitor.number_when(PROGRESS, |v| v >= 0.0).await;
        visitor
            .number_when(PROGRESS, |v| v >= 0.0 && v != first)
            .await;
        let text = visitor.text().await;
        assert!(text.contains("dvd-1") && text.contains("burning"), "{text}");
        assert!(
            !text.contains("alice") && !text.contains("exam-2025"),
            "{text}"
        );
        visitor.close().await;
        drop(alice_session);
        lab.stop().await;
    });
}

#[test]
fn in_chromium_a_forged_cookie_is_a_visitor_and_a_cross_site_form_drains_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(burning_lab(&certs), |lab| async move {
        let dir = tempfile::tempdir().expect("ccache dir");
        let dave = logged_in(&lab, dir.path(), "dave").await;
        // Another site's page posts the admin's drain form to the master.
        let form = format!(
            "<form method=post action=\"{}\"><input name=action value=drain>\
             <input name=station value=dvd-1><input name=csrf value=x></form>\
             <script>document.forms[0].submit()</script>",
            url(&lab, "/admin")
        );
        let page = format!(
            "data:text/html,{}",
            form.replace('%', "%25")
                .replace('#', "%23")
                .replace(' ', "%20")
        );
        dave.client.goto(&page).await.expect("the other site");
        guard("the forged POST's answer", async {
            while !dave.text().await.contains("Refused") {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        dave.client
            .goto(&url(&lab, "/api/view"))
            .await
            .expect("view");
        let view = dave.text().await;
        assert!(
            view.contains("\"condition\":\"busy\"") || view.contains("\"condition\":\"free\""),
            "{view}"
        );
        assert!(
            !view.contains("drained"),
            "the cross-site form drained the station: {view}"
        );
        dave.close().await;

        // A visitor who makes up a session cookie is still a visitor.
        let visitor = Browser::start(&lab.realm, Identity::Anonymous).await;
        visitor.client.goto(&url(&lab, "/")).await.expect("wall");
        // (Set by the page's own origin: the __Host- prefix allows no Domain attribute.)
        let set = visitor
            .client
            .execute(
                "document.cookie = '__Host-burnstand=eyJ1c2VyIjoiZGF2ZUBCVVJOU1RBTkQuVEVTVCIsImFkbWluIjp0cnVlfQ.Zm9yZ2Vk; path=/; secure'; return document.cookie;",
                vec![],
            )
            .await
            .expect("set the forged cookie");
        assert!(
            set.as_str()
                .is_some_and(|c| c.contains("__Host-burnstand=")),
            "the browser holds the forged cookie: {set}"
        );
        visitor
            .client
            .goto(&url(&lab, "/api/view"))
            .await
            .expect("view");
        let view = visitor.text().await;
        assert!(view.contains("\"viewer\":\"wall\""), "{view}");
        visitor.close().await;
        lab.stop().await;
    });
}
