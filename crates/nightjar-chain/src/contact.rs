//! The node's contact as the contract carries it (`docs/PROTOCOL.md` §13.3).
//!
//! ```text
//! IPv4: [4] ‖ address (4 bytes) ‖ port (u16 BE)      7 bytes
//! IPv6: [6] ‖ address (16 bytes) ‖ port (u16 BE)    19 bytes
//! ```
//!
//! The contract accepts exactly these (port not 0), so every contact in an
//! event decodes; [`decode_contact`] accepts every contact the contract
//! accepts, as is (an IPv4-mapped IPv6 address stays IPv6), and nothing else.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Family byte of an IPv4 contact.
pub const CONTACT_IPV4: u8 = 4;
/// Family byte of an IPv6 contact.
pub const CONTACT_IPV6: u8 = 6;

/// The socket address of a contact, or `None` if the bytes are not one the
/// contract accepts (wrong family byte or length, or port 0).
pub fn decode_contact(bytes: &[u8]) -> Option<SocketAddr> {
    let (&family, rest) = bytes.split_first()?;
    let (ip, port) = rest.split_at_checked(rest.len().checked_sub(2)?)?;
    let port = u16::from_be_bytes(<[u8; 2]>::try_from(port).ok()?);
    if port == 0 {
        return None;
    }
    match family {
        CONTACT_IPV4 => {
            let ip = <[u8; 4]>::try_from(ip).ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        CONTACT_IPV6 => {
            let ip = <[u8; 16]>::try_from(ip).ok()?;
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                0,
                0,
            )))
        }
        _ => None,
    }
}

/// The contact bytes of `addr` (an IPv6 address's flow info and scope ID are
/// not carried). The contract refuses port 0.
pub fn encode_contact(addr: &SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(19);
    match addr {
        SocketAddr::V4(a) => {
            out.push(CONTACT_IPV4);
            out.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.push(CONTACT_IPV6);
            out.extend_from_slice(&a.ip().octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn protocol_examples() {
        let v4: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(hex::encode(encode_contact(&v4)), "047f0000019c41");
        assert_eq!(
            decode_contact(&hex::decode("047f0000019c41").unwrap()),
            Some(v4)
        );
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(
            hex::encode(encode_contact(&v6)),
            "0620010db800000000000000000000000101bb"
        );
        assert_eq!(decode_contact(&encode_contact(&v6)), Some(v6));
        // An IPv4-mapped IPv6 address stays IPv6.
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:9".parse().unwrap();
        assert_eq!(decode_contact(&encode_contact(&mapped)), Some(mapped));
    }

    #[test]
    fn what_the_contract_refuses_does_not_decode() {
        for bad in [
            &[][..],
            &[4],
            &[4, 127, 0, 0, 1, 0],
            &[4, 127, 0, 0, 1, 0, 0],
            &[4, 127, 0, 0, 1, 0, 1, 0],
            &[6, 127, 0, 0, 1, 0, 1],
            &[5, 127, 0, 0, 1, 0, 1],
            &[6; 18],
            &[6; 20],
        ] {
            assert_eq!(decode_contact(bad), None, "{bad:?}");
        }
        let mut zero_port = encode_contact(&"[::1]:1".parse().unwrap());
        zero_port[18] = 0;
        assert_eq!(decode_contact(&zero_port), None);
    }
}
