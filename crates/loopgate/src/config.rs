//! The one configuration of a Loopgate process, layered: built-in defaults, then a TOML file
//! (`--config` or `LOOPGATE_CONFIG`), then `LOOPGATE_*` environment variables, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything a Loopgate process can be configured with.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Address to serve HTTP on (`LOOPGATE_LISTEN`).
    pub listen: SocketAddr,
    /// Directory of the embedded database (`LOOPGATE_DATA`); also where the first start leaves
    /// its admin key.
    pub data: PathBuf,
    /// A PostgreSQL URL (`LOOPGATE_DATABASE_URL`): when set, the store is that database instead
    /// of the embedded one, and any number of servers may share it. Hidden from `Debug`: it may
    /// hold a password.
    pub database_url: Option<SecretString>,
    /// Lease length, in seconds, for policies that set none (`LOOPGATE_LEASE_SECONDS`).
    pub lease_seconds: u32,
    /// Seconds between sweeps that return lapsed leases to their queues.
    pub lease_sweep_seconds: u32,
    /// Seconds between refits of every policy's calibrator and derived thresholds
    /// (`LOOPGATE_REFIT_SECONDS`).
    pub refit_seconds: u32,
    /// Admin key registered on an empty store, so scripts can start from nothing
    /// (`LOOPGATE_BOOTSTRAP_ADMIN_KEY`).
    pub bootstrap_admin_key: Option<SecretString>,
    /// Requests per second each API key may sustain, 0 for no limit
    /// (`LOOPGATE_RATE_LIMIT_PER_SECOND`).
    pub rate_limit_per_second: u32,
    /// Requests each API key may send at once after a quiet spell (`LOOPGATE_RATE_LIMIT_BURST`).
    pub rate_limit_burst: u32,
    /// Seconds the server waits on a silent client (`LOOPGATE_CLIENT_TIMEOUT_SECONDS`): for a
    /// request's headers, from the connection opening or its previous answer, and between the
    /// pieces of a request's body, and for a client to take any of an answer. Slow-header,
    /// stalled-body, idle keep-alive and non-reading connections are closed after it.
    pub client_timeout_seconds: u32,
}

#[derive(Serialize)]
struct Defaults {
    listen: &'static str,
    data: &'static str,
    lease_seconds: u32,
    lease_sweep_seconds: u32,
    refit_seconds: u32,
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    client_timeout_seconds: u32,
}

const DEFAULTS: Defaults = Defaults {
    listen: "127.0.0.1:8080",
    data: "./loopgate-data",
    lease_seconds: 300,
    lease_sweep_seconds: 1,
    refit_seconds: 60,
    rate_limit_per_second: 2_000,
    rate_limit_burst: 20_000,
    client_timeout_seconds: 30,
};

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// `--database`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

impl Config {
    /// Reads the layers. `file` is the `--config` path, if given.
    pub fn load(file: Option<&Path>, flags: Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("LOOPGATE_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("LOOPGATE_").ignore(&["config"]))
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        anyhow::ensure!(config.lease_seconds > 0, "lease_seconds must be at least 1");
        if let Some(url) = &config.database_url {
            anyhow::ensure!(
                loopgate_store::postgres::is_postgres_url(url.expose_secret()),
                "database_url (LOOPGATE_DATABASE_URL, --database) must be a postgres:// URL; \
                 leave it unset for the embedded SQLite database in the data directory"
            );
        }
        anyhow::ensure!(
            config.lease_sweep_seconds > 0,
            "lease_sweep_seconds must be at least 1"
        );
        anyhow::ensure!(
            config.client_timeout_seconds > 0,
            "client_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            config.rate_limit_per_second == 0 || config.rate_limit_burst > 0,
            "rate_limit_burst must be at least 1 (or set rate_limit_per_second = 0 for no limit)"
        );
        Ok(config)
    }

    /// The per-key rate limit, `None` when switched off.
    pub fn rate_limit(&self) -> Option<loopgate_server::state::RateLimit> {
        Some(loopgate_server::state::RateLimit {
            per_second: std::num::NonZeroU32::new(self.rate_limit_per_second)?,
            burst: std::num::NonZeroU32::new(self.rate_limit_burst)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::result_large_err)] // figment::Jail's closures return its large error type.

    use super::*;

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, Overrides::default()).unwrap();
            assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(config.data, PathBuf::from("./loopgate-data"));

            jail.create_file(
                "loopgate.toml",
                "listen = \"127.0.0.1:9000\"\nlease_seconds = 60\n",
            )?;
            let file = Some(Path::new("loopgate.toml"));
            let config = Config::load(file, Overrides::default()).unwrap();
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.lease_seconds, 60);

            jail.set_env("LOOPGATE_LISTEN", "127.0.0.1:9100");
            jail.set_env("LOOPGATE_DATA", "/tmp/from-env");
            let config = Config::load(file, Overrides::default()).unwrap();
            assert_eq!(config.listen.port(), 9100);
            assert_eq!(config.data, PathBuf::from("/tmp/from-env"));

            let flags = Overrides {
                listen: Some("127.0.0.1:9200".parse().unwrap()),
                ..Overrides::default()
            };
            let config = Config::load(file, flags).unwrap();
            assert_eq!(config.listen.port(), 9200);
            assert_eq!(config.data, PathBuf::from("/tmp/from-env"));
            Ok(())
        });
    }

    #[test]
    fn the_database_url_layers_like_every_setting_and_is_never_printed() {
        figment::Jail::expect_with(|jail| {
            assert!(
                Config::load(None, Overrides::default())
                    .unwrap()
                    .database_url
                    .is_none(),
                "the embedded database is the default"
            );
            jail.create_file(
                "loopgate.toml",
                "database_url = \"postgres://file@db/loopgate\"\n",
            )?;
            let file = Some(Path::new("loopgate.toml"));
            let url = |c: Config| c.database_url.unwrap().expose_secret().to_owned();
            assert_eq!(
                url(Config::load(file, Overrides::default()).unwrap()),
                "postgres://file@db/loopgate"
            );
            jail.set_env(
                "LOOPGATE_DATABASE_URL",
                "postgres://env:hunter2@db/loopgate",
            );
            let config = Config::load(file, Overrides::default()).unwrap();
            assert!(!format!("{config:?}").contains("hunter2"));
            assert_eq!(url(config), "postgres://env:hunter2@db/loopgate");
            let flags = Overrides {
                database_url: Some("postgresql://flag@db/loopgate".into()),
                ..Overrides::default()
            };
            assert_eq!(
                url(Config::load(file, flags).unwrap()),
                "postgresql://flag@db/loopgate"
            );
            jail.set_env("LOOPGATE_DATABASE_URL", "mysql://db/loopgate");
            let err = Config::load(file, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("postgres://"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOOPGATE_LISTEN", "not an address");
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.to_lowercase().contains("listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_client_timeout_is_30_s_unless_set_and_never_zero() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, Overrides::default()).unwrap();
            assert_eq!(config.client_timeout_seconds, 30);
            jail.set_env("LOOPGATE_CLIENT_TIMEOUT_SECONDS", "5");
            let config = Config::load(None, Overrides::default()).unwrap();
            assert_eq!(config.client_timeout_seconds, 5);
            // Zero would close every connection before its first request.
            jail.set_env("LOOPGATE_CLIENT_TIMEOUT_SECONDS", "0");
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("client_timeout_seconds"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_bootstrap_key_is_never_printed() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "LOOPGATE_BOOTSTRAP_ADMIN_KEY",
                "a-very-secret-bootstrap-key-123",
            );
            let config = Config::load(None, Overrides::default()).unwrap();
            assert!(config.bootstrap_admin_key.is_some());
            assert!(!format!("{config:?}").contains("a-very-secret"));
            Ok(())
        });
    }
}
