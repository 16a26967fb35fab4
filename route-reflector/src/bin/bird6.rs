//! `bird6`: the speaker in BIRD's place for IPv6, as calico-node runs it (see
//! `route_reflector::bird::daemon`).

fn main() -> std::process::ExitCode {
    route_reflector::bird::daemon::main(route_reflector::bird::Family::V6)
}
