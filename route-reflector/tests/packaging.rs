//! What the packaging ships: the systemd units are hardened (as `systemd-analyze security`
//! rates them), the Kubernetes manifests are valid YAML with the settings BGP needs, and the
//! configuration they carry checks.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_route-reflector");

fn packaging(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(rel)
}

/// Whether a tool is there; under CI it must be.
fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "{tool} is required under CI");
        eprintln!("skipped: no {tool}");
    }
    ok
}

#[test]
fn the_systemd_units_are_hardened() {
    if !have("systemd-analyze", &["--version"]) {
        return;
    }
    for unit in [
        "systemd/route-reflector.service",
        "systemd/node-agent.service",
    ] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20"])
            .arg(packaging(unit))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let overall = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or("");
        eprintln!("{unit}: {overall}");
        assert!(
            out.status.success(),
            "{unit} is rated above 2.0:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for unit in ["route-reflector.service", "node-agent.service"] {
        let unit = std::fs::read_to_string(packaging(&format!("systemd/{unit}"))).unwrap();
        assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
        assert!(unit.contains("ExecReload="), "reload is SIGHUP");
        assert!(
            !unit.lines().any(|l| l.starts_with("Environment")),
            "no secret in the environment"
        );
    }
}

/// The documents of a YAML file, as JSON (through Python's yaml module).
fn yaml(rel: &str) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(packaging(rel))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{rel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_kubernetes_manifests_run_on_the_host_network_with_only_the_capabilities_bgp_needs() {
    if !have("python3", &["-c", "import yaml"]) {
        return;
    }
    let find = |docs: &[serde_json::Value], kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let agent = yaml("kubernetes/node-agent.yaml");
    let reflector = yaml("kubernetes/route-reflector.yaml");
    for (docs, kind) in [(&agent, "DaemonSet"), (&reflector, "StatefulSet")] {
        let spec = &find(docs, kind)["spec"]["template"]["spec"];
        assert_eq!(spec["hostNetwork"], true, "{kind}");
        let sc = &spec["containers"][0]["securityContext"];
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{kind}"
        );
        assert_eq!(
            sc["capabilities"]["add"],
            serde_json::json!(["NET_ADMIN", "NET_BIND_SERVICE"]),
            "{kind}"
        );
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{kind}");
    }
    // The node agent's flags are the binary's.
    let args = find(&agent, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .clone();
    let help = Command::new(env!("CARGO_BIN_EXE_node-agent"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for a in args {
        let flag = a.as_str().unwrap().split('=').next().unwrap().to_string();
        assert!(help.contains(&flag), "node-agent has no {flag}");
    }
    // The reflector's configuration checks.
    let config = find(&reflector, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = std::env::temp_dir().join(format!("rr-packaging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(&file, config).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--no-secrets"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
