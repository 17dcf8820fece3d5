//! A misbehaving loopback HTTP server for the fault matrix (`tests/faults.rs`): it answers
//! every request of one method the same broken way. Plain `http://` (dbtoken allows it to
//! loopback) so the faults are in HTTP itself; `Rogue::tls_expired` serves TLS with an
//! expired certificate instead.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Misbehave {
    /// Read the request, then never answer (the connection stays open until the test ends).
    Silent,
    /// Send the head and part of the body, then reset the connection (RST).
    ResetMidBody,
    /// Declare 200 bytes, send 20, close cleanly (FIN).
    Truncate,
    /// A 200 with a body of this many bytes (a JSON string that never ends).
    Huge(usize),
    /// Bytes that are not HTTP at all.
    Garbage,
    /// A well-formed answer: status, extra headers, body.
    Answer(u16, Vec<(String, String)>, String),
    /// 404 with an empty JSON object (what a server without discovery says).
    NotFound,
}

impl Misbehave {
    /// 200 with this JSON body.
    pub fn json(body: &str) -> Misbehave {
        Misbehave::Answer(200, Vec::new(), body.to_string())
    }
}

pub struct Rogue {
    port: u16,
    stop: Arc<AtomicBool>,
    posts: Arc<AtomicUsize>,
    gets: Arc<AtomicUsize>,
    scheme: &'static str,
    ca: Option<PathBuf>,
}

impl Rogue {
    /// POSTs get `on_post`, everything else (discovery GETs) `on_get`.
    pub fn start(on_post: Misbehave, on_get: Misbehave) -> Rogue {
        Rogue::spawn(on_post, on_get, None)
    }

    /// Every request gets `how`.
    pub fn always(how: Misbehave) -> Rogue {
        Rogue::start(how.clone(), how)
    }

    /// HTTPS with a certificate for 127.0.0.1 that expired in 2020, signed by a CA whose PEM
    /// is at [`Rogue::ca_path`] (so the failure is the expiry, not the issuer).
    pub fn tls_expired() -> Rogue {
        let (tls, ca_pem) = expired_tls();
        let dir = crate::common::temp_dir("rogue-ca");
        let ca = crate::common::write(&dir, "ca.pem", &ca_pem);
        let mut r = Rogue::spawn(Misbehave::NotFound, Misbehave::NotFound, Some(tls));
        r.ca = Some(ca);
        r
    }

    fn spawn(
        on_post: Misbehave,
        on_get: Misbehave,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (posts, gets) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let scheme = if tls.is_some() { "https" } else { "http" };
        {
            let (stop, posts, gets) = (stop.clone(), posts.clone(), gets.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (stop, posts, gets) = (stop.clone(), posts.clone(), gets.clone());
                    let (on_post, on_get, tls) = (on_post.clone(), on_get.clone(), tls.clone());
                    std::thread::spawn(move || {
                        if let Some(tls) = tls {
                            // The client refuses the certificate; just take the handshake.
                            let conn_tls = rustls::ServerConnection::new(tls).unwrap();
                            let mut s = rustls::StreamOwned::new(conn_tls, conn);
                            let _ = s.read(&mut [0u8; 1024]);
                            return;
                        }
                        serve(conn, &on_post, &on_get, &stop, &posts, &gets);
                    });
                }
            });
        }
        Rogue {
            port,
            stop,
            posts,
            gets,
            scheme,
            ca: None,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://` for the TLS variant).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The CA that signed the TLS variant's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.ca.clone().expect("only Rogue::tls_expired has a CA")
    }

    /// POST requests received.
    pub fn posts(&self) -> usize {
        self.posts.load(Ordering::SeqCst)
    }

    /// Other requests received.
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut conn: TcpStream,
    on_post: &Misbehave,
    on_get: &Misbehave,
    stop: &AtomicBool,
    posts: &AtomicUsize,
    gets: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    // Read the head, then as much body as Content-Length says.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let how = if head.starts_with("post ") {
        posts.fetch_add(1, Ordering::SeqCst);
        on_post
    } else {
        gets.fetch_add(1, Ordering::SeqCst);
        on_get
    };
    let _ = answer(&mut conn, how, stop);
}

fn answer(conn: &mut TcpStream, how: &Misbehave, stop: &AtomicBool) -> std::io::Result<()> {
    let head = |status: u16, len: usize, extra: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    match how {
        Misbehave::Silent => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Misbehave::ResetMidBody => {
            conn.write_all(head(200, 500, "").as_bytes())?;
            conn.write_all(br#"{"access_token":"rogue-reset-"#)?;
            conn.flush()?;
            std::thread::sleep(Duration::from_millis(50));
            reset(conn);
        }
        Misbehave::Truncate => {
            conn.write_all(head(200, 200, "").as_bytes())?;
            conn.write_all(br#"{"access_token":"rog"#)?;
        }
        Misbehave::Huge(n) => {
            conn.write_all(head(200, *n, "").as_bytes())?;
            conn.write_all(br#"{"access_token":""#)?;
            let block = vec![b'x'; 64 * 1024];
            let mut left = n.saturating_sub(17);
            while left > 0 {
                let k = left.min(block.len());
                conn.write_all(&block[..k])?;
                left -= k;
            }
        }
        Misbehave::Garbage => {
            conn.write_all(
                b"\x16\x03\x01\x00\xff\xfe garbage \x00\x01\x02 not http at all\r\n\r\n",
            )?;
        }
        Misbehave::Answer(status, headers, body) => {
            let extra: String = headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\r\n"))
                .collect();
            conn.write_all(head(*status, body.len(), &extra).as_bytes())?;
            conn.write_all(body.as_bytes())?;
        }
        Misbehave::NotFound => {
            conn.write_all(head(404, 2, "").as_bytes())?;
            conn.write_all(b"{}")?;
        }
    }
    conn.flush()
}

/// Close with RST instead of FIN: SO_LINGER on with a zero timeout, then drop.
fn reset(conn: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor owned by `conn`, and a pointer to a live `linger`
    // whose size is passed.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = conn.shutdown(std::net::Shutdown::Read);
}

/// A CA and a leaf for 127.0.0.1 valid 2019-01-01..2020-01-01.
fn expired_tls() -> (Arc<rustls::ServerConfig>, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = rcgen::date_time_ymd(2018, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2049, 1, 1);
    let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2019, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let leaf = leaf.signed_by(&leaf_key, &*ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
                leaf_key.serialize_der(),
            )),
        )
        .unwrap();
    (Arc::new(config), ca.pem())
}
