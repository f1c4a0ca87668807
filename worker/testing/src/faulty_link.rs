//! A TCP link in front of a real server that can be made to stop answering, for fault drills.
//! It forwards bytes both ways until told otherwise, then holds its connections open and
//! forwards nothing: a relay hung mid-exchange, not one that closed (a closed socket is an error
//! the client sees at once; a silent one is what only a deadline ends).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
}

/// One connection's own stall, shared by its two directions.
#[derive(Default)]
struct Conn {
    stalled: AtomicBool,
}

impl FaultyLink {
    /// Starts forwarding 127.0.0.1:`target` on a free port.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = {
        let (state, conn) = (state.clone(), conn.clone());
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
            if client_write.write_all(&buf[..n]).await.is_err() {
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
