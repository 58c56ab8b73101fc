//! "host:port" strings to and from socket addresses for listeners and connects.

use super::einval;
use crate::error::Error;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Resolves "host:port" (IPv4 preferred) from UTF-8 bytes.
pub fn parse(text: &[u8]) -> Result<SocketAddr, Error> {
    let s = std::str::from_utf8(text).map_err(|_| einval("socket address is not UTF-8"))?;
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| einval(format!("socket address '{s}' is not host:port: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| einval(format!("socket address '{s}' resolves to nothing")))
}

/// A `sockaddr_storage` and its length for `addr`.
pub fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is a valid initial value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { (&mut ss as *mut _ as *mut libc::sockaddr_in).write(sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above for sockaddr_in6.
            unsafe { (&mut ss as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The socket address in a `sockaddr_storage` filled by UCX.
///
/// # Safety
/// `ss` must point to a valid `sockaddr_storage`.
pub unsafe fn from_raw(ss: *const libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: guaranteed by the caller; the family selects which view is valid.
    unsafe {
        match (*ss).ss_family as i32 {
            libc::AF_INET => {
                let sin = &*(ss as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
            }
            libc::AF_INET6 => {
                let sin6 = &*(ss as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::new(
                    IpAddr::V6(ip),
                    u16::from_be(sin6.sin6_port),
                ))
            }
            _ => None,
        }
    }
}
