//! `burnstand burn IMAGE --copies N` over several drives: a job.
//!
//! The container connection reserves up to `d` stations at once (RESERVE with `drives = d`,
//! protocol.md §5.10.3; `d` = `--drives`, else all the copies need, at most 16), and the master
//! gives at least one. Then one burner module per reserved station: the master sends each
//! SERV of the user to the reserved station with the fewest modules open, so `k` modules reach
//! `k` different drives, and CAPAB says which one each is. Every drive burns one copy at a
//! time: it takes the next copy number from the job's [`pool::Pool`], sends BURN with
//! `copies = 1` (the station asks the master's grant and writes a receipt per copy, as for any
//! BURN), follows it to its VERIFY, and takes the next. All drives run on this one task.
//!
//! ```text
//! container   RESERVE type "" 3 flags    ──►  RESERVED session [dvd-1, dvd-2, dvd-3]
//! module 1    SERV burner, CAPAB         ──►  dvd-1   BURN id 1 … VERIFY   BURN id 1 … (copies 1, 4)
//! module 2    SERV burner, CAPAB         ──►  dvd-2   BURN id 1 … VERIFY   BURN id 1 … (copies 2, 5)
//! module 3    SERV burner, CAPAB         ──►  dvd-3   BURN id 1 … lost                (copy 3 failed)
//! container   QUIT                       ──►  every station released
//! ```
//!
//! What ends a drive's part and what ends the job is [`worker::verdict`]: a drive whose station
//! fails mid-copy (connection lost, station or drive error) has that copy reported failed,
//! with the station's receipt when it sent one, and leaves; the other drives burn the copies
//! left. A failed copy is **not** burned again: it may have used a copy of the quota, and its
//! disc must be thrown away. A copy a station refused before starting it goes back to the pool
//! for another drive. A policy refusal (DENIED: the quota is used up) stops the whole job.
//! Ctrl-C cancels the copy on every drive, as for one burn ([`crate::burn::cancel`]).
//!
//! Releasing the reservation (QUIT) ends every module connection at the master.

mod display;
mod pool;
mod report;
mod worker;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::SystemTime;

use burnstand_wire::burner::{Capabilities, ImageInfo};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::burn::{resolve_image, BurnRequest, ReceiptBase};
use crate::config::Settings;
use crate::module::BurnerModule;
use crate::output::Output;
use crate::receipt::StationRecord;
use crate::reservation::{open_module, Reservation};
use crate::reserve::Want;
use crate::ticket::{utc, Ticket};
use crate::ClientError;

use display::JobDisplay;
use pool::Pool;
pub use report::{CopyEntry, CopyState, DriveEntry, Ending, JobReport, ReceiptFile};
use worker::{Shared, Slot};

/// Where the job is: Ctrl-C moves it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Running,
    /// Ctrl-C: every drive cancels its copy and waits for the station to confirm.
    Cancel,
    /// Ctrl-C again: stop waiting for the stations.
    GiveUp,
}

/// Whether `burn` on `res` runs as a job over several drives: a burner-farm master reserved
/// the stations for this burn (not `burnstand reserve`, not BIND) and `want` asks for more
/// than one. Otherwise the copies are burned one after the other on the one station.
pub fn applies(res: &Reservation, want: &Want) -> bool {
    want.drives_to_ask() > 1 && !res.held && res.reserved.is_some()
}

/// Runs the job on `res`, prints its report, saves the receipts (`--save-receipt`) and
/// releases the stations.
pub async fn burn_job(
    mut res: Reservation,
    settings: &Settings,
    ticket: &Ticket,
    want: &Want,
    request: &BurnRequest,
    out: &Output,
) -> Result<(), ClientError> {
    let asked = want.drives_to_ask();
    let (report, result) = run(&mut res, settings, ticket, asked, request, out).await;
    let released = res.release().await;
    let mut saved = Ok(());
    if let Some(mut report) = report {
        if let Some(path) = &request.save_receipt {
            match save_receipts(path, &report) {
                Ok(files) => {
                    for f in &files {
                        out.note(&format!(
                            "saved {} station receipt record(s) of {} to {}; check them later with `burnstand audit verify STATION-LOG --receipt {}`",
                            f.records, f.station_id, f.path, f.path
                        ));
                    }
                    report.receipt_files = files;
                }
                Err(e) => saved = Err(e),
            }
        }
        out.report(&report);
    }
    if result.is_ok() {
        if let Err(e) = &released {
            out.note(&format!("note: releasing the stations: {e}"));
        }
    } else if released.is_ok() {
        out.note("the stations were released");
    }
    saved?;
    result
}

/// The job: the other modules, the drives, the report. `None` for the report when no copy
/// was even tried.
async fn run(
    res: &mut Reservation,
    settings: &Settings,
    ticket: &Ticket,
    asked: u32,
    request: &BurnRequest,
    out: &Output,
) -> (Option<JobReport>, Result<(), ClientError>) {
    let image = match resolve_image(
        &res.station.images,
        &request.image,
        &res.station.friendly_name,
    ) {
        Ok(image) => image.clone(),
        Err(e) => return (None, Err(e)),
    };
    // Registered before anything is burned; from here on Ctrl-C cancels.
    let mut interrupt = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            let e = ClientError::Internal(format!("cannot handle Ctrl-C: {e}"));
            return (None, Err(e));
        }
    };
    res.take_over_ctrl_c();
    let reserved: Vec<String> = res
        .reserved_all
        .iter()
        .map(|s| match s.location.as_str() {
            "" => s.name.clone(),
            location => format!("{} ({location})", s.name),
        })
        .collect();
    out.note(&format!(
        "reserved {} for {}",
        reserved.join(", "),
        ticket.principal()
    ));
    let others = res.reserved_all.len().saturating_sub(1);
    let opening = join_all(
        (0..others)
            .map(|_| open_module(settings, ticket, &res.station_type))
            .collect(),
    );
    let opened = tokio::select! {
        opened = opening => opened,
        _ = interrupt.recv() => {
            let e = ClientError::Interrupted("interrupted (Ctrl-C) before the burn started: nothing was burned".into());
            return (None, Err(e));
        }
    };
    let mut extra: Vec<(BurnerModule, Capabilities)> = Vec::new();
    for module in opened {
        match module {
            Ok((module, station, _)) => extra.push((module, station)),
            Err(e) => out.note(&format!(
                "note: one of the reserved stations could not be opened; the job goes on without it: {e}"
            )),
        }
    }

    let base = ReceiptBase {
        ticket,
        master: &res.master,
        master_address: &settings.master,
        station_type: &res.station_type,
        session_id: res.session_id.as_deref(),
    };
    let head = base.receipt(&image, request.copies, &res.station, &res.module);
    let mut report = JobReport::new(&head, request.copies, asked);
    let modules = std::iter::once((&mut res.module, &res.station)).chain(
        extra
            .iter_mut()
            .map(|(module, station)| (module, &*station)),
    );
    let mut slots = Vec::new();
    for (module, station) in modules {
        match offered(station, &image) {
            Some(image) => slots.push(Slot {
                index: slots.len(),
                module,
                station,
                image,
            }),
            None => report.drives.push(DriveEntry {
                station_id: station.station_id.clone(),
                station_name: station.friendly_name.clone(),
                drive: station.drive.to_string(),
                module_address: module.local_address().map(|a| a.to_string()),
                copies: Vec::new(),
                left: Some(format!(
                    "it does not offer image {:?} (sha256 {}) to you",
                    image.name,
                    image.sha256.to_hex()
                )),
            }),
        }
    }
    let names: Vec<String> = slots
        .iter()
        .map(|s| s.station.friendly_name.clone())
        .collect();
    out.note(&start_line(
        &image,
        request.copies,
        &names,
        asked,
        res.reserved_all.len(),
    ));

    let pool = RefCell::new(Pool::new(request.copies));
    let display = RefCell::new(JobDisplay::new(
        out.is_json(),
        &names,
        request.copies,
        image.size,
    ));
    let shared = Shared {
        pool: &pool,
        display: &display,
        base: &base,
        copies: request.copies,
    };
    let (stage_tx, stage_rx) = watch::channel(Stage::Running);
    report.started = utc(SystemTime::now());
    let workers = slots
        .into_iter()
        .map(|slot| worker::run(slot, &shared, stage_rx.clone()))
        .collect();
    let runs = tokio::select! {
        runs = join_all(workers) => runs,
        never = ctrl_c(&mut interrupt, &stage_tx, &pool, &display) => match never {},
    };
    display.borrow_mut().finish();
    report.finished = utc(SystemTime::now());

    let mut ending = Ending {
        interrupted: *stage_tx.borrow() != Stage::Running,
        ..Ending::default()
    };
    for (n, run) in runs.into_iter().enumerate() {
        report.drives.insert(n, run.entry);
        report.copies.extend(run.copies);
        ending.drive_errors.extend(run.error);
        if ending.quota.is_none() {
            ending.quota = run.quota;
        }
    }
    let tried = !report.copies.is_empty();
    let pool = pool.into_inner();
    let why = pool.stopped().map_or_else(
        || "no drive was left to burn it: every drive left the job (see the drives)".to_owned(),
        str::to_owned,
    );
    for copy in pool.left_over() {
        report.copies.push(CopyEntry::not_burned(copy, &why));
    }
    let result = report.conclude(ending);
    (tried.then_some(report), result)
}

/// The image `station` offers that is `image` (by SHA-256; its id there may differ).
fn offered(station: &Capabilities, image: &ImageInfo) -> Option<ImageInfo> {
    station
        .images
        .iter()
        .find(|i| i.sha256 == image.sha256)
        .cloned()
}

/// `burning "…" (id): 5 copies on 3 drives (A, B, C); Ctrl-C cancels`, saying so when the
/// master had fewer free stations than asked for.
fn start_line(image: &ImageInfo, copies: u32, names: &[String], asked: u32, got: usize) -> String {
    let drives = names.len();
    let fewer = if u32::try_from(got).is_ok_and(|got| got < asked) {
        format!(
            " — you asked for {asked}, only {got} {} free",
            if got == 1 { "was" } else { "were" }
        )
    } else {
        String::new()
    };
    format!(
        "burning \"{}\" ({}): {copies} copies on {drives} drive{} ({}){fewer}; one copy per drive at a time; Ctrl-C cancels",
        image.name,
        image.id,
        if drives == 1 { "" } else { "s" },
        names.join(", ")
    )
}

/// Ctrl-C: every drive cancels its copy; again: they stop waiting for the stations.
async fn ctrl_c(
    interrupt: &mut Signal,
    stage: &watch::Sender<Stage>,
    pool: &RefCell<Pool>,
    display: &RefCell<JobDisplay>,
) -> Infallible {
    if interrupt.recv().await.is_some() {
        pool.borrow_mut()
            .stop("cancelled (Ctrl-C) before it started");
        display.borrow().line(
            "Ctrl-C: cancelling the copy on every drive… (Ctrl-C again stops waiting for the stations)",
        );
        stage.send_replace(Stage::Cancel);
        if interrupt.recv().await.is_some() {
            display.borrow().line(
                "Ctrl-C again: no longer waiting for the stations; releasing the reservation makes them cancel",
            );
            stage.send_replace(Stage::GiveUp);
        }
    }
    std::future::pending().await
}

/// Appends each station's receipt records to its file: `path` when all come from one
/// station, else one file per station, `path` with the station id before its extension
/// (`job.jsonl` → `job.STATION-ID.jsonl`), so each checks against that station's log.
fn save_receipts(path: &Path, report: &JobReport) -> Result<Vec<ReceiptFile>, ClientError> {
    let mut by_station: BTreeMap<&str, Vec<StationRecord>> = BTreeMap::new();
    for (station, record) in report.station_records() {
        by_station.entry(station).or_default().push(record.clone());
    }
    let several = by_station.len() > 1;
    let mut files = Vec::new();
    for (station, records) in by_station {
        let file = if several {
            crate::audit::station_receipt_path(path, station)
        } else {
            path.to_owned()
        };
        crate::audit::save_receipt(&file, &records)?;
        files.push(ReceiptFile {
            station_id: station.to_owned(),
            path: file.display().to_string(),
            records: records.len(),
        });
    }
    Ok(files)
}

/// Polls every future to its end, concurrently on this task; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
