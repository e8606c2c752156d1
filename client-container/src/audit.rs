//! `burnstand audit …`: offline checks of a master's or a station's audit log.
//!
//! These run on an auditor's machine against a copy of the file; they need no ticket and no
//! network. The hash chain itself is checked by `burnstand-audit`; this module turns its
//! report into what a person reads and an exit code a script can test.

use std::path::Path;

use burnstand_audit::verify;

use crate::ClientError;

/// Verifies the chain of the log at `path`; with `head` (`SEQ:HASH`, as a daemon reported it
/// elsewhere) also proves the newest records were neither edited nor removed.
pub fn verify_log(path: &Path, head: Option<&str>) -> Result<String, ClientError> {
    let report = verify(path).map_err(|e| ClientError::AuditUnreadable(e.to_string()))?;
    if !report.is_ok() {
        return Err(ClientError::AuditBroken(report.to_string()));
    }
    if let Some(head) = head {
        let (seq, hash) = parse_head(head)?;
        if !report.ends_at(seq, hash) {
            return Err(ClientError::AuditBroken(format!(
                "FAILED: the log ends at record {} with hash {}, not at the recorded head {seq}:{hash}: \
                 its newest records were edited or removed",
                report.last_seq, report.last_hash
            )));
        }
    }
    Ok(report.to_string())
}

fn parse_head(head: &str) -> Result<(u64, &str), ClientError> {
    let bad = || ClientError::Usage(format!("--head {head:?} is not SEQ:HASH (e.g. 42:9f86…)"));
    let (seq, hash) = head.split_once(':').ok_or_else(bad)?;
    let seq = seq.parse().map_err(|_| bad())?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_only_as_seq_and_a_sha256() {
        let hash = "a".repeat(64);
        assert_eq!(
            parse_head(&format!("7:{hash}")).ok(),
            Some((7, hash.as_str()))
        );
        assert!(parse_head("7").is_err());
        assert!(parse_head("x:ab").is_err());
        assert!(parse_head(&format!("7:{}", "g".repeat(64))).is_err());
    }
}
