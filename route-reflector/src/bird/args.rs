//! BIRD's command line, read as BIRD 1.6 reads it (getopt with `c:dD:ps:P:u:g:flRh`).
//!
//! `-c FILE` configuration, `-d` debug messages on stderr and foreground, `-D FILE` debug
//! messages to a file, `-f` foreground, `-l` configuration and socket looked for in the
//! current directory, `-p` parse the configuration and exit, `-P FILE` pid file, `-R`
//! graceful restart recovery after start, `-s SOCK` control socket, `-h`/`--help`,
//! `--version`. Flags combine as getopt allows (`-dR`, `-cFILE`). `-u USER` and
//! `-g GROUP` (dropping privileges) are refused: the speaker needs its capabilities for
//! the kernel table and port 179 all along.

use std::path::PathBuf;

use super::Family;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub family: Family,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// `-d`: debug messages on stderr, in the foreground.
    pub debug: bool,
    /// `-D FILE`: debug messages to this file.
    pub debug_file: Option<PathBuf>,
    /// `-f` or `-d`: do not fork into the background.
    pub foreground: bool,
    /// `-p`: read the configuration and exit.
    pub parse_only: bool,
    /// `-R`: this start follows a restart (graceful restart recovery).
    pub recovery: bool,
}

/// What to do instead of running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Print on stderr and exit 0 (`--help`, `--version`).
    Info(String),
    /// Print on stderr and exit 1.
    Usage(String),
}

/// The program name BIRD prints in messages (`bird` or `bird6`).
pub fn name(family: Family) -> &'static str {
    match family {
        Family::V4 => "bird",
        Family::V6 => "bird6",
    }
}

/// The BIRD release whose behaviour the daemon follows.
pub const BIRD_VERSION: &str = "1.6.8";

/// The version as the control socket and `--version` give it.
pub fn version() -> String {
    format!(
        "v{}+birdv{BIRD_VERSION}-route-reflector",
        env!("CARGO_PKG_VERSION")
    )
}

fn usage(family: Family) -> String {
    format!(
        "Usage: {} [--version] [--help] [-c <config-file>] [OPTIONS]",
        name(family)
    )
}

fn help(family: Family) -> String {
    let n = name(family);
    format!(
        "{}\n\nOptions: \n\
  -c <config-file>     Use given configuration file instead\n\
                       of /etc/{n}.conf\n\
  -d                   Enable debug messages and run {n} in foreground\n\
  -D <debug-file>      Log debug messages to given file instead of stderr\n\
  -f                   Run {n} in foreground\n\
  -h, --help           Display this information\n\
  -l                   Look for a configuration file and a communication socket\n\
                       file in the current working directory\n\
  -p                   Test configuration file and exit without start\n\
  -P <pid-file>        Create a PID file with given filename\n\
  -R                   Apply graceful restart recovery after start\n\
  -s <control-socket>  Use given filename for a control socket\n\
  (-u <user> and -g <group> are not supported)",
        usage(family)
    )
}

/// Reads `argv` (without the program name).
pub fn parse(family: Family, argv: &[String]) -> Result<Args, Exit> {
    let n = name(family);
    if argv.len() == 1 {
        match argv[0].as_str() {
            "--version" => return Err(Exit::Info(format!("BIRD version {}", version()))),
            "--help" => return Err(Exit::Info(help(family))),
            _ => {}
        }
    }
    let mut a = Args {
        family,
        config: PathBuf::from(format!("/etc/{n}.conf")),
        socket: PathBuf::from(format!("/var/run/{n}.ctl")),
        pid_file: None,
        debug: false,
        debug_file: None,
        foreground: false,
        parse_only: false,
        recovery: false,
    };
    let (mut config_set, mut socket_set) = (false, false);
    let mut local = false;
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            // getopt stops at the first operand; BIRD takes none.
            return Err(Exit::Usage(usage(family)));
        };
        for (at, c) in flags.char_indices() {
            let takes_value = matches!(c, 'c' | 'D' | 's' | 'P' | 'u' | 'g');
            let value = if takes_value {
                let rest = &flags[at + c.len_utf8()..];
                let v = if rest.is_empty() {
                    let Some(v) = argv.get(i) else {
                        return Err(Exit::Usage(format!(
                            "{n}: option requires an argument -- '{c}'\n\n{}",
                            usage(family)
                        )));
                    };
                    i += 1;
                    v.clone()
                } else {
                    rest.to_string()
                };
                Some(v)
            } else {
                None
            };
            match (c, value) {
                ('c', Some(v)) => {
                    a.config = v.into();
                    config_set = true;
                }
                ('s', Some(v)) => {
                    a.socket = v.into();
                    socket_set = true;
                }
                ('P', Some(v)) => a.pid_file = Some(v.into()),
                ('D', Some(v)) => {
                    a.debug_file = Some(v.into());
                }
                ('u' | 'g', Some(_)) => {
                    return Err(Exit::Usage(format!(
                        "{n}: -{c} is not supported: the daemon keeps running as the user it was started as (it needs CAP_NET_ADMIN for the kernel table and CAP_NET_BIND_SERVICE for port 179; start it as that user instead)"
                    )));
                }
                ('d', None) => {
                    a.debug = true;
                    a.foreground = true;
                }
                ('f', None) => a.foreground = true,
                ('p', None) => a.parse_only = true,
                ('R', None) => a.recovery = true,
                ('l', None) => local = true,
                ('h', None) => return Err(Exit::Info(help(family))),
                _ => {
                    return Err(Exit::Usage(format!(
                        "{n}: invalid option -- '{c}'\n\n{}",
                        usage(family)
                    )));
                }
            }
            if takes_value {
                break;
            }
        }
    }
    if i < argv.len() {
        return Err(Exit::Usage(usage(family)));
    }
    if local {
        // As BIRD: the base names, in the current directory, of what was not given.
        if !config_set {
            a.config = PathBuf::from(format!("{n}.conf"));
        }
        if !socket_set {
            a.socket = PathBuf::from(format!("{n}.ctl"));
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, Exit> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(Family::V4, &v)
    }

    #[test]
    fn calico_node_command_line() {
        let a = p(&[
            "-R",
            "-s",
            "/var/run/calico/bird.ctl",
            "-d",
            "-c",
            "/etc/calico/confd/config/bird.cfg",
        ])
        .unwrap();
        assert!(a.recovery && a.debug && a.foreground && !a.parse_only);
        assert_eq!(a.socket, PathBuf::from("/var/run/calico/bird.ctl"));
        assert_eq!(a.config, PathBuf::from("/etc/calico/confd/config/bird.cfg"));
    }

    #[test]
    fn getopt_forms() {
        let a = p(&["-pc/tmp/x.cfg"]).unwrap();
        assert!(a.parse_only);
        assert_eq!(a.config, PathBuf::from("/tmp/x.cfg"));
        let a = p(&["-fR", "-P", "/run/b.pid", "-l"]).unwrap();
        assert!(a.foreground && a.recovery && !a.debug);
        assert_eq!(a.pid_file, Some(PathBuf::from("/run/b.pid")));
        assert_eq!(a.config, PathBuf::from("bird.conf"));
        assert_eq!(a.socket, PathBuf::from("bird.ctl"));
        let a = p(&[]).unwrap();
        assert_eq!(a.config, PathBuf::from("/etc/bird.conf"));
        assert_eq!(a.socket, PathBuf::from("/var/run/bird.ctl"));
    }

    #[test]
    fn refusals() {
        assert!(matches!(p(&["-x"]), Err(Exit::Usage(m)) if m.contains("invalid option -- 'x'")));
        assert!(
            matches!(p(&["-c"]), Err(Exit::Usage(m)) if m.contains("requires an argument -- 'c'"))
        );
        assert!(
            matches!(p(&["-u", "bird"]), Err(Exit::Usage(m)) if m.contains("-u is not supported"))
        );
        assert!(matches!(p(&["extra"]), Err(Exit::Usage(_))));
        assert!(matches!(p(&["--version"]), Err(Exit::Info(m)) if m.starts_with("BIRD version")));
    }
}
