//! A user's receipts on the status page (`GET /receipts`; admins see everyone's) and the
//! download of one (`GET /receipts/<copy_id>.json`): the station's own `burn.receipt` line,
//! the file `burnstand audit verify STATION-LOG --receipt FILE` checks against the station's
//! log. Someone else's receipt is answered 404 like a missing one: the page reveals nothing
//! about other users' copies.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::session::Session;
use super::{pages, spnego, Web};
use crate::ledger::{ReceiptRow, MAX_RECEIPTS_LISTED};

/// Longest copy id accepted in a download's path (a UUID is 36; `station#seq` a little more).
pub const MAX_COPY_ID_LEN: usize = 128;

/// The receipts `session` may see, newest first.
pub(crate) fn visible(
    web: &Web,
    session: &Session,
    limit: usize,
) -> crate::Result<Vec<ReceiptRow>> {
    if session.admin {
        return web.shared.ledger.receipts(None, limit);
    }
    let exported = hex::decode(&session.exported)
        .map_err(|_| crate::Error::Ledger("the session's user is not hex".into()))?;
    web.shared.ledger.receipts(Some(&exported), limit)
}

/// The `name@REALM` inside an exported name token (RFC 2743 §3.2: `04 01`, OID length, OID,
/// name length, name); the hex of the token if it is not one.
pub fn exported_display(exported: &[u8]) -> String {
    let parse = || -> Option<String> {
        let (head, rest) = exported.split_at_checked(4)?;
        if head[..2] != [0x04, 0x01] {
            return None;
        }
        let oid_len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let rest = rest.get(oid_len..)?;
        let (len, name) = rest.split_at_checked(4)?;
        let len = usize::try_from(u32::from_be_bytes([len[0], len[1], len[2], len[3]])).ok()?;
        String::from_utf8(name.get(..len)?.to_vec()).ok()
    };
    parse().unwrap_or_else(|| hex::encode(exported))
}

/// `GET /receipts`.
pub(super) async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let Some(session) = web.session(&headers) else {
        return spnego::challenge(pages::login_needed());
    };
    match visible(&web, &session, MAX_RECEIPTS_LISTED) {
        Ok(rows) => Html(pages::receipts_page(&session, &rows)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list receipts");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the copy ledger cannot be read now",
            )
                .into_response()
        }
    }
}

/// `GET /receipts/<copy_id>.json`.
pub(super) async fn download(
    State(web): State<Arc<Web>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = web.session(&headers) else {
        return spnego::challenge(pages::login_needed());
    };
    let not_found = || (StatusCode::NOT_FOUND, "no such receipt").into_response();
    let Some(copy_id) = file.strip_suffix(".json") else {
        return not_found();
    };
    if copy_id.is_empty() || copy_id.len() > MAX_COPY_ID_LEN {
        return not_found();
    }
    let row = match web.shared.ledger.receipt_of(copy_id) {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a receipt");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the copy ledger cannot be read now",
            )
                .into_response();
        }
    };
    if !session.admin && hex::encode(&row.user) != session.exported {
        return not_found();
    }
    let Some(line) = row.receipt_line else {
        return (
            StatusCode::NOT_FOUND,
            "this receipt was imported from the master's audit log, which does not keep the \
             station's line: the station's log has it (ask the lab staff)",
        )
            .into_response();
    };
    let name = format!(
        "attachment; filename=\"receipt-{}.json\"",
        copy_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        format!("{line}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_inside_an_exported_token_is_shown() {
        let oid = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
        let mut token = vec![0x04, 0x01, 0x00, oid.len() as u8];
        token.extend_from_slice(oid);
        token.extend_from_slice(&(11u32).to_be_bytes());
        token.extend_from_slice(b"alice@LAB.T");
        assert_eq!(exported_display(&token), "alice@LAB.T");
        assert_eq!(exported_display(b"\x04\x01\xff"), "0401ff");
        token.truncate(token.len() - 1);
        assert_eq!(exported_display(&token), hex::encode(&token));
    }
}
