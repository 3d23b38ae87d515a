//! The command line: `firearms-hub serve | migrate | demo-data | import | token | schema | audit`.
//! Each subcommand loads the settings once and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Overrides, Settings};
use crate::{demo, import, store, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "firearms-hub",
    version,
    about = "One GraphQL API over firearms traces, seizures, training and funding, with each agency's slice enforced"
)]
pub struct Cli {
    /// Settings file (TOML). Default: hub.toml in the working directory, when present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://hub.db?mode=rwc or postgres://postgres@127.0.0.1/hub
    /// (environment: HUB_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare the database and serve the API.
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Fill an empty database with the calibrated demo dataset.
    DemoData(DemoArgs),
    /// Import records from a CSV or JSON file: all rows or none.
    Import(ImportArgs),
    /// Print a development token (HS256 with the development secret) on standard output.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (environment: HUB_SERVER_BIND).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Load the demo dataset when the database is empty.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generator; the same seed and scale give the same data.
    #[arg(long, default_value_t = demo::DEFAULT_SEED)]
    pub seed: u64,
    /// Volume multiplier: 1 reproduces the published volumes (about 220,000 traces).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub kind: ImportKindArg,
    /// The CSV or JSON file (chosen by extension unless --format is given).
    pub file: PathBuf,
    /// Validate every row and report, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// File format, when the extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<import::FileFormat>,
    /// Name of the system the records come from, kept as their provenance.
    #[arg(long, default_value = "import")]
    pub source_system: String,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The role the token grants: ATF, ICE, CBP, STATE or OVERSIGHT.
    #[arg(long, value_parser = crate::auth::parse_role_arg)]
    pub role: entity::Role,
    /// A scope to grant; repeat for several. Known scopes: pii.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// How long the token is valid: 90s, 15m, 1h, 2d (at most 30d).
    #[arg(long, default_value = "1h", value_parser = crate::auth::parse_ttl)]
    pub ttl: std::time::Duration,
    /// The token's subject (`sub`); default dev-<role in lower case>.
    #[arg(long, value_name = "NAME")]
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKindArg {
    Traces,
    Seizures,
    Trainings,
    Funding,
}

impl From<ImportKindArg> for import::ImportKind {
    fn from(kind: ImportKindArg) -> Self {
        match kind {
            ImportKindArg::Traces => import::ImportKind::Traces,
            ImportKindArg::Seizures => import::ImportKind::Seizures,
            ImportKindArg::Trainings => import::ImportKind::Trainings,
            ImportKindArg::Funding => import::ImportKind::Funding,
        }
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let overrides = Overrides {
        database_url: cli.database_url.clone(),
        bind: match &cli.command {
            Command::Serve(args) => args.bind.clone(),
            _ => None,
        },
        development: None,
    };
    let settings = match Settings::load(cli.config.as_deref(), &overrides) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate => {
            let db = store::connect(&settings.database).await?;
            store::migrate(&db).await?;
            eprintln!(
                "migrations applied to {}",
                store::redact_url(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::DemoData(args) => {
            let db = store::connect(&settings.database).await?;
            store::migrate(&db).await?;
            let summary = demo::generate(
                &db,
                &demo::DemoOptions {
                    seed: args.seed,
                    scale: args.scale,
                    progress: true,
                },
            )
            .await?;
            eprintln!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => {
            let db = store::connect(&settings.database).await?;
            store::migrate(&db).await?;
            let request = import::FileImport {
                kind: args.kind.into(),
                path: args.file,
                format: args.format,
                dry_run: args.dry_run,
                source_system: args.source_system,
            };
            import::run_file(&db, &request).await
        }
        Command::Token(args) => {
            let token = crate::auth::dev_token_command(
                settings.auth,
                args.role,
                &args.scopes,
                args.ttl,
                args.subject.as_deref(),
            )?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let db = store::connect(&settings.database).await?;
            store::migrate(&db).await?;
            if args.demo && demo::is_empty(&db).await? {
                let summary = demo::generate(&db, &demo::DemoOptions::default()).await?;
                eprintln!("{summary}");
            }
            eprintln!(
                "database ready at {}",
                store::redact_url(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
