//! The loopback ceiling for the HTTP benchmarks: a bare hyper HTTP/1.1
//! server on 127.0.0.1 that answers every request `200 OK` with an empty
//! body and records nothing. Prints `URL=http://127.0.0.1:PORT`, then serves
//! until killed.
//!
//! Run: `cargo run --release --example bare_http`

// The allocator of the `hookproof` binary (see `hookproof::allocator`): the
// ceiling gets every advantage the mock CRM has (a few per cent faster than
// glibc's here).
hookproof::global_allocator!();

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use tokio::net::TcpListener;

async fn ok(_request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::new())))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("URL=http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(ok))
                .await;
        });
    }
}
