//! The route reflector a rack runs.
//!
//! Subcommands: `decode` turns BGP messages and MRT captures into JSON.

mod decode;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "route-reflector",
    version,
    about = "BGP route reflector for container-network racks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode BGP messages (hex or binary) or MRT captures into JSON, one object per line.
    /// Exits non-zero when any message is malformed.
    Decode(decode::DecodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match decode::run(&args, &mut out) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("route-reflector decode: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
