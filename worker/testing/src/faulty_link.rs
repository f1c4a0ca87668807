//! A TCP link in front of a real server (SMTP, PostgreSQL) that can be made to misbehave, for
//! fault drills.
//! It forwards bytes both ways until told otherwise, then holds its connections open and
//! forwards nothing: a relay hung mid-exchange, not one that closed (a closed socket is an error
//! the client sees at once; a silent one is what only a deadline ends). It can also answer one
//! recipient with a 550 itself, as a relay does for a mailbox it does not know.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The link; it stops accepting (and drops its connections) when dropped.
pub struct FaultyLink {
    /// Where clients connect.
    pub port: u16,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// Connections still to stall when their client says `DATA`.
    stall_at_data: AtomicUsize,
    /// How many did.
    stalled: AtomicUsize,
    /// Every connection, open or new, forwards nothing.
    frozen: AtomicBool,
    /// `RCPT TO` this address is answered `550` by the link, not passed on.
    refused: Mutex<Option<String>>,
}

/// One connection's own stall, shared by its two directions.
#[derive(Default)]
struct Conn {
    stalled: AtomicBool,
}

impl FaultyLink {
    /// Starts forwarding 127.0.0.1:`target` on a free port.
    pub async fn start(target: u16) -> Self {
        Self::start_on(0, target).await
    }

    /// Starts forwarding 127.0.0.1:`target` on 127.0.0.1:`port` (0: a free one), as a server
    /// that comes up late does.
    pub async fn start_on(port: u16, target: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                tokio::spawn(forward(client, server, shared.clone()));
            }
        });
        Self {
            port,
            state,
            accept,
        }
    }

    /// The next `n` connections stop answering once their client sends `DATA`: the command is
    /// not passed on, and nothing comes back from then on.
    pub fn stall_at_data(&self, n: usize) {
        self.state.stall_at_data.store(n, Ordering::SeqCst);
    }

    /// From now on no connection, open or new, forwards anything either way.
    pub fn freeze(&self) {
        self.state.frozen.store(true, Ordering::SeqCst);
    }

    /// From now on `RCPT TO:<address>` is answered `550 5.1.1 … no such user` by the link.
    pub fn refuse_recipient(&self, address: &str) {
        *self.state.refused.lock().unwrap() = Some(address.to_string());
    }

    /// How many connections have stalled at `DATA`.
    pub fn stalled(&self) -> usize {
        self.state.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, state: Arc<State>) {
    let conn = Arc::new(Conn::default());
    let (mut client_read, client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let client_write = Arc::new(tokio::sync::Mutex::new(client_write));
    let up = {
        let (state, conn, client_write) = (state.clone(), conn.clone(), client_write.clone());
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                let chunk = &buf[..n];
                if !conn.stalled.load(Ordering::SeqCst)
                    && chunk.starts_with(b"DATA\r\n")
                    && state
                        .stall_at_data
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok()
                {
                    conn.stalled.store(true, Ordering::SeqCst);
                    state.stalled.fetch_add(1, Ordering::SeqCst);
                }
                if silent(&state, &conn) {
                    continue;
                }
                if let Some(answer) = refusal(&state, chunk) {
                    if client_write.lock().await.write_all(&answer).await.is_err() {
                        break;
                    }
                    continue;
                }
                if server_write.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = server_read.read(&mut buf).await {
            if silent(&state, &conn) {
                continue;
            }
            if client_write
                .lock()
                .await
                .write_all(&buf[..n])
                .await
                .is_err()
            {
                break;
            }
        }
    };
    // Until the client hangs up: a stalled connection stays open, saying nothing.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

fn silent(state: &State, conn: &Conn) -> bool {
    state.frozen.load(Ordering::SeqCst) || conn.stalled.load(Ordering::SeqCst)
}

/// The link's own answer to `chunk`, when it is `RCPT TO` the refused address.
fn refusal(state: &State, chunk: &[u8]) -> Option<Vec<u8>> {
    let refused = state.refused.lock().unwrap().clone()?;
    let line = String::from_utf8_lossy(chunk).to_lowercase();
    line.starts_with(&format!("rcpt to:<{}>", refused.to_lowercase()))
        .then(|| format!("550 5.1.1 <{refused}>: no such user here\r\n").into_bytes())
}
