//! The status page (`[web]`) against a real realm and master: Kerberos login by Negotiate
//! (raw Kerberos 5 and SPNEGO tokens, as browsers send), the signed cookie, CSRF, security
//! headers, the wall / user / admin views, receipts, the admin's buttons (audited), and
//! Server-Sent Events — over HTTPS (HTTP/2) with a throwaway CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use burnstand_audit::Event;
use burnstand_wire::farm::{Reserve, ReserveReply};
use burnstand_wire::gss::{password_credentials, Initiator, Principal};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use rustls_pki_types::pem::PemObject;

use crate::client::{connect, reserve};
use crate::common::{guard, lab_test, wait_for_record, Lab, LabSpec, MASTER, REALM, WEB};

/// A CA and a server certificate for `localhost`, written as PEM files into `dir`.
pub struct Certs {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn certs(dir: &Path) -> Certs {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "burnstand test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("server key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    let (cert_path, key_path) = (dir.join("web.crt"), dir.join("web.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    Certs {
        ca_pem: ca.pem(),
        cert: cert_path,
        key: key_path,
    }
}

/// A lab with the status page on, dave in the admin group, and `extra_web` lines in `[web]`.
pub fn web_spec(certs: &Certs, extra_web: &str) -> LabSpec {
    LabSpec::default().extra(&format!(
        "admin = [\"dave@{REALM}\"]\n\n[web]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{}\"\n\
         private_key = \"{}\"\n{extra_web}\n",
        certs.cert.display(),
        certs.key.display()
    ))
}

/// An HTTPS client trusting only the test CA; `localhost` resolves to the status page.
struct Browser {
    http: reqwest::Client,
    base: String,
    origin: String,
}

fn browser(lab: &Lab, certs: &Certs) -> Browser {
    let addr: SocketAddr = lab.web_addr.expect("the status page is on");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(certs.ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve("localhost", addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTPS client");
    Browser {
        http,
        base: format!("https://localhost:{}", addr.port()),
        origin: format!("https://localhost:{}", addr.port()),
    }
}

/// A Negotiate token from `user` (password credentials, raw Kerberos 5) for the master's
/// HTTP principal.
fn krb5_token(lab: &Lab, user: &str, target: &str) -> String {
    let cred = password_credentials(&lab.principal(user), &format!("{user}-pw")).expect("creds");
    let mut initiator = Initiator::new(cred, &lab.principal(target)).expect("initiator");
    let token = initiator.step(None).expect("first token").expect("a token");
    base64_encode(&token)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `__Host-burnstand=…` pair of a `Set-Cookie`.
fn session_cookie(headers: &HeaderMap) -> String {
    let set = headers
        .get(SET_COOKIE)
        .expect("a Set-Cookie")
        .to_str()
        .expect("text");
    set.split(';').next().expect("pair").trim().to_owned()
}

impl Browser {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        guard("GET", request.send()).await.expect("GET")
    }

    /// Logs in with a Negotiate token: the session cookie pair.
    async fn login(&self, token: &str) -> String {
        let response = guard(
            "login",
            self.http
                .get(self.url("/login"))
                .header("authorization", format!("Negotiate {token}"))
                .send(),
        )
        .await
        .expect("GET /login");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login accepted");
        assert_eq!(response.headers()[LOCATION], "/");
        session_cookie(response.headers())
    }

    /// The page's CSRF token (its `<meta name="csrf">`).
    async fn csrf(&self, cookie: &str) -> String {
        let page = self
            .get("/", Some(cookie))
            .await
            .text()
            .await
            .expect("page");
        let start = page.find("name=\"csrf\" content=\"").expect("csrf meta") + 21;
        page[start..start + 32].to_owned()
    }

    async fn post(
        &self,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = self
            .http
            .post(self.url(path))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        guard("POST", request.send()).await.expect("POST")
    }

    async fn view(&self, cookie: Option<&str>) -> serde_json::Value {
        let response = self.get("/api/view", cookie).await;
        assert_eq!(response.status(), StatusCode::OK);
        serde_json::from_str(&response.text().await.expect("view")).expect("view JSON")
    }
}

#[test]
fn a_ticket_logs_in_without_password_into_a_secure_cookie_with_security_headers() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, ""), |lab| async move {
        let web = browser(&lab, &certs);
        let token = krb5_token(&lab, "alice", WEB);
        let response = guard(
            "login",
            web.http
                .get(web.url("/login"))
                .header("authorization", format!("Negotiate {token}"))
                .send(),
        )
        .await
        .expect("login");
        assert_eq!(
            response.version(),
            reqwest::Version::HTTP_2,
            "HTTP/2 by ALPN"
        );
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()[SET_COOKIE]
            .to_str()
            .expect("text")
            .to_owned();
        for attribute in [
            "__Host-burnstand=",
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=",
        ] {
            assert!(
                set_cookie.contains(attribute),
                "{attribute} missing: {set_cookie}"
            );
        }
        let reply = response.headers()[WWW_AUTHENTICATE].to_str().expect("text");
        assert!(
            reply.starts_with("Negotiate "),
            "mutual authentication token: {reply}"
        );
        let cookie = session_cookie(response.headers());

        let page = web.get("/", Some(&cookie)).await;
        assert_eq!(page.status(), StatusCode::OK);
        let headers = page.headers().clone();
        let csp = headers["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(headers["strict-transport-security"]
            .to_str()
            .expect("hsts")
            .contains("max-age="));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let body = page.text().await.expect("page");
        assert!(
            body.contains(&lab.principal("alice")),
            "the page names who is logged in"
        );
        assert!(body.contains("dvd-1"));
        assert!(!body.contains("<script>"), "no inline script");
        let view = web.view(Some(&cookie)).await;
        assert_eq!(view["viewer"], "user");
        assert_eq!(view["user"], lab.principal("alice"));

        let path = lab.audit_path.clone();
        let principal = lab.principal("alice");
        wait_for_record(&path, |r| {
            r.event == "web.login" && r.get_str("principal") == Some(principal.as_str())
        })
        .await;
        lab.stop().await;
    });
}

#[test]
fn a_browser_s_spnego_token_logs_in_too() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, ""), |lab| async move {
        let web = browser(&lab, &certs);
        // As a browser does: SPNEGO with bob's Kerberos ticket (held in memory here: the
        // process's default ccache is the in-process master's).
        let (target, bob) = (lab.principal(WEB), lab.principal("bob"));
        let token = tokio::task::spawn_blocking(move || {
            let cred = burnstand_wire::gss::spnego_password_credentials(&bob, "bob-pw")
                .expect("SPNEGO creds");
            burnstand_wire::gss::spnego_token(&cred, &target).expect("SPNEGO token")
        })
        .await
        .expect("token task");
        // A token on any page logs in (the browser answers the 401 of the page it asked for).
        let response = guard(
            "SPNEGO login",
            web.http
                .get(web.url("/"))
                .header(
                    "authorization",
                    format!("Negotiate {}", base64_encode(&token)),
                )
                .send(),
        )
        .await
        .expect("GET /");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = session_cookie(response.headers());
        assert_eq!(web.view(Some(&cookie)).await["user"], lab.principal("bob"));
        lab.stop().await;
    });
}

#[test]
fn without_a_valid_ticket_the_answer_is_401_negotiate_and_nothing_is_shown() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, ""), |lab| async move {
        let web = browser(&lab, &certs);
        let expect_challenge = |response: &reqwest::Response| {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers()[WWW_AUTHENTICATE], "Negotiate");
        };
        // No ticket, public_wall = false: a challenge and no farm.
        for path in ["/", "/login", "/receipts"] {
            let response = web.get(path, None).await;
            expect_challenge(&response);
            let body = response.text().await.expect("body");
            assert!(!body.contains("dvd-1"), "{path} shows the farm: {body}");
        }
        assert_eq!(
            web.get("/api/view", None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            web.get("/plots/busiest_hours.svg", None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            web.get("/events", None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // Junk, a ticket for another service, and a replayed ticket.
        let master_ticket = krb5_token(&lab, "alice", MASTER);
        let token = krb5_token(&lab, "alice", WEB);
        web.login(&token).await;
        for bad in [
            "bm90IGEgdGlja2V0",
            "!!!",
            master_ticket.as_str(),
            token.as_str(),
        ] {
            let response = guard(
                "bad login",
                web.http
                    .get(web.url("/login"))
                    .header("authorization", format!("Negotiate {bad}"))
                    .send(),
            )
            .await
            .expect("GET /login");
            expect_challenge(&response);
            assert!(response.headers().get(SET_COOKIE).is_none());
        }
        let response = guard(
            "basic",
            web.http
                .get(web.url("/login"))
                .header("authorization", "Basic YWxpY2U6YWxpY2UtcHc=")
                .send(),
        )
        .await
        .expect("GET");
        expect_challenge(&response);
        let path = lab.audit_path.clone();
        let records = wait_for_record(&path, |r| {
            r.event == "web.login"
                && r.get_str("result") == Some("fail")
                && r.get_str("reason")
                    .is_some_and(|why| why.contains("replay"))
        })
        .await;
        let fails = records
            .iter()
            .filter(|r| r.event == "web.login" && r.get_str("result") == Some("fail"))
            .count();
        assert!(fails >= 4, "every refused login is audited: {fails}");
        lab.stop().await;
    });
}

#[test]
fn forged_and_expired_cookies_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    let mut spec = web_spec(&certs, "");
    // A short ticket: the session ends with it (GSSAPI adds the 1 s clock skew).
    spec.ticket_lifetime = Some(Duration::from_secs(3));
    lab_test(spec, |lab| async move {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let web = browser(&lab, &certs);
        let cookie = web.login(&krb5_token(&lab, "alice", WEB)).await;
        assert_eq!(web.view(Some(&cookie)).await["viewer"], "user");
        // alice makes herself an admin: the signature no longer matches.
        let value = cookie.split_once('=').expect("pair").1;
        let (body, tag) = value.split_once('.').expect("signed");
        let mut session: serde_json::Value =
            serde_json::from_slice(&b64.decode(body).expect("b64")).expect("json");
        session["admin"] = serde_json::Value::Bool(true);
        let forged = format!(
            "__Host-burnstand={}.{tag}",
            b64.encode(serde_json::to_vec(&session).expect("json"))
        );
        for bad in [
            forged.as_str(),
            "__Host-burnstand=garbage",
            "__Host-burnstand=a.b",
        ] {
            let response = web.get("/api/view", Some(bad)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        }
        // The ticket (and with it the session) ends after 3 s + 1 s of skew.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let response = web.get("/api/view", Some(&cookie)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "an expired cookie"
        );
        lab.stop().await;
    });
}

#[test]
fn cross_site_posts_are_refused_and_the_admin_s_drain_button_works_and_is_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, ""), |lab| async move {
        let web = browser(&lab, &certs);
        let dave = web.login(&krb5_token(&lab, "dave", WEB)).await;
        let token = web.csrf(&dave).await;
        let page = web.get("/", Some(&dave)).await.text().await.expect("page");
        assert!(
            page.contains("name=\"action\" value=\"drain\"><input type=\"hidden\" name=\"station\" value=\"dvd-1\">"),
            "the admin's page has the drain button: {page}"
        );
        let drain = [
            ("csrf", token.as_str()),
            ("action", "drain"),
            ("station", "dvd-1"),
        ];
        let no_token = [("action", "drain"), ("station", "dvd-1")];
        let origin = web.origin.clone();
        let refused = [
            web.post("/admin", &dave, Some(&origin), &no_token).await,
            web.post("/admin", &dave, Some("https://evil.example"), &drain)
                .await,
            web.post("/admin", &dave, None, &drain).await,
            web.post(
                "/admin",
                &dave,
                Some(&origin),
                &[
                    ("csrf", &"0".repeat(32)),
                    ("action", "drain"),
                    ("station", "dvd-1"),
                ],
            )
            .await,
        ];
        for response in refused {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        assert_eq!(
            web.view(Some(&dave)).await["stations"][0]["condition"],
            "free"
        );
        // A non-admin with a valid form is refused by the admin group, and audited.
        let alice = web.login(&krb5_token(&lab, "alice", WEB)).await;
        let alice_token = web.csrf(&alice).await;
        let response = web
            .post(
                "/admin",
                &alice,
                Some(&origin),
                &[
                    ("csrf", &alice_token),
                    ("action", "drain"),
                    ("station", "dvd-1"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            web.view(Some(&dave)).await["stations"][0]["condition"],
            "free"
        );
        // The admin's button.
        let response = web.post("/admin", &dave, Some(&origin), &drain).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response
            .text()
            .await
            .expect("body")
            .contains("dvd-1 drained"));
        assert_eq!(
            web.view(Some(&dave)).await["stations"][0]["condition"],
            "drained"
        );
        let records = lab.stop().await;
        let admin: Vec<_> = records.iter().filter(|r| r.event == "admin").collect();
        assert_eq!(admin.len(), 2, "{admin:?}");
        assert_eq!(
            admin[0].get_str("principal"),
            Some(lab_principal("alice").as_str())
        );
        assert!(admin[0]
            .get_str("command")
            .is_some_and(|c| c.contains("refused")));
        assert_eq!(
            admin[1].get_str("principal"),
            Some(lab_principal("dave").as_str())
        );
        assert_eq!(admin[1].get_str("command"), Some("DRAIN"));
        assert_eq!(admin[1].get_str("target"), Some("dvd-1"));
    });
}

fn lab_principal(user: &str) -> String {
    format!("{user}@{REALM}")
}

#[test]
fn the_public_wall_shows_states_without_names_and_users_see_only_their_own() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, "public_wall = true"), |lab| async move {
        let web = browser(&lab, &certs);
        let mut alice = connect(&lab, "alice").await;
        let request = Reserve {
            type_id: 1,
            station: String::new(),
            drives: 1,
            flags: 0,
        };
        assert!(matches!(
            reserve(&mut alice, request).await,
            ReserveReply::Reserved { .. }
        ));
        let wall = web.get("/", None).await;
        assert_eq!(wall.status(), StatusCode::OK);
        let page = wall.text().await.expect("wall");
        assert!(page.contains("dvd-1") && page.contains("busy"), "{page}");
        assert!(!page.contains("alice"), "no user names on the wall: {page}");
        let view = web.view(None).await;
        assert_eq!(view["viewer"], "wall");
        assert_eq!(view["stations"][0]["condition"], "busy");
        assert!(view["stations"][0]["holder"].is_null());
        let text = view.to_string();
        assert!(!text.contains("alice"), "{text}");

        let bob = web.login(&krb5_token(&lab, "bob", WEB)).await;
        let bobs = web.view(Some(&bob)).await;
        assert!(
            bobs["stations"][0]["holder"].is_null(),
            "bob does not see alice: {bobs}"
        );
        let alices = web.login(&krb5_token(&lab, "alice", WEB)).await;
        let view = web.view(Some(&alices)).await;
        assert_eq!(view["stations"][0]["holder"], lab.principal("alice"));
        assert_eq!(view["stations"][0]["yours"], true);
        let dave = web.login(&krb5_token(&lab, "dave", WEB)).await;
        let view = web.view(Some(&dave)).await;
        assert_eq!(view["stations"][0]["holder"], lab.principal("alice"));
        assert_eq!(view["who"][0]["user"], lab.principal("alice"));
        drop(alice);
        lab.stop().await;
    });
}

/// A station's `burn.receipt` as the master copied it, for `user`.
pub fn receipt(user: &str, copy_id: &str, station: &str) -> Event {
    let exported = Principal::parse(&lab_principal(user)).expect("principal");
    let end = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    Event::new("burn.receipt")
        .field("copy_id", copy_id)
        .field("station", station)
        .field("user", lab_principal(user))
        .field("user_exported", hex::encode(exported.exported()))
        .field("sha256", "ab".repeat(32))
        .field("result", "verified")
        .field("end", end)
        .field("station_name", "dvd-1")
        .field("station_seq", 1u64)
}

#[test]
fn a_user_sees_and_downloads_their_own_receipts_and_the_admin_all() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    let spec = web_spec(&certs, "").seed(vec![
        receipt("alice", "copy-of-alice", "st-alice"),
        receipt("bob", "copy-of-bob", "st-bob"),
    ]);
    lab_test(spec, |lab| async move {
        let web = browser(&lab, &certs);
        // Once a login works the master has opened its ledger (the status page starts after).
        let alice = web.login(&krb5_token(&lab, "alice", WEB)).await;
        // The station's lines, as a relayed receipt leaves them in the ledger.
        let ledger_path = lab
            .realm
            .keytab(MASTER)
            .expect("keytab")
            .with_file_name("master-state")
            .join(burnstand_master::ledger::LEDGER_FILE);
        {
            use burnstand_master::ledger::Ledger;
            let ledger =
                burnstand_master::ledger::SqliteLedger::open(&ledger_path).expect("ledger");
            ledger
                .set_receipt_line(
                    "copy-of-alice",
                    "{\"event\":\"burn.receipt\",\"who\":\"alice line\"}",
                )
                .expect("line");
            ledger
                .set_receipt_line(
                    "copy-of-bob",
                    "{\"event\":\"burn.receipt\",\"who\":\"bob line\"}",
                )
                .expect("line");
        }
        let page = web
            .get("/receipts", Some(&alice))
            .await
            .text()
            .await
            .expect("page");
        assert!(page.contains("st-alice"), "{page}");
        assert!(!page.contains("st-bob"), "alice sees bob's receipt: {page}");
        assert!(page.contains("audit verify"), "how to verify it");
        let own = web.get("/receipts/copy-of-alice.json", Some(&alice)).await;
        assert_eq!(own.status(), StatusCode::OK);
        assert!(own.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .contains("attachment"));
        assert!(own.text().await.expect("line").contains("alice line"));
        let other = web.get("/receipts/copy-of-bob.json", Some(&alice)).await;
        assert_eq!(
            other.status(),
            StatusCode::NOT_FOUND,
            "bob's receipt is not alice's"
        );

        let dave = web.login(&krb5_token(&lab, "dave", WEB)).await;
        let page = web
            .get("/receipts", Some(&dave))
            .await
            .text()
            .await
            .expect("page");
        assert!(
            page.contains("st-alice") && page.contains("st-bob"),
            "{page}"
        );
        assert!(
            page.contains(&lab.principal("bob")),
            "the admin sees whose: {page}"
        );
        let bobs = web.get("/receipts/copy-of-bob.json", Some(&dave)).await;
        assert!(bobs.text().await.expect("line").contains("bob line"));
        // The statistics, drawn on the server from the same ledger.
        for plot in ["copies_per_day", "verify_failures", "busiest_hours"] {
            let response = web.get(&format!("/plots/{plot}.svg"), Some(&alice)).await;
            assert_eq!(response.status(), StatusCode::OK, "{plot}");
            assert_eq!(response.headers()["content-type"], "image/svg+xml");
            let svg = response.text().await.expect("svg");
            assert!(svg.contains("<svg"), "{plot}: {svg}");
            assert!(
                !svg.contains("alice") && !svg.contains("bob@"),
                "no user names: {svg}"
            );
        }
        assert_eq!(
            web.get("/plots/nope.svg", Some(&alice)).await.status(),
            StatusCode::NOT_FOUND
        );
        lab.stop().await;
    });
}

#[test]
fn server_sent_events_deliver_a_reservation_as_it_happens() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    lab_test(web_spec(&certs, ""), |lab| async move {
        let web = browser(&lab, &certs);
        let dave = web.login(&krb5_token(&lab, "dave", WEB)).await;
        let mut events = web.get("/events", Some(&dave)).await;
        assert_eq!(events.status(), StatusCode::OK);
        assert_eq!(events.headers()["content-type"], "text/event-stream");
        let mut seen = String::new();
        // The first event: the farm as it is.
        guard("first event", async {
            while !seen.contains("\n\n") {
                let chunk = events.chunk().await.expect("stream").expect("open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(
            seen.contains("event: farm") && seen.contains("\"condition\":\"free\""),
            "{seen}"
        );
        assert!(seen.contains("\"at_unix_ms\":"));
        let mut alice = connect(&lab, "alice").await;
        let request = Reserve {
            type_id: 1,
            station: String::new(),
            drives: 1,
            flags: 0,
        };
        assert!(matches!(
            reserve(&mut alice, request).await,
            ReserveReply::Reserved { .. }
        ));
        let holder = format!("\"holder\":\"{}\"", lab.principal("alice"));
        guard("the reservation's event", async {
            while !seen.contains(&holder) {
                let chunk = events.chunk().await.expect("stream").expect("open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        drop(alice);
        // Shutdown ends the stream (the master's drain does not wait for it).
        lab.stop().await;
    });
}

#[test]
fn check_config_loads_the_pem_files_and_needs_the_http_key_in_the_keytab() {
    let realm = crate::common::start_realm(None);
    realm.apply_to_process(None).expect("client environment");
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    let both = dir.path().join("master-and-web.keytab");
    crate::common::merged_keytab(&realm, &both, &[MASTER, WEB]);
    let station = (
        crate::common::StationSpec::new("dvd-1", "DVD"),
        SocketAddr::from(([127, 0, 0, 1], 9)),
    );
    let check = |keytab: &Path, certificate: &Path| {
        let web = format!(
            "[web]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
            certificate.display(),
            certs.key.display()
        );
        let text = crate::common::config_text(
            &realm,
            keytab,
            &dir.path().join("audit.jsonl"),
            std::slice::from_ref(&station),
            "",
            &web,
        );
        let path = dir.path().join("master.toml");
        std::fs::write(&path, text).expect("config");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_burnstand-master"))
            .arg("--config")
            .arg(&path)
            .arg("--check-config")
            .env_clear()
            .envs(realm.env())
            .output()
            .expect("run the master");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = check(&both, &certs.cert);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("status page https://127.0.0.1:0 as HTTP/localhost@"),
        "{stdout}"
    );
    // The key file where the certificate should be: not a certificate.
    let (code, _, stderr) = check(&both, &certs.key);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("[web] certificate"), "{stderr}");
    let (code, _, stderr) = check(&both, &dir.path().join("missing.crt"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("missing.crt"), "{stderr}");
    // The master's own keytab lacks the HTTP principal's key.
    let master_only = realm.keytab(MASTER).expect("master keytab").to_owned();
    let (code, _, stderr) = check(&master_only, &certs.cert);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("HTTP/localhost@") && stderr.contains("ktadd"),
        "{stderr}"
    );
}

#[test]
fn an_audit_log_that_failed_closed_reaches_the_open_pages_by_themselves() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = certs(dir.path());
    // Appends: 1 dave's web.login, 2 a refused login's web.login: its fsync fails.
    let spec = LabSpec {
        audit_failure: Some(burnstand_audit::TestOnlyFailure::Sync { on_append: 2 }),
        ..web_spec(&certs, "")
    };
    lab_test(spec, |lab| async move {
        let web = browser(&lab, &certs);
        let dave = web.login(&krb5_token(&lab, "dave", WEB)).await;
        let mut events = web.get("/events", Some(&dave)).await;
        let mut seen = String::new();
        guard("first event", async {
            while !seen.contains("\n\n") {
                let chunk = events.chunk().await.expect("stream").expect("open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(seen.contains("\"audit_healthy\":true"), "{seen}");
        // A refused login whose record cannot be written: the log fails closed. Nothing in
        // the farm changes, so only the master's watch of the log can tell the open pages.
        let response = guard(
            "a junk login",
            web.http
                .get(web.url("/login"))
                .header("authorization", "Negotiate bm90IGEgdGlja2V0")
                .send(),
        )
        .await
        .expect("GET /login");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        guard("the banner's event", async {
            while !seen.contains("\"audit_healthy\":false") {
                let chunk = events.chunk().await.expect("stream").expect("open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        // The page itself says so, and a new login is refused (it cannot be recorded).
        let page = web.get("/", Some(&dave)).await.text().await.expect("page");
        assert!(page.contains("audit log failed closed"), "{page}");
        assert!(
            !page.contains("id=\"audit-alert\" class=\"alert\" hidden"),
            "{page}"
        );
        let response = guard(
            "login",
            web.http
                .get(web.url("/login"))
                .header(
                    "authorization",
                    format!("Negotiate {}", krb5_token(&lab, "bob", WEB)),
                )
                .send(),
        )
        .await
        .expect("GET /login");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    });
}
