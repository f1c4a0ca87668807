//! What every benchmark shares: the scale it runs at, its tokio runtime, its database on
//! `DATABASE_URL`'s server, the bench admin who sends, the calendar with the most enrollments, and
//! latency sampling.
//!
//! What must stay true: a benchmark takes every size from [`Scale`], so the small run under
//! `cargo test` exercises the same code as the full one, only on less data.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_core::accounts::{self, Role};
use herald_core::domain::{CalendarId, EmailAddress};
use herald_core::messaging::compose::Sender;
use secrecy::SecretString;
use sqlx::PgPool;

/// How big a run is: full under `cargo bench` (which passes `--bench`), small under `cargo test`.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    small: bool,
}

impl Scale {
    /// Full when the arguments hold `--bench`, as `cargo bench` passes; small otherwise.
    pub fn from_args() -> Self {
        Self {
            small: !std::env::args().any(|a| a == "--bench"),
        }
    }

    /// True for the small run, whose figures say only that the benchmark still works.
    pub fn is_small(self) -> bool {
        self.small
    }

    /// `full` for a real measurement, `small` for the check under `cargo test`.
    pub fn pick<T>(self, full: T, small: T) -> T {
        if self.small { small } else { full }
    }

    /// An environment variable's number when set (full runs only), else [`Scale::pick`].
    pub fn number<T: std::str::FromStr>(self, var: &str, full: T, small: T) -> anyhow::Result<T> {
        match std::env::var(var) {
            Ok(v) if !self.small => v
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{var}={v}: expected a number")),
            _ => Ok(self.pick(full, small)),
        }
    }

    /// The database a benchmark uses: `herald_bench_<name>`, with `_small` for the small run so
    /// it never replaces a full run's kept data.
    pub fn database(self, name: &str) -> String {
        if self.small {
            format!("herald_bench_{name}_small")
        } else {
            format!("herald_bench_{name}")
        }
    }
}

/// Runs a benchmark on a multi-threaded runtime, as the binaries run.
pub fn run(bench: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?
        .block_on(bench)
}

/// `DATABASE_URL` without its database name: where benchmark databases are made.
pub fn server_base() -> anyhow::Result<String> {
    std::env::var("DATABASE_URL").context("DATABASE_URL must name a PostgreSQL server")?;
    Ok(herald_testing::db::server_url())
}

/// A new, migrated database `name` on `DATABASE_URL`'s server, dropping any earlier one.
pub async fn fresh_database(name: &str) -> anyhow::Result<PgPool> {
    server_base()?;
    Ok(herald_testing::db::named(name).await?)
}

/// The bench admin, created on first use.
pub async fn sender(pool: &PgPool) -> anyhow::Result<Sender> {
    let email = EmailAddress::parse("bench@district.example")?;
    let id = match accounts::create(
        pool,
        &email,
        "Bench Admin",
        &SecretString::from("bench-password".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    {
        Ok(id) => id,
        Err(accounts::AccountError::EmailTaken(_)) => {
            sqlx::query_scalar("select id from account where email = $1")
                .bind(email.as_str())
                .fetch_one(pool)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Sender {
        account_id: id,
        name: "Bench Admin".into(),
        email,
    })
}

/// The calendar with the most enrollments.
pub async fn busiest_calendar(pool: &PgPool) -> anyhow::Result<CalendarId> {
    Ok(sqlx::query_scalar(
        "select calendar_id from enrollment group by calendar_id order by count(*) desc limit 1",
    )
    .fetch_one(pool)
    .await?)
}

/// Calls `call` once to warm up, then `rounds` times, returning each call's time.
pub async fn time<T, E, F, Fut>(rounds: usize, mut call: F) -> Result<Vec<Duration>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    call().await?;
    let mut took = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        call().await?;
        took.push(t.elapsed());
    }
    Ok(took)
}

/// Prints one line: p50, p95 and max of `took`.
pub fn report(what: &str, mut took: Vec<Duration>) {
    took.sort();
    if took.is_empty() {
        println!("{what:<40} no calls");
        return;
    }
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<40} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms   ({} calls)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(took[took.len() - 1]),
        took.len()
    );
}

/// The workspace root, where `target/` and `end2end/` are.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The built binaries' folder and the site root for this scale: the release build (with
/// `hash-files` and precompressed assets) for a full run, the debug build `./herald.sh test`
/// has made for a small one.
pub fn built_site(scale: Scale) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (profile, build) = scale.pick(
        (
            "release",
            "cargo leptos build --release --split --precompress && cargo build --release -p herald-worker",
        ),
        (
            "debug",
            "cargo leptos build --split && cargo build -p herald-worker",
        ),
    );
    let bins = root().join("target").join(profile);
    for bin in ["herald-worker", "herald-server"] {
        if !bins.join(bin).exists() {
            bail!("build the {profile} binaries first: {build}");
        }
    }
    Ok((bins, root().join("target/site")))
}

/// Waits until a server started at `base` answers its sign-in page.
pub async fn wait_for_server(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if http.get(format!("{base}/sign-in")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the server at {base} did not start")
}

/// A free TCP port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process, killed (with its own children) when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> anyhow::Result<Self> {
        Ok(Self(command.spawn().with_context(|| {
            format!("starting {}", command.get_program().to_string_lossy())
        })?))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Children first: killing `/usr/bin/time` alone would orphan the program it runs.
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
