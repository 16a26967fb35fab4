//! `node-agent`'s command line: run (the default), `check`, `show`, `reload`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ipnet::IpNet;

use super::flags::RunArgs;
use crate::admin::{self, FamilyArg, Request};
use crate::config::{self, Config};

/// Our BGP speaker on a container-network node.
#[derive(Debug, Parser)]
#[command(name = "node-agent", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Args)]
struct ClientOpts {
    /// The running agent's admin socket.
    #[arg(long, global = true, env = "NODE_AGENT_SOCKET", default_value = config::NODE_ADMIN_SOCKET)]
    socket: PathBuf,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file without starting; every error names its line and
    /// column.
    Check {
        config: PathBuf,
        /// Do not read password files and variables (only their form is checked).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Show the running agent's state.
    Show {
        #[command(subcommand)]
        what: Show,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Re-read the configuration file of the running agent (as SIGHUP does).
    Reload {
        #[command(flatten)]
        client: ClientOpts,
    },
}

#[derive(Debug, Subcommand)]
enum Show {
    /// A line per peer with its state.
    Peers,
    /// One peer in detail.
    Peer { address: IpAddr },
    /// Routes with every path: `*` best, `=` ECMP.
    Routes {
        prefix: Option<IpNet>,
        #[arg(long)]
        peer: Option<IpAddr>,
        #[arg(long)]
        family: Option<FamilyArg>,
    },
    /// Our routes in the kernel table: prefix, next hops and their devices.
    Fib,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The entry point of the `node-agent` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => match runtime().block_on(super::run::run(cli.run)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("node-agent: {e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Check { config, no_secrets }) => check(&config, no_secrets),
        Some(Command::Show { what, client }) => {
            let req = match &what {
                Show::Peers => Request::Peers,
                Show::Peer { address } => Request::Peer { address: *address },
                Show::Routes {
                    prefix,
                    peer,
                    family,
                } => Request::Routes {
                    prefix: *prefix,
                    peer: *peer,
                    family: *family,
                },
                Show::Fib => Request::Fib,
            };
            ask(&client, &req, |data| {
                Ok(match what {
                    Show::Peers => admin::peers_text(&serde_json::from_value::<Vec<_>>(data)?),
                    Show::Peer { .. } => admin::peer_text(&serde_json::from_value(data)?),
                    Show::Routes { .. } => {
                        admin::routes_text(&serde_json::from_value::<Vec<_>>(data)?)
                    }
                    Show::Fib => super::fib::fib_text(&serde_json::from_value::<Vec<_>>(data)?),
                })
            })
        }
        Some(Command::Reload { client }) => ask(&client, &Request::Reload, |data| {
            let r: super::run::AgentReload = serde_json::from_value(data)?;
            Ok(r.text())
        }),
    }
}

/// `check`: the errors, or a line saying what the file configures.
fn check(path: &std::path::Path, no_secrets: bool) -> ExitCode {
    let secrets = if no_secrets {
        config::Secrets::Skip
    } else {
        config::Secrets::Read
    };
    let errors = match Config::load_with(path, secrets) {
        Ok(c) if c.node.is_some() => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}: ok: {}", path.display(), super::run::describe(&c));
            return ExitCode::SUCCESS;
        }
        Ok(_) => {
            eprintln!(
                "error: {}: no [node] table: a node agent's file says what the node announces",
                path.display()
            );
            return ExitCode::from(1);
        }
        Err(errors) => errors,
    };
    for e in &errors.0 {
        eprintln!("error: {e}");
    }
    let n = errors.0.len();
    eprintln!(
        "{}: {n} error{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    ExitCode::from(1)
}

/// Sends `req`, prints the answer (text through `text`, or JSON), and exits 1 on an error.
fn ask(
    client: &ClientOpts,
    req: &Request,
    text: impl FnOnce(serde_json::Value) -> Result<String, serde_json::Error>,
) -> ExitCode {
    admin::ask(&runtime(), &client.socket, client.json, req, text)
}
