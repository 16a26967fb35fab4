//! The route reflector a rack runs.
//!
//! `run` serves a rack from a TOML file; `check` validates one; `show`, `peer` and `reload`
//! talk to a running reflector over its admin socket; `decode` turns BGP messages and MRT
//! captures into JSON.

mod decode;
mod memory;

use route_reflector::{admin, config, daemon};

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ipnet::IpNet;

use admin::{FamilyArg, PeerAction, Request};

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

#[derive(Debug, clap::Args)]
struct ClientOpts {
    /// The running reflector's admin socket.
    #[arg(long, global = true, env = "ROUTE_REFLECTOR_SOCKET", default_value = config::ADMIN_SOCKET)]
    socket: PathBuf,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a rack: sessions, reflection, metrics, admin socket. Without CONFIG, an
    /// embedded default that listens on loopback.
    Run {
        config: Option<PathBuf>,
        /// This start is a graceful restart (RFC 4724): peers that kept our routes get a
        /// complete table once the others have sent theirs, not a partial one.
        #[arg(long)]
        graceful_restart: bool,
    },
    /// Validate a configuration file without starting; every error names its line and
    /// column, warnings too.
    Check {
        config: PathBuf,
        /// Do not read password files and variables (only their form is checked): for
        /// linting a file where its secrets are not.
        #[arg(long)]
        no_secrets: bool,
    },
    /// Show the running reflector's state.
    Show {
        #[command(subcommand)]
        what: Show,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Act on one peer of the running reflector.
    Peer {
        address: IpAddr,
        action: PeerAction,
        /// The RFC 8203 shutdown message (reset and shutdown).
        #[arg(long)]
        message: Option<String>,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Re-read the configuration file of the running reflector (as SIGHUP does) and print
    /// what changed.
    Reload {
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Decode BGP messages (hex or binary) or MRT captures into JSON, one object per line.
    /// Exits non-zero when any message is malformed.
    Decode(decode::DecodeArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to standard output.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to standard output.
    Manpage,
}

#[derive(Debug, Subcommand)]
enum Show {
    /// The speaker and a line per peer (like `show bgp summary`).
    Summary,
    /// A line per peer with its state (like `birdc show protocols`).
    Peers,
    /// One peer in detail.
    Peer { address: IpAddr },
    /// Routes with every path: `*` best, `=` ECMP.
    Routes {
        /// This prefix and the more specific ones inside it.
        prefix: Option<IpNet>,
        /// Only paths from this peer.
        #[arg(long)]
        peer: Option<IpAddr>,
        #[arg(long)]
        family: Option<FamilyArg>,
    },
    /// The routes from a peer: as received where kept (soft_reconfig_inbound), else as
    /// accepted.
    AdjRibIn { address: IpAddr },
    /// The routes a peer is sent, after the export policy.
    AdjRibOut { address: IpAddr },
    /// The routes from a peer its import policy rejected (soft_reconfig_inbound).
    Filtered { address: IpAddr },
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `check`: every error and warning, and the exit status (1 with errors).
fn check(path: &std::path::Path, secrets: config::Secrets) -> ExitCode {
    match config::Config::load_with(path, secrets) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}: ok: {}", path.display(), daemon::describe(&c));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{}: {} error{}",
                path.display(),
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    memory::tune_allocator();
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
        Command::Check { config, no_secrets } => {
            let secrets = if no_secrets {
                config::Secrets::Skip
            } else {
                config::Secrets::Read
            };
            check(&config, secrets)
        }
        Command::Run {
            config,
            graceful_restart,
        } => match runtime().block_on(daemon::run(config, graceful_restart)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Show { what, client } => {
            let req = match &what {
                Show::Summary => Request::Summary,
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
                Show::AdjRibIn { address } => Request::PeerTable {
                    address: *address,
                    table: bgp_speaker::PeerTable::AdjRibIn,
                },
                Show::AdjRibOut { address } => Request::PeerTable {
                    address: *address,
                    table: bgp_speaker::PeerTable::AdjRibOut,
                },
                Show::Filtered { address } => Request::PeerTable {
                    address: *address,
                    table: bgp_speaker::PeerTable::Filtered,
                },
            };
            ask(&client, &req, |data| print_show(&what, data))
        }
        Command::Peer {
            address,
            action,
            message,
            client,
        } => {
            let req = Request::PeerAction {
                address,
                action,
                message,
            };
            ask(&client, &req, |_| {
                Ok(format!("{address}: {action:?} done\n"))
            })
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "route-reflector", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Manpage => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Reload { client } => ask(&client, &Request::Reload, |data| {
            let r: daemon::ReloadReport = serde_json::from_value(data)?;
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            };
            Ok(format!(
                "added:            {}\nremoved:          {}\nrestarted:        {}\npolicies applied: {}\n{}unchanged:        {}\n",
                list(&r.added),
                list(&r.removed),
                list(&r.restarted),
                list(&r.policies_applied),
                if r.bfd_applied.is_empty() {
                    String::new()
                } else {
                    format!("BFD applied:      {}\n", list(&r.bfd_applied))
                },
                r.unchanged.len()
            ))
        }),
    }
}

/// Sends `req`, prints the answer (text through `text`, or JSON), and exits 1 on an error.
fn ask(
    client: &ClientOpts,
    req: &Request,
    text: impl FnOnce(serde_json::Value) -> Result<String, serde_json::Error>,
) -> ExitCode {
    admin::ask(&runtime(), &client.socket, client.json, req, text)
}

fn print_show(what: &Show, data: serde_json::Value) -> Result<String, serde_json::Error> {
    Ok(match what {
        Show::Summary => {
            let summary = serde_json::from_value(data["summary"].clone())?;
            let peers: Vec<bgp_speaker::PeerStatus> =
                serde_json::from_value(data["peers"].clone())?;
            admin::summary_text(&summary, &peers)
        }
        Show::Peers => admin::peers_text(&serde_json::from_value::<Vec<_>>(data)?),
        Show::Peer { .. } => admin::peer_text(&serde_json::from_value(data)?),
        Show::Routes { .. } => admin::routes_text(&serde_json::from_value::<Vec<_>>(data)?),
        Show::AdjRibIn { .. } | Show::AdjRibOut { .. } | Show::Filtered { .. } => {
            admin::peer_table_text(&serde_json::from_value(data)?)
        }
    })
}
