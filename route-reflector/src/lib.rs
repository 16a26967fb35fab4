//! The reflector's library part: what the binaries share and what tests reach.

pub mod bird;
