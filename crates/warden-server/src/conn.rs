//! How `warden serve` takes connections, and what bounds them.
//!
//! One task accepts. A connection over a cap — the total, or its client
//! address's — is closed as soon as it is accepted, before a task or a
//! buffer exists for it, and counted (`warden_connections_refused_total`).
//! An admitted connection gets a task of its own, which holds its place
//! until the connection closes, and is bounded in time at every phase:
//!
//! - the TLS handshake: `tls_handshake_timeout`;
//! - waiting for a request, from the moment the connection is ready for
//!   one (just opened, or its previous response sent) to the end of the
//!   request's headers: `header_read_timeout` (hyper's timer; bytes
//!   trickled in do not extend it, so an idle keep-alive connection is
//!   closed after it too);
//! - any phase in which no byte moves either way: `idle_timeout` (a TLS
//!   record never finished, a client that stops reading its response).
//!
//! A request's body and handler are bounded by the guard's
//! `request_timeout`, which `idle_timeout` is never below.
//!
//! The total cap is kept below the process's open-file limit by a
//! reserve ([`connection_cap`]), so that when every place is taken the
//! refresh thread (which opens the API-key secret on every refresh, and a
//! model's files when one is loaded), the monitor and the control API
//! still get the descriptors they need: a flood of connections cannot stop
//! revocations from taking effect.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_rustls::TlsAcceptor;

use crate::Shared;
use crate::config::ServeConfig;
use crate::guard::{GuardFuture, Guarded};
use crate::metrics::{PhaseLabels, ReasonLabels};

/// A request's line and headers, at most (431 beyond). It is also the
/// read buffer's limit, which hyper checks before each read, so a
/// connection's buffer stays under twice this: what slow clients can make
/// the server hold is bounded by the cap times that.
pub const MAX_HEAD: usize = 64 * 1024;

/// Connections waiting to be accepted, at most (the kernel may hold it
/// lower: `net.core.somaxconn`). std's listener asks for 128, which a
/// burst of connections overflows; a client whose connection attempt is
/// dropped then waits a second or more before trying again.
pub const BACKLOG: u32 = 1024;

/// How long the accept loop waits after an error that is not the client's
/// (out of descriptors, out of memory) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Whom a connection is counted against: its IPv4 address, or its IPv6
/// address's /64 (a single host is commonly given a whole /64). An
/// IPv4-mapped IPv6 address counts as the IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client, or an IPv4-mapped IPv6 one.
    V4(Ipv4Addr),
    /// An IPv6 client's /64 prefix: the address's upper 64 bits.
    V6Prefix(u64),
}

impl ClientKey {
    /// The key a connection from `ip` counts against.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(a) => ClientKey::V4(a),
            IpAddr::V6(a) => ClientKey::V6Prefix((u128::from(a) >> 64) as u64),
        }
    }
}

/// Which cap refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every place is taken.
    Total,
    /// The client's address holds its share.
    Address,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::Address => "address",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only clients with a connection open (so at most `total` entries).
    by_client: HashMap<ClientKey, usize>,
}

/// The connections open, in total and per client, against their caps.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
    open: Gauge,
}

/// A connection's place, given back when dropped.
#[derive(Debug)]
pub struct Place {
    conns: Arc<Connections>,
    client: ClientKey,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.conns.release(self.client);
    }
}

impl Connections {
    /// Caps below 1 are taken as 1. `open` follows the total.
    pub fn new(max_total: usize, max_per_client: usize, open: Gauge) -> Arc<Self> {
        Arc::new(Connections {
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            counts: Mutex::new(Counts::default()),
            open,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts are consistent after every statement; a panic while
        // holding the lock cannot leave them half-updated.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection from `ip`, or the cap it is over.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Place, Refusal> {
        let client = ClientKey::of(ip);
        let mut c = self.lock();
        if c.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let n = c.by_client.get(&client).copied().unwrap_or(0);
        if n >= self.max_per_client {
            return Err(Refusal::Address);
        }
        c.by_client.insert(client, n + 1);
        c.total += 1;
        self.open.inc();
        Ok(Place {
            conns: self.clone(),
            client,
        })
    }

    fn release(&self, client: ClientKey) {
        let mut c = self.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_client.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_client.remove(&client);
            }
        }
        self.open.dec();
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections open now from `ip`'s client.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.lock()
            .by_client
            .get(&ClientKey::of(ip))
            .copied()
            .unwrap_or(0)
    }

    /// Clients with a connection open.
    pub fn clients(&self) -> usize {
        self.lock().by_client.len()
    }
}

/// The process's soft limit on open files, where the platform tells
/// (Linux, from `/proc/self/limits`); `None` if unlimited or unknown.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| parse_open_file_limit(&t))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The soft limit from `/proc/self/limits`'s "Max open files" line.
fn parse_open_file_limit(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Descriptors kept back from connections for everything else the server
/// opens: a quarter of the limit, at most 256.
pub fn fd_reserve(open_files: u64) -> u64 {
    (open_files / 4).min(256)
}

/// The total cap in force: the configured one, or the open-file limit
/// less [`fd_reserve`], whichever is lower (at least 1).
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return configured.max(1);
    };
    let room = usize::try_from(limit.saturating_sub(fd_reserve(limit))).unwrap_or(usize::MAX);
    configured.min(room).max(1)
}

/// The time bounds of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From accept to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// From the moment a connection is ready for a request to the end of
    /// that request's headers.
    pub header_read: Duration,
    /// How long no byte may move either way before the connection is
    /// closed; never below the request timeout.
    pub idle: Duration,
}

impl Timeouts {
    /// The bounds `cfg` sets, the idle bound raised to the request timeout
    /// if it is lower.
    pub fn of(cfg: &ServeConfig) -> Self {
        Timeouts {
            tls_handshake: cfg.tls_handshake_timeout,
            header_read: cfg.header_read_timeout,
            // A handler may work this long without a byte moving.
            idle: cfg.idle_timeout.max(cfg.request_timeout),
        }
    }
}

/// A socket listening on `addr` with a backlog of [`BACKLOG`]. Call within
/// a Tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As std's listener does: a restarted server can bind again at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts on `listener` until `shutdown` completes, then lets every
/// connection finish what it is doing (a connection waiting for a request
/// is closed; one in the middle of a request finishes it) and returns.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Guarded,
    shared: Arc<Shared>,
    conns: Arc<Connections>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let timeouts = Timeouts::of(&shared.cfg);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_HEAD);
    let refused_total = shared
        .metrics
        .connections_refused
        .get_or_create(&ReasonLabels {
            reason: Refusal::Total.label(),
        })
        .clone();
    let refused_address = shared
        .metrics
        .connections_refused
        .get_or_create(&ReasonLabels {
            reason: Refusal::Address.label(),
        })
        .clone();
    // `stop` tells connections to finish; every connection task holds a
    // `done` receiver, so the sender's `closed` completes once all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                if !is_connection_error(&e) {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        let place = match conns.admit(peer.ip()) {
            Ok(p) => p,
            Err(r) => {
                match r {
                    Refusal::Total => refused_total.inc(),
                    Refusal::Address => refused_address.inc(),
                };
                drop(stream);
                continue;
            }
        };
        tokio::spawn(connection(
            stream,
            place,
            tls.clone(),
            Service {
                guard: app.clone(),
                peer: None,
            },
            http.clone(),
            timeouts,
            shared.clone(),
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    stop_tx.send_replace(true);
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Errors that concern one client's connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

fn timed_out(shared: &Shared, phase: &'static str) {
    shared
        .metrics
        .connections_timed_out
        .get_or_create(&PhaseLabels { phase })
        .inc();
}

/// One connection, from its TLS handshake (if any) to its close; `place`
/// is given back when it returns.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    place: Place,
    tls: Option<TlsAcceptor>,
    mut svc: Service,
    http: http1::Builder,
    timeouts: Timeouts,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) {
    let moved = AtomicU64::new(0);
    let io = Counted {
        io: stream,
        moved: &moved,
    };
    match tls {
        None => http_connection(io, &moved, svc, &http, timeouts, &shared, &mut stop).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                r = tokio::time::timeout(timeouts.tls_handshake, acceptor.accept(io)) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            match handshake {
                Ok(Ok(tls)) => {
                    // A client certificate rustls verified against the
                    // client CA: each request carries its SHA-256, for the
                    // hub's service accounts.
                    svc.peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| {
                            use sha2::Digest as _;
                            PeerCertificate(sha2::Sha256::digest(c.as_ref()).into())
                        });
                    http_connection(tls, &moved, svc, &http, timeouts, &shared, &mut stop).await
                }
                Ok(Err(_)) => {}
                Err(_) => timed_out(&shared, "tls_handshake"),
            }
        }
    }
    drop(place);
}

/// Serves HTTP/1.1 on `io` until the client or a bound closes it.
/// `moved` counts the reads and writes that moved bytes, for the idle
/// bound.
async fn http_connection<I>(
    io: I,
    moved: &AtomicU64,
    svc: Service,
    http: &http1::Builder,
    timeouts: Timeouts,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = pin!(http.serve_connection(TokioIo::new(io), svc));
    // The idle bound is checked four times per period, so a silent
    // connection is closed between one and one and a quarter periods after
    // its last byte.
    let step = (timeouts.idle / 4).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval_at(Instant::now() + step, step);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seen = moved.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if done.is_err_and(|e| e.is_timeout()) {
                    timed_out(shared, "header_read");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            now = tick.tick() => {
                let n = moved.load(Ordering::Relaxed);
                if n != seen {
                    seen = n;
                    quiet_since = now;
                } else if now.duration_since(quiet_since) >= timeouts.idle {
                    timed_out(shared, "idle");
                    return;
                }
            }
        }
    }
}

/// The guard as hyper calls it: the request's body as axum's, and the
/// connection's verified client certificate, if any, as an extension.
#[derive(Clone)]
struct Service {
    guard: Guarded,
    peer: Option<PeerCertificate>,
}

/// The SHA-256 of the client certificate the TLS handshake verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCertificate(pub [u8; 32]);

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = GuardFuture;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        // The guard is always ready (its `poll_ready` is), so it is called
        // directly; a clone per request, as axum's own server makes.
        let mut guard = self.guard.clone();
        let mut req = req.map(axum::body::Body::new);
        if let Some(p) = self.peer {
            req.extensions_mut().insert(p);
        }
        tower_service::Service::call(&mut guard, req)
    }
}

/// A socket that counts the reads and writes that moved bytes.
struct Counted<'a, T> {
    io: T,
    moved: &'a AtomicU64,
}

impl<T> Counted<'_, T> {
    fn moved(&self) {
        self.moved.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_address_gets_its_share_and_no_more() {
        let gauge = Gauge::default();
        let c = Connections::new(100, 2, gauge.clone());
        let a1 = c.admit(ip("10.0.0.1")).unwrap();
        let a2 = c.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(c.admit(ip("10.0.0.1")).unwrap_err(), Refusal::Address);
        // Another address is unaffected.
        let b = c.admit(ip("10.0.0.2")).unwrap();
        assert_eq!((c.open(), c.open_from(ip("10.0.0.1"))), (3, 2));
        assert_eq!(gauge.get(), 3);
        // A place given back can be taken again.
        drop(a1);
        assert_eq!(c.open_from(ip("10.0.0.1")), 1);
        let a3 = c.admit(ip("10.0.0.1")).unwrap();
        drop((a2, a3, b));
        assert_eq!((c.open(), c.clients(), gauge.get()), (0, 0, 0));
    }

    #[test]
    fn the_total_cap_holds_across_addresses() {
        let c = Connections::new(3, 10, Gauge::default());
        let held: Vec<_> = (1..=3)
            .map(|i| c.admit(ip(&format!("192.0.2.{i}"))).unwrap())
            .collect();
        // Full: a new address and a known one are both refused, and a
        // refusal takes nothing.
        assert_eq!(c.admit(ip("192.0.2.9")).unwrap_err(), Refusal::Total);
        assert_eq!(c.admit(ip("192.0.2.1")).unwrap_err(), Refusal::Total);
        assert_eq!((c.open(), c.clients()), (3, 3));
        drop(held);
        assert_eq!((c.open(), c.clients()), (0, 0));
        assert!(c.admit(ip("192.0.2.9")).is_ok());
    }

    #[test]
    fn refused_admissions_leave_no_entry_behind() {
        let c = Connections::new(1, 1, Gauge::default());
        let _p = c.admit(ip("10.0.0.1")).unwrap();
        for i in 0..1000 {
            let a = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i));
            assert_eq!(c.admit(a).unwrap_err(), Refusal::Total);
        }
        assert_eq!(c.clients(), 1);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_v4_as_v4() {
        let c = Connections::new(100, 2, Gauge::default());
        let _a = c.admit(ip("2001:db8:1:2::1")).unwrap();
        let _b = c.admit(ip("2001:db8:1:2:ffff::7")).unwrap();
        assert_eq!(
            c.admit(ip("2001:db8:1:2:dead:beef::1")).unwrap_err(),
            Refusal::Address
        );
        // The next /64 is another client.
        let _c = c.admit(ip("2001:db8:1:3::1")).unwrap();
        let _d = c.admit(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(c.open_from(ip("10.0.0.1")), 1);
        assert_eq!(
            ClientKey::of(ip("::ffff:10.0.0.1")),
            ClientKey::V4(Ipv4Addr::new(10, 0, 0, 1))
        );
    }

    #[test]
    fn places_are_given_back_from_many_threads() {
        let c = Connections::new(10_000, 10_000, Gauge::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..500u32 {
                        let p = c.admit(IpAddr::V4(Ipv4Addr::from(t * 1000 + i % 7)));
                        assert!(p.is_ok());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!((c.open(), c.clients()), (0, 0));
    }

    #[test]
    fn the_cap_keeps_a_reserve_below_the_open_file_limit() {
        assert_eq!(fd_reserve(1024), 256);
        assert_eq!(fd_reserve(512), 128);
        assert_eq!(fd_reserve(1 << 20), 256);
        assert_eq!(connection_cap(4096, Some(1024)), 768);
        assert_eq!(connection_cap(4096, Some(512)), 384);
        assert_eq!(connection_cap(4096, Some(20_000)), 4096);
        assert_eq!(connection_cap(4096, None), 4096);
        assert_eq!(connection_cap(100, Some(1024)), 100);
        assert_eq!(connection_cap(4096, Some(1)), 1);
        assert_eq!(connection_cap(0, None), 1);
    }

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_file_limit(unlimited), None);
        assert_eq!(parse_open_file_limit(""), None);
        #[cfg(target_os = "linux")]
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
