//! A real browser for the status page tests: Debian's headless `chromium`, driven over
//! WebDriver by `chromedriver` and [`fantoccini`], in a kdc-test realm's Kerberos environment.
//!
//! Chromium does Negotiate (SPNEGO, RFC 4559) through MIT's `libgssapi_krb5`, which it loads at
//! run time and which reads the process environment: the ticket cache is `KRB5CCNAME` and the
//! realm `KRB5_CONFIG`, both inherited from chromedriver, which starts the browser. Chromium
//! answers a `WWW-Authenticate: Negotiate` challenge only for hosts on `--auth-server-allowlist`,
//! and asks for the service `HTTP@<host>` (so `HTTP/localhost@REALM` for a page on
//! `localhost`: [`WEB_SERVICE`]). Each [`Browser`] has its own profile directory and its own
//! chromedriver, so two browsers (alice's and bob's, or one without a ticket) never share
//! cookies or tickets.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use kdc_test::Realm;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// The status page's service principal in a test lab (without the realm): what Chromium asks a
/// ticket for when it opens `https://localhost:PORT/`.
pub const WEB_SERVICE: &str = "HTTP/localhost";

/// The browser binary Debian's `chromium` package installs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver server, from `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long chromedriver may take to listen, and a page or script may take: a hang guard, not
/// a timing assertion.
const START_BOUND: Duration = Duration::from_secs(30);

/// How long a value may take to show on a page (a burn's progress, an event): a hang guard.
pub const PAGE_BOUND: Duration = Duration::from_secs(120);

/// Whose browser: the Kerberos identity it logs in with.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'a> {
    /// The tickets in this ccache file (`kinit` into it first, e.g. [`Realm::kinit_into`]).
    Ticket(&'a Path),
    /// No ticket at all: an unauthenticated visitor.
    Anonymous,
}

/// A headless Chromium with its own profile, driven through [`Browser::client`].
///
/// Drop it after [`Browser::close`] (closing ends the WebDriver session so chromium exits);
/// dropping without closing still kills chromedriver, and chromium with it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium for `identity` in `realm`'s environment,
    /// accepting the test server's self-signed certificate, allowed to answer Negotiate for
    /// `localhost` and `127.0.0.1`.
    pub async fn start(realm: &Realm, identity: Identity<'_>) -> Browser {
        Self::try_start(realm, identity)
            .await
            .unwrap_or_else(|e| panic!("cannot start headless chromium: {e}"))
    }

    /// [`Browser::start`], returning the error (for the bench).
    pub async fn try_start(realm: &Realm, identity: Identity<'_>) -> Result<Browser, String> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).is_file() {
                return Err(format!(
                    "{tool} is missing: run scripts/install-deps.sh (Debian's chromium and chromium-driver)"
                ));
            }
        }
        let profile = tempfile::Builder::new()
            .prefix("burnstand-chromium-")
            .tempdir()
            .map_err(|e| format!("profile directory: {e}"))?;
        let port = free_port()?;
        let ccache: PathBuf = match identity {
            Identity::Ticket(path) => path.to_owned(),
            // A ccache that does not exist: libgssapi finds no ticket and chromium gives up
            // on Negotiate, as a visitor without a ticket would.
            Identity::Anonymous => profile.path().join("no-ticket.ccache"),
        };
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", profile.path())
            .envs(realm.env())
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let driver = cmd
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let url = format!("http://127.0.0.1:{port}");
        let client = connect(&url, &capabilities(profile.path())).await?;
        Ok(Browser {
            client,
            driver,
            profile,
        })
    }

    /// A browser with the tickets in `ccache`, logged in as `principal` by Negotiate at
    /// `login_url` (after [`Browser::warm_up`]); panics with the page if it is not.
    pub async fn logged_in(
        realm: &Realm,
        ccache: &Path,
        login_url: &str,
        principal: &str,
    ) -> Browser {
        let browser = Browser::start(realm, Identity::Ticket(ccache)).await;
        browser.warm_up(login_url).await;
        browser
            .client
            .goto(login_url)
            .await
            .unwrap_or_else(|e| panic!("{login_url}: {e}"));
        let page = browser.text().await;
        assert!(
            page.contains(principal),
            "{principal} is logged in by Negotiate: {page}"
        );
        browser
    }

    /// Runs `script` (which returns a number) until `done` accepts its value, and returns it;
    /// a page that never shows one trips [`PAGE_BOUND`] (a hang guard).
    pub async fn number_when(&self, script: &str, done: impl Fn(f64) -> bool) -> f64 {
        let poll = async {
            loop {
                let value = self
                    .client
                    .execute(script, vec![])
                    .await
                    .unwrap_or_else(|e| panic!("{script}: {e}"))
                    .as_f64()
                    .unwrap_or(-1.0);
                if done(value) {
                    return value;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        crate::within(PAGE_BOUND, &format!("a value of {script}"), poll).await
    }

    /// The string `script` returns (a promise is awaited, so `fetch(…)` works).
    pub async fn string(&self, script: &str) -> String {
        match self.client.execute(script, vec![]).await {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => panic!("{script} returned {other}"),
            Err(e) => panic!("{script}: {e}"),
        }
    }

    /// The browser's profile directory (chromedriver's log is `chromedriver.log` in it).
    pub fn profile(&self) -> &Path {
        self.profile.path()
    }

    /// Ends the WebDriver session (chromium exits), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }

    /// Visits `url` once and forgets the answer. Chromium loads `libgssapi_krb5` when it first
    /// meets a Negotiate challenge and fails that one request (`ERR_UNSUPPORTED_AUTH_SCHEME`
    /// in its log; the next challenge works), so a test warms a new browser up on the page
    /// before it counts on a login. A person's long-running browser has done so long before.
    pub async fn warm_up(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("warm-up visit of {url}: {e}"));
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> String {
        match self
            .client
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
        {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => panic!("innerText is not a string: {other}"),
            Err(e) => panic!("cannot read the page text: {e}"),
        }
    }

    /// Saves a PNG screenshot of the page at `path` (creating its directory).
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// The chromium options: headless, its own profile, Negotiate for the lab's host only, the test
/// server's self-signed certificate accepted (WebDriver's `acceptInsecureCerts`).
fn capabilities(profile: &Path) -> fantoccini::wd::Capabilities {
    let args = vec![
        "--headless=new".to_owned(),
        // Tests run as root in CI, where chromium refuses its sandbox.
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1280,1024".to_owned(),
        format!("--user-data-dir={}", profile.join("chromium").display()),
        "--auth-server-allowlist=localhost,127.0.0.1".to_owned(),
        // Ask for HTTP/localhost, the name in the URL, without a DNS canonical-name look-up.
        "--disable-auth-negotiate-cname-lookup".to_owned(),
    ];
    let mut caps = fantoccini::wd::Capabilities::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("acceptInsecureCerts".into(), true.into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    caps
}

/// Connects to chromedriver at `url`, retrying while it starts.
async fn connect(url: &str, caps: &fantoccini::wd::Capabilities) -> Result<Client, String> {
    let deadline = tokio::time::Instant::now() + START_BOUND;
    loop {
        let attempt = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(url)
            .await;
        match attempt {
            Ok(client) => return Ok(client),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("no WebDriver session from chromedriver: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A loopback port nobody listens on now (chromedriver takes no port 0).
fn free_port() -> Result<u16, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}
