//! A TCP proxy that can make the server behind it go away, the two ways a network does: by
//! refusing connections (a stopped server, a closed port) or by swallowing packets (a dropped
//! route, a firewall that drops). Put between the app and PostgreSQL, it shows what the app
//! does when its database is away, without touching the database itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards both ways.
    None,
    /// Refuses: the listening port is closed (a connect gets `ECONNREFUSED`) and open
    /// connections are cut.
    Refuse,
    /// Swallows: connections are accepted but nothing passes either way until the fault ends
    /// (then what waited passes, as TCP retransmission would deliver it).
    Swallow,
}

/// A running proxy to one upstream address; stopped when dropped.
pub struct FaultyProxy {
    /// The address clients connect to.
    pub address: SocketAddr,
    fault: Arc<watch::Sender<Fault>>,
    task: JoinHandle<()>,
}

impl FaultyProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (fault, _) = watch::channel(Fault::None);
        let fault = Arc::new(fault);
        let task = tokio::spawn(serve(listener, address, upstream, Arc::clone(&fault)));
        Self {
            address,
            fault,
            task,
        }
    }

    /// Starts a proxy to the host and port of a `postgres://` URL; returns it and the URL that
    /// goes through it.
    pub async fn to_postgres(url: &str) -> (Self, String) {
        let rest = url.split_once("://").unwrap().1;
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_port = authority.rsplit('@').next().unwrap();
        let upstream = tokio::net::lookup_host(host_port)
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = Self::start(upstream).await;
        let through = url.replacen(host_port, &proxy.address.to_string(), 1);
        (proxy, through)
    }

    /// Starts (or ends, with [`Fault::None`]) a fault.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts while there is no refusal; closes the port during one and binds it again after.
async fn serve(
    mut listener: TcpListener,
    address: SocketAddr,
    upstream: SocketAddr,
    fault: Arc<watch::Sender<Fault>>,
) {
    let mut changes = fault.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(pipe(client, upstream, fault.subscribe()));
                }
            }
            _ = changes.changed() => {
                let now = *changes.borrow_and_update();
                if now == Fault::Refuse {
                    drop(listener);
                    while *changes.borrow_and_update() == Fault::Refuse {
                        if changes.changed().await.is_err() {
                            return;
                        }
                    }
                    listener = rebind(address).await;
                }
            }
        }
    }
}

/// The proxy's own port again (it may linger a moment after closing).
async fn rebind(address: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy could not listen on {address} again");
}

/// One connection: forwards both ways while there is no fault, stops reading during a
/// swallow, and closes on a refusal.
async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut fault: watch::Receiver<Fault>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_in, mut client_out) = client.split();
    let (mut server_in, mut server_out) = server.split();
    let mut up = [0_u8; 16 * 1024];
    let mut down = [0_u8; 16 * 1024];
    loop {
        let now = *fault.borrow_and_update();
        match now {
            Fault::Refuse => return,
            Fault::Swallow => {
                if fault.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Fault::None => {}
        }
        tokio::select! {
            _ = fault.changed() => {}
            read = client_in.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server_out.write_all(&up[..n]).await.is_err() { return },
            },
            read = server_in.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if client_out.write_all(&down[..n]).await.is_err() { return },
            },
        }
    }
}
