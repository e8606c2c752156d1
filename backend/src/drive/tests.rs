//! Unit tests of [`super`] (drive.rs), kept apart so the module reads in one sitting.
use super::*;

fn strings(args: Vec<OsString>) -> Vec<String> {
    args.into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_device_burn_bans_stdio_targets() {
    let args = burn_args(
        &DriveTarget::Device("/dev/sr0".into()),
        Some(4),
        Path::new("/srv/img/a.iso"),
    );
    assert_eq!(
        strings(args),
        [
            "-ban_stdio_write",
            "-as",
            "cdrecord",
            "-v",
            "speed=4",
            "dev=/dev/sr0",
            "/srv/img/a.iso"
        ]
    );
    let args = medium_args(&DriveTarget::Device("/dev/sr0".into()));
    assert_eq!(
        strings(args),
        [
            "-ban_stdio_write",
            "-outdev",
            "/dev/sr0",
            "-tell_media_space"
        ]
    );
}

#[test]
fn a_file_drive_is_addressed_with_stdio() {
    let args = burn_args(
        &DriveTarget::File("/tmp/d.img".into()),
        None,
        Path::new("/srv/a.iso"),
    );
    assert_eq!(
        strings(args),
        [
            "-stdio_sync",
            "off",
            "-as",
            "cdrecord",
            "-v",
            "dev=stdio:/tmp/d.img",
            "/srv/a.iso"
        ]
    );
    assert_eq!(
        strings(eject_args(&DriveTarget::File("/tmp/d.img".into()))),
        ["-outdev", "stdio:/tmp/d.img", "-eject", "all"]
    );
}

#[test]
fn server_paths_are_redacted_from_captured_failures() {
    let file = DriveTarget::File("/var/lib/st/disc.img".into());
    // xorriso 1.5.4, a burn whose image vanished, and the last lines of a medium report.
    let text = "xorriso : FAILURE : Could not open data source '/srv/images/exam.iso' : \
                No such file or directory / Drive current: -outdev 'stdio:/var/lib/st/disc.img'";
    let out = redact(text, &file, Some(Path::new("/srv/images/exam.iso")));
    assert_eq!(
        out,
        "xorriso : FAILURE : Could not open data source 'the image' : No such file or \
         directory / Drive current: -outdev 'the drive'"
    );
    let device = DriveTarget::Device("/dev/sr0".into());
    let text = "libburn : FAILURE : File object '/dev/sr0' not found / xorriso : FAILURE : \
                Cannot acquire drive '/dev/sr0' / cannot open /etc/burnstand/x (dev=/dev/sr1)";
    let out = redact(text, &device, None);
    assert!(!out.contains("/dev/") && !out.contains("/etc/"), "{out}");
    assert!(out.contains("Cannot acquire drive 'the drive'"), "{out}");
    assert!(
        out.contains("cannot open [server path] (dev=[server path])"),
        "{out}"
    );
    // Not paths: ratios and units stay.
    assert_eq!(redact("3/5 at 1.0 MB/s", &device, None), "3/5 at 1.0 MB/s");
    // Bounded.
    let long = "x".repeat(MAX_USER_TEXT_LEN * 3);
    assert_eq!(
        redact(&long, &device, None).chars().count(),
        MAX_USER_TEXT_LEN + 1
    );
}

#[test]
fn medium_reports_from_captured_output() {
    // xorriso 1.5.4, -outdev stdio:… -tell_media_space, after one burn.
    let written = "Drive current: -outdev 'stdio:/tmp/xo/disc.img'
Media current: stdio file, overwriteable
Media status : is written , is appendable
Media summary: 1 session, 1649 data blocks, 3298k data, 77.8g free
Media space  : 40789804s
After commit : 40789804s
";
    let info = parse_medium(written);
    assert_eq!(info.state, MediumState::Written);
    assert_eq!(info.profile, "stdio file, overwriteable");
    assert!(info.rewritable);
    assert_eq!(info.used_bytes, 1649 * 2048);
    assert_eq!(info.free_bytes, 40_789_804 * 2048);
    assert!(info.is_burnable());

    let blank = "Media current: stdio file, overwriteable\nMedia status : is blank\n\
                 Media summary: 0 sessions, 0 data blocks, 0 data, 77.8g free\nMedia space  : 40789612s\n";
    let info = parse_medium(blank);
    assert_eq!(info.state, MediumState::Blank);
    assert_eq!(info.used_bytes, 0);

    let closed_dvd_r =
        "Media current: DVD-R sequential recording\nMedia status : is written , is closed\n";
    let info = parse_medium(closed_dvd_r);
    assert_eq!(info.state, MediumState::Written);
    assert!(!info.rewritable);
    assert!(!info.is_burnable());

    assert_eq!(parse_medium("").state, MediumState::Absent);
    assert_eq!(
        parse_medium("Media current: is not present\n").state,
        MediumState::Absent
    );
    assert_eq!(
        parse_medium("Media current: BD-R\nMedia status : is unsuitable\n").state,
        MediumState::Unknown
    );
}
