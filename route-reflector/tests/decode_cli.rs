//! The `decode` command as an operator runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_route-reflector");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bgp-core/tests/data");

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const OPEN: &str = "ffffffffffffffffffffffffffffffff00510104FFFD00B40A000002340206010400010001020641040000FFFD02224B201F4578614247502F6D61696E2D633261326561386562642D3230323430373135";

#[test]
fn open_from_a_hex_argument() {
    let o = run(&[OPEN], None);
    assert!(o.status.success());
    let v = &lines(&o)[0];
    assert_eq!(v["type"], "open");
    assert_eq!(v["my_as"], 65533);
    assert_eq!(v["hold_time"], 180);
    assert_eq!(v["parameters"][0][0]["multiprotocol"], "ipv4 unicast");
    assert_eq!(
        v["parameters"][2][0]["software-version"],
        "ExaBGP/main-c2a2ea8ebd-20240715"
    );
}

#[test]
fn hex_split_over_words_and_from_stdin() {
    let words: Vec<&str> = "ffffffffffffffffffffffffffffffff 0030 02 0000 0015 40 01 01 00 40 02 00 40 03 04 c0a86465 40 05 04 00000064 18 ac1109"
        .split(' ')
        .collect();
    let o = run(&words, None);
    assert!(o.status.success());
    let v = &lines(&o)[0];
    assert_eq!(v["nlri"][0], "172.17.9.0/24");
    assert_eq!(v["attributes"]["next_hop"], "192.168.100.101");
    assert_eq!(v["attributes"]["local_pref"], 100);
    // Two messages on standard input, hex with colons and newlines.
    let text = format!("{OPEN}\nffffffffffffffffffffffffffffffff:0013:04\n");
    let o = run(&[], Some(text.as_bytes()));
    assert!(o.status.success());
    let v = lines(&o);
    assert_eq!(v.len(), 2);
    assert_eq!(v[1]["type"], "keepalive");
}

#[test]
fn malformed_message_prints_the_notification_and_fails() {
    // Two MP_UNREACH_NLRI: Malformed Attribute List.
    let o = run(
        &["ffffffffffffffffffffffffffffffff 0023 02 0000 000c 800f03000201 800f03000201"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let v = &lines(&o)[0];
    assert_eq!(v["notification"]["code"], 3);
    assert_eq!(v["notification"]["subcode"], 1);
    assert_eq!(
        v["notification"]["name"],
        "UPDATE Message Error / Malformed Attribute List"
    );
    // Treat-as-withdraw is not a failure of the decoder: it is shown.
    let o = run(
        &["ffffffffffffffffffffffffffffffff001e0200000007400101034002004003040a000001"],
        None,
    );
    let v = &lines(&o)[0];
    assert_eq!(v["rfc7606"], "treat-as-withdraw");
    assert_eq!(v["errors"][0]["name"], "ORIGIN");
}

#[test]
fn binary_file_of_messages() {
    let dir = std::env::temp_dir().join(format!("decode-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two.bin");
    let mut bytes = hex::decode(OPEN).unwrap();
    bytes.extend(hex::decode("ffffffffffffffffffffffffffffffff001704000000").unwrap());
    std::fs::write(&path, &bytes).unwrap();
    let o = run(&[path.to_str().unwrap()], None);
    let v = lines(&o);
    // The second header says 23 octets for a KEEPALIVE: Bad Message Length, data 0x0017.
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(v[0]["type"], "open");
    assert_eq!(v[1]["notification"]["subcode"], 2);
    assert_eq!(v[1]["notification"]["data"], "0017");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mrt_captures_gzipped_and_plain() {
    let o = run(
        &[&format!("{DATA}/ripe-ris/rrc15-updates.20100227.1610.gz")],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = lines(&o);
    assert_eq!(v.len(), 1953);
    assert!(v.iter().any(|r| r["message"]["type"] == "update"));
    let o = run(
        &[&format!("{DATA}/mrtparse-samples/bird-mrtdump_rib")],
        None,
    );
    assert!(o.status.success());
    let v = lines(&o);
    // The first entries are BIRD's own device routes with no attributes; find a learned one.
    let rib = v
        .iter()
        .find(|r| r["entries"][0]["attributes"]["origin"].is_string())
        .unwrap();
    assert!(rib["prefix"].is_string());
    assert!(rib["entries"][0]["attributes"]["as_path"].is_array());
}

#[test]
fn contexts_from_flags() {
    // An UPDATE with ADD-PATH NLRI: fails without the flag, decodes with it.
    let hex = "ffffffffffffffffffffffffffffffff00340200000015400101004002004003040a0000014005040000006400000002180a0001";
    let o = run(&[hex, "--add-path", "ipv4"], None);
    assert!(o.status.success());
    assert_eq!(lines(&o)[0]["nlri"][0]["path_id"], 2);
    let o = run(&["--add-path=ipv9", hex], None);
    assert_eq!(o.status.code(), Some(2));
    // A two-octet AS_PATH read as two-octet.
    let hex2 = "ffffffffffffffffffffffffffffffff003402000000194001010040020402 01fde9 4003040a0000014005040000006418 0a0001";
    let words: Vec<&str> = hex2.split(' ').collect();
    let mut args = vec!["--as2"];
    args.extend(words);
    let o = run(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(lines(&o)[0]["attributes"]["as_path"][0]["asns"][0], 65001);
}
