//! The `onfs-push` command line.

mod args;
mod cmd;
mod config;
mod deliver;
mod error;
mod logging;
mod metadata;
mod output;
mod progress;
mod sources;
mod store;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    logging::init(&cli.log_level);
    let result = match &cli.command {
        Command::Plan(a) => cmd::plan::run(a),
        Command::Run(a) => cmd::run::run(
            a,
            &cmd::run::settings::Given(matches.subcommand_matches("run")),
        ),
        Command::Encode(a) => cmd::encode::run(a),
        Command::Send(a) => cmd::send::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Status(a) => cmd::status::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", logging::redact(&e.to_string()));
            ExitCode::from(e.code)
        }
    }
}
