//! ROUTER sockets on listeners made by the caller (ZMQ_USE_FD), two of them
//! sharing one port with SO_REUSEPORT, the newest steered to: what a router
//! upgrade does with the worker port. Real sockets on loopback.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;

use zroute_transport::{
    Context, DealerOptions, RouterOptions, Socket, reuseport_listener, steer_to_newest,
};

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 10 s"))
}

fn free_port() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// A DEALER connects to `endpoint`, says `hello`; returns the ROUTER (of
/// `routers`) that received it, by index.
async fn who_accepts(ctx: &Context, endpoint: &str, routers: &mut [Socket]) -> usize {
    let mut dealer = Socket::dealer(ctx, &DealerOptions::default()).unwrap();
    dealer.connect(endpoint).unwrap();
    within("connect", dealer.writable()).await.unwrap();
    within("send", dealer.send(&[&b"hello"[..]])).await.unwrap();
    within("receive", async {
        loop {
            for (i, router) in routers.iter_mut().enumerate() {
                if let Some(msg) = router.try_recv().unwrap() {
                    let (_, body) = msg.split_peer().unwrap();
                    assert_eq!(body.iter().next().map(|b| &b[..]), Some(&b"hello"[..]));
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_listener_of_a_port_takes_every_new_connection() {
    let ctx = Context::new();
    let addr = free_port();
    let endpoint = format!("tcp://{addr}");

    let mut old = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    let bound = old
        .bind_listener(&endpoint, reuseport_listener(addr, 128).unwrap())
        .unwrap();
    assert_eq!(bound, endpoint, "the endpoint bound is the listener's");
    let mut routers = vec![old];
    // Alone on the port: the steering program's index 1 does not exist, and
    // the kernel falls back to its hash over the one socket.
    let alone = reuseport_listener(free_port(), 16).unwrap();
    steer_to_newest(alone.as_fd()).unwrap();
    assert_eq!(who_accepts(&ctx, &endpoint, &mut routers).await, 0);

    // A second listener on the same port, steered to: every new connection
    // is its, none lands on the old listener (which libzmq keeps open).
    let listener = reuseport_listener(addr, 128).unwrap();
    steer_to_newest(listener.as_fd()).unwrap();
    let mut new = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    new.bind_listener(&endpoint, listener).unwrap();
    routers.push(new);
    for _ in 0..20 {
        assert_eq!(who_accepts(&ctx, &endpoint, &mut routers).await, 1);
    }

    // The old one closes: the new one is alone and still takes everything.
    let old = routers.remove(0);
    old.close();
    for _ in 0..5 {
        assert_eq!(who_accepts(&ctx, &endpoint, &mut routers).await, 0);
    }
}

/// Without SO_REUSEPORT on the first listener the port cannot be shared: the
/// second bind fails (what a router started without --upgrade-socket gets).
#[test]
fn a_port_is_shared_only_if_both_listeners_ask() {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = reuseport_listener(first.local_addr().unwrap(), 16).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
