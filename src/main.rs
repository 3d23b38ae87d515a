use std::process::ExitCode;

use clap::Parser;
use firearms_hub::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli)
}
