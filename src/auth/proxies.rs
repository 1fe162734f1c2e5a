//! The client's address: the peer's, or, when the peer is one of the configured trusted
//! proxies, the one the proxy names in `X-Forwarded-For`.

use std::net::IpAddr;

/// Addresses and networks (`10.0.0.0/8`, `::1`) of the reverse proxies whose
/// `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// A comma-separated list of IPs or CIDRs; an empty one trusts no proxy.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| format!("{item:?} is not an IP address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => {
                    p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("bad prefix in {item:?}"))?
                }
            };
            networks.push((addr, prefix));
        }
        Ok(Self(networks))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|&(net, prefix)| in_network(ip, canonical(net), prefix))
    }

    /// The client's address. Behind trusted proxies it is the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy: whatever a client writes to
    /// the left of what its proxies appended is not believed. Every `X-Forwarded-For`
    /// header counts, in order, as one list.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for header in forwarded_for.rev() {
            let Ok(text) = std::str::from_utf8(header) else { return client };
            for hop in text.rsplit(',') {
                let Some(ip) = parse_hop(hop.trim()) else { return client };
                client = ip;
                if !self.contains(ip) {
                    return client;
                }
            }
        }
        client
    }
}

/// An address as proxies write it: `1.2.3.4`, `::1`, or `[::1]`/`1.2.3.4:5678` with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// IPv4 addresses mapped into IPv6 compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn lists_parse() {
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
        let list = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8,::1,fd00::/8").unwrap();
        assert!(list.contains(ip("127.0.0.1")));
        assert!(list.contains(ip("::ffff:127.0.0.1")));
        assert!(list.contains(ip("10.200.3.4")));
        assert!(!list.contains(ip("11.0.0.1")));
        assert!(list.contains(ip("::1")));
        assert!(list.contains(ip("fd12::1")));
        assert!(!list.contains(ip("127.0.0.2")));
        assert!(TrustedProxies::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/x", "1.2.3"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let list = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        let headers = |values: &'static [&'static str]| values.iter().map(|v| v.as_bytes());
        // A stranger's header is not believed.
        assert_eq!(list.client(ip("192.0.2.1"), headers(&["198.51.100.9"])), ip("192.0.2.1"));
        // The proxy's word is.
        assert_eq!(list.client(ip("127.0.0.1"), headers(&["198.51.100.9"])), ip("198.51.100.9"));
        // What the client wrote to the left of its proxies is not.
        assert_eq!(list.client(ip("127.0.0.1"), headers(&["6.6.6.6, 198.51.100.9, 10.1.1.1"])), ip("198.51.100.9"));
        assert_eq!(list.client(ip("127.0.0.1"), headers(&["6.6.6.6", "198.51.100.9"])), ip("198.51.100.9"));
        assert_eq!(list.client(ip("127.0.0.1"), headers(&["[2001:db8::1]:4711"])), ip("2001:db8::1"));
        // Nothing, or nonsense: the proxy itself.
        assert_eq!(list.client(ip("127.0.0.1"), headers(&[])), ip("127.0.0.1"));
        assert_eq!(list.client(ip("127.0.0.1"), headers(&["nonsense"])), ip("127.0.0.1"));
        assert_eq!(TrustedProxies::default().client(ip("127.0.0.1"), headers(&["1.2.3.4"])), ip("127.0.0.1"));
    }
}
