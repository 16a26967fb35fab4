//! MRT captures (RFC 6396, with RFC 8050 ADD-PATH extensions).
//!
//! [`MrtReader`] walks the records of a capture held in memory; each record's body is
//! split into its fields, and BGP messages and attribute blocks are left as bytes for
//! [`crate::wire`] to decode with the context the record implies ([`Bgp4mpMessage::context`],
//! [`rib_context`]). A damaged record ends the walk with an error; nothing is read past a
//! length field.
//!
//! [`Record::encode`] writes the records this crate produces (BGP4MP_ET messages and state
//! changes, TABLE_DUMP_V2 peer index tables and RIBs, plain and ADD-PATH), so that what is
//! written reads back through the same types.

mod read;
mod write;

pub use read::*;
pub use write::{bgp4mp_subtype, kind_of, rib_subtype};
