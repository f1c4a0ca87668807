//! `herald-worker`: the worker process and Herald's command-line tools. Thin: parse the command,
//! load settings, connect, call into `herald_core`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_core::settings::Settings;

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
    /// Point Dialer Preferences at a local voice provider, unless an account is already set up.
    DemoDialer {
        #[arg(long, default_value = "http://127.0.0.1:8089")]
        api_url: String,
    },
    /// Serve the local voice provider: Twilio's call API, outcomes chosen by the called number.
    VoiceProvider {
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: String,
        #[arg(long, default_value = herald_core::dialer::local::DEMO_ACCOUNT_SID)]
        account_sid: String,
        #[arg(long, env = "LOCAL_VOICE_AUTH_TOKEN", default_value = herald_core::dialer::local::DEMO_AUTH_TOKEN)]
        auth_token: String,
        /// Milliseconds per simulated step of a call (ringing, talking).
        #[arg(long, default_value_t = 50)]
        step_ms: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald_core::logging::init();
    let cli = Cli::parse();
    if let Command::Demo {
        out,
        seed,
        schools,
        students,
    } = &cli.command
    {
        let opts = herald_core::demo::DemoOptions {
            seed: *seed,
            schools: *schools,
            students: *students,
        };
        let stats = herald_core::demo::generate(&opts, out)
            .with_context(|| format!("writing the demo district to {}", out.display()))?;
        println!("{stats:?}");
        return Ok(());
    }
    if let Command::VoiceProvider {
        listen,
        account_sid,
        auth_token,
        step_ms,
    } = &cli.command
    {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        tracing::info!("local voice provider listening on http://{listen}");
        let account = herald_core::dialer::local::LocalAccount {
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
            step: std::time::Duration::from_millis(*step_ms),
        };
        tokio::select! {
            r = herald_core::dialer::local::serve(listener, account) => r.context("serving the local voice provider")?,
            () = shutdown_signal() => {}
        }
        return Ok(());
    }
    let settings = Settings::load().context("loading settings")?;
    let pool = herald_core::db::connect_and_migrate(&settings.database)
        .await
        .context("connecting to and migrating PostgreSQL")?;
    match cli.command {
        Command::Run => {
            herald_core::service::run(pool, settings, shutdown_signal())
                .await
                .context("running the worker loop")?;
        }
        Command::Import { path } => {
            let progress = |p: herald_core::oneroster::ImportProgress| {
                tracing::debug!(stage = %p.stage, percent = p.percent, "import progress");
            };
            match herald_core::oneroster::import_path(&pool, &path, &progress).await {
                Ok(summary) => print!("{summary}"),
                Err(herald_core::oneroster::ImportError::Invalid(rows, more)) => {
                    for row in &rows {
                        eprintln!("{row}");
                    }
                    if more > 0 {
                        eprintln!("… and {more} more");
                    }
                    anyhow::bail!(
                        "nothing was imported: {} problem(s) in {}",
                        rows.len() + more,
                        path.display()
                    );
                }
                Err(e) => return Err(e).with_context(|| format!("importing {}", path.display())),
            }
        }
        Command::Status => {
            let workers = herald_core::workers::list(&pool)
                .await
                .context("reading the workers' check-ins")?;
            let depth = herald_core::messaging::queue::depth(&pool)
                .await
                .context("reading the queue")?;
            print!(
                "{}",
                herald_core::workers::render(&workers, &depth, chrono::Utc::now())
            );
        }
        Command::DemoAccounts => {
            for a in herald_core::accounts::ensure_demo_accounts(&pool)
                .await
                .context("creating the demo accounts")?
            {
                println!(
                    "{:<15} {} / {}",
                    format!("{:?}", a.role),
                    a.email,
                    a.password
                );
            }
        }
        Command::DemoDialer { api_url } => {
            if herald_core::dialer::local::use_for_demo(&pool, &api_url)
                .await
                .context("setting up the demo dialer")?
            {
                println!("Dialer Preferences now point at the local voice provider at {api_url}");
            } else {
                println!("Dialer Preferences already name a provider account; left as they are");
            }
        }
        Command::Demo { .. } | Command::VoiceProvider { .. } => {}
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
