//! Values as the settings spell them: durations, file modes, groups, and
//! what a workers endpoint string says about its reach.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

/// Whether only this host can reach `endpoint`: ipc:// and inproc://, and
/// tcp:// on a loopback address (127.0.0.0/8, ::1, `localhost`, `lo`). A
/// wildcard (`*`, 0.0.0.0, ::), any other address, interface or transport is
/// exposed.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    if endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return false;
    };
    let Some((host, _port)) = rest.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "localhost" | "lo" => true,
        _ => host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    }
}

/// The address of a `tcp://IP:PORT` worker endpoint with a fixed port, which
/// an upgrade's two routers can share (SO_REUSEPORT).
pub fn upgrade_tcp_addr(endpoint: &str) -> Option<SocketAddr> {
    let addr: SocketAddr = endpoint.strip_prefix("tcp://")?.parse().ok()?;
    (addr.port() != 0).then_some(addr)
}

/// A file mode in octal, as chmod takes it: `0660`, `660`, `0o660`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid file mode {text:?}: octal digits, as 0660"))
}

pub(super) fn de_mode<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse_mode(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// A group given by number, or by name from /etc/group (groups only a name
/// service knows, LDAP say, need their number).
pub fn resolve_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let table = std::fs::read_to_string("/etc/group")
        .map_err(|e| format!("--ipc-group {group}: /etc/group: {e}"))?;
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            Some((name, gid))
        })
        .find(|(name, _)| *name == group)
        .map(|(_, gid)| gid)
        .ok_or_else(|| {
            format!("--ipc-group {group}: no such group in /etc/group (give its number instead)")
        })
}

/// `250ms`, `30s`, `2m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {text:?}: use ms, s or m")),
    }
}

pub(super) fn de_duration<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}
