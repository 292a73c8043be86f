//! A TCP proxy on 127.0.0.1 that causes network faults between onfs-push and a service: added
//! latency, a bandwidth cap, connections reset (RST) mid-stream, a blackhole, and `HTTP 503`
//! answered in the service's place. The fault can change while connections are open. Each
//! direction of a connection has a reading and a writing thread (the writer holds a chunk until
//! it is due, so latency delays bytes without capping the throughput).
// Some faults are caused only by the tests that need services (the broker, moto).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass as they come.
    None,
    /// Every chunk, in both directions, arrives this much later.
    Latency(Duration),
    /// At most this many bytes per second in each direction of each connection.
    Bandwidth(u64),
    /// Each time the bytes sent toward the service cross a multiple of `every`, the connection
    /// carrying them is reset (RST) in the middle of its chunk; `times` resets in all.
    Reset { every: u64, times: u32 },
    /// Nothing reaches the service: bytes toward it are read and dropped (answers to what it
    /// already received still come back). Leaving it resets the connections that lost bytes,
    /// as a blackholed connection is dead for its peer.
    Blackhole,
    /// The next `n` connections are answered `HTTP/1.1 503` by the proxy and closed, without
    /// reaching the service.
    Http503(u32),
}

struct Conn {
    client: TcpStream,
    service: TcpStream,
    /// Lost bytes toward the service (a blackhole): reset when the blackhole ends.
    lost_bytes: AtomicBool,
}

impl Conn {
    /// Resets both sockets: SO_LINGER 0 makes the last close send RST; shutting the read side
    /// wakes this proxy's readers (sending nothing), whose exit drops the last handles.
    fn reset(&self) {
        for s in [&self.client, &self.service] {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
            let _ = s.shutdown(Shutdown::Read);
        }
    }
}

struct Shared {
    fault: Mutex<Fault>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    stop: AtomicBool,
    /// Bytes passed on toward the service.
    to_service: AtomicU64,
    resets: AtomicU64,
    answered_503: AtomicU64,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }

    fn reset(&self, id: u64) {
        if let Some(c) = self.conns.lock().unwrap().remove(&id) {
            c.reset();
        }
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy on a free port of 127.0.0.1 to `service` (`HOST:PORT`).
    pub fn start(service: &str) -> FaultProxy {
        FaultProxy::start_on("127.0.0.1:0", service)
    }

    /// A proxy listening on `listen` (e.g. the port a broker advertises) to `service`.
    pub fn start_on(listen: &str, service: &str) -> FaultProxy {
        let listener = listen_on(listen);
        let addr = listener.local_addr().unwrap();
        let service: SocketAddr = service
            .parse()
            .unwrap_or_else(|e| panic!("fault proxy: service {service}: {e}"));
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            to_service: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            answered_503: AtomicU64::new(0),
        });
        let s = shared.clone();
        let accepting = Some(std::thread::spawn(move || {
            accept_loop(listener, service, s)
        }));
        FaultProxy {
            addr,
            shared,
            accepting,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Changes the fault; leaving a blackhole resets the connections that lost bytes in it.
    pub fn set(&self, fault: Fault) {
        let before = std::mem::replace(&mut *self.shared.fault.lock().unwrap(), fault);
        if before == Fault::Blackhole && fault != Fault::Blackhole {
            let lost: Vec<u64> = self
                .shared
                .conns
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, c)| c.lost_bytes.load(Ordering::SeqCst))
                .map(|(id, _)| *id)
                .collect();
            for id in lost {
                self.shared.reset(id);
            }
        }
    }

    /// Bytes passed on toward the service so far.
    pub fn bytes_to_service(&self) -> u64 {
        self.shared.to_service.load(Ordering::SeqCst)
    }

    /// Connections reset by [`Fault::Reset`].
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Connections answered 503 by [`Fault::Http503`].
    pub fn answered_503(&self) -> u64 {
        self.shared.answered_503.load(Ordering::SeqCst)
    }

    /// Waits until `f` holds (polling), at most `limit`; false when it never did.
    pub fn wait_for(&self, limit: Duration, f: impl Fn(&FaultProxy) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        f(self)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the stop flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        // The port is free again when this returns (the next test may listen on it).
        if let Some(t) = self.accepting.take() {
            let _ = t.join();
        }
        let all: Vec<Arc<Conn>> = self
            .shared
            .conns
            .lock()
            .unwrap()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in all {
            c.reset();
        }
    }
}

/// Listens on `listen`, waiting up to 30 s while the port is still held by the closing
/// connections of a proxy that listened there before.
fn listen_on(listen: &str) -> TcpListener {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpListener::bind(listen) {
            Ok(l) => return l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("fault proxy: cannot listen on {listen}: {e}"),
        }
    }
}

fn accept_loop(listener: TcpListener, service: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let answer_503 = {
            let mut f = shared.fault.lock().unwrap();
            match *f {
                Fault::Http503(n) if n > 0 => {
                    *f = Fault::Http503(n - 1);
                    true
                }
                _ => false,
            }
        };
        if answer_503 {
            shared.answered_503.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || answer_503_and_close(client));
            continue;
        }
        let Ok(upstream) = TcpStream::connect_timeout(&service, Duration::from_secs(5)) else {
            // The service is down: the client sees its connection closed.
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Conn {
            client: client.try_clone().unwrap(),
            service: upstream.try_clone().unwrap(),
            lost_bytes: AtomicBool::new(false),
        });
        shared.conns.lock().unwrap().insert(id, conn.clone());
        for toward_service in [true, false] {
            let (from, to) = if toward_service {
                (client.try_clone().unwrap(), upstream.try_clone().unwrap())
            } else {
                (upstream.try_clone().unwrap(), client.try_clone().unwrap())
            };
            let (s, c) = (shared.clone(), conn.clone());
            std::thread::spawn(move || pump(from, to, toward_service, id, c, s));
        }
    }
}

/// Reads the request's head, answers 503 and closes (the client retries on a new connection).
fn answer_503_and_close(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = "Service Unavailable (fault proxy)";
    let _ = write!(
        client,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Write);
}

fn pump(
    mut from: TcpStream,
    to: TcpStream,
    toward_service: bool,
    id: u64,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let shared = shared.clone();
        let mut to = to;
        std::thread::spawn(move || {
            for (due, bytes) in rx {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if to.write_all(&bytes).is_err() {
                    shared.reset(id);
                    return;
                }
                if let Fault::Bandwidth(rate) = shared.fault() {
                    std::thread::sleep(Duration::from_secs_f64(
                        bytes.len() as f64 / rate.max(1) as f64,
                    ));
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let cap = match shared.fault() {
            // Small chunks, so a cap holds within a fraction of a second.
            Fault::Bandwidth(rate) => ((rate / 20).max(1) as usize).min(buf.len()),
            _ => buf.len(),
        };
        let n = match from.read(&mut buf[..cap]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let fault = shared.fault();
        let mut chunk = &buf[..n];
        let mut reset_after = false;
        if toward_service {
            match fault {
                Fault::Blackhole => {
                    conn.lost_bytes.store(true, Ordering::SeqCst);
                    continue;
                }
                Fault::Reset { every, times } => {
                    let before = shared.to_service.fetch_add(n as u64, Ordering::SeqCst);
                    let after = before + n as u64;
                    if after / every > before / every
                        && shared
                            .resets
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                                (r < u64::from(times)).then_some(r + 1)
                            })
                            .is_ok()
                    {
                        // Up to the boundary, then the connection is cut mid-chunk.
                        chunk = &chunk[..(after / every * every - before) as usize];
                        reset_after = true;
                    }
                }
                _ => {
                    shared.to_service.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
        }
        let due = match fault {
            Fault::Latency(d) => Instant::now() + d,
            _ => Instant::now(),
        };
        if !chunk.is_empty() && tx.send((due, chunk.to_vec())).is_err() {
            break;
        }
        if reset_after {
            drop(tx);
            let _ = writer.join();
            shared.reset(id);
            return;
        }
    }
    drop(tx);
    let _ = writer.join();
    // Both directions ended: the connection leaves the registry (its handles close).
    if toward_service {
        shared.conns.lock().unwrap().remove(&id);
    }
}
