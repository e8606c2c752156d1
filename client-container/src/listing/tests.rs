use burnstand_wire::command::ServiceType;
use burnstand_wire::datastream::to_bytes;

use super::*;

fn dvd() -> StationType {
    StationType {
        id: 1,
        services: vec![ServiceType {
            id: ServiceType::BURNER,
            name: "burner".into(),
            description: "burns".into(),
        }],
        name: "DVD burner".into(),
        description: "DVD drive; services: burner".into(),
    }
}

fn listx() -> ListX {
    ListX {
        version: 2,
        types: vec![ListedType {
            record: dvd(),
            total: 3,
            free: 0,
            busy: 2,
            quarantined: 1,
            queued: 4,
            notes: vec!["dvd-3: quarantined: no heartbeat for 16s".into()],
        }],
    }
}

#[test]
fn a_listx_answer_carries_the_counts() {
    let answer = ListxAnswer::decode(&to_bytes(&listx())).unwrap();
    assert_eq!(answer, ListxAnswer::Counted(listx()));
    let ListxAnswer::Counted(listx) = answer else {
        unreachable!()
    };
    let listing = Listing::from(listx);
    assert!(listing.is_farm());
    assert_eq!(listing.types, vec![dvd()]);
    let counts = listing.counts_of(1).unwrap();
    assert_eq!((counts.total, counts.free, counts.busy), (3, 0, 2));
    assert_eq!((counts.quarantined, counts.waiting), (1, 4));
    assert_eq!(listing.counts_of(2), None);
}

#[test]
fn errinvcmd_to_listx_means_an_old_master_and_list_follows() {
    let answer = ListxAnswer::decode(&to_bytes(&Reply::ErrInvCmd)).unwrap();
    assert_eq!(answer, ListxAnswer::OldMaster);
}

#[test]
fn other_answers_to_listx_are_unexpected() {
    let denied = ListxAnswer::decode(&to_bytes(&Reply::ErrDenied("no".into()))).unwrap_err();
    assert_eq!(denied.exit_code(), 14);
    assert!(denied.to_string().contains("ERRDENIED in answer to LISTX"));
    // A station list as plain LIST would send it is not a LISTX answer.
    let plain = ListxAnswer::decode(&to_bytes(&vec![dvd()])).unwrap_err();
    assert!(plain.to_string().contains("not a station list"), "{plain}");
    // Counts that do not add up are refused, not shown.
    let mut bad = listx();
    bad.types[0].total = 9;
    assert!(ListxAnswer::decode(&to_bytes(&bad)).is_err());
}

#[test]
fn the_report_has_a_table_with_counts_or_says_there_are_none() {
    let counted = ListReport::new("alice@R", "burnstand/m@R", &Listing::from(listx()));
    let text = counted.human();
    assert!(text.contains("ID  TYPE"), "{text}");
    assert!(
        text.contains("TOTAL  FREE  BUSY  QUARANTINED  WAITING"),
        "{text}"
    );
    let row = text.lines().find(|l| l.contains("DVD burner")).unwrap();
    let numbers: Vec<&str> = row.split_whitespace().skip(3).take(5).collect();
    assert_eq!(numbers, ["3", "0", "2", "1", "4"], "{row}");
    let json = serde_json::to_value(&counted).unwrap();
    assert_eq!(json["counts_available"], true);
    assert_eq!(json["station_types"][0]["counts"]["waiting"], 4);

    assert!(
        text_of(&counted).contains("out of use (type 1): dvd-3: quarantined: no heartbeat for 16s"),
        "{}",
        text_of(&counted)
    );
    assert_eq!(
        json["station_types"][0]["out_of_use"][0],
        "dvd-3: quarantined: no heartbeat for 16s"
    );

    let old = Listing {
        types: vec![dvd()],
        counts: None,
        notes: Vec::new(),
    };
    let report = ListReport::new("alice@R", "burnstand/m@R", &old);
    let text = report.human();
    assert!(text.contains("   1  DVD burner  (DVD drive"), "{text}");
    assert!(text.contains("counts are not available"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["counts_available"], false);
    assert!(json["station_types"][0]["counts"].is_null());
}

fn text_of(report: &ListReport) -> String {
    report.human()
}
