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
    /// Print the GraphQL schema (SDL): all of it, or what one role's introspection shows.
    Schema(SchemaArgs),
    /// Inspect the tamper-evident audit trail.
    Audit(AuditArgs),
    /// Generate every link candidate (seized and traced firearm records whose serials are one edit
    /// apart), print how many and how long it took, and score them against the demo's seeded
    /// near-serial pairs when the database holds demo data.
    LinkCandidates,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (environment: HUB_SERVER_BIND).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Load the demo dataset when the database is empty, and turn on development mode.
    #[arg(long)]
    pub demo: bool,
    /// Development mode: GraphiQL on GET /graphql and a development signing key for tokens.
    #[arg(long)]
    pub development: bool,
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

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print only what this role sees under the policy: ATF, ICE, CBP, STATE or OVERSIGHT.
    #[arg(long, value_parser = crate::auth::parse_role_arg)]
    pub role: Option<entity::Role>,
    /// With --role: a scope the caller holds; repeat for several. Known scopes: pii.
    #[arg(long = "scope", value_name = "SCOPE", requires = "role")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash of the audit chain: exit 0 when whole, 1 naming the first broken
    /// event, 2 when it cannot be read.
    Verify {
        /// A head hash printed by an earlier run and kept outside the database: the chain must
        /// still contain it (detects deletion of the newest events).
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
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
            store::connect_migrated(&settings.database).await?;
            eprintln!(
                "migrations applied to {}",
                store::redact_url(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::DemoData(args) => {
            let started = std::time::Instant::now();
            let db = store::connect_migrated(&settings.database).await?;
            let summary = demo::generate(
                &db,
                &demo::DemoOptions {
                    seed: args.seed,
                    scale: args.scale,
                    progress: true,
                },
            )
            .await?;
            eprintln!("{summary} in {:.1} s", started.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => {
            // A database that cannot be opened or migrated is a database failure (exit 3) too.
            let opened = async { store::connect_migrated(&settings.database).await };
            let db = match opened.await {
                Ok(db) => db,
                Err(error) => {
                    eprintln!("error: {error:#}");
                    eprintln!("{}: nothing was imported", args.file.display());
                    return Ok(ExitCode::from(import::EXIT_DATABASE));
                }
            };
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
        Command::Serve(args) => serve(settings, args).await,
        Command::Schema(args) => {
            print!("{}", schema(&settings, args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => audit(settings, args).await,
        Command::LinkCandidates => {
            let db = store::connect_migrated(&settings.database).await?;
            println!("{}", store::candidates::measure(&db).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `schema`: the full SDL, or with `--role` the SDL a caller of that role sees under the settings'
/// policy (the fields and types its introspection shows).
fn schema(settings: &Settings, args: SchemaArgs) -> anyhow::Result<String> {
    let Some(role) = args.role else {
        return Ok(crate::graphql::sdl());
    };
    let policy = crate::policy::Policy::load(&settings.policy)?;
    policy.check_fields(&crate::store::catalogue())?;
    let caller = crate::auth::Caller {
        subject: "schema".into(),
        role,
        scopes: args.scopes,
    };
    let access = crate::policy::Access::new(caller, std::sync::Arc::new(policy));
    crate::graphql::visibility::sdl_for(&access)
}

/// `audit verify`: 0 when the chain is whole, 1 when broken, 2 when it cannot be checked.
async fn audit(settings: Settings, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { head } = args.command;
    let cannot = |error: &dyn std::fmt::Display| {
        eprintln!("error: cannot verify the audit trail: {error}");
        ExitCode::from(2)
    };
    let db = match store::connect(&settings.database).await {
        Ok(db) => db,
        Err(error) => return Ok(cannot(&format!("{error:#}"))),
    };
    match store::migrations_current(&db).await {
        Ok(true) => {}
        Ok(false) => {
            return Ok(cannot(
                &"the database is not migrated (run `firearms-hub migrate`)",
            ));
        }
        Err(error) => return Ok(cannot(&format!("{error:#}"))),
    }
    let report = match crate::audit::verify_against(&db, head.as_deref()).await {
        Ok(report) => report,
        Err(error) => return Ok(cannot(&error)),
    };
    match (&report.first_broken, &report.head) {
        (Some(broken), _) => {
            println!(
                "audit trail broken at event {}: {}",
                broken.id, broken.reason
            );
            Ok(ExitCode::FAILURE)
        }
        (None, Some(chain_head)) => {
            println!(
                "audit trail intact: {} events, head {} (event {})",
                report.checked, chain_head.hash, chain_head.id
            );
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            println!("audit trail intact: 0 events");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `serve`: prepare the database, load demo data when asked, then serve until stopped.
async fn serve(mut settings: Settings, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.demo || args.development {
        settings.server.development = true;
    }
    let db = store::connect_migrated(&settings.database).await?;
    if args.demo && demo::is_empty(&db).await? {
        let summary = demo::generate(&db, &demo::DemoOptions::default()).await?;
        eprintln!("{summary}");
    }
    if settings.server.development {
        crate::auth::ensure_dev_secret(&mut settings.auth, args.demo)?;
    }
    let policy = std::sync::Arc::new(crate::policy::Policy::load(&settings.policy)?);
    let replica = store::connect_replica(&settings.database).await?;
    let app =
        crate::server::Application::build_with_replica(settings.clone(), db, replica, policy)?;
    app.fetch_provider_keys().await;
    let host = settings
        .server
        .bind
        .rsplit_once(':')
        .map_or("127.0.0.1", |(host, _)| host)
        .replace("0.0.0.0", "127.0.0.1");
    let base = format!("http://{host}:{}", app.port());
    eprintln!(
        "firearms-hub serving {} on {base}/graphql",
        store::redact_url(&settings.database.url)
    );
    if let Some(read_url) = &settings.database.read_url {
        eprintln!(
            "firearms-hub reading queries from the replica {} once it has replayed the caller's \
             last write",
            store::redact_url(read_url)
        );
    }
    if settings.server.development {
        eprintln!("GraphiQL: {base}/graphql (development mode)");
        print_dev_tokens(&settings);
    }
    app.run_until_signalled().await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a ready-to-paste development token per role, for GraphiQL's headers or curl.
fn print_dev_tokens(settings: &Settings) {
    use entity::Role;
    let ttl = std::time::Duration::from_secs(12 * 3600);
    eprintln!("Development tokens (12 hours); send as  Authorization: Bearer <token>");
    for role in Role::ALL {
        let scopes: Vec<String> = if *role == Role::Atf {
            vec!["pii".to_owned()]
        } else {
            Vec::new()
        };
        let subject = format!("demo-{}", role.as_str().to_ascii_lowercase());
        match crate::auth::mint_dev_token(&settings.auth, *role, &scopes, ttl, &subject) {
            Ok(token) => {
                let scope_note = if scopes.is_empty() {
                    String::new()
                } else {
                    format!(" (scopes: {})", scopes.join(" "))
                };
                println!("{}{scope_note}\n  {token}", role.as_str());
            }
            Err(error) => {
                eprintln!("no development tokens: {error:#}");
                return;
            }
        }
    }
}
