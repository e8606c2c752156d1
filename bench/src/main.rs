//! `burnstand-bench`: burnstand's performance figures, each printed with a baseline measured
//! in the same run and the ratio between them (docs/benchmarks.md records them).
//!
//! Benchmarks, not tests: nothing here asserts a time. It starts a real MIT realm
//! (kdc-test), the real `burnstand-master` (and, for the burns, `burnstand-station` and
//! `burnstand`) next to this binary; build them first with
//! `cargo build --release --workspace`.

#![forbid(unsafe_code)]

mod burn;
mod farm;
mod job;
mod lab;
mod push;
mod sessions;
mod ssh;
mod throughput;
mod web;

use clap::Parser;
use serde::Serialize;

/// Errors are reported and end the run; boxing is fine in a tool's `main`.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Measures burnstand against baselines taken in the same run.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Which benchmarks: a (relay throughput), b (sessions per second), c (idle-session
    /// memory), d (burn + verify), e (queue hand-over), f (LIST with busy sessions), g (a
    /// multi-copy job over several drives), h (image push to two stations), i (SSE subscribers
    /// of the status page during a burn), comma-separated.
    #[arg(long, default_value = "a,b,c,d,e,f,g,h,i", value_delimiter = ',')]
    only: Vec<String>,
    /// (a) MiB sent through the relay, in 64 KiB messages.
    #[arg(long, default_value_t = 512)]
    relay_mib: u64,
    /// (a) Leave out the `ssh -J` baseline (it needs openssh-server's /usr/sbin/sshd).
    #[arg(long)]
    no_ssh: bool,
    /// (b) Seconds to open sessions for, and concurrent clients.
    #[arg(long, default_value_t = 10)]
    session_secs: u64,
    #[arg(long, default_value_t = 16)]
    session_clients: usize,
    /// (c) Idle authenticated sessions to hold open.
    #[arg(long, default_value_t = 10_000)]
    idle_sessions: usize,
    /// (d) Size of the image burned, in MiB.
    #[arg(long, default_value_t = 256)]
    burn_mib: u64,
    /// (e) Users waiting in the queue, and the stations (all reserved) they wait for.
    #[arg(long, default_value_t = 200)]
    queue_waiters: usize,
    #[arg(long, default_value_t = 4)]
    queue_stations: usize,
    /// (e) BIND round trips of the baseline.
    #[arg(long, default_value_t = 200)]
    queue_binds: usize,
    /// (f) Busy sessions (each on its own station) and LIST / LISTX round trips timed.
    #[arg(long, default_value_t = 200)]
    busy_sessions: usize,
    #[arg(long, default_value_t = 2000)]
    list_samples: usize,
    /// (g) The job: copies, drives (stations), image size in MiB, and xorriso's speed=N for
    /// the file drives (0: unthrottled; 16 writes about 16 MiB/s, like a real DVD drive, so
    /// the burns are drive-bound as on real hardware).
    #[arg(long, default_value_t = 10)]
    job_copies: u32,
    #[arg(long, default_value_t = 4)]
    job_drives: u32,
    #[arg(long, default_value_t = 32)]
    job_mib: u64,
    #[arg(long, default_value_t = 16)]
    job_speed: u32,
    /// (h) Size of the image pushed to two stations, in MiB.
    #[arg(long, default_value_t = 1024)]
    push_mib: u64,
    /// (i) Server-Sent-Events subscribers of the status page, and the image burned meanwhile
    /// (MiB; the file drive writes about 4 MiB/s).
    #[arg(long, default_value_t = 200)]
    sse_subscribers: usize,
    #[arg(long, default_value_t = 32)]
    sse_mib: u64,
    /// Keep every session on MIT's gss_wrap/gss_unwrap (daemons get `fast_path = false`, the
    /// client BURNSTAND_FAST_PATH=0, the bench's own ends the process default): the "before"
    /// of the fast path, with the same binaries.
    #[arg(long)]
    mit: bool,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One figure with its baseline.
#[derive(Debug, Serialize)]
pub struct Figure {
    pub bench: &'static str,
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline: String,
    pub baseline_value: f64,
    /// value / baseline_value
    pub ratio: f64,
    pub target: String,
    pub met: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.mit {
        burnstand_wire::gss::set_fast_path_default(false);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("burnstand-bench: cannot start: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(mut figures) => {
            if args.mit {
                for figure in &mut figures {
                    figure.what.push_str(" [--mit: every session on MIT]");
                }
            }
            report(&figures, args.json);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("burnstand-bench: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: &Args) -> Result<Vec<Figure>, Error> {
    let wants = |b: &str| args.only.iter().any(|o| o == b);
    sessions::raise_fd_limit();
    // The farm benchmarks' users: (e)'s waiting users, (f)'s busy ones.
    let mut farm_users = 0;
    if wants("e") {
        farm_users = farm_users.max(args.queue_waiters);
    }
    if wants("f") {
        farm_users = farm_users.max(args.busy_sessions);
    }
    let realm = lab::realm(farm_users)?;
    let mut figures = Vec::new();
    if wants("a") {
        figures.extend(throughput::run(&realm, args.relay_mib, !args.no_ssh).await?);
    }
    if wants("b") {
        figures.push(sessions::rate(&realm, args.session_secs, args.session_clients).await?);
    }
    if wants("c") {
        figures.push(sessions::idle_memory(&realm, args.idle_sessions).await?);
    }
    if wants("d") {
        figures.push(burn::run(&realm, args.burn_mib).await?);
    }
    if wants("e") {
        figures.extend(
            farm::handover(
                &realm,
                args.queue_waiters,
                args.queue_stations,
                args.queue_binds,
            )
            .await?,
        );
    }
    if wants("f") {
        figures.extend(farm::listing(&realm, args.busy_sessions, args.list_samples).await?);
    }
    if wants("g") {
        let spec = job::JobSpec {
            mib: args.job_mib,
            copies: args.job_copies,
            drives: args.job_drives,
            speed: args.job_speed,
        };
        figures.extend(job::run(&realm, spec).await?);
    }
    if wants("h") {
        figures.push(push::run(&realm, args.push_mib).await?);
    }
    if wants("i") {
        figures.extend(web::run(&realm, args.sse_subscribers, args.sse_mib).await?);
    }
    Ok(figures)
}

fn report(figures: &[Figure], json: bool) {
    if json {
        match serde_json::to_string_pretty(figures) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("burnstand-bench: {e}"),
        }
        return;
    }
    for f in figures {
        println!(
            "({}) {}: {:.2} {}\n    baseline {}: {:.2} {}\n    ratio {:.3}  target {}  {}",
            f.bench,
            f.what,
            f.value,
            f.unit,
            f.baseline,
            f.baseline_value,
            f.unit,
            f.ratio,
            f.target,
            if f.met { "MET" } else { "MISSED" }
        );
    }
}
