pub use bgp_core;
