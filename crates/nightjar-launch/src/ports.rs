//! Addresses. The launcher chooses no ports: a node binds port 0 and reports
//! what it bound (see [`crate::PortsFile`]).

use std::net::{IpAddr, Ipv4Addr};

/// 127.0.0.1.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
