//! The front ends: PostgreSQL's wire protocol ([`wire`], on pgwire) with password
//! authentication ([`auth`]) and TLS ([`tls`]), and the admin API ([`admin`], Arrow
//! Flight, for `blueshift snapshot`). It turns each message into calls on the statement
//! engine and the engine's results into protocol messages; it is the only part of the
//! leader that names pgwire types.

pub mod admin;
pub mod auth;
mod client_error;
pub mod tls;
pub mod wire;
