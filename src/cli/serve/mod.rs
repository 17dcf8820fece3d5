//! `dbtoken serve`: the Databricks SDKs' `metadata-service` protocol on loopback, so unmodified
//! SDKs, the Databricks CLI or Terraform in another container of the pod get fresh tokens with
//! `DATABRICKS_AUTH_TYPE=metadata-service` and `DATABRICKS_METADATA_SERVICE_URL`.
//!
//! `GET <path>` with `X-Databricks-Metadata-Version: 1`, `X-Databricks-Host: <host>` and a
//! loopback `Host` answers `{"access_token","token_type","expires_on"}` from the shared cache.
//!
//! Design, for hostile local clients: one event-loop thread owns every connection, non-blocking,
//! and waits in poll(2) on the listener, the connections and a wake-up pipe. It reads request
//! heads (parsed and checked by the pure [`request::parse`]), writes replies and closes
//! connections; an idle or slow connection costs a buffer and a poll entry, never a thread.
//! Each connection has one deadline for its whole head (from the moment it can send a request,
//! not reset by each byte), and their number is capped: beyond the cap the oldest connection
//! waiting for a head is closed. Only the token itself, which may block on an exchange, is
//! computed on the `--workers` threads; their answers come back through a channel and the pipe.
//! The loop keeps the last token's reply until the token's `refresh_at` (while the library's
//! cache would hand out that same token) and answers from it without a worker.
//! A signal writes to the same pipe: the loop returns at once, without waiting for workers.
//!
//! The same loop ([`Server`]) serves `/healthz`, `/readyz` and `/metrics` ([`super::health`]),
//! here and on `write --watch --health-listen`: what each path answers is an [`Endpoints`].

mod request;

pub(super) use request::{HEALTH_PATHS, Route};

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::health::Health;
use super::log::{log_debug, log_info, log_warn};
use super::signals::{self, Shutdown};
use super::token_json;
use request::{Head, MAX_HEAD, Policy, Refusal};

pub struct Args {
    pub listen: SocketAddr,
    pub path: String,
    pub allow_remote: bool,
    pub workers: usize,
    pub profile: Option<String>,
    /// `--health-listen`: /healthz, /readyz and /metrics also on this address (no token).
    pub health_listen: Option<SocketAddr>,
}

/// The most `--workers` (threads that compute tokens).
pub const MAX_WORKERS: usize = 256;
/// A connection must deliver a whole request head within this long of becoming ready for one
/// (accepted, or its previous reply sent): idle keep-alive and slow senders alike.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// A reply must be taken by the client within this long.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// After a final reply, unread input is drained this long before the close (so the close is
/// not a reset that destroys the reply in flight).
const DRAIN_DEADLINE: Duration = Duration::from_secs(1);
const DRAIN_MAX: usize = 64 * 1024;
/// Open connections at most (less if the descriptor limit is lower).
const MAX_CONNECTIONS: usize = 4096;
/// Connections accepted per loop turn, so a flood of connects cannot starve the others.
const ACCEPT_BATCH: usize = 256;

/// What a [`Server`] answers on each route (the request checks are done before).
pub(super) trait Endpoints: Send + Sync + 'static {
    /// The reply, if it can be given at once without blocking (computed on the event loop).
    fn now(&self, route: Route) -> Option<Reply>;
    /// The reply, computed on a worker thread (may block on an exchange); for the token, also
    /// how long the loop may send the same reply again without a worker.
    fn work(&self, route: Route) -> (Reply, Option<Fresh>);
    /// A reply with this status was sent (for the request counters).
    fn sent(&self, status: u16);
}

/// Bind `addr` non-blocking, refusing a non-loopback address unless `allow_remote`; `flag`
/// names the option in the error.
pub(super) fn bind(
    addr: SocketAddr,
    allow_remote: bool,
    flag: &str,
    what: &str,
) -> Result<(TcpListener, SocketAddr), dbtoken::Error> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(dbtoken::Error::config(format!(
            "refusing {flag} {addr}: {what} would be reachable from other hosts; use a loopback address, or --allow-non-loopback if a network policy protects it"
        )));
    }
    let listener = TcpListener::bind(addr)
        .map_err(|e| dbtoken::Error::io(format!("cannot listen on {addr} ({flag}): {e}")))?;
    listener
        .local_addr()
        .and_then(|a| listener.set_nonblocking(true).map(|()| a))
        .map(|a| (listener, a))
        .map_err(|e| dbtoken::Error::io(format!("{flag} {addr}: {e}")))
}

pub fn run(args: &Args) -> Result<Result<(), dbtoken::Error>, i32> {
    if !args.path.starts_with('/') {
        return Ok(Err(dbtoken::Error::config(format!(
            "--path must start with '/', got '{}'",
            args.path
        ))));
    }
    if HEALTH_PATHS.contains(&args.path.as_str()) {
        return Ok(Err(dbtoken::Error::config(format!(
            "--path {} is taken by the health endpoints ({}); choose another",
            args.path,
            HEALTH_PATHS.join(", ")
        ))));
    }
    let wake = match Wake::new() {
        Ok(w) => Arc::new(w),
        Err(e) => {
            return Ok(Err(dbtoken::Error::io(format!(
                "cannot create a pipe: {e}"
            ))));
        }
    };
    let waker = wake.clone();
    let shutdown = Shutdown::install(move || waker.wake());
    let stopped = |sig: i32, served: u64| {
        log_info!(
            "{} received; stopped after {served} requests",
            signals::name(sig)
        );
        Ok(Ok(()))
    };
    let (listener, addr) = match bind(args.listen, args.allow_remote, "--listen", "the token") {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    let profile = args.profile.clone();
    let client = match shutdown.run(move || super::client(profile.as_deref())) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Ok(Err(e)),
        Err(sig) => return stopped(sig, 0),
    };
    let health = Arc::new(Health::serve(client.clone()));
    if let Some(a) = args.health_listen {
        // Before the warm-up, so probes get answers while the first token is on its way.
        if let Err(e) = super::health::listen(a, args.allow_remote, health.clone(), &shutdown) {
            return Ok(Err(e));
        }
    }
    // Warm the cache so the first SDK request is answered at once; failure is only logged.
    let warm = client.clone();
    match shutdown.run(move || warm.token()) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => log_warn!("no token yet: {e}"),
        Err(sig) => return stopped(sig, 0),
    }
    let host = client.host().to_string();
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    println!("DATABRICKS_AUTH_TYPE=metadata-service");
    println!("DATABRICKS_HOST={host}");
    println!(
        "DATABRICKS_METADATA_SERVICE_URL=http://{shown}{}",
        args.path
    );
    let _ = std::io::stdout().flush();
    let cap = connection_cap();
    log_info!(
        "serving metadata-service on http://{addr}{} for {host} ({} workers, up to {cap} connections)",
        args.path,
        args.workers
    );
    let server = Server {
        listener,
        wake,
        endpoints: health,
        workers: args.workers,
        token_path: args.path.clone(),
        host,
        any_host_header: any_host_header(args.allow_remote, addr),
    };
    let (sig, served) = server.run(&shutdown, cap);
    stopped(sig, served)
}

/// Whether a listener accepts any `Host` header: only one that `--allow-non-loopback` let bind
/// beyond loopback. A listener on loopback always wants a loopback `Host` (DNS rebinding), even
/// when the flag was given for the other listener (`--health-listen 0.0.0.0:…` for kubelet).
pub(super) fn any_host_header(allow_remote: bool, bound: SocketAddr) -> bool {
    allow_remote && !bound.ip().is_loopback()
}

/// A listener and what it answers, run by the event loop.
pub(super) struct Server {
    pub listener: TcpListener,
    /// Wakes the loop: workers' answers, and a signal if the shutdown hook writes to it.
    pub wake: Arc<Wake>,
    pub endpoints: Arc<dyn Endpoints>,
    /// Threads for [`Endpoints::work`].
    pub workers: usize,
    /// The token's path; empty for none.
    pub token_path: String,
    /// The Databricks host `X-Databricks-Host` must name.
    pub host: String,
    /// Any `Host` header (see [`any_host_header`]).
    pub any_host_header: bool,
}

impl Server {
    /// Serve until `shutdown` reports a signal (checked at least once a second, at once if the
    /// signal hook wakes [`Server::wake`]); returns it and the number of replies sent.
    pub fn run(self, shutdown: &Shutdown, cap: usize) -> (i32, u64) {
        let (jobs, done) = start_workers(
            self.endpoints.clone(),
            self.workers.clamp(1, MAX_WORKERS),
            self.wake.clone(),
        );
        let mut ev = EventLoop {
            listener: self.listener,
            wake: self.wake,
            endpoints: self.endpoints,
            jobs,
            done,
            conns: HashMap::new(),
            next_id: 0,
            fresh: None,
            cap,
            served: 0,
            policy_path: self.token_path,
            host: self.host,
            any_host_header: self.any_host_header,
        };
        let sig = ev.run(shutdown);
        (sig, ev.served)
    }
}

/// Raise the soft descriptor limit to the hard one (as servers do) and cap connections below it.
pub(super) fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit and a valid input for setrlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max.min(65536),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    (lim.rlim_cur as usize)
        .saturating_sub(64)
        .clamp(16, MAX_CONNECTIONS)
}

/// A non-blocking pipe that wakes the event loop (from a worker or the signal thread).
pub(super) struct Wake {
    read: RawFd,
    write: RawFd,
}

impl Wake {
    pub fn new() -> std::io::Result<Wake> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Wake {
            read: fds[0],
            write: fds[1],
        })
    }

    fn wake(&self) {
        // A full pipe already holds a wake-up: the result does not matter.
        // SAFETY: writing one byte from a valid buffer to our own pipe descriptor.
        let _ = unsafe { libc::write(self.write, [1u8].as_ptr().cast(), 1) };
    }

    fn drain(&self) {
        let mut buf = [0u8; 256];
        // SAFETY: reading into a valid buffer of the length passed from our own non-blocking
        // pipe; stops at EAGAIN.
        while unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        // SAFETY: closing the two descriptors this struct owns, once.
        unsafe {
            libc::close(self.read);
            libc::close(self.write);
        }
    }
}

pub(super) struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
}

impl Reply {
    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
        }
    }

    pub fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "text/plain; charset=utf-8",
        }
    }
}

type Job = (u64, Route);
/// A worker's reply for a connection, and the token's `refresh_at` when it was a token.
type Done = (u64, Reply, Option<Fresh>);

/// A token reply the loop may send again until `until` (`None`: no expiry, a PAT). A
/// monotonic instant, so a wall-clock jump cannot stretch it.
#[derive(Clone)]
pub(super) struct Fresh {
    until: Option<Instant>,
    body: String,
}

/// `n` threads that compute the replies that may block (the token, from the shared cache).
fn start_workers(
    endpoints: Arc<dyn Endpoints>,
    n: usize,
    wake: Arc<Wake>,
) -> (mpsc::Sender<Job>, mpsc::Receiver<Done>) {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for _ in 0..n {
        let (endpoints, job_rx, done_tx, wake) = (
            endpoints.clone(),
            job_rx.clone(),
            done_tx.clone(),
            wake.clone(),
        );
        std::thread::spawn(move || {
            loop {
                let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((id, route)) = job else { return };
                let (reply, fresh) = endpoints.work(route);
                if done_tx.send((id, reply, fresh)).is_err() {
                    return;
                }
                wake.wake();
            }
        });
    }
    (job_tx, done_rx)
}

pub(super) fn token_reply(client: &dbtoken::Client) -> (Reply, Option<Fresh>) {
    let before = client.stats();
    let reply = match client.token() {
        Ok(t) => {
            let body = token_json(&t, false);
            let fresh = Fresh {
                until: t.refresh_at().map(|r| {
                    // At most a day ahead: a server's huge lifetime cannot overflow Instant.
                    let left = r
                        .duration_since(std::time::SystemTime::now())
                        .unwrap_or_default()
                        .min(Duration::from_secs(86_400));
                    Instant::now() + left
                }),
                body: body.clone(),
            };
            (Reply::json(200, body), Some(fresh))
        }
        Err(e) => {
            log_warn!("{e}");
            let r = json_error(&Refusal {
                status: 503,
                message: e.message().to_string(),
            });
            (r, None)
        }
    };
    let after = client.stats();
    if after.refreshes > before.refreshes {
        log_info!(
            "refreshed the token ({} refreshes, {} failed)",
            after.refreshes,
            after.failures
        );
    }
    reply
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    }
}

/// An OAuth-style error body: `{"error","error_description"}`.
fn json_error(r: &Refusal) -> Reply {
    let error = match r.status {
        404 => "not_found",
        503 => "temporarily_unavailable",
        _ => "invalid_request",
    };
    let mut o = miniserde::json::Object::new();
    o.insert("error".into(), miniserde::json::Value::String(error.into()));
    o.insert(
        "error_description".into(),
        miniserde::json::Value::String(r.message.clone()),
    );
    Reply::json(
        r.status,
        miniserde::json::to_string(&miniserde::json::Value::Object(o)),
    )
}

fn encode(reply: &Reply, keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(reply.body.as_bytes());
    out
}

enum State {
    /// Waiting for (the rest of) a request head.
    Reading,
    /// A worker computes the token.
    Working { keep_alive: bool },
    /// Sending a reply.
    Writing {
        out: Vec<u8>,
        pos: usize,
        keep_alive: bool,
    },
    /// Final reply sent, write side shut: discarding input until EOF before the close.
    Draining { drained: usize },
}

struct Conn {
    stream: TcpStream,
    /// Bytes of the next request head (and of pipelined ones after it), at most MAX_HEAD.
    buf: Vec<u8>,
    state: State,
    /// The whole-head, write or drain deadline of the current state.
    deadline: Instant,
    /// When the connection became ready for its current request: the eviction order.
    ready_since: Instant,
}

struct EventLoop {
    listener: TcpListener,
    wake: Arc<Wake>,
    endpoints: Arc<dyn Endpoints>,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
    /// The last token reply, while its token is fresh.
    fresh: Option<Fresh>,
    cap: usize,
    served: u64,
    policy_path: String,
    host: String,
    any_host_header: bool,
}

/// What to do with a connection after handling it.
enum Next {
    Keep,
    Close,
}

impl EventLoop {
    /// Serve until a signal arrives; returns it.
    fn run(&mut self, shutdown: &Shutdown) -> i32 {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut ids: Vec<u64> = Vec::new();
        loop {
            if let Some(sig) = shutdown.signal() {
                return sig;
            }
            let now = Instant::now();
            fds.clear();
            ids.clear();
            fds.push(pollfd(self.wake.read, libc::POLLIN));
            fds.push(pollfd(self.listener.as_raw_fd(), libc::POLLIN));
            let mut next_deadline = now + Duration::from_secs(1);
            for (id, c) in &self.conns {
                let events = match c.state {
                    State::Reading | State::Draining { .. } => libc::POLLIN,
                    State::Writing { .. } => libc::POLLOUT,
                    State::Working { .. } => continue,
                };
                fds.push(pollfd(c.stream.as_raw_fd(), events));
                ids.push(*id);
                next_deadline = next_deadline.min(c.deadline);
            }
            let timeout = next_deadline
                .saturating_duration_since(now)
                .as_millis()
                .clamp(1, 1000) as libc::c_int;
            // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    log_warn!("poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            if fds[0].revents != 0 {
                self.wake.drain();
            }
            while let Ok((id, reply, fresh)) = self.done.try_recv() {
                if fresh.is_some() {
                    self.fresh = fresh;
                }
                self.answered(id, reply);
            }
            for (pfd, id) in fds[2..].iter().zip(&ids) {
                if pfd.revents != 0 {
                    self.ready(*id);
                }
            }
            if fds[1].revents != 0 {
                self.accept();
            }
            self.expire();
        }
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= self.cap && !self.evict_oldest() {
                        // Every connection is busy with a request: refuse this one.
                        drop(stream);
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let now = Instant::now();
                    self.next_id += 1;
                    self.conns.insert(
                        self.next_id,
                        Conn {
                            stream,
                            buf: Vec::new(),
                            state: State::Reading,
                            deadline: now + HEAD_DEADLINE,
                            ready_since: now,
                        },
                    );
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of descriptors: make room for the next turn.
                    log_debug!("accept: {e}");
                    self.evict_oldest();
                    return;
                }
                Err(e) => {
                    log_debug!("accept: {e}");
                    return;
                }
            }
        }
    }

    /// Close the connection that has waited longest for a request head; false if none waits.
    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Reading | State::Draining { .. }))
            .min_by_key(|(_, c)| c.ready_since)
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                log_debug!(
                    "connection cap ({}) reached: closing the oldest idle one",
                    self.cap
                );
                self.conns.remove(&id);
                true
            }
            None => false,
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        self.conns
            .retain(|_, c| matches!(c.state, State::Working { .. }) || c.deadline > now);
    }

    /// The connection's socket is readable or writable (or failed).
    fn ready(&mut self, id: u64) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        let next = match c.state {
            State::Reading => self.read_head(id, &mut c),
            State::Writing { .. } => self.write(id, &mut c),
            State::Draining { .. } => drain(&mut c),
            State::Working { .. } => Next::Keep,
        };
        if let Next::Keep = next {
            self.conns.insert(id, c);
        }
    }

    fn read_head(&mut self, id: u64, c: &mut Conn) -> Next {
        let mut chunk = [0u8; 4096];
        while c.buf.len() < MAX_HEAD {
            let room = (MAX_HEAD - c.buf.len()).min(chunk.len());
            match c.stream.read(&mut chunk[..room]) {
                Ok(0) => return Next::Close,
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        self.process(id, c)
    }

    /// Act on the head at the start of the buffer, if complete.
    fn process(&mut self, id: u64, c: &mut Conn) -> Next {
        let policy = Policy {
            token_path: &self.policy_path,
            host: &self.host,
            any_host_header: self.any_host_header,
        };
        match request::parse(&c.buf, &policy) {
            Head::Partial => Next::Keep,
            Head::Invalid(refusal) => {
                c.buf.clear();
                self.reply(id, c, json_error(&refusal), false)
            }
            Head::Complete {
                len,
                keep_alive,
                action,
            } => {
                c.buf.drain(..len.min(c.buf.len()));
                match action {
                    Ok(route) => {
                        let now = Instant::now();
                        if let (Route::Token, Some(f)) = (route, &self.fresh) {
                            if f.until.is_none_or(|u| now < u) {
                                let reply = Reply::json(200, f.body.clone());
                                return self.reply(id, c, reply, keep_alive);
                            }
                        }
                        if let Some(reply) = self.endpoints.now(route) {
                            return self.reply(id, c, reply, keep_alive);
                        }
                        c.state = State::Working { keep_alive };
                        if self.jobs.send((id, route)).is_err() {
                            return Next::Close;
                        }
                        Next::Keep
                    }
                    Err(refusal) => {
                        if refusal.status == 403 {
                            log_warn!("refused a request: {}", refusal.message);
                        }
                        self.reply(id, c, json_error(&refusal), keep_alive)
                    }
                }
            }
        }
    }

    /// A worker's answer for connection `id` (gone if it was closed meanwhile).
    fn answered(&mut self, id: u64, reply: Reply) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        let State::Working { keep_alive } = c.state else {
            return;
        };
        if let Next::Keep = self.reply(id, &mut c, reply, keep_alive) {
            self.conns.insert(id, c);
        }
    }

    fn reply(&mut self, id: u64, c: &mut Conn, reply: Reply, keep_alive: bool) -> Next {
        self.served += 1;
        self.endpoints.sent(reply.status);
        c.state = State::Writing {
            out: encode(&reply, keep_alive),
            pos: 0,
            keep_alive,
        };
        c.deadline = Instant::now() + WRITE_DEADLINE;
        self.write(id, c)
    }

    fn write(&mut self, id: u64, c: &mut Conn) -> Next {
        let State::Writing {
            out,
            pos,
            keep_alive,
        } = &mut c.state
        else {
            return Next::Keep;
        };
        while *pos < out.len() {
            match c.stream.write(&out[*pos..]) {
                Ok(0) => return Next::Close,
                Ok(n) => *pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        let now = Instant::now();
        if *keep_alive {
            c.state = State::Reading;
            c.deadline = now + HEAD_DEADLINE;
            c.ready_since = now;
            // A pipelined request may already be buffered.
            if c.buf.is_empty() {
                Next::Keep
            } else {
                self.process(id, c)
            }
        } else {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            c.state = State::Draining { drained: 0 };
            c.deadline = now + DRAIN_DEADLINE;
            c.ready_since = now;
            drain(c)
        }
    }
}

fn drain(c: &mut Conn) -> Next {
    let State::Draining { drained } = &mut c.state else {
        return Next::Close;
    };
    let mut sink = [0u8; 4096];
    loop {
        match c.stream.read(&mut sink) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                *drained += n;
                if *drained >= DRAIN_MAX {
                    return Next::Close;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
