//! The `onfs-push` command line.

mod args;
mod cmd;
mod config;
#[cfg(test)]
mod config_fuzz;
mod deliver;
mod error;
mod logging;
mod memory;
mod metadata;
mod metrics;
mod output;
mod progress;
mod sources;
mod store;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};

fn main() -> ExitCode {
    memory::one_arena();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    logging::set_quiet(cli.quiet);
    // Points a test can cut a run at (FAILPOINTS=...): compiled in only for the service tests.
    let _failpoints = fail::FailScenario::setup();
    logging::init(
        &logging::filter_directives(cli.log_level.as_deref(), cli.verbose, cli.quiet),
        cli.log_format,
    );
    let result = match &cli.command {
        Command::Plan(a) => cmd::plan::run(a),
        Command::Run(a) => cmd::run::run(
            a,
            &cmd::run::settings::Given(matches.subcommand_matches("run")),
            cli.quiet,
        ),
        Command::Check(a) => cmd::check::run(
            a,
            &cmd::run::settings::Given(matches.subcommand_matches("check")),
        ),
        Command::Encode(a) => cmd::encode::run(a),
        Command::Send(a) => cmd::send::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Watch(a) => cmd::watch::run(
            a,
            &cmd::run::settings::Given(matches.subcommand_matches("watch")),
            cli.quiet,
        ),
        Command::Completions(a) => {
            clap_complete::generate(
                a.shell,
                &mut Cli::command(),
                "onfs-push",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(error::failed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", logging::redact(&e.to_string()));
            ExitCode::from(e.code)
        }
    }
}
