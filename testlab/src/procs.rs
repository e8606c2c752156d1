//! `/proc` look-ups: a process's children by name, its memory figures.

/// Children of process `parent` named `xorriso`, zombies included.
pub fn xorriso_children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("list /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((comm_part, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = comm_part.split_once('(').map(|(_, c)| c).unwrap_or("");
        let ppid: Option<u32> = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if comm == "xorriso" && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Children of this process named `xorriso`, zombies included.
pub fn xorriso_children() -> Vec<u32> {
    xorriso_children_of(std::process::id())
}

/// A line of /proc/`pid`/status in kB (VmHWM, VmRSS); `None` if the process or the line is
/// gone.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}
