//! The real client address: the TCP peer, unless the peer is a trusted proxy (nginx), in which case
//! `X-Real-IP` or the right-most untrusted `X-Forwarded-For` entry. A client cannot spoof its
//! address by sending these headers itself, because its own peer address is not trusted.

use std::net::{IpAddr, SocketAddr};

use axum::{extract::ConnectInfo, http::HeaderMap, http::request::Parts};

use crate::platform::settings::IpNet;

pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(resolve(peer, &parts.headers, trusted))
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    if let Some(ip) = headers.get("x-real-ip").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()) {
        return ip;
    }
    let forwarded =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let hops: Vec<IpAddr> = forwarded.filter_map(|h| h.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_are_believed_only_from_trusted_proxies() {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        let h = headers(&[("x-real-ip", "203.0.113.5")]);
        assert_eq!(resolve(proxy, &h, &trusted), "203.0.113.5".parse::<IpAddr>().unwrap());
        assert_eq!(resolve(stranger, &h, &trusted), stranger);
    }

    #[test]
    fn right_most_untrusted_forwarded_hop_wins() {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "192.0.2.1, 203.0.113.9, 127.0.0.1")]);
        assert_eq!(resolve("127.0.0.1".parse().unwrap(), &h, &trusted), "203.0.113.9".parse::<IpAddr>().unwrap());
    }
}
