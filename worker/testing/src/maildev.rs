//! A real third-party SMTP server for tests: maildev (npm, installed under `end2end/` by the test
//! command), started on free ports for one test and stopped when dropped. Its web API lists
//! what it received.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Maildev {
    child: Child,
    pub smtp_port: u16,
    pub web_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("end2end/node_modules/.bin/maildev");
    assert!(
        bin.exists(),
        "maildev is not installed at {}: run `./herald.sh test` (or `npm ci` in end2end/)",
        bin.display()
    );
    bin
}

impl Maildev {
    /// Starts maildev; with `auth`, it demands SMTP authentication (and so answers 530 to mail
    /// sent without it). A maildev that exits before it listens (its free port was taken in
    /// the meantime by a test starting beside it) is started again on fresh ports.
    pub async fn start_with(auth: Option<(&str, &str)>) -> Self {
        let deadline = Instant::now() + Duration::from_secs(40);
        for _attempt in 0..3 {
            let (smtp_port, web_port) = (free_port(), free_port());
            let mut cmd = Command::new(binary());
            cmd.args([
                "--smtp",
                &smtp_port.to_string(),
                "--web",
                &web_port.to_string(),
                "--ip",
                "127.0.0.1",
                "--web-ip",
                "127.0.0.1",
                "--silent",
            ]);
            if let Some((user, pass)) = auth {
                cmd.args(["--incoming-user", user, "--incoming-pass", pass]);
            }
            let child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("maildev starts");
            let mut m = Self {
                child,
                smtp_port,
                web_port,
            };
            loop {
                if matches!(m.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                let smtp = tokio::net::TcpStream::connect(("127.0.0.1", smtp_port))
                    .await
                    .is_ok();
                let web = tokio::net::TcpStream::connect(("127.0.0.1", web_port))
                    .await
                    .is_ok();
                if smtp && web {
                    return m;
                }
                assert!(
                    Instant::now() < deadline,
                    "maildev did not start within 40 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("maildev exited before listening, three times")
    }

    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn get(&self, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.web_port))
            .await
            .unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.unwrap();
        let text = String::from_utf8(body).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{head}"
        );
        body.to_string()
    }

    /// Every email received so far, as maildev's JSON objects.
    pub async fn emails(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.get("/api/email").await).unwrap()
    }

    /// Waits until at least `n` emails have arrived (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.emails().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} emails arrived within {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The raw source of one email (headers included).
    pub async fn source(&self, id: &str) -> String {
        self.get(&format!("/api/email/{id}/source")).await
    }
}

impl Drop for Maildev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
