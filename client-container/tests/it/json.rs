//! `--json`: one document on stdout per command, with the documented fields; failures as one
//! JSON object on stderr.

use serde_json::Value;

use crate::lab::{text, Lab};

/// Runs `burnstand --json ARGS` as alice and parses stdout.
fn json(lab: &Lab, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = lab.run("alice", &all);
    assert!(
        out.status.success(),
        "burnstand {all:?}: {}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    assert!(
        out.stderr.is_empty(),
        "--json prints nothing else: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

fn is_hex(value: &Value, len: usize) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn list_images_and_burn_print_parseable_json() {
    let lab = Lab::start();

    let list = json(&lab, &["list"]);
    assert_eq!(list["principal"], "alice@BURNSTAND.TEST");
    assert_eq!(list["master"], "burnstand/localhost@BURNSTAND.TEST");
    let types = list["station_types"].as_array().expect("station_types");
    assert_eq!(types.len(), 1);
    assert_eq!(types[0]["id"], 1);
    assert_eq!(types[0]["name"], "DVD burner");
    assert_eq!(types[0]["services"][0]["name"], "burner");

    let images = json(&lab, &["images"]);
    assert_eq!(images["station"]["name"], "Test station 1 (DVD)");
    assert_eq!(images["station"]["id"], "test-station-1");
    assert_eq!(images["station"]["drive"], "DVD");
    assert_eq!(images["station"]["station_type"], 1);
    let list = images["images"].as_array().expect("images");
    let sample = list
        .iter()
        .find(|i| i["id"] == "sample")
        .expect("sample is offered");
    assert_eq!(sample["name"], "Test image sample");
    assert_eq!(sample["restricted"], true);
    assert_eq!(sample["size"], lab.sample.size);
    assert_eq!(sample["sha256"], lab.sample.sha256.as_str());
    assert_eq!(sample["md5"], lab.sample.md5.as_str());

    let status = json(&lab, &["status"]);
    assert!(status["medium"]["state"].is_string(), "{status}");
    assert!(status["medium"]["burnable"].is_boolean(), "{status}");

    let receipt = json(&lab, &["burn", "sample"]);
    assert_eq!(receipt["result"], "verified");
    assert_eq!(receipt["principal"], "alice@BURNSTAND.TEST");
    assert_eq!(receipt["master"], "burnstand/localhost@BURNSTAND.TEST");
    assert_eq!(receipt["master_address"], lab.master_addr.to_string());
    assert_eq!(receipt["station_type"]["id"], 1);
    assert_eq!(receipt["station_id"], "test-station-1");
    assert_eq!(receipt["station_name"], "Test station 1 (DVD)");
    assert_eq!(receipt["drive"], "DVD");
    assert!(receipt["module_address"].is_string());
    assert_eq!(receipt["image_id"], "sample");
    assert_eq!(receipt["image_name"], "Test image sample");
    assert_eq!(receipt["restricted"], true);
    assert_eq!(receipt["bytes"], lab.sample.size);
    assert_eq!(receipt["sha256"], lab.sample.sha256.as_str());
    assert!(is_hex(&receipt["md5"], 32));
    assert_eq!(receipt["copies_requested"], 1);
    let copies = receipt["copies"].as_array().expect("copies");
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0]["copy"], 1);
    assert_eq!(copies[0]["passed"], true);
    assert_eq!(copies[0]["bytes"], lab.sample.size);
    assert_eq!(copies[0]["readback_md5"], lab.sample.md5.as_str());
    for field in ["started", "finished"] {
        let time = receipt[field].as_str().expect(field);
        assert!(time.len() == 20 && time.ends_with('Z'), "{field}: {time}");
    }
    assert_eq!(receipt["problem"], Value::Null);

    // A failure: nothing on stdout, one JSON object on stderr.
    let out = lab.run("alice", &["--json", "burn", "nope"]);
    assert_eq!(out.status.code(), Some(15));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let error: Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["error"], "unknown_image");
    assert_eq!(error["exit_code"], 15);
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("no image \"nope\"")));
}
