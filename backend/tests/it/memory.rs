//! A large image burns without its size showing in the station's memory.
//!
//! The station (the real binary, as a child) hashes the catalog, hands the image to xorriso
//! (a separate process) and reads the disc back, each through a fixed-size buffer. Its peak
//! resident set (VmHWM) must stay far below the image size. This is a memory bound, not a
//! timing assertion.

use burnstand_wire::burner::{Event, Request};

use crate::harness::*;

/// 200 MiB: large enough that holding it (or a sizable part) would be unmistakable.
const IMAGE_LEN: u64 = 200 << 20;

/// The station's peak RSS must stay under this: a quarter of the image.
const PEAK_LIMIT_KB: u64 = (IMAGE_LEN / 4) >> 10;

#[tokio::test]
async fn a_200_mb_image_burns_without_its_size_in_the_station_s_memory() {
    let lab = Lab::new();
    // A sparse file of zeros: cheap to create, still 200 MiB to hash, burn and read back.
    let image = lab.images.join("large.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(IMAGE_LEN)
        .unwrap();
    lab.publish("large.img", "name = \"Large\"\n");
    lab.entitle("large.img", &format!("allow_users = [\"*@{REALM}\"]"));

    let station = lab.start_binary(&lab.config_text("", ""));
    let after_start = station.status_kb("VmHWM");
    let mut m = connect_as_master(&lab, station.addr).await.module();
    let Event::Cap(cap) = m.ask(&Request::Capab).await else {
        panic!("CAP")
    };
    assert_eq!(cap.images[0].size, IMAGE_LEN);

    m.send(&Request::Burn {
        image_id: "large.img".into(),
        copies: 1,
    })
    .await;
    let events = m
        .until(|e| matches!(e, Event::Verify(_) | Event::Error(_)))
        .await;
    assert!(
        matches!(events.last(), Some(Event::Verify(r)) if r.passed && r.bytes == IMAGE_LEN),
        "{events:?}"
    );

    let peak = station.status_kb("VmHWM");
    let now = station.status_kb("VmRSS");
    eprintln!("station memory: VmHWM {peak} kB (after start {after_start} kB), VmRSS {now} kB; image {} kB", IMAGE_LEN >> 10);
    assert!(
        peak < PEAK_LIMIT_KB,
        "station peak RSS {peak} kB for a {} kB image",
        IMAGE_LEN >> 10
    );
    drop(m);
}
