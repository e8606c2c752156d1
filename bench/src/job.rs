//! (g) A multi-copy job spread over several drives, against the same copies burned one after
//! the other: real `burnstand-station` daemons on file drives behind the real master, driven
//! by the real client, `burnstand burn IMAGE --copies N --drives D` (issue 13's job runner).
//!
//! Two baselines in the same run, both through the client: the same job on one drive
//! (`--copies N --drives 1`: one reservation, the copies in a row) and what a user did before
//! jobs existed, N separate `burnstand burn IMAGE` commands one after the other (each with its
//! own Kerberos login and reservation). The job's `--json` report says which station burned
//! which copy; every copy must have verified, or the run fails.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use burnstand_testlab::Daemon;
use kdc_test::Realm;

use crate::burn::{make_image, station_at};
use crate::lab::{self, Master};
use crate::{Error, Figure};

/// The job's shape and the file drives' speed.
#[derive(Debug, Clone, Copy)]
pub struct JobSpec {
    /// Size of the image, MiB.
    pub mib: u64,
    pub copies: u32,
    pub drives: u32,
    /// xorriso's `speed=N` for the file drives (0: unthrottled).
    pub speed: u32,
}

/// The user's side of the lab: a ticket cache and where the master is.
struct User<'a> {
    realm: &'a Realm,
    master: &'a Master,
    ccache: &'a Path,
}

impl User<'_> {
    /// Runs `burnstand ARGS` as the bench user; its stdout (the `--json` document) on success.
    fn burnstand(&self, args: &[&str]) -> Result<Vec<u8>, Error> {
        let out = lab::client(self.realm, self.master, self.ccache)?
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "burnstand {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(out.stdout)
    }

    /// `burnstand --json burn job --copies N --drives D --no-wait`: how long it took, and how
    /// many copies each station burned (from the job report; every copy verified).
    fn job(&self, copies: u32, drives: u32) -> Result<(Duration, Vec<(String, usize)>), Error> {
        let (copies, drives) = (copies.to_string(), drives.to_string());
        let started = Instant::now();
        let out = self.burnstand(&[
            "--json",
            "burn",
            "job",
            "--copies",
            &copies,
            "--drives",
            &drives,
            "--no-wait",
        ])?;
        let took = started.elapsed();
        let report: serde_json::Value = serde_json::from_slice(&out)
            .map_err(|e| format!("the job's --json report does not parse: {e}"))?;
        // With one drive the client burns the copies in one BURN on one station and prints
        // that burn's receipt (`copies[].passed`, `station_id`); with more, the job report
        // (`copies[].result`, `drives[].copies`).
        let all = report["copies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let verified = all
            .iter()
            .filter(|c| c["result"] == "verified" || c["passed"] == true)
            .count();
        if all.is_empty() || verified != all.len() {
            return Err(format!("{verified} of {} copies verified: {report}", all.len()).into());
        }
        let per_station = match report["drives"].as_array() {
            Some(drives) => drives
                .iter()
                .map(|d| {
                    let name = d["station_id"].as_str().unwrap_or("?").to_owned();
                    (name, d["copies"].as_array().map_or(0, Vec::len))
                })
                .collect(),
            None => vec![(
                report["station_id"].as_str().unwrap_or("?").to_owned(),
                all.len(),
            )],
        };
        Ok((took, per_station))
    }

    /// `copies` separate `burnstand burn job` commands, one after the other.
    fn one_by_one(&self, copies: u32) -> Result<Duration, Error> {
        let started = Instant::now();
        for _ in 0..copies {
            self.burnstand(&["burn", "job", "--no-wait"])?;
        }
        Ok(started.elapsed())
    }
}

/// The speed-up asked for, as a share of the most that whole copies per drive allow.
const GOAL_SHARE: f64 = 3.5 / 4.0;

pub async fn run(realm: &Realm, spec: JobSpec) -> Result<Vec<Figure>, Error> {
    let drives = spec.drives.max(1);
    let copies = spec.copies.max(1);
    let dir = tempfile::tempdir()?;
    let catalog = dir.path().join("images");
    std::fs::create_dir_all(&catalog)?;
    let sha = make_image(&catalog.join("job.img"), spec.mib)?;
    std::fs::write(
        catalog.join("job.img.toml"),
        "name = \"job\"\nid = \"job\"\n",
    )?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, lab::open_policy(&sha))?;
    let drive_extra = if spec.speed > 0 {
        format!("speed = {}", spec.speed)
    } else {
        String::new()
    };

    let mut stations: Vec<Daemon> = Vec::with_capacity(drives as usize);
    for n in 0..drives {
        let home = dir.path().join(format!("st-{n}"));
        std::fs::create_dir_all(&home)?;
        stations.push(station_at(
            realm,
            &home,
            &catalog,
            &policy,
            &format!("bench-job-{n}"),
            &drive_extra,
        )?);
    }
    let addrs: Vec<_> = stations.iter().map(|s| s.addr).collect();
    let master = lab::master_with(
        realm,
        &lab::sibling("burnstand-master")?,
        &addrs,
        &lab::open_policy(&sha),
        "",
    )?;
    crate::farm::wait_free(realm, &master, drives as usize).await?;
    let ccache = dir.path().join("user.ccache");
    realm.kinit_into(lab::USER, &ccache)?;
    let user = User {
        realm,
        master: &master,
        ccache: &ccache,
    };

    // The client blocks on its processes: off the runtime's worker threads.
    let result = tokio::task::block_in_place(|| {
        let one_by_one = user.one_by_one(copies)?;
        let (in_a_row, _) = user.job(copies, 1)?;
        let (spread, per_station) = user.job(copies, drives)?;
        Ok::<_, Error>((one_by_one, in_a_row, spread, per_station))
    });
    let result = result.map_err(|e| {
        let logs: Vec<String> = (0..drives)
            .map(|n| {
                let log = std::fs::read_to_string(dir.path().join(format!("st-{n}/station.log")))
                    .unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!(
                    "st-{n}: {}",
                    lines[lines.len().saturating_sub(4)..].join("\n  ")
                )
            })
            .collect();
        Error::from(format!(
            "{e}\nmaster log:\n{}\nstation logs:\n{}",
            master.log_tail(),
            logs.join("\n")
        ))
    });
    drop(master);
    drop(stations);
    let (one_by_one, in_a_row, spread, per_station) = result?;

    let secs = |d: Duration| d.as_secs_f64();
    // Whole copies on each drive: the job cannot be shorter than ceil(copies / drives) copies,
    // so the speed-up over the same job on one drive is at most copies / that.
    let rounds = copies.div_ceil(drives.min(copies));
    let ceiling = f64::from(copies) / f64::from(rounds);
    // Issue 13 asks for 3.5x on 4 drives: 87.5 % of the 4x that 4 drives could give at most.
    // With a copy count that is not a multiple of the drives the most is `ceiling`, so the goal
    // is stated as the same share of it (3.5x for 12 copies on 4 drives, 2.92x for 10).
    let goal = GOAL_SHARE * ceiling;
    let spread_over: Vec<String> = per_station
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let drive = if spec.speed > 0 {
        format!("file drives at xorriso speed={}", spec.speed)
    } else {
        "unthrottled file drives".to_owned()
    };
    let what = |speed_up: f64| {
        format!(
            "`burnstand burn --copies {copies} --drives {drives}` of a {} MiB image ({drive}; \
             copies per station: {}), speed-up {speed_up:.2}x (whole copies allow at most {ceiling:.2}x)",
            spec.mib,
            spread_over.join(", "),
        )
    };
    let against_row = secs(in_a_row) / secs(spread);
    let against_commands = secs(one_by_one) / secs(spread);
    Ok(vec![
        Figure {
            bench: "g",
            what: what(against_row),
            value: secs(spread),
            unit: "s",
            baseline: format!("the same job on one drive (`--copies {copies} --drives 1`)"),
            baseline_value: secs(in_a_row),
            ratio: secs(spread) / secs(in_a_row),
            target: format!("speed-up >= {goal:.2}x"),
            met: against_row >= goal,
        },
        Figure {
            bench: "g",
            what: what(against_commands),
            value: secs(spread),
            unit: "s",
            baseline: format!("{copies} separate `burnstand burn` commands in a row"),
            baseline_value: secs(one_by_one),
            ratio: secs(spread) / secs(one_by_one),
            target: format!("speed-up >= {goal:.2}x"),
            met: against_commands >= goal,
        },
    ])
}
