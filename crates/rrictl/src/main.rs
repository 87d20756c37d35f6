//! `rrictl`: the rri command line.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The rri command line.
#[derive(Parser, Debug)]
#[command(name = "rrictl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and validate a configuration file; print every error and warning as
    /// FILE:LINE:COL, and exit with status 1 if there is any error.
    Check {
        /// The configuration file (IOS syntax).
        file: PathBuf,
        /// Also print the canonical configuration (as `show running-config` would).
        #[arg(long)]
        render: bool,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            file,
            render,
            strict,
        } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("rrictl: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let checked = config::check(&text);
            let name = file.display().to_string();
            eprint!("{}", checked.diagnostics.render(&name, &text));
            if render {
                print!("{}", config::render(&checked.config));
            }
            let failed = checked.diagnostics.has_errors()
                || (strict && checked.diagnostics.warnings().next().is_some());
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
