//! A DNS server on loopback whose answers the caller changes while a worker
//! runs: the suite (and the router's discovery tests) serve a worker's
//! named endpoint (spec #transport-discovery) from it, with no network and
//! no system configuration touched.
//!
//! It answers A, AAAA and SRV questions for the names it is given, over UDP,
//! one datagram per answer, as an authoritative server would. Messages are
//! encoded and decoded by `hickory-proto`, the codec under the resolver the
//! reference worker uses; the answers themselves come only from this table,
//! so the server agrees with a worker about nothing but the wire format.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// What the server answers for one name.
#[derive(Clone, Debug)]
enum Entry {
    Addresses(Vec<Ipv4Addr>),
    /// (port, target) pairs; each target's addresses go in the additional
    /// section when the table has them, as CoreDNS does for a headless
    /// Service's SRV records.
    Services(Vec<(u16, String)>),
}

#[derive(Debug)]
struct Table {
    entries: HashMap<Name, Entry>,
    ttl: u32,
    /// Every question gets SERVFAIL: a nameserver that is up but broken.
    failing: bool,
}

/// A DNS server on `127.0.0.1`, answering from a table; stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    queries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds a UDP port on 127.0.0.1 and starts answering. Every record has
    /// a TTL of 1 second until [`DnsServer::set_ttl`] says otherwise.
    pub fn start() -> io::Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        // The thread looks at `stop` this often.
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let table = Arc::new(Mutex::new(Table {
            entries: HashMap::new(),
            ttl: 1,
            failing: false,
        }));
        let queries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (table, queries, stop) = (table.clone(), queries.clone(), stop.clone());
            std::thread::Builder::new()
                .name("dns-server".into())
                .spawn(move || serve(&socket, &table, &queries, &stop))?
        };
        Ok(Self {
            addr,
            table,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    /// Where to send queries: a worker's `--nameserver`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `name` answers with these A records (and an empty AAAA answer).
    pub fn set_addresses(&self, name: &str, addresses: &[Ipv4Addr]) {
        self.table()
            .entries
            .insert(fqdn(name), Entry::Addresses(addresses.to_vec()));
    }

    /// `name` answers with one SRV record per `(port, target)`.
    pub fn set_services(&self, name: &str, services: &[(u16, &str)]) {
        let services = services.iter().map(|&(p, t)| (p, t.to_owned())).collect();
        self.table()
            .entries
            .insert(fqdn(name), Entry::Services(services));
    }

    /// Forgets `name`: it answers NXDOMAIN.
    pub fn remove(&self, name: &str) {
        self.table().entries.remove(&fqdn(name));
    }

    /// From now on, every question gets SERVFAIL (`true`), or its answer.
    pub fn set_failing(&self, failing: bool) {
        self.table().failing = failing;
    }

    /// The TTL of every record from now on, in seconds.
    pub fn set_ttl(&self, seconds: u32) {
        self.table().ttl = seconds;
    }

    /// How many questions have been answered so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fqdn(name: &str) -> Name {
    let mut name = Name::from_ascii(name).expect("a valid DNS name");
    name.set_fqdn(true);
    name.to_lowercase()
}

fn serve(socket: &UdpSocket, table: &Mutex<Table>, queries: &AtomicU64, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        // Anything that is not a query is not answered, as a server would.
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if request.metadata.message_type != MessageType::Query {
            continue;
        }
        let table = table.lock().unwrap_or_else(|e| e.into_inner());
        let response = answer(&request, &table);
        drop(table);
        queries.fetch_add(1, Ordering::SeqCst);
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, from);
        }
    }
}

fn answer(request: &Message, table: &Table) -> Message {
    let id = request.metadata.id;
    let mut response = Message::response(id, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.authoritative = true;
    response.add_queries(request.queries.iter().cloned());
    if table.failing {
        response.metadata.response_code = ResponseCode::ServFail;
        return response;
    }
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    let name = query.name().to_lowercase();
    let Some(entry) = table.entries.get(&name) else {
        response.metadata.response_code = ResponseCode::NXDomain;
        return response;
    };
    let a_records = |owner: &Name, addresses: &[Ipv4Addr]| -> Vec<Record> {
        addresses
            .iter()
            .map(|ip| Record::from_rdata(owner.clone(), table.ttl, RData::A(A(*ip))))
            .collect()
    };
    match (query.query_type(), entry) {
        (RecordType::A, Entry::Addresses(addresses)) => {
            response.add_answers(a_records(&name, addresses));
        }
        (RecordType::SRV, Entry::Services(services)) => {
            for (port, target) in services {
                let target = fqdn(target);
                let srv = SRV::new(0, 10, *port, target.clone());
                response.add_answer(Record::from_rdata(name.clone(), table.ttl, RData::SRV(srv)));
                if let Some(Entry::Addresses(addresses)) = table.entries.get(&target) {
                    response.add_additionals(a_records(&target, addresses));
                }
            }
        }
        // The name exists but has no record of this type: an empty NOERROR.
        _ => {}
    }
    response
}
