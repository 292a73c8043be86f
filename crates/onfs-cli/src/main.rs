//! The `onfs-push` command line.

mod args;
mod cmd;
mod deliver;
mod error;
mod logging;
mod metadata;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log_level);
    let result = match &cli.command {
        Command::Plan(a) => cmd::plan::run(a),
        Command::Encode(a) => cmd::encode::run(a),
        Command::Send(a) => cmd::send::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", logging::redact(&e.to_string()));
            ExitCode::from(e.code)
        }
    }
}
