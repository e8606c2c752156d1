//! Where the master is: the `--master`/`--master-principal` flags, the `BURNSTAND_MASTER` and
//! `BURNSTAND_MASTER_PRINCIPAL` environment variables, the user's configuration file, the
//! lab's system-wide one, or the default — in that order, per setting.
//!
//! The user's file is `$BURNSTAND_CONFIG` if set (then it must exist), otherwise
//! `$XDG_CONFIG_HOME/burnstand/config.toml` or `~/.config/burnstand/config.toml` if present.
//! The system-wide file, [`SYSTEM_CONFIG`] (installed by the `burnstand` package, so a lab
//! sets its master once per machine), is read under it when present: each key the user's file
//! sets wins, the others come from the system file. Both have the same keys:
//!
//! ```toml
//! master = "burnstand.lab.example.edu:4700"
//! master_principal = "burnstand/burnstand.lab.example.edu@CAMPUS.EXAMPLE.EDU"
//! ```
//!
//! Unknown keys are errors, so a typo never silently falls back to the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ClientError;

/// The master address used when nothing else says.
pub const DEFAULT_MASTER: &str = "localhost:4700";
/// The master principal used when nothing else says (the realm is krb5.conf's default).
pub const DEFAULT_MASTER_PRINCIPAL: &str = "burnstand/localhost";
/// Longest configuration file read.
const MAX_CONFIG_LEN: u64 = 64 * 1024;
/// The lab's system-wide configuration file, read under the user's own.
pub const SYSTEM_CONFIG: &str = "/etc/burnstand/client.toml";
/// Names another system-wide file instead of [`SYSTEM_CONFIG`] (tests, unusual installs).
pub const SYSTEM_CONFIG_ENV: &str = "BURNSTAND_SYSTEM_CONFIG";

/// The keys of the configuration file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HOST:PORT of the master.
    pub master: Option<String>,
    /// The master's Kerberos service principal.
    pub master_principal: Option<String>,
}

/// The resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub master: String,
    pub master_principal: String,
}

/// What the command line and the environment said (clap reads both; the flag wins).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub master: Option<String>,
    pub master_principal: Option<String>,
    /// `BURNSTAND_CONFIG`, if set.
    pub config_path: Option<PathBuf>,
}

impl Settings {
    /// Resolves every setting: flag or environment (given in `overrides`), then the user's
    /// file, then the system-wide file ([`system_path`]), then the default. Reads the files
    /// only when a setting still needs them.
    pub fn resolve(overrides: Overrides) -> Result<Settings, ClientError> {
        Settings::resolve_with(overrides, &system_path())
    }

    /// [`Settings::resolve`] with `system` as the system-wide file.
    fn resolve_with(overrides: Overrides, system: &Path) -> Result<Settings, ClientError> {
        let file = if overrides.master.is_some() && overrides.master_principal.is_some() {
            FileConfig::default()
        } else {
            let user = match (&overrides.config_path, default_path()) {
                (Some(path), _) => read_file(path)?,
                (None, Some(path)) if path.is_file() => read_file(&path)?,
                (None, _) => FileConfig::default(),
            };
            // A missing system file is normal (no package, or a lab without one); an
            // unreadable or broken one is an error naming it, like the user's.
            let lab = if system.exists() {
                read_file(system)?
            } else {
                FileConfig::default()
            };
            user.over(lab)
        };
        Ok(Settings::merge(overrides, file))
    }

    fn merge(overrides: Overrides, file: FileConfig) -> Settings {
        Settings {
            master: overrides
                .master
                .or(file.master)
                .unwrap_or_else(|| DEFAULT_MASTER.to_owned()),
            master_principal: overrides
                .master_principal
                .or(file.master_principal)
                .unwrap_or_else(|| DEFAULT_MASTER_PRINCIPAL.to_owned()),
        }
    }
}

impl FileConfig {
    /// This file's keys, and `base`'s where this one has none.
    fn over(self, base: FileConfig) -> FileConfig {
        FileConfig {
            master: self.master.or(base.master),
            master_principal: self.master_principal.or(base.master_principal),
        }
    }
}

/// `$BURNSTAND_SYSTEM_CONFIG` if set and not empty, else [`SYSTEM_CONFIG`].
pub fn system_path() -> PathBuf {
    std::env::var_os(SYSTEM_CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(SYSTEM_CONFIG), PathBuf::from)
}

/// `$XDG_CONFIG_HOME/burnstand/config.toml`, else `$HOME/.config/burnstand/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(base.join("burnstand").join("config.toml"))
}

/// Reads and parses a configuration file.
pub fn read_file(path: &Path) -> Result<FileConfig, ClientError> {
    let problem = |problem: String| ClientError::Config {
        path: path.display().to_string(),
        problem,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| problem(format!("cannot read it: {e}")))?
        .len();
    if len > MAX_CONFIG_LEN {
        return Err(problem(format!(
            "{len} bytes is too long for a configuration file"
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    parse(&text).map_err(problem)
}

/// Parses the text of a configuration file.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let config: FileConfig =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    for (key, value) in [
        ("master", &config.master),
        ("master_principal", &config.master_principal),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(format!("`{key}` is empty"));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn over(master: Option<&str>, principal: Option<&str>) -> Overrides {
        Overrides {
            master: master.map(str::to_owned),
            master_principal: principal.map(str::to_owned),
            config_path: None,
        }
    }

    fn file(master: Option<&str>, principal: Option<&str>) -> FileConfig {
        FileConfig {
            master: master.map(str::to_owned),
            master_principal: principal.map(str::to_owned),
        }
    }

    #[test]
    fn flag_or_env_beats_the_file_which_beats_the_default() {
        let s = Settings::merge(
            over(Some("flag:1"), None),
            file(Some("file:2"), Some("p/f")),
        );
        assert_eq!(s.master, "flag:1");
        assert_eq!(s.master_principal, "p/f");
        let s = Settings::merge(over(None, None), file(Some("file:2"), None));
        assert_eq!(s.master, "file:2");
        assert_eq!(s.master_principal, DEFAULT_MASTER_PRINCIPAL);
        let s = Settings::merge(over(None, None), FileConfig::default());
        assert_eq!(s.master, DEFAULT_MASTER);
    }

    #[test]
    fn the_file_has_two_keys_and_no_others() {
        let ok = parse("master = \"m:4700\"\nmaster_principal = \"burnstand/m@R\"\n").unwrap();
        assert_eq!(ok, file(Some("m:4700"), Some("burnstand/m@R")));
        assert_eq!(parse("").unwrap(), FileConfig::default());
        let typo = parse("mastr = \"m:4700\"").unwrap_err();
        assert!(typo.contains("mastr"), "{typo}");
        assert!(parse("master = 4700").is_err());
        assert!(parse("master = \"  \"").unwrap_err().contains("empty"));
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        let overrides = Overrides {
            config_path: Some(PathBuf::from("/nonexistent/burnstand.toml")),
            ..Overrides::default()
        };
        let e =
            Settings::resolve_with(overrides, Path::new("/nonexistent/client.toml")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("/nonexistent/burnstand.toml"));
    }

    #[test]
    fn the_users_file_overrides_keys_of_the_system_file_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("client.toml");
        std::fs::write(
            &system,
            "master = \"lab:4700\"\nmaster_principal = \"burnstand/lab@LAB\"\n",
        )
        .unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(&user, "master = \"mine:9\"\n").unwrap();
        let with_user = || Overrides {
            config_path: Some(user.clone()),
            ..Overrides::default()
        };

        let s = Settings::resolve_with(with_user(), &system).unwrap();
        assert_eq!(s.master, "mine:9", "the user's key wins");
        assert_eq!(
            s.master_principal, "burnstand/lab@LAB",
            "the lab's fills in"
        );

        // Without a user file the system file alone decides.
        let s = Settings::resolve_with(Overrides::default(), &system).unwrap();
        assert_eq!(s.master, "lab:4700");

        // Flags and environment still beat both.
        let flags = Overrides {
            master_principal: Some("p/flag".into()),
            ..with_user()
        };
        let s = Settings::resolve_with(flags, &system).unwrap();
        assert_eq!(
            (s.master.as_str(), s.master_principal.as_str()),
            ("mine:9", "p/flag")
        );

        // No system file: the defaults fill in.
        let s = Settings::resolve_with(with_user(), &dir.path().join("none.toml")).unwrap();
        assert_eq!(s.master_principal, DEFAULT_MASTER_PRINCIPAL);

        // A broken system file is an error naming it, even when the user's file is fine.
        std::fs::write(&system, "mastr = \"lab:4700\"\n").unwrap();
        let e = Settings::resolve_with(with_user(), &system).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("client.toml"), "{e}");
    }

    #[test]
    fn an_explicit_config_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "master = \"file:9\"\n").unwrap();
        let overrides = Overrides {
            config_path: Some(path),
            ..Overrides::default()
        };
        let s = Settings::resolve_with(overrides, &dir.path().join("no-system.toml")).unwrap();
        assert_eq!(s.master, "file:9");
        assert_eq!(s.master_principal, DEFAULT_MASTER_PRINCIPAL);
    }
}
