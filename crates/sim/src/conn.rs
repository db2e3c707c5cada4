//! The simulator's TCP connections: a listener that counts every accepted connection, tells REST
//! connections from hub ones by their first request, and can close idle connections the way a load
//! balancer in front of the live gateway does, so a test can see whether a client reuses its
//! connection across a quiet period (`Counters::rest_connections`) without waiting minutes
//! (`SimConfig::idle_close`, `SimHandle::set_idle_close`).
//!
//! Idle close, like an AWS ALB's idle timeout: a connection on which no byte was read or written
//! for the idle period is closed (the server sees end of stream and shuts its side down; the client
//! sees FIN), whether or not a request is in flight. Hub connections (a first request under
//! `/hubs/`) are exempt: their SignalR pings keep them open under a real load balancer, and a test
//! that shortens the period to a second would otherwise drop them. Off by default, so the
//! simulator behaves as before unless a test asks for it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::state::Shared;

/// A period set through the handle and read by every connection: the idle close (read on each poll that finds
/// nothing to read) and the connect delay (read at accept). Milliseconds; 0 = off.
#[derive(Debug, Default)]
pub(crate) struct Period(AtomicU64);

impl Period {
    pub(crate) fn new(period: Option<Duration>) -> Self {
        let idle = Self::default();
        idle.set(period);
        idle
    }

    /// `None` (or zero) turns it off. Connections use the new period from their next poll.
    pub(crate) fn set(&self, period: Option<Duration>) {
        let ms = period.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.0.store(ms, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

/// What a connection carries, decided by its first request.
const UNKNOWN: u8 = 0;
const REST: u8 = 1;
const HUB: u8 = 2;

/// One accepted connection's kind, shared by its stream (idle close exempts hubs) and its requests
/// (through `ConnectInfo<Conn>`, which marks the kind on the first request).
#[derive(Clone, Debug)]
pub(crate) struct Conn(Arc<AtomicU8>);

impl Conn {
    /// Sets the kind if none is set yet; `true` for the request that set it.
    fn mark(&self, kind: u8) -> bool {
        self.0.compare_exchange(UNKNOWN, kind, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    fn is_hub(&self) -> bool {
        self.0.load(Ordering::Relaxed) == HUB
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().conn.clone()
    }
}

/// The TCP listener behind the simulator: sets `TCP_NODELAY`, counts accepts, wraps each stream.
pub(crate) struct SimListener {
    pub(crate) tcp: TcpListener,
    pub(crate) shared: Arc<Shared>,
}

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimStream, SocketAddr) {
        // axum's own accept loop: errors are logged and retried after a pause.
        let (tcp, addr) = Listener::accept(&mut self.tcp).await;
        // Kestrel (the gateway's server) sets TCP_NODELAY on every connection; without it Nagle
        // holds a small hub frame until the client's delayed ACK of the previous one (up to 40 ms),
        // which would reorder user events behind a REST answer sent on another socket.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set on a simulator connection");
        }
        self.shared.counters.lock().tcp_connections += 1;
        let hold = self.shared.connect_delay.get().map(|d| Box::pin(tokio::time::sleep(d)));
        let stream = SimStream {
            hold,
            tcp,
            conn: Conn(Arc::new(AtomicU8::new(UNKNOWN))),
            shared: Arc::clone(&self.shared),
            last_active: Instant::now(),
            timer: None,
            closed: false,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// An accepted connection: the TCP stream, its kind, and its idle timer.
pub(crate) struct SimStream {
    /// The handshake delay still to wait before the first read (`SimHandle::set_connect_delay`).
    hold: Option<Pin<Box<Sleep>>>,
    tcp: TcpStream,
    conn: Conn,
    shared: Arc<Shared>,
    /// When a byte was last read or written (or the connection accepted).
    last_active: Instant,
    /// Armed while a read waits; reset to `last_active + period` on each poll.
    timer: Option<Pin<Box<Sleep>>>,
    /// Idle close fired: every later read is end of stream.
    closed: bool,
}

impl SimStream {
    /// Whether the idle period has run out, registering `cx` to be woken when it does.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let period = match self.shared.idle_close.get() {
            Some(period) if !self.conn.is_hub() => period,
            _ => {
                self.timer = None;
                return false;
            }
        };
        let deadline = self.last_active + period;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.closed = true;
        self.timer = None;
        self.shared.counters.lock().idle_closed += 1;
        tracing::debug!("simulator closed an idle connection");
        true
    }
}

impl AsyncRead for SimStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if let Some(hold) = this.hold.as_mut() {
            if hold.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.hold = None;
            this.last_active = Instant::now();
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.last_active = Instant::now();
                }
                Poll::Ready(result)
            }
            // End of stream, as if the peer had closed: the server shuts the connection down.
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.last_active = Instant::now();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.last_active = Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Middleware in front of every route: the first request on a connection decides its kind (`/hubs/`
/// → hub, exempt from idle close; any other path → REST, counted in `Counters::rest_connections`).
pub(crate) async fn classify(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<Conn>>() {
        let path = req.uri().path();
        if path.starts_with("/hubs/") {
            conn.mark(HUB);
        } else if conn.mark(REST) {
            shared.counters.lock().rest_connections += 1;
        }
    }
    next.run(req).await
}
