//! The PostgreSQL front end: the wire protocol ([`wire`], on pgwire) and password
//! authentication ([`auth`]), TLS ([`tls`]). It turns each message into calls on the statement
//! engine and the engine's results into protocol messages; it is the only part of the
//! leader that names pgwire types.

pub mod auth;
mod client_error;
pub mod tls;
pub mod wire;
