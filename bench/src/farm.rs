//! The burner farm at the master (issue 13): (e) how fast the wait queue hands a freed
//! station to the next waiting user, and how many QUEUED updates each hand-over pushes, against
//! a plain BIND of a free station; (f) LIST and LISTX round trips while many users hold busy
//! sessions, against the same master with none.
//!
//! Both run the real `burnstand-master` with the bench's sink stations, which answer the
//! master's control link like real stations (WATCH → STATE heartbeats), so no station is
//! quarantined while the figures are taken.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnstand_wire::command::{Command, Reply, ServiceType, StationType};
use burnstand_wire::farm::{flags, ListX, Reserve, ReserveReply, LISTX_VERSION};
use burnstand_wire::gss::Cred;
use burnstand_wire::io::Session;
use kdc_test::Realm;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::lab::{self, Master, Sink};
use crate::{Error, Figure};

/// The only station type of the bench's masters (every station is a DVD burner).
const TYPE_ID: u32 = 1;

/// How long the stations may take to come up at the master, and a waiting user to be settled
/// or served (hang guards, not measurements).
const SETTLE: Duration = Duration::from_secs(60);

/// The `p`-quantile (0 < p ≤ 1) of `samples` by nearest rank, in milliseconds.
pub fn quantile_ms(samples: &[Duration], p: f64) -> f64 {
    let mut sorted: Vec<Duration> = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn burner() -> ServiceType {
    ServiceType {
        id: ServiceType::BURNER,
        name: "burner".into(),
        description: String::new(),
    }
}

fn any_station(drives: u32, flags: u32) -> Reserve {
    Reserve {
        type_id: TYPE_ID,
        station: String::new(),
        drives,
        flags,
    }
}

/// `n` sink stations and the real master serving them; returns once LISTX shows every station
/// free (every control link up and reporting).
async fn farm(realm: &Realm, n: usize) -> Result<(Vec<Sink>, Master), Error> {
    let mut sinks = Vec::with_capacity(n);
    for _ in 0..n {
        sinks.push(lab::sink(realm).await?);
    }
    let addrs: Vec<SocketAddr> = sinks.iter().map(|s| s.addr).collect();
    let master = lab::master_with(
        realm,
        &lab::sibling("burnstand-master")?,
        &addrs,
        &lab::open_policy(&"0".repeat(64)),
        "",
    )?;
    wait_free(realm, &master, n).await?;
    Ok((sinks, master))
}

/// Returns once LISTX shows `n` stations of the type free at `master` (every control link up
/// and reporting, nothing reserved).
pub async fn wait_free(realm: &Realm, master: &Master, n: usize) -> Result<(), Error> {
    let mut observer = observer(realm, master).await?;
    let deadline = Instant::now() + SETTLE;
    loop {
        let listed = list_x(&mut observer).await?;
        let free = listed.types.first().map_or(0, |t| t.free);
        if free as usize == n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {free} of {n} stations free at the master after {SETTLE:?}; its log ends:\n{}",
                master.log_tail()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bench user's connection, which only looks (LIST, LISTX).
async fn observer(realm: &Realm, master: &Master) -> Result<Session<TcpStream>, Error> {
    lab::connect(
        &realm.principal(lab::MASTER),
        lab::user_cred(realm)?,
        master.addr,
    )
    .await
}

async fn list_x(s: &mut Session<TcpStream>) -> Result<ListX, Error> {
    s.send(&Command::ListX(LISTX_VERSION)).await?;
    Ok(s.recv::<ListX>().await?)
}

async fn quit(s: &mut Session<TcpStream>) -> Result<(), Error> {
    s.send(&Command::Quit).await?;
    match s.recv::<Reply>().await? {
        Reply::Ok => Ok(()),
        other => Err(format!("QUIT answered {other:?}").into()),
    }
}

/// A connection with these credentials that reserved one station (RESERVE without WAIT).
async fn reserved(realm: &Realm, master: &Master, cred: Cred) -> Result<Session<TcpStream>, Error> {
    let mut s = lab::connect(&realm.principal(lab::MASTER), cred, master.addr).await?;
    s.send(&Command::Reserve(any_station(1, 0))).await?;
    match s.recv::<ReserveReply>().await? {
        ReserveReply::Reserved { .. } => Ok(s),
        other => Err(format!("RESERVE answered {other:?}").into()),
    }
}

/// What a waiting user's task reports: the user got a station (when the RESERVED arrived, and
/// the connection, now a container, for the bench to QUIT), or its wait failed.
type Handed = Result<(usize, Instant, Session<TcpStream>), String>;

/// (e) Queue hand-over latency with `waiters` users waiting for `stations` reserved stations.
pub async fn handover(
    realm: &Realm,
    waiters: usize,
    stations: usize,
    binds: usize,
) -> Result<Vec<Figure>, Error> {
    let stations = stations.clamp(1, lab::CLIENT_USERS);
    let (_sinks, master) = farm(realm, stations).await?;
    let principal = realm.principal(lab::MASTER);

    // Baseline: BIND of a free station, answered OK (connection and QUIT not timed).
    let station_type = StationType {
        id: TYPE_ID,
        services: vec![burner()],
        name: String::new(),
        description: String::new(),
    };
    // The first few warm the master's paths up and are not counted.
    let warm_up = (binds / 10).clamp(1, 20);
    let mut bind_times = Vec::with_capacity(binds + warm_up);
    for _ in 0..binds + warm_up {
        let mut s = lab::connect(&principal, lab::user_cred(realm)?, master.addr).await?;
        let started = Instant::now();
        s.send(&Command::Bind(station_type.clone())).await?;
        let reply: Reply = s.recv().await?;
        bind_times.push(started.elapsed());
        if reply != Reply::Ok {
            return Err(format!("BIND of a free station answered {reply:?}").into());
        }
        quit(&mut s).await?;
    }
    bind_times.drain(..warm_up);

    // Every station reserved, by holders bench0, bench1, …
    let mut holders = VecDeque::with_capacity(stations);
    for h in 0..stations {
        holders.push_back(reserved(realm, &master, lab::client_cred(realm, h)?).await?);
    }

    // The waiting users join one after the other: user n is at position n + 1.
    let queued = Arc::new(AtomicU64::new(0));
    let last_waiting: Arc<Vec<AtomicU32>> =
        Arc::new((0..waiters).map(|_| AtomicU32::new(0)).collect());
    let (tx, mut rx) = mpsc::unbounded_channel::<Handed>();
    for n in 0..waiters {
        let mut s = lab::connect(&principal, lab::queue_cred(realm, n)?, master.addr).await?;
        s.send(&Command::Reserve(any_station(1, flags::WAIT)))
            .await?;
        match s.recv::<ReserveReply>().await? {
            ReserveReply::Queued {
                position, waiting, ..
            } if position as usize == n + 1 => last_waiting[n].store(waiting, Ordering::Relaxed),
            other => {
                return Err(
                    format!("waiting user {n}: RESERVE with WAIT answered {other:?}").into(),
                )
            }
        }
        let (queued, last_waiting, tx) =
            (Arc::clone(&queued), Arc::clone(&last_waiting), tx.clone());
        tokio::spawn(async move {
            loop {
                match s.recv::<ReserveReply>().await {
                    Ok(ReserveReply::Queued { waiting, .. }) => {
                        queued.fetch_add(1, Ordering::Relaxed);
                        last_waiting[n].store(waiting, Ordering::Relaxed);
                    }
                    Ok(ReserveReply::Reserved { .. }) => {
                        let _ = tx.send(Ok((n, Instant::now(), s)));
                        return;
                    }
                    Ok(other) => {
                        let _ = tx.send(Err(format!("waiting user {n} got {other:?}")));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("waiting user {n}: {e}")));
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    // Settled: every waiting user has heard that all of them wait (the joins' own updates are
    // not counted).
    let deadline = Instant::now() + SETTLE;
    while last_waiting
        .iter()
        .any(|w| w.load(Ordering::Relaxed) as usize != waiters)
    {
        if Instant::now() > deadline {
            return Err("the waiting users' positions did not settle".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = queued.load(Ordering::Relaxed);

    // The chain: QUIT a holder, time until the next waiting user's RESERVED, which becomes a
    // holder itself.
    let mut handovers = Vec::with_capacity(waiters);
    let mut served = 0usize;
    // Hand-overs that went to someone other than the longest-waiting user still waiting (the
    // head of the queue: one class, so first come, first served).
    let mut still_waiting: BTreeSet<usize> = (0..waiters).collect();
    let mut overtakes = Vec::new();
    for k in 0..waiters {
        let mut holder = holders.pop_front().ok_or("no holder left")?;
        let started = Instant::now();
        quit(&mut holder).await?;
        drop(holder);
        let next = tokio::time::timeout(SETTLE, rx.recv())
            .await
            .map_err(|_| format!("hand-over {k}: no RESERVED within {SETTLE:?}"))?
            .ok_or("every waiting user's task ended")??;
        let (n, at, s) = next;
        if let Some(&head) = still_waiting.first() {
            if head != n {
                overtakes.push(format!("hand-over {k}: user {n} before user {head}"));
            }
        }
        still_waiting.remove(&n);
        handovers.push(at.duration_since(started));
        holders.push_back(s);
        served += 1;
    }
    let pushed = queued.load(Ordering::Relaxed) - before;
    for mut h in holders {
        quit(&mut h).await?;
    }
    drop(master);

    if !overtakes.is_empty() {
        eprintln!(
            "burnstand-bench: (e) {} hand-over(s) did not go to the head of the queue: {}",
            overtakes.len(),
            overtakes.join("; ")
        );
    }
    let per_handover = pushed as f64 / served.max(1) as f64;
    // After hand-over k, waiters − k − 1 users are still waiting: (waiters − 1) / 2 on average.
    let left_waiting = (waiters as f64 - 1.0).max(0.0) / 2.0;
    let (h50, h99) = (quantile_ms(&handovers, 0.5), quantile_ms(&handovers, 0.99));
    let (b50, b99) = (
        quantile_ms(&bind_times, 0.5),
        quantile_ms(&bind_times, 0.99),
    );
    Ok(vec![
        Figure {
            bench: "e",
            what: format!(
                "queue hand-over p50, QUIT of a holder -> next waiting user's RESERVED ({served} hand-overs, {waiters} waiting, {stations} stations, {} not to the head of the queue)",
                overtakes.len()
            ),
            value: h50,
            unit: "ms",
            baseline: format!("BIND round trip of a free station, p50 of {binds}"),
            baseline_value: b50,
            ratio: h50 / b50.max(1e-9),
            target: "(reference: the queue's overhead)".into(),
            met: true,
        },
        Figure {
            bench: "e",
            what: format!("queue hand-over p99 ({served} hand-overs)"),
            value: h99,
            unit: "ms",
            baseline: format!("BIND round trip of a free station, p99 of {binds}"),
            baseline_value: b99,
            ratio: h99 / b99.max(1e-9),
            target: "(reference)".into(),
            met: true,
        },
        Figure {
            bench: "e",
            what: format!(
                "QUEUED updates received per hand-over ({pushed} in {served} hand-overs)"
            ),
            value: per_handover,
            unit: "messages",
            baseline: "users still waiting after a hand-over, mean".into(),
            baseline_value: left_waiting,
            ratio: per_handover / left_waiting.max(1e-9),
            target: "(reference: 1.0 = every waiting user hears every hand-over)".into(),
            met: true,
        },
    ])
}

/// Round trips of `samples` LIST and `samples` LISTX from one connection.
async fn list_round_trips(
    s: &mut Session<TcpStream>,
    samples: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Error> {
    let mut list = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        s.send(&Command::List).await?;
        let types: Vec<StationType> = s.recv().await?;
        list.push(started.elapsed());
        if types.is_empty() {
            return Err("LIST listed no station type".into());
        }
    }
    let mut listx = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let listed = list_x(s).await?;
        listx.push(started.elapsed());
        if listed.types.is_empty() {
            return Err("LISTX listed no station type".into());
        }
    }
    Ok((list, listx))
}

/// (f) LIST and LISTX round trips with `busy` users each holding a station (a reservation and
/// a module in pass-through to it), on a type of `busy` stations, against the same master with
/// every station free.
pub async fn listing(realm: &Realm, busy: usize, samples: usize) -> Result<Vec<Figure>, Error> {
    let busy = busy.max(1);
    let (_sinks, master) = farm(realm, busy).await?;
    let principal = realm.principal(lab::MASTER);
    let mut observer = observer(realm, &master).await?;

    // Baseline: nobody holds anything (after a few uncounted round trips to warm up).
    list_round_trips(&mut observer, (samples / 10).clamp(1, 100)).await?;
    let (idle_list, idle_listx) = list_round_trips(&mut observer, samples).await?;

    // The busy sessions: each user's container (RESERVE) and module (SERV, pass-through).
    let mut sessions = Vec::with_capacity(busy);
    for n in 0..busy {
        let container = reserved(realm, &master, lab::queue_cred(realm, n)?).await?;
        let mut module = lab::connect(&principal, lab::queue_cred(realm, n)?, master.addr).await?;
        module.send(&Command::Serv(burner())).await?;
        let reply: Reply = module.recv().await?;
        if reply != Reply::Ok {
            return Err(format!("busy user {n}: SERV answered {reply:?}").into());
        }
        sessions.push((container, module));
    }
    let listed = list_x(&mut observer).await?;
    let counts = listed.types.first().map(|t| (t.busy, t.quarantined));
    if counts != Some((busy as u32, 0)) {
        return Err(format!(
            "expected {busy} busy stations, LISTX says (busy, quarantined) = {counts:?}"
        )
        .into());
    }
    let (busy_list, busy_listx) = list_round_trips(&mut observer, samples).await?;
    // The same LISTX on a busy user's container: the keep-alive of a held reservation, which
    // the master does not audit (so no fsync), to show what the audit record costs.
    let mut held_listx = Vec::with_capacity(samples);
    if let Some((container, _)) = sessions.first_mut() {
        for _ in 0..samples {
            let started = Instant::now();
            list_x(container).await?;
            held_listx.push(started.elapsed());
        }
    }
    // Every session still held at the end (none was ended under the measurement).
    let listed = list_x(&mut observer).await?;
    let still = listed.types.first().map_or(0, |t| t.busy);
    drop(sessions);
    drop(observer);
    drop(master);
    let appends = append_sync_times(samples)?;
    if still as usize != busy {
        return Err(format!(
            "only {still} of {busy} sessions were still busy after the measurement"
        )
        .into());
    }

    let q = quantile_ms;
    let figure = |what: String, samples: &[Duration], base: &[Duration], p: f64, goal: bool| {
        let (value, baseline_value) = (q(samples, p), q(base, p));
        Figure {
            bench: "f",
            what,
            value,
            unit: "ms",
            baseline: format!("the same with no busy session, p{:.0}", p * 100.0),
            baseline_value,
            ratio: value / baseline_value.max(1e-9),
            target: if goal {
                "<= 5 ms".into()
            } else {
                "(reference)".into()
            },
            met: !goal || value <= 5.0,
        }
    };
    Ok(vec![
        figure(
            format!("LIST round trip p99 with {busy} busy sessions ({samples} LISTs)"),
            &busy_list,
            &idle_list,
            0.99,
            true,
        ),
        figure(
            format!("LIST round trip p50 with {busy} busy sessions"),
            &busy_list,
            &idle_list,
            0.5,
            false,
        ),
        figure(
            format!("LISTX round trip p99 with {busy} busy sessions ({samples} LISTXs)"),
            &busy_listx,
            &idle_listx,
            0.99,
            true,
        ),
        figure(
            format!("LISTX round trip p50 with {busy} busy sessions"),
            &busy_listx,
            &idle_listx,
            0.5,
            false,
        ),
        Figure {
            bench: "f",
            what: format!(
                "LISTX round trip p99 on a held reservation, not audited (p50 {:.2} ms)",
                q(&held_listx, 0.5)
            ),
            value: q(&held_listx, 0.99),
            unit: "ms",
            baseline: "LISTX in command mode (audited), same run, p99".into(),
            baseline_value: q(&busy_listx, 0.99),
            ratio: q(&held_listx, 0.99) / q(&busy_listx, 0.99).max(1e-9),
            target: "(reference: the audit record's share)".into(),
            met: true,
        },
        Figure {
            bench: "f",
            what: format!(
                "append + fdatasync of a 300-byte line on the audit log's filesystem, p99 (p50 {:.2} ms): what each audited LIST waits for",
                q(&appends, 0.5)
            ),
            value: q(&appends, 0.99),
            unit: "ms",
            baseline: "LIST with busy sessions, same run, p99".into(),
            baseline_value: q(&busy_list, 0.99),
            ratio: q(&appends, 0.99) / q(&busy_list, 0.99).max(1e-9),
            target: "(reference)".into(),
            met: true,
        },
    ])
}

/// `samples` appends of a 300-byte line, each followed by `fdatasync` (what the audit log
/// does per record), to a file in a temporary directory where the master's audit log lives.
fn append_sync_times(samples: usize) -> Result<Vec<Duration>, Error> {
    use std::io::Write as _;
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("append.jsonl"))?;
    file.sync_all()?;
    let line = [b'x'; 300];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        file.write_all(&line)?;
        file.sync_data()?;
        times.push(started.elapsed());
    }
    Ok(times)
}
