//! Catalog bounds through the real station binary: image names are bounded, and whatever the
//! catalog holds, CAP fits one protocol message and every receipt fits the audit log.

use burnstand_station::catalog::MAX_IMAGES;
use burnstand_station::image::MAX_IMAGE_NAME_LEN;
use burnstand_wire::burner::{ErrorCode, Event, Request, MAX_IMAGE_ID_LEN};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::limits::MAX_MESSAGE_LEN;

use crate::harness::*;

/// Publishes `count` tiny images `prefix-N.img` (distinct bytes, so distinct SHA-256),
/// entitled to alice, with the sidecar `sidecar(n)`.
fn publish_many(lab: &Lab, prefix: &str, count: usize, sidecar: impl Fn(usize) -> String) {
    for n in 0..count {
        let file = format!("{prefix}-{n}.img");
        std::fs::write(lab.images.join(&file), format!("{prefix} image {n}")).unwrap();
        lab.publish(&file, &sidecar(n));
        lab.entitle(
            &file,
            &format!("allow_users = [\"{}\"]", lab.principal("alice")),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_image_names_are_not_offered_and_cap_still_arrives() {
    let lab = Lab::new();
    // 600 images with 900-character names once made CAP larger than a message: the session
    // died at CAPAB. A 65,000-character name made every receipt too long to log.
    publish_many(&lab, "long", 600, |n| {
        format!("name = \"{}\"\nid = \"long-{n}\"\n", "n".repeat(900))
    });
    publish_many(&lab, "huge", 1, |_| {
        format!("name = \"{}\"\nid = \"huge\"\n", "h".repeat(65_000))
    });
    publish_many(&lab, "fine", 1, |_| {
        format!(
            "name = \"{}\"\nid = \"fine\"\n",
            "f".repeat(MAX_IMAGE_NAME_LEN)
        )
    });
    let station = lab.start_binary(&lab.config_text("", ""));
    let mut module = connect_as_master(&lab, station.addr).await.module();
    let Event::Cap(cap) = module.ask(&Request::Capab).await else {
        panic!("no CAP");
    };
    let ids: Vec<&str> = cap.images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["fine"],
        "only the image with a name within the bound is offered"
    );

    let answer = module
        .ask(&Request::Burn {
            image_id: "huge".into(),
            copies: 1,
        })
        .await;
    assert!(
        matches!(&answer, Event::Error(r) if r.code == ErrorCode::UnknownImage),
        "{answer:?}"
    );
    drop(module);
    drop(station);
    let stderr = std::fs::read_to_string(lab.dir.path().join("station.stderr")).unwrap();
    assert!(
        stderr.contains("image name longer than 256 characters; image not offered")
            && stderr.contains("huge-0.img.toml"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_catalog_at_the_largest_names_fits_one_cap() {
    let lab = Lab::new();
    // Every image at the longest id and name, in characters that take the most bytes on the
    // wire (two UTF-16 units each), and more images than a catalog offers.
    let wide = '\u{1D11E}';
    publish_many(&lab, "max", MAX_IMAGES + 3, |n| {
        let suffix = format!("{n:04}");
        let id: String = std::iter::repeat_n(wide, MAX_IMAGE_ID_LEN - suffix.len())
            .chain(suffix.chars())
            .collect();
        let name: String = std::iter::repeat_n(wide, MAX_IMAGE_NAME_LEN).collect();
        format!("name = \"{name}\"\nid = \"{id}\"\n")
    });
    let station = lab.start_binary(&lab.config_text("", ""));
    let mut module = connect_as_master(&lab, station.addr).await.module();
    module.send(&Request::Capab).await;
    let raw = module.recv_raw().await;
    assert!(raw.len() <= MAX_MESSAGE_LEN, "{} bytes", raw.len());
    let Event::Cap(cap) = from_bytes::<Event>(&raw).unwrap() else {
        panic!("no CAP");
    };
    assert_eq!(cap.images.len(), MAX_IMAGES);
    drop(module);
    drop(station);
    let stderr = std::fs::read_to_string(lab.dir.path().join("station.stderr")).unwrap();
    assert!(stderr.contains("not offered"), "{stderr}");
}
