//! Header blocks for tests: a request, the same as the router forwards it,
//! a response, and any block from pairs.

use zroute_proto::HeaderBlock;

/// A request head with the five pseudo-headers, plus `extra`.
pub fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> HeaderBlock {
    let mut block = HeaderBlock::new();
    for (name, value) in [
        (":method", method),
        (":path", path),
        (":version", "HTTP/1.1"),
        (":host", "example.com"),
        (":scheme", "http"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        block
            .insert(name.to_owned(), value.to_owned())
            .expect("valid header");
    }
    block
}

/// A response head with `:status` and `:version`, plus `extra`.
pub fn response(status: u16, extra: &[(&str, &str)]) -> HeaderBlock {
    let mut block = HeaderBlock::new();
    block
        .insert(":status", status.to_string())
        .expect("valid header");
    block.insert(":version", "HTTP/1.1").expect("valid header");
    for (name, value) in extra {
        block
            .insert(name.to_string(), value.to_string())
            .expect("valid header");
    }
    block
}

pub fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
    HeaderBlock::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
        .expect("valid block")
}

/// A request head as the router forwards it: [`request`] plus the
/// router's `x-request-id` (spec #router-headers).
pub fn routed_request(method: &str, path: &str, extra: &[(&str, &str)]) -> HeaderBlock {
    let mut block = request(
        method,
        path,
        &[("x-request-id", "0af7651916cd43dd8448eb211c80319c")],
    );
    for (name, value) in extra {
        block
            .insert(name.to_string(), value.to_string())
            .expect("valid header");
    }
    block
}
