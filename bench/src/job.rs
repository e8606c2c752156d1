//! (g) A multi-copy job spread over several drives, against the same copies burned one after
//! the other on one drive: real `burnstand-station` daemons on file drives behind the real
//! master.
//!
//! The client's job runner (`burnstand burn --copies N` spread over drives) is not used here;
//! the job is driven at the protocol level the way it works: RESERVE of `drives` stations on
//! the container connection, one module connection per reserved station (the master sends
//! each SERV to the reserved station with the fewest modules open), and on each module BURN
//! of one copy at a time, taken from a shared counter until every copy is done. The baseline
//! is the same driver with one drive: one reservation, one module, the copies in a row.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnstand_testlab::Daemon;
use burnstand_wire::burner::{Event, Request};
use burnstand_wire::command::{Command, Reply, ServiceType};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::farm::{Reserve, ReserveReply};
use burnstand_wire::io::Session;
use kdc_test::Realm;
use tokio::net::TcpStream;

use crate::burn::{make_image, station_at};
use crate::lab::{self, Master};
use crate::{Error, Figure};

/// Bound on one copy (burn, verify, the tray and medium report after it): a hang guard.
const COPY_GUARD: Duration = Duration::from_secs(600);

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

/// One run of the driver.
struct JobRun {
    took: Duration,
    /// Copies burned per station (by the station's id from CAP).
    per_station: Vec<(String, u32)>,
    /// How long each copy took, BURN to the report after it.
    copy_times: Vec<Duration>,
}

impl JobRun {
    fn mean_copy_secs(&self) -> f64 {
        let total: f64 = self.copy_times.iter().map(Duration::as_secs_f64).sum();
        total / self.copy_times.len().max(1) as f64
    }
}

/// The next burner event on a module, skipping tags this build does not know.
async fn next_event(module: &mut Session<TcpStream>) -> Result<Event, Error> {
    loop {
        let bytes = tokio::time::timeout(COPY_GUARD, module.recv_bytes())
            .await
            .map_err(|_| format!("no event from the station within {COPY_GUARD:?}"))??;
        match from_bytes::<Event>(&bytes) {
            Ok(event) => return Ok(event),
            Err(burnstand_wire::Error::UnknownEvent) => continue,
            Err(e) => return Err(format!("an event that does not decode: {e}").into()),
        }
    }
}

/// Burns one verified copy of `image` on `module`, and waits for the station's tray and medium
/// report that follows it (the drive is free again then).
async fn burn_one(module: &mut Session<TcpStream>, image: &str) -> Result<(), Error> {
    module
        .send(&Request::Burn {
            image_id: image.to_owned(),
            copies: 1,
        })
        .await?;
    loop {
        match next_event(module).await? {
            Event::Verify(v) if v.passed => break,
            Event::Verify(v) => return Err(format!("copy failed its verify: {v:?}").into()),
            Event::Error(e) => return Err(format!("the station refused or failed: {e:?}").into()),
            _ => continue, // STATUS, RECEIPT
        }
    }
    loop {
        match next_event(module).await? {
            Event::Avail | Event::Empty => return Ok(()),
            Event::Error(e) => return Err(format!("after the burn: {e:?}").into()),
            _ => continue, // TRAYOPEN
        }
    }
}

/// The job: reserve `drives` stations, a module on each, `copies` copies from a shared
/// counter, then QUIT. Timed from the connection of the container to the QUIT's OK.
async fn job(
    realm: &Realm,
    master: &Master,
    image: &str,
    copies: u32,
    drives: u32,
) -> Result<JobRun, Error> {
    let principal = realm.principal(lab::MASTER);
    let cred = lab::user_cred(realm)?;
    let started = Instant::now();
    let mut container = lab::connect(&principal, cred.clone(), master.addr).await?;
    container
        .send(&Command::Reserve(Reserve {
            type_id: 1,
            station: String::new(),
            drives,
            flags: 0,
        }))
        .await?;
    let reserved = match container.recv::<ReserveReply>().await? {
        ReserveReply::Reserved { stations, .. } => stations.len(),
        other => return Err(format!("RESERVE of {drives} drives answered {other:?}").into()),
    };
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = Vec::with_capacity(reserved);
    for _ in 0..reserved {
        // One at a time: each SERV goes to the reserved station with the fewest modules open.
        let mut module = lab::connect(&principal, cred.clone(), master.addr).await?;
        module
            .send(&Command::Serv(ServiceType {
                id: ServiceType::BURNER,
                name: "burner".into(),
                description: String::new(),
            }))
            .await?;
        let reply: Reply = module.recv().await?;
        if reply != Reply::Ok {
            return Err(format!("SERV answered {reply:?}").into());
        }
        module.send(&Request::Capab).await?;
        let station = loop {
            match next_event(&mut module).await? {
                Event::Cap(cap) if cap.images.iter().any(|i| i.id == image) => {
                    break cap.station_id
                }
                Event::Cap(cap) => {
                    return Err(format!("station {} does not offer {image}", cap.station_id).into())
                }
                Event::Error(e) => return Err(format!("CAPAB: {e:?}").into()),
                _ => continue,
            }
        };
        let (next, image) = (Arc::clone(&next), image.to_owned());
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while next.fetch_add(1, Ordering::SeqCst) < copies {
                let started = Instant::now();
                burn_one(&mut module, &image)
                    .await
                    .map_err(|e| format!("{station}: {e}"))?;
                times.push(started.elapsed());
            }
            Ok::<_, String>((station, times))
        }));
    }
    let mut per_station = Vec::with_capacity(reserved);
    let mut copy_times = Vec::new();
    for worker in workers {
        let (station, times) = worker.await??;
        per_station.push((station, times.len() as u32));
        copy_times.extend(times);
    }
    container.send(&Command::Quit).await?;
    let reply: Reply = container.recv().await?;
    if reply != Reply::Ok {
        return Err(format!("QUIT answered {reply:?}").into());
    }
    let took = started.elapsed();
    let done: u32 = per_station.iter().map(|(_, n)| n).sum();
    if done != copies {
        return Err(format!("{done} of {copies} copies burned").into());
    }
    Ok(JobRun {
        took,
        per_station,
        copy_times,
    })
}

pub async fn run(realm: &Realm, spec: JobSpec) -> Result<Figure, Error> {
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

    let result = async {
        let sequential = job(realm, &master, "job", copies, 1).await?;
        let spread = job(realm, &master, "job", copies, drives).await?;
        Ok::<_, Error>((sequential, spread))
    }
    .await;
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
    let (sequential, spread) = result?;

    let secs = |d: Duration| d.as_secs_f64();
    let speed_up = secs(sequential.took) / secs(spread.took);
    // Whole copies on each drive: the job cannot be shorter than ceil(copies / drives) copies.
    let rounds = copies.div_ceil(drives.min(copies));
    let ideal = f64::from(copies) / f64::from(rounds);
    let spread_over: Vec<String> = spread
        .per_station
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let drive = if spec.speed > 0 {
        format!("file drives at xorriso speed={}", spec.speed)
    } else {
        "unthrottled file drives".to_owned()
    };
    Ok(Figure {
        bench: "g",
        what: format!(
            "a {copies}-copy job of a {} MiB image spread over {drives} stations ({drive}; copies per station: {}; \
             mean copy {:.2} s alone, {:.2} s with {drives} at once), speed-up {speed_up:.2}x (whole copies per drive allow at most {ideal:.2}x)",
            spec.mib,
            spread_over.join(", "),
            sequential.mean_copy_secs(),
            spread.mean_copy_secs(),
        ),
        value: secs(spread.took),
        unit: "s",
        baseline: format!("{copies} single-copy burns one after the other on one station"),
        baseline_value: secs(sequential.took),
        ratio: secs(spread.took) / secs(sequential.took),
        target: "speed-up >= 3.5x (ratio <= 0.286)".into(),
        met: speed_up >= 3.5,
    })
}
