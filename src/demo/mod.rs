//! The calibrated demo dataset.

use std::fmt;

use sea_orm::DatabaseConnection;

/// The seed `demo-data` and `serve --demo` use unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_210_322;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seed: u64,
    pub scale: f64,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            scale: 1.0,
            progress: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    pub traces: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "demo data: {} traces", self.traces)
    }
}

/// Whether the database holds no traces, seizures, trainings or funding awards yet.
pub async fn is_empty(_db: &DatabaseConnection) -> anyhow::Result<bool> {
    anyhow::bail!("demo data is not available yet")
}

/// Generates the demo dataset into an empty database.
pub async fn generate(
    _db: &DatabaseConnection,
    _options: &DemoOptions,
) -> anyhow::Result<DemoSummary> {
    anyhow::bail!("demo data is not available yet")
}
