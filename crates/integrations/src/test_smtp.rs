//! Test support (feature `test-support`): a small SMTP server on 127.0.0.1 speaking enough of RFC 5321 for lettre: greeting, EHLO/HELO,
//! MAIL, RCPT, DATA (with dot-stuffing), RSET, NOOP and QUIT. It records what it accepts.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One message as the server received it.
#[derive(Debug)]
pub struct Received {
    /// The reverse path of `MAIL FROM`.
    pub mail_from: String,
    /// The forward paths of accepted `RCPT TO`s.
    pub rcpt_to: Vec<String>,
    /// The DATA section with dot-stuffing undone and the final `.` removed.
    pub data: String,
}

impl Received {
    /// The value of header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The body with CRLF line ends turned into LF.
    pub fn body(&self) -> String {
        let (_, body) = self.data.split_once("\r\n\r\n").unwrap_or(("", ""));
        body.replace("\r\n", "\n")
    }

    /// The body with quoted-printable undone (soft line breaks joined, `=XX` decoded) and LF
    /// line ends; other text is kept as it is, so every part of a multipart message reads.
    pub fn decoded_body(&self) -> String {
        let body = self.body().replace("=\n", "");
        let bytes = body.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if bytes[i] == b'='
                && let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                )
                && bytes[i + 1].is_ascii_uppercase() | bytes[i + 1].is_ascii_digit()
            {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Starts an SMTP server on an ephemeral port that answers every `RCPT TO` with
/// `rcpt_reply` (accepting it when the reply starts with `2`) and reports each message it
/// accepts.
pub async fn spawn_smtp_server(rcpt_reply: &'static str) -> (SocketAddr, mpsc::Receiver<Received>) {
    spawn_smtp_server_on("127.0.0.1:0", rcpt_reply).await
}

/// Like [`spawn_smtp_server`], on a given address (to bring a server "back" on a known port).
pub async fn spawn_smtp_server_on(
    address: &str,
    rcpt_reply: &'static str,
) -> (SocketAddr, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind(address)
        .await
        .expect("test SMTP server binds");
    let addr = listener.local_addr().expect("bound address");
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve_session(stream, rcpt_reply, tx).await;
            });
        }
    });
    (addr, rx)
}

async fn serve_session(
    stream: tokio::net::TcpStream,
    rcpt_reply: &'static str,
    tx: mpsc::Sender<Received>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 localhost test ESMTP ready\r\n")
        .await?;
    let mut mail_from = None::<String>;
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &str = match verb.as_str() {
            "EHLO" => {
                "250-localhost greets you\r\n250-8BITMIME\r\n250-SIZE 1000000\r\n250 HELP\r\n"
            }
            "HELO" => "250 localhost\r\n",
            "MAIL" => {
                mail_from = Some(angle_path(command));
                rcpt_to.clear();
                "250 2.1.0 OK\r\n"
            }
            "RCPT" if mail_from.is_none() => "503 5.5.1 need MAIL first\r\n",
            "RCPT" => {
                if rcpt_reply.starts_with('2') {
                    rcpt_to.push(angle_path(command));
                }
                write.write_all(rcpt_reply.as_bytes()).await?;
                write.write_all(b"\r\n").await?;
                continue;
            }
            "DATA" if rcpt_to.is_empty() => "554 5.5.1 no valid recipients\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let received = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                let _ = tx.send(received).await;
                "250 2.0.0 OK queued\r\n"
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "500 5.5.2 command not recognised\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// `ada@example.org` out of `MAIL FROM:<ada@example.org> BODY=8BITMIME`.
fn angle_path(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}
