//! Free ports, chosen by the OS.
//!
//! Every socket asked for in one call is held open until all are bound, so
//! no two of them get the same port; they are released on return, just
//! before the node binds them (another process could take one in between,
//! which on a test machine does not happen in practice).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use crate::LaunchError;

/// 127.0.0.1.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A node's two addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePorts {
    /// UDP address for QUIC.
    pub quic: SocketAddr,
    /// TCP address on 127.0.0.1 for the admin endpoint (`/metrics`, `/health`).
    pub admin: SocketAddr,
}

/// One free UDP address on each of `ips` (e.g. `&[LOOPBACK; 3]`).
pub fn free_udp_addrs(ips: &[IpAddr]) -> Result<Vec<SocketAddr>, LaunchError> {
    let held = ips
        .iter()
        .map(|ip| bind_udp(*ip))
        .collect::<Result<Vec<_>, _>>()?;
    held.iter()
        .map(|(ip, s)| local(*ip, "UDP", s.local_addr()))
        .collect()
}

/// For each of `ips`, a free UDP address on it for QUIC and a free TCP
/// address on 127.0.0.1 for the admin endpoint.
pub fn free_node_ports(ips: &[IpAddr]) -> Result<Vec<NodePorts>, LaunchError> {
    let mut held = Vec::with_capacity(ips.len());
    for ip in ips {
        let udp = bind_udp(*ip)?;
        let tcp = TcpListener::bind(SocketAddr::new(LOOPBACK, 0)).map_err(|source| {
            LaunchError::NoFreePort {
                protocol: "TCP",
                ip: LOOPBACK,
                source,
            }
        })?;
        held.push((udp, tcp));
    }
    held.iter()
        .map(|((ip, udp), tcp)| {
            Ok(NodePorts {
                quic: local(*ip, "UDP", udp.local_addr())?,
                admin: local(LOOPBACK, "TCP", tcp.local_addr())?,
            })
        })
        .collect()
}

fn bind_udp(ip: IpAddr) -> Result<(IpAddr, UdpSocket), LaunchError> {
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .map(|s| (ip, s))
        .map_err(|source| LaunchError::NoFreePort {
            protocol: "UDP",
            ip,
            source,
        })
}

fn local(
    ip: IpAddr,
    protocol: &'static str,
    addr: std::io::Result<SocketAddr>,
) -> Result<SocketAddr, LaunchError> {
    addr.map_err(|source| LaunchError::NoFreePort {
        protocol,
        ip,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_addresses_are_distinct_and_on_the_asked_ip() {
        let addrs = free_udp_addrs(&[LOOPBACK; 8]).expect("free ports");
        assert_eq!(addrs.len(), 8);
        let ports: std::collections::BTreeSet<u16> = addrs.iter().map(|a| a.port()).collect();
        assert_eq!(ports.len(), 8, "{addrs:?}");
        assert!(addrs.iter().all(|a| a.ip() == LOOPBACK && a.port() != 0));
    }

    #[test]
    fn node_ports_put_quic_on_the_ip_and_admin_on_loopback() {
        let ip: IpAddr = "127.0.0.2".parse().expect("ip");
        let ports = free_node_ports(&[ip, LOOPBACK]).expect("free ports");
        assert_eq!(ports.len(), 2);
        assert_eq!(ports.first().map(|p| p.quic.ip()), Some(ip));
        assert!(ports.iter().all(|p| p.admin.ip() == LOOPBACK));
        assert_ne!(
            ports.first().map(|p| p.admin),
            ports.get(1).map(|p| p.admin)
        );
    }

    #[test]
    fn an_address_not_on_this_machine_is_an_error() {
        let err = free_udp_addrs(&["192.0.2.1".parse().expect("ip")]).expect_err("not ours");
        assert!(matches!(err, LaunchError::NoFreePort { .. }), "{err}");
    }
}
