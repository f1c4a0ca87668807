//! `herald-worker`: the worker process and Herald's command-line tools. Thin: parse the command,
//! load the configuration and connect where the command needs it, and call one function of
//! `herald_core` per command.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_core::config::Config;
use herald_core::dev::{district, sign_ins, voice_provider};
use herald_core::messaging::email_preferences;
use sqlx::PgPool;

#[derive(Parser)]
#[command(
    name = "herald-worker",
    version,
    about = "Herald's worker and command-line tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker loop until SIGTERM or Ctrl-C.
    Run,
    /// Import a OneRoster CSV folder or zip (all or nothing).
    Import {
        /// A folder of OneRoster CSV files, or a .zip of them.
        path: PathBuf,
    },
    /// Write a generated demo district as OneRoster CSV.
    Demo {
        /// Where to write the CSV files.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2027)]
        seed: u64,
        #[arg(long, default_value_t = 3)]
        schools: usize,
        #[arg(long, default_value_t = 1500)]
        students: usize,
    },
    /// Print the running workers and the queue's depth per device, for ops.
    Status,
    /// Create the demo district's sign-in accounts (after importing it) and print them.
    DemoAccounts,
    /// Stop an account signing in, ending its sessions now (any role, district admins too).
    DisableAccount {
        /// The email the account signs in with.
        email: String,
    },
    /// Let a disabled account sign in again.
    EnableAccount {
        /// The email the account signs in with.
        email: String,
    },
    /// Point Dialer Preferences at a local voice provider, unless an account is already set up.
    DemoDialer {
        #[arg(long, default_value = "http://127.0.0.1:8089")]
        api_url: String,
        /// Where the Herald server answers, when not at the saved portal URL's site: sets the
        /// portal URL to <SERVER_URL>/portal, where the provider's callbacks and messages'
        /// links go.
        #[arg(long)]
        server_url: Option<String>,
    },
    /// Serve the local voice provider: Twilio's call API, outcomes chosen by the called number.
    VoiceProvider {
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: String,
        #[arg(long, default_value = voice_provider::DEMO_ACCOUNT_SID)]
        account_sid: String,
        #[arg(long, env = "LOCAL_VOICE_AUTH_TOKEN", default_value = voice_provider::DEMO_AUTH_TOKEN)]
        auth_token: String,
        /// Milliseconds per simulated step of a call (ringing, talking).
        #[arg(long, default_value_t = 50)]
        step_ms: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald_core::logging::init();
    match Cli::parse().command {
        Command::Run => run().await,
        Command::Import { path } => import(&path).await,
        Command::Demo {
            out,
            seed,
            schools,
            students,
        } => demo(&out, seed, schools, students),
        Command::Status => status().await,
        Command::DemoAccounts => demo_accounts().await,
        Command::DisableAccount { email } => set_disabled(&email, true).await,
        Command::EnableAccount { email } => set_disabled(&email, false).await,
        Command::DemoDialer {
            api_url,
            server_url,
        } => demo_dialer(&api_url, server_url.as_deref()).await,
        Command::VoiceProvider {
            listen,
            account_sid,
            auth_token,
            step_ms,
        } => serve_voice_provider(&listen, account_sid, auth_token, step_ms).await,
    }
}

/// The configuration, and a pool on a migrated database.
async fn connect() -> anyhow::Result<(Config, PgPool)> {
    let config = Config::load().context("loading the configuration")?;
    let pool =
        herald_core::db::connect_and_migrate(&config.database, herald_core::db::Purpose::Worker)
            .await
            .context("connecting to and migrating PostgreSQL")?;
    Ok((config, pool))
}

async fn run() -> anyhow::Result<()> {
    let (config, pool) = connect().await?;
    config
        .secrets
        .check()
        .context("checking the key for stored secrets")?;
    let sealed = herald_core::secrets::seal_plaintext(&pool, &config.secrets)
        .await
        .context("sealing stored secrets")?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed stored secrets that were plain text");
    }
    herald_core::worker::run(pool, config, herald_core::shutdown::signal())
        .await
        .context("running the worker loop")
}

async fn import(path: &Path) -> anyhow::Result<()> {
    let (_, pool) = connect().await?;
    let progress = |p: herald_core::oneroster::ImportProgress| {
        tracing::debug!(stage = %p.stage, percent = p.percent, "import progress");
    };
    match herald_core::oneroster::import_path(&pool, path, &progress).await {
        Ok(summary) => {
            print!("{summary}");
            Ok(())
        }
        Err(e @ herald_core::oneroster::ImportError::Invalid { .. }) => {
            for line in e.problem_lines() {
                eprintln!("{line}");
            }
            anyhow::bail!("nothing was imported from {}: {e}", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("importing {}", path.display())),
    }
}

fn demo(out: &Path, seed: u64, schools: usize, students: usize) -> anyhow::Result<()> {
    let opts = district::DemoOptions {
        seed,
        schools,
        students,
    };
    let stats = district::generate(&opts, out)
        .with_context(|| format!("writing the demo district to {}", out.display()))?;
    println!("{stats:?}");
    Ok(())
}

async fn status() -> anyhow::Result<()> {
    let (_, pool) = connect().await?;
    let workers = herald_core::heartbeat::list(&pool)
        .await
        .context("reading the workers' check-ins")?;
    let depth = herald_core::messaging::queue::depth(&pool)
        .await
        .context("reading the queue")?;
    print!(
        "{}",
        herald_core::heartbeat::render(&workers, &depth, chrono::Utc::now())
    );
    Ok(())
}

async fn demo_accounts() -> anyhow::Result<()> {
    let (_, pool) = connect().await?;
    let made = sign_ins::ensure(&pool)
        .await
        .context("creating the demo accounts")?;
    for a in made {
        println!(
            "{:<15} {} / {}",
            format!("{:?}", a.role),
            a.email,
            a.password
        );
    }
    Ok(())
}

async fn set_disabled(email: &str, disabled: bool) -> anyhow::Result<()> {
    use herald_core::accounts;
    let address = herald_core::domain::EmailAddress::parse(email)
        .with_context(|| format!("the email {email:?}"))?;
    let (_, pool) = connect().await?;
    let Some(account) = accounts::id_by_email(&pool, &address)
        .await
        .context("finding the account")?
    else {
        anyhow::bail!("no account signs in with {address}");
    };
    accounts::set_disabled(&pool, account, disabled, None)
        .await
        .context("changing the account")?;
    if disabled {
        println!("{address} can no longer sign in; its sessions have ended");
    } else {
        println!("{address} can sign in again");
    }
    Ok(())
}

async fn demo_dialer(api_url: &str, server_url: Option<&str>) -> anyhow::Result<()> {
    let (config, pool) = connect().await?;
    if let Some(server) = server_url {
        let url = format!("{}/portal", server.trim_end_matches('/'));
        let saved = email_preferences::save_portal_url(&pool, &url)
            .await
            .with_context(|| format!("--server-url {server}"))?;
        println!("the portal URL is now {saved}");
    }
    if voice_provider::use_for_demo(&pool, api_url, &config.secrets)
        .await
        .context("setting up the demo dialer")?
    {
        println!("Dialer Preferences now point at the local voice provider at {api_url}");
    } else {
        println!("Dialer Preferences already name a provider account; left as they are");
    }
    Ok(())
}

async fn serve_voice_provider(
    listen: &str,
    account_sid: String,
    auth_token: String,
    step_ms: u64,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!("local voice provider listening on http://{listen}");
    let account = voice_provider::LocalAccount {
        account_sid,
        auth_token,
        step: std::time::Duration::from_millis(step_ms),
    };
    tokio::select! {
        r = voice_provider::serve(listener, account) => r.context("serving the local voice provider"),
        () = herald_core::shutdown::signal() => Ok(()),
    }
}
