//! Throwaway hosts for the fault tests: one network namespace per host, each
//! with an `eth0` veth whose other end sits on a bridge in a switch namespace,
//! all on 10.77.0.0/24. The namespaces are private, so the subnet and ports
//! cannot clash with the machine or with another test; only the namespace
//! names are global, and they carry the test process's pid and a counter.
//!
//! Everything is created directly inside the namespaces (no interface ever
//! lives in the machine's own namespace), so deleting the namespaces removes
//! everything: [`Net`]'s `Drop` does it, on panic too.

use std::fs::File;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Prefix of every namespace these tests create: `zrf<pid>-<n>-<host>`.
const PREFIX: &str = "zrf";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A set of hosts on one switch; deleted when dropped.
pub(crate) struct Net {
    /// `zrf<pid>-<n>-`
    prefix: String,
    hosts: Vec<String>,
    created: Vec<String>,
}

impl Net {
    /// Creates `hosts` (host `i` gets address 10.77.0.`i+1`), or returns
    /// `None` after printing why where the machine forbids namespaces.
    pub(crate) fn create(hosts: &[&str]) -> Option<Self> {
        remove_stale();
        let prefix = format!(
            "{PREFIX}{}-{}-",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Self {
            prefix,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            created: Vec::new(),
        };
        // Any step the machine forbids (no CAP_SYS_ADMIN, no veth or bridge
        // driver in a container) skips the test; what was made is removed.
        match net.build() {
            Ok(()) => Some(net),
            Err(why) => {
                println!("SKIPPED: network namespaces unavailable: {why}");
                None
            }
        }
    }

    fn build(&mut self) -> Result<(), String> {
        let switch = self.ns("sw");
        try_ip(&["netns", "add", &switch])?;
        self.created.push(switch.clone());
        try_ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        try_ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        for (i, host) in self.hosts.clone().iter().enumerate() {
            let ns = self.ns(host);
            try_ip(&["netns", "add", &ns])?;
            self.created.push(ns.clone());
            let port = format!("p{i}");
            try_ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &switch,
            ])?;
            try_ip(&["-n", &switch, "link", "set", &port, "master", "br0"])?;
            try_ip(&["-n", &switch, "link", "set", &port, "up"])?;
            try_ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            let addr = format!("{}/24", self.addr(host));
            try_ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            try_ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// The host's address on the switch.
    pub(crate) fn addr(&self, host: &str) -> String {
        let i = self
            .hosts
            .iter()
            .position(|h| h == host)
            .unwrap_or_else(|| panic!("no host {host}"));
        format!("10.77.0.{}", i + 1)
    }

    /// Runs `f` on a thread inside `host`'s namespace: its sockets, and the
    /// processes it spawns, live on that host.
    pub(crate) fn run_in<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns(host));
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // setns(2): only this thread moves.
                move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs an async test body on a tokio runtime inside `host`'s namespace
    /// (the runtime's threads are started from there, so they live there too).
    pub(crate) fn block_on<T: Send, F: std::future::Future<Output = T>>(
        &self,
        host: &str,
        body: impl FnOnce() -> F + Send,
    ) -> T {
        self.run_in(host, || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(body())
        })
    }

    /// Takes `host`'s link down (or up again). Down, its packets vanish with no
    /// FIN or RST either way: a cut cable, which only heartbeats can detect.
    pub(crate) fn set_link(&self, host: &str, up: bool) {
        let ns = self.ns(host);
        ip(&[
            "-n",
            &ns,
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = try_ip(&["netns", "del", &ns]) {
                eprintln!("cannot delete namespace {ns}: {e}");
            }
        }
    }
}

fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) {
    try_ip(args).unwrap_or_else(|e| panic!("{e}"));
}

/// Deletes namespaces left by test processes that died without cleaning up
/// (killed by a signal): `zrf<pid>-…` whose pid no longer runs.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = try_ip(&["netns", "del", &name]);
        }
    }
}
