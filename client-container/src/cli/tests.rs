use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("burnstand").chain(args.iter().copied()))
}

#[test]
fn the_command_line_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn burn_takes_wait_station_and_type() {
    let cli = parse(&["burn", "exam", "--wait", "--station", "dvd-2", "-t", "1"]).unwrap();
    let Action::Burn {
        image,
        pick,
        copies,
        ..
    } = cli.command
    else {
        panic!("not burn")
    };
    assert_eq!((image.as_str(), copies), ("exam", 1));
    let want = pick.want();
    assert_eq!(want.wait, WaitChoice::Wait);
    assert_eq!(want.station.as_deref(), Some("dvd-2"));
    assert_eq!(want.station_type.as_deref(), Some("1"));
}

#[test]
fn wait_and_no_wait_exclude_each_other() {
    let e = parse(&["burn", "exam", "--wait", "--no-wait"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    let Action::Status(pick) = parse(&["status", "--no-wait"]).unwrap().command else {
        panic!("not status")
    };
    assert_eq!(pick.want().wait, WaitChoice::NoWait);
    let Action::Images(pick) = parse(&["images"]).unwrap().command else {
        panic!("not images")
    };
    assert_eq!(pick.want(), Want::default());
    assert!(matches!(
        parse(&["eject", "--station", "dvd-1"]).unwrap().command,
        Action::Eject(Pick {
            station: Some(_),
            ..
        })
    ));
}

#[test]
fn reserve_and_release_parse() {
    let Action::Reserve(pick) = parse(&["reserve", "--wait", "--type", "DVD burner"])
        .unwrap()
        .command
    else {
        panic!("not reserve")
    };
    assert_eq!(pick.want().wait, WaitChoice::Wait);
    assert_eq!(pick.station_type.as_deref(), Some("DVD burner"));
    assert!(matches!(
        parse(&["release"]).unwrap().command,
        Action::Release
    ));
    assert!(parse(&["release", "dvd-1"]).is_err());
}

#[test]
fn the_holder_subcommand_is_hidden_but_parses() {
    let cli = parse(&[
        "--master",
        "m:4700",
        "hold-reservation",
        "--station",
        "dvd-1",
        "--no-wait",
    ])
    .unwrap();
    assert_eq!(cli.master.as_deref(), Some("m:4700"));
    assert!(matches!(cli.command, Action::HoldReservation(_)));
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    assert!(!help.contains("hold-reservation"), "{help}");
    assert!(help.contains("reserve"));
}

#[test]
fn admin_subcommands_parse_to_their_commands() {
    let command = |args: &[&str]| match parse(args).unwrap().command {
        Action::Admin(action) => action.command().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(command(&["admin", "stations"]), AdminCommand::Stations);
    assert_eq!(command(&["admin", "queue"]), AdminCommand::Queue);
    assert_eq!(
        command(&["admin", "queue", "clear"]),
        AdminCommand::QueueClear
    );
    assert_eq!(
        command(&["admin", "drain", "dvd-1"]),
        AdminCommand::Drain("dvd-1".into())
    );
    assert_eq!(
        command(&["admin", "resume", "dvd-1"]),
        AdminCommand::Resume("dvd-1".into())
    );
    assert_eq!(
        command(&["admin", "release", "dvd-1"]),
        AdminCommand::Release("dvd-1".into())
    );
    assert_eq!(command(&["--json", "admin", "who"]), AdminCommand::Who);
    assert!(parse(&["admin", "drain"]).is_err(), "drain needs a station");
    assert!(parse(&["admin"]).is_err());
}

#[test]
fn list_help_no_longer_says_the_master_hides_the_counts() {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    let list = cli.find_subcommand_mut("list").unwrap();
    let help = list.render_long_help().to_string();
    assert!(help.contains("how many are free"), "{help}");
    assert!(!help.contains("does not tell how many"), "{help}");
}

#[test]
fn copies_ask_for_as_many_drives_as_they_need_up_to_drives_and_16() {
    let Action::Burn { copies, drives, .. } = parse(&["burn", "exam", "-n", "5", "--drives", "2"])
        .unwrap()
        .command
    else {
        panic!("not burn")
    };
    assert_eq!((copies, drives), (5, Some(2)));
    assert_eq!(crate::burn::BurnRequest::drives_for(5, Some(2)), 2);
    assert_eq!(crate::burn::BurnRequest::drives_for(5, None), 5);
    assert_eq!(crate::burn::BurnRequest::drives_for(40, None), 16);
    assert_eq!(crate::burn::BurnRequest::drives_for(1, Some(8)), 1);
    assert!(parse(&["burn", "exam", "--drives", "17"]).is_err());
    assert!(parse(&["burn", "exam", "--drives", "0"]).is_err());
    let named = Want {
        station: Some("dvd-2".into()),
        drives: 5,
        ..Want::default()
    };
    assert_eq!(named.drives_to_ask(), 1, "a named station is one drive");
    assert_eq!(Want::default().drives_to_ask(), 1);
}
