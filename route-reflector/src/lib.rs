//! The reflector's library part: what the binaries share and what tests reach.

pub mod admin;
pub mod agent;
pub mod bird;
pub mod config;
pub mod daemon;
