//! Server-rendered HTML (every text escaped), the static script that keeps it live, and the
//! page's small JSON view (`GET /api/view`, the same snapshot an event carries).
//!
//! The page works without script (it is complete when served); `app.js`, served from the
//! binary, subscribes to `/events` and redraws the station and queue tables with DOM calls
//! (`textContent`, never `innerHTML`), so the CSP can forbid inline script entirely.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Json, Response};

use super::session::Session;
use super::spnego::{self, Login};
use super::view::{self, Snapshot};
use super::{ConnId, Web};
use crate::ledger::ReceiptRow;

/// Receipts shown on the main page (the receipts page lists more).
pub const RECEIPTS_ON_PAGE: usize = 10;

/// The script of the page.
const APP_JS: &str = include_str!("app.js");
/// Its style sheet.
const STYLE_CSS: &str = include_str!("style.css");

/// HTML-escapes `text` for element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str, csrf: Option<&str>) -> String {
    let csrf = csrf.map_or_else(String::new, |token| {
        format!("<meta name=\"csrf\" content=\"{}\">", esc(token))
    });
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>{csrf}<link rel=\"stylesheet\" href=\"/style.css\">\
         <script src=\"/app.js\" defer></script></head>",
        esc(title)
    )
}

/// The body of the 401 a visitor without login (and no public wall) gets.
pub fn login_needed() -> String {
    format!(
        "{}<body><h1>burnstand</h1><p>Log in with Kerberos: run <code>kinit</code>, and let \
         your browser use it for this site (Firefox: <code>network.negotiate-auth.trusted-uris</code>; \
         Chromium: <code>--auth-server-allowlist</code>), then <a href=\"/login\">log in</a>.</p></body></html>",
        head("burnstand — log in", None)
    )
}

/// A one-message page (admin results, refusals).
pub fn message_page(title: &str, message: &str) -> String {
    format!(
        "{}<body><h1>{}</h1><p id=\"message\">{}</p><p><a href=\"/\">Back to the status page</a></p></body></html>",
        head(title, None),
        esc(title),
        esc(message)
    )
}

/// An admin button: a form posting `action` for `station` with the session's token.
fn button(csrf: &str, action: &str, station: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/admin\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"action\" value=\"{}\"><input type=\"hidden\" name=\"station\" value=\"{}\">\
         <button>{}</button></form>",
        esc(csrf),
        esc(action),
        esc(station),
        esc(label)
    )
}

/// The station table's rows; `admin_csrf`: the admin's token, for the buttons.
fn station_rows(snapshot: &Snapshot, admin_csrf: Option<&str>) -> String {
    let mut rows = String::new();
    for s in &snapshot.stations {
        let mut state = s.activity.to_owned();
        if s.copies > 0 {
            state.push_str(&format!(", copy {} of {}", s.copy, s.copies));
        }
        if s.medium != "unknown" {
            state.push_str(&format!(" ({})", s.medium));
        }
        let progress = if matches!(s.activity, "burning" | "verifying") {
            format!(
                "<progress max=\"100\" value=\"{}\">{}%</progress> {}%",
                s.percent, s.percent, s.percent
            )
        } else {
            String::new()
        };
        let mut condition = s.condition.to_owned();
        if !s.reason.is_empty() {
            condition.push_str(": ");
            condition.push_str(&s.reason);
        }
        let holder = s.holder.clone().unwrap_or_default();
        let image = s.image.clone().unwrap_or_default();
        rows.push_str(&format!(
            "<tr data-station=\"{name}\" class=\"{cls}\"><td>{name}<br><small>{location}</small></td>\
             <td>{kind}</td><td>{condition}</td><td>{state}</td><td>{progress}</td><td>{holder}</td><td>{image}</td>",
            name = esc(&s.name),
            cls = esc(s.condition),
            location = esc(&s.location),
            kind = esc(&s.station_type),
            condition = esc(&condition),
            state = esc(&state),
            holder = esc(&holder),
            image = esc(&image),
        ));
        if let Some(csrf) = admin_csrf {
            rows.push_str("<td class=\"actions\">");
            if s.condition == "drained" {
                rows.push_str(&button(csrf, "resume", &s.name, "Resume"));
            } else {
                rows.push_str(&button(csrf, "drain", &s.name, "Drain"));
            }
            if s.holder.is_some() {
                rows.push_str(&button(csrf, "release", &s.name, "Release"));
            }
            rows.push_str("</td>");
        }
        rows.push_str("</tr>");
    }
    rows
}

fn queue_rows(snapshot: &Snapshot) -> String {
    let mut rows = String::new();
    for e in &snapshot.queue.entries {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} min</td></tr>",
            e.position,
            esc(&e.station_type),
            esc(e
                .user
                .as_deref()
                .unwrap_or(if e.yours { "you" } else { "" })),
            e.eta_seconds.div_ceil(60)
        ));
    }
    rows
}

fn receipt_rows(rows: &[ReceiptRow], admin: bool) -> String {
    let mut out = String::new();
    for r in rows {
        let when = humantime::format_rfc3339_seconds(r.at).to_string();
        let download = if r.receipt_line.is_some() {
            format!(
                "<a href=\"/receipts/{}.json\" download>receipt JSON</a>",
                esc(&r.copy_id)
            )
        } else {
            "in the station's log".to_owned()
        };
        let user = if admin {
            format!(
                "<td>{}</td>",
                esc(&super::receipts::exported_display(&r.user))
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "<tr>{user}<td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{download}</td></tr>",
            esc(&when),
            esc(&r.station_id),
            esc(&r.result),
            esc(&r.sha256.chars().take(16).collect::<String>()),
        ));
    }
    out
}

fn receipts_table(rows: &[ReceiptRow], admin: bool) -> String {
    let user_head = if admin { "<th>user</th>" } else { "" };
    format!(
        "<table id=\"receipts\"><thead><tr>{user_head}<th>when</th><th>station</th><th>result</th>\
         <th>image SHA-256</th><th>download</th></tr></thead><tbody>{}</tbody></table>\
         <p class=\"hint\">To check a receipt: <code>burnstand audit verify STATION-LOG --receipt receipt-COPY.json</code> \
         with the station's audit log (the lab staff has it). It proves the station recorded this burn \
         in its hash-chained log.</p>",
        receipt_rows(rows, admin)
    )
}

/// The receipts page.
pub fn receipts_page(session: &Session, rows: &[ReceiptRow]) -> String {
    let title = if session.admin {
        "Receipts of all users"
    } else {
        "Your receipts"
    };
    format!(
        "{}<body><h1>{}</h1>{}<p><a href=\"/\">Back to the status page</a></p></body></html>",
        head(title, None),
        esc(title),
        receipts_table(rows, session.admin)
    )
}

/// The whole status page for `snapshot`.
pub fn render(snapshot: &Snapshot, session: Option<&Session>, receipts: &[ReceiptRow]) -> String {
    let admin = snapshot.viewer == "admin";
    let mut page = head("burnstand — lab status", session.map(|s| s.csrf.as_str()));
    page.push_str(&format!(
        "<body data-viewer=\"{}\"><header><h1>burnstand</h1>",
        esc(snapshot.viewer)
    ));
    match session {
        Some(s) => page.push_str(&format!(
            "<span id=\"user\">{}{}</span><form method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Log out</button></form>",
            esc(&s.user),
            if s.admin { " (admin)" } else { "" },
            esc(&s.csrf)
        )),
        None => page.push_str("<a id=\"login\" href=\"/login\">Log in</a>"),
    }
    page.push_str("</header>");
    page.push_str(&format!(
        "<p id=\"audit-alert\" class=\"alert\"{}>The master's audit log failed closed: it serves \
         nobody until the lab staff fixes it (see its log).</p>",
        if snapshot.audit_healthy {
            " hidden"
        } else {
            ""
        }
    ));
    let actions_head = if admin { "<th>actions</th>" } else { "" };
    page.push_str(&format!(
        "<section><h2>Stations</h2><table id=\"stations\"><thead><tr><th>station</th><th>type</th>\
         <th>condition</th><th>state</th><th>progress</th><th>held by</th><th>image</th>{actions_head}</tr></thead>\
         <tbody>{}</tbody></table></section>",
        station_rows(
            snapshot,
            session.filter(|_| admin).map(|s| s.csrf.as_str())
        )
    ));
    let per_type: Vec<String> = snapshot
        .queue
        .per_type
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    page.push_str(&format!(
        "<section><h2>Queue</h2><p id=\"queue-length\">{} waiting{}</p>\
         <table id=\"queue\"><thead><tr><th>position</th><th>type</th><th>who</th><th>ETA</th></tr></thead>\
         <tbody>{}</tbody></table>",
        snapshot.queue.length,
        esc(&if per_type.is_empty() {
            String::new()
        } else {
            format!(" ({})", per_type.join(", "))
        }),
        queue_rows(snapshot)
    ));
    if admin {
        page.push_str(&format!(
            "<form method=\"post\" action=\"/admin\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"action\" value=\"clear-queue\"><button>Clear the queue</button></form>",
            esc(session.map_or("", |s| s.csrf.as_str()))
        ));
    }
    page.push_str("</section>");
    if let Some(s) = session {
        page.push_str(&format!(
            "<section><h2>{}</h2>{}<p><a href=\"/receipts\">All receipts</a></p></section>",
            if s.admin {
                "Recent receipts"
            } else {
                "Your receipts"
            },
            receipts_table(receipts, s.admin)
        ));
    }
    page.push_str(
        "<section id=\"plots\"><h2>Statistics</h2>\
         <figure><img src=\"/plots/copies_per_day.svg\" alt=\"copies per day per station type\"></figure>\
         <figure><img src=\"/plots/verify_failures.svg\" alt=\"verify failures per drive\"></figure>\
         <figure><img src=\"/plots/busiest_hours.svg\" alt=\"busiest hours\"></figure></section>",
    );
    if admin {
        page.push_str("<section><h2>Logged in</h2><table id=\"who\"><thead><tr><th>user</th><th>connections</th><th>stations</th><th>held</th></tr></thead><tbody>");
        for w in &snapshot.who {
            page.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} s</td></tr>",
                esc(&w.user),
                w.connections,
                esc(&w.stations.join(", ")),
                w.held_seconds
            ));
        }
        page.push_str("</tbody></table></section>");
    }
    page.push_str("<footer id=\"live\">live updates: connecting…</footer></body></html>");
    page
}

/// `GET /`: the page for the viewer; a request that carries a Negotiate token logs in first.
pub(super) async fn index(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(ConnId(conn)): Extension<ConnId>,
    headers: HeaderMap,
) -> Response {
    let mut session = web.session(&headers);
    let mut login_headers = Vec::new();
    if session.is_none() {
        match spnego::attempt(&web, peer, conn, &headers).await {
            Login::Ok {
                session: new,
                set_cookie,
                reply,
            } => {
                session = Some(new);
                login_headers.push((header::SET_COOKIE, set_cookie));
                if let Some(reply) = reply {
                    login_headers.push((header::WWW_AUTHENTICATE, reply));
                }
            }
            Login::Unavailable(reason) => return spnego::unavailable(reason),
            Login::NotTried | Login::Refused => {}
        }
    }
    let Some(viewer) = web.viewer(session.as_ref()) else {
        return spnego::challenge(login_needed());
    };
    let snapshot = view::snapshot(&web.shared, &viewer, web.shared.registry.last_change());
    let receipts = match &session {
        Some(s) => super::receipts::visible(&web, s, RECEIPTS_ON_PAGE).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut response = Html(render(&snapshot, session.as_ref(), &receipts)).into_response();
    for (name, value) in login_headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `GET /api/view`: the viewer's snapshot as JSON (what each event of `/events` carries).
pub(super) async fn view_json(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let session = web.session(&headers);
    let Some(viewer) = web.viewer(session.as_ref()) else {
        return spnego::challenge(login_needed());
    };
    Json(view::snapshot(
        &web.shared,
        &viewer,
        web.shared.registry.last_change(),
    ))
    .into_response()
}

/// `GET /app.js`.
pub(super) async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
        .into_response()
}

/// `GET /style.css`.
pub(super) async fn style_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE_CSS,
    )
        .into_response()
}

/// `GET /plots/<name>.svg`: the statistics plots ([`crate::statistics::plots`], SVG drawn on
/// the server), for anyone who may see the page (they name stations, never users). Drawn at
/// most once per [`super::PLOT_CACHE_FOR`], off the async runtime.
pub(super) async fn plot(
    State(web): State<Arc<Web>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    if web.viewer(web.session(&headers).as_ref()).is_none() {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let pick: fn(&crate::statistics::Plots) -> &String = match file.as_str() {
        "copies_per_day.svg" => |p| &p.copies_per_day,
        "verify_failures.svg" => |p| &p.verify_failures,
        "busiest_hours.svg" => |p| &p.busiest_hours,
        _ => return (StatusCode::NOT_FOUND, "no such plot").into_response(),
    };
    match web.plots().await {
        Some(plots) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "private, max-age=60"),
            ],
            pick(&plots).clone(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the statistics cannot be drawn now (see the master's log)",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn a_hostile_station_name_cannot_inject_markup() {
        let farm = view::Farm {
            stations: vec![burnstand_wire::farm::StationReport {
                name: "<img src=x onerror=alert(1)>".into(),
                location: "\"><script>".into(),
                type_id: 1,
                condition: burnstand_wire::farm::Condition::Free,
                reason: String::new(),
                state: Default::default(),
                holder: String::new(),
                burns_today: 0,
                verify_failures_today: 0,
            }],
            audit_healthy: true,
            ..Default::default()
        };
        let page = render(&view::filter(farm, &view::Viewer::Wall), None, &[]);
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(!page.contains("\"><script>"), "{page}");
        assert!(
            !page.contains("<script>"),
            "no inline script at all: {page}"
        );
    }
}
