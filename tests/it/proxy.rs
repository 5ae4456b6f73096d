//! A fault-injecting HTTP/1.1 proxy on loopback, between the binaries (their SDK clients, via
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB`) and the local moto S3 or DynamoDB Local.
//!
//! Each request is answered according to a seeded schedule: forwarded as it is, or answered by
//! the proxy with an error in the service's own wire format, or broken (connection reset before
//! or after the server saw it, a body cut off mid-stream), or delayed. DynamoDB faults apply to
//! `BatchWriteItem` only, S3 faults to `GetObject` only; every other request is forwarded.
//!
//! One request per client connection (the proxy answers with `Connection: close`), so a fault
//! never leaks into the next request. The proxy runs on its own thread and tokio runtime, like
//! the Runtime API emulator, and counts what it did per fault for the tests' assertions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy may do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Forward it untouched.
    Pass,
    /// Forward it after 20–250 ms.
    Latency,
    /// Reset the connection after reading the request: the server never sees it.
    ResetBefore,
    /// Forward it, then reset the connection instead of answering: the server did the work,
    /// the client cannot know.
    ResetAfter,
    /// DynamoDB: HTTP 400 `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// DynamoDB: HTTP 400 `ThrottlingException`.
    Throttling,
    /// DynamoDB: HTTP 500 `InternalServerError`.
    Http500,
    /// DynamoDB: HTTP 503 `ServiceUnavailableException`.
    Http503,
    /// DynamoDB: forward a random part of the batch (possibly none of it) and answer the rest
    /// as `UnprocessedItems`, in the real response shape.
    Unprocessed,
    /// S3: HTTP 404 `NoSuchKey`.
    NoSuchKey,
    /// S3: HTTP 403 `AccessDenied`.
    AccessDenied,
    /// S3: HTTP 503 `SlowDown`.
    SlowDown,
    /// S3: forward, then send the headers and only part of the body, and close.
    CutBody,
    /// S3: forward, then send the headers and part of the body, and nothing more for a minute.
    StallBody,
}

/// A schedule: each targeted request gets one fault, drawn with these weights (the rest of
/// the weight up to `total` is [`Fault::Pass`]).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// `(fault, weight)`.
    pub weights: Vec<(Fault, u32)>,
    /// The whole weight; `Pass` gets what the faults leave of it.
    pub total: u32,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Each fault with `percent` percent of the requests (the rest pass).
    pub fn each(percent: u32, faults: &[Fault]) -> Self {
        Self {
            weights: faults.iter().map(|f| (*f, percent)).collect(),
            total: 100,
        }
    }

    /// Every targeted request gets `fault`.
    pub fn always(fault: Fault) -> Self {
        Self {
            weights: vec![(fault, 1)],
            total: 1,
        }
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> Fault {
        let sum: u32 = self.weights.iter().map(|(_, w)| w).sum();
        let total = self.total.max(sum);
        if total == 0 {
            return Fault::Pass;
        }
        let mut pick = rng.u32(0..total);
        for (fault, weight) in &self.weights {
            if pick < *weight {
                return *fault;
            }
            pick -= weight;
        }
        Fault::Pass
    }
}

/// Which server the proxy stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    DynamoDb,
}

struct State {
    service: Service,
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    rng: Mutex<fastrand::Rng>,
    /// How many targeted requests got each fault.
    tally: Mutex<BTreeMap<Fault, u32>>,
    /// Things that went wrong in the proxy itself (a test fails on them).
    problems: Mutex<Vec<String>>,
    /// A partition key held to a write rate, as DynamoDB holds a hot partition.
    hot: Mutex<Option<HotPartition>>,
}

/// One partition key (`groupName`) that takes at most `per_second` items a second; the rest of
/// each BatchWriteItem for it comes back as `UnprocessedItems`, or the whole call as a
/// `ThrottlingException` when nothing of it could be taken (DynamoDB's answers for a throttled
/// partition). Other keys pass.
struct HotPartition {
    key: String,
    per_second: u32,
    window: std::time::Instant,
    taken: u32,
    /// Items of the key turned back so far.
    throttled: u32,
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`, the endpoint to give the binaries.
    pub endpoint: String,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (an `http://127.0.0.1:PORT` endpoint) with the
    /// schedule `faults` seeded by `seed`.
    pub fn start(service: Service, upstream: &str, faults: Faults, seed: u64) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("upstream {upstream} is not host:port: {e}"));
        let state = Arc::new(State {
            service,
            upstream,
            faults: Mutex::new(faults),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            tally: Mutex::new(BTreeMap::new()),
            problems: Mutex::new(Vec::new()),
            hot: Mutex::new(None),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let (tx, rx) = oneshot::channel::<()>();
        let shared = state.clone();
        std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        () = accept_loop(listener, shared) => {}
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn the proxy thread");
        Proxy {
            endpoint: format!("http://{addr}"),
            state,
            shutdown: Some(tx),
        }
    }

    /// From now on, every request passes (the outage is over).
    pub fn heal(&self) {
        *self.state.faults.lock().expect("lock") = Faults::none();
        *self.state.hot.lock().expect("lock") = None;
    }

    /// From now on, the partition key `key` takes at most `per_second` items a second (see
    /// [`HotPartition`]); every other fault schedule is set aside.
    pub fn throttle_partition(&self, key: &str, per_second: u32) {
        *self.state.hot.lock().expect("lock") = Some(HotPartition {
            key: key.to_owned(),
            per_second,
            window: std::time::Instant::now(),
            taken: 0,
            throttled: 0,
        });
    }

    /// Items of the hot partition turned back so far.
    pub fn throttled_items(&self) -> u32 {
        self.state
            .hot
            .lock()
            .expect("lock")
            .as_ref()
            .map_or(0, |h| h.throttled)
    }

    /// How many targeted requests got each fault so far (`Pass` included).
    pub fn tally(&self) -> BTreeMap<Fault, u32> {
        self.state.tally.lock().expect("lock").clone()
    }

    /// Targeted requests seen so far.
    pub fn requests(&self) -> u32 {
        self.tally().values().sum()
    }

    /// Panics if the proxy itself ran into trouble (a request it could not parse, an upstream
    /// it could not reach): the test would otherwise measure the proxy, not the function.
    pub fn assert_healthy(&self) {
        let problems = self.state.problems.lock().expect("lock");
        assert!(
            problems.is_empty(),
            "the fault proxy had problems: {problems:#?}"
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(client, &state).await {
                // A client that hangs up is its business; anything else is ours.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::UnexpectedEof
                ) {
                    state
                        .problems
                        .lock()
                        .expect("lock")
                        .push(format!("proxy error: {e}"));
                }
            }
        });
    }
}

/// An HTTP/1.1 message: its head (start line and headers, without the blank line) and body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head with `Connection: close` and, when `length` is given, that Content-Length
    /// (the framing headers of the original are dropped then, and a stale checksum with them).
    fn head(&self, length: Option<usize>) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            let k_lower = k.to_ascii_lowercase();
            if k_lower == "connection" || k_lower == "keep-alive" {
                continue;
            }
            if length.is_some()
                && matches!(
                    k_lower.as_str(),
                    "content-length" | "transfer-encoding" | "x-amz-crc32"
                )
            {
                continue;
            }
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(n) = length {
            out.push_str(&format!("Content-Length: {n}\r\n"));
        }
        out.push_str("Connection: close\r\n\r\n");
        out.into_bytes()
    }
}

/// Reads the head of a message; `None` when the peer closed before sending anything.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<(String, String)>)>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let start = lines.next().unwrap_or_default().to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Ok(Some((start, headers)));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads a body framed by Content-Length, by chunked encoding (kept encoded: it is passed on
/// as it came), or by the end of the connection.
async fn read_body(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    headers: &[(String, String)],
    is_request: bool,
) -> std::io::Result<Vec<u8>> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut chunk = [0u8; 65536];
    if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad Content-Length {len}")))?;
        while buf.len() < len {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.truncate(len);
        return Ok(buf);
    }
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        // Until the last chunk and its empty trailer.
        while !buf.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok(buf);
    }
    if is_request {
        return Ok(buf);
    }
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Message>> {
    let mut buf = Vec::new();
    let Some((start, headers)) = read_head(stream, &mut buf).await? else {
        return Ok(None);
    };
    let body = read_body(stream, buf, &headers, true).await?;
    Ok(Some(Message {
        start,
        headers,
        body,
    }))
}

/// Sends `request` to the server and reads its whole answer.
async fn forward(state: &State, request: &Message, body: &[u8]) -> std::io::Result<Message> {
    let mut upstream = TcpStream::connect(state.upstream).await?;
    let chunked_request = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let head = if chunked_request {
        request.head(None)
    } else {
        request.head(Some(body.len()))
    };
    upstream.write_all(&head).await?;
    upstream.write_all(body).await?;
    let mut buf = Vec::new();
    let (start, headers) = read_head(&mut upstream, &mut buf)
        .await?
        .ok_or_else(|| std::io::Error::other("the server closed without answering"))?;
    let body = read_body(&mut upstream, buf, &headers, false).await?;
    Ok(Message {
        start,
        headers,
        body,
    })
}

/// Closes `stream` with a TCP reset rather than a clean close (`SO_LINGER` 0: nothing blocks).
fn reset(stream: TcpStream) {
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn respond(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: FAULTPROXY{status}\r\nx-amz-request-id: FAULTPROXY{status}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A DynamoDB error response, as the service sends it.
fn dynamodb_error(status: u16, reason: &str, type_: &str, message: &str) -> Vec<u8> {
    let body = json!({ "__type": type_, "message": message }).to_string();
    respond(
        status,
        reason,
        "application/x-amz-json-1.0",
        body.as_bytes(),
    )
}

/// An S3 error response, as the service sends it.
fn s3_error(status: u16, reason: &str, code: &str, message: &str, resource: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <Resource>{resource}</Resource><RequestId>FAULTPROXY{status}</RequestId>\
         <HostId>ZmF1bHQtcHJveHk=</HostId></Error>"
    );
    respond(status, reason, "application/xml", body.as_bytes())
}

fn targeted(state: &State, request: &Message) -> bool {
    match state.service {
        Service::DynamoDb => request
            .header("x-amz-target")
            .is_some_and(|t| t.ends_with(".BatchWriteItem")),
        Service::S3 => {
            request.start.starts_with("GET ")
                && !request.start.contains(" /moto-api")
                && request.start.split(' ').nth(1).is_some_and(|path| {
                    // A GetObject is a GET of /bucket/key (path style), not of a bucket.
                    path.trim_start_matches('/').contains('/')
                })
        }
    }
}

async fn handle(mut client: TcpStream, state: &State) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await? else {
        return Ok(());
    };
    if targeted(state, &request) && state.hot.lock().expect("lock").is_some() {
        let answer = hot_partition(state, &request).await?;
        client.write_all(&answer).await?;
        client.flush().await?;
        return Ok(());
    }
    let fault = if targeted(state, &request) {
        let faults = state.faults.lock().expect("lock").clone();
        let fault = faults.draw(&mut state.rng.lock().expect("lock"));
        *state.tally.lock().expect("lock").entry(fault).or_default() += 1;
        fault
    } else {
        Fault::Pass
    };
    let resource = request.start.split(' ').nth(1).unwrap_or("/").to_owned();
    let answer: Vec<u8> = match fault {
        Fault::Pass => whole(&forward(state, &request, &request.body).await?),
        Fault::Latency => {
            let ms = state.rng.lock().expect("lock").u64(20..250);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            whole(&forward(state, &request, &request.body).await?)
        }
        Fault::ResetBefore => {
            reset(client);
            return Ok(());
        }
        Fault::ResetAfter => {
            forward(state, &request, &request.body).await?;
            reset(client);
            return Ok(());
        }
        Fault::ProvisionedThroughputExceeded => dynamodb_error(
            400,
            "Bad Request",
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Fault::Throttling => dynamodb_error(
            400,
            "Bad Request",
            "com.amazon.coral.availability#ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Fault::Http500 => dynamodb_error(
            500,
            "Internal Server Error",
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "Internal server error",
        ),
        Fault::Http503 => dynamodb_error(
            503,
            "Service Unavailable",
            "com.amazon.coral.availability#ServiceUnavailableException",
            "Service Unavailable",
        ),
        Fault::Unprocessed => unprocessed(state, &request).await?,
        Fault::NoSuchKey => s3_error(
            404,
            "Not Found",
            "NoSuchKey",
            "The specified key does not exist.",
            &resource,
        ),
        Fault::AccessDenied => {
            s3_error(403, "Forbidden", "AccessDenied", "Access Denied", &resource)
        }
        Fault::SlowDown => s3_error(
            503,
            "Slow Down",
            "SlowDown",
            "Please reduce your request rate.",
            &resource,
        ),
        Fault::StallBody => {
            let response = forward(state, &request, &request.body).await?;
            let mut partial = response.head(None);
            partial.extend_from_slice(&response.body[..response.body.len() / 2]);
            client.write_all(&partial).await?;
            client.flush().await?;
            tokio::time::sleep(Duration::from_secs(60)).await;
            return Ok(());
        }
        Fault::CutBody => {
            let response = forward(state, &request, &request.body).await?;
            let keep = if response.body.len() > 1 {
                state
                    .rng
                    .lock()
                    .expect("lock")
                    .usize(1..response.body.len())
            } else {
                0
            };
            // The original Content-Length, then less than that: the client sees the body end early.
            let mut partial = response.head(None);
            partial.extend_from_slice(&response.body[..keep]);
            client.write_all(&partial).await?;
            client.flush().await?;
            return Ok(());
        }
    };
    client.write_all(&answer).await?;
    client.flush().await?;
    Ok(())
}

/// A forwarded response as it came (framing kept), with `Connection: close`.
fn whole(response: &Message) -> Vec<u8> {
    let mut out = response.head(None);
    out.extend_from_slice(&response.body);
    out
}

/// Whether the hot partition takes one more item of `key` now (counting it either way).
fn hot_takes(state: &State, key: Option<&str>) -> bool {
    let mut hot = state.hot.lock().expect("lock");
    let Some(hot) = hot.as_mut() else {
        return true;
    };
    if key != Some(hot.key.as_str()) {
        return true;
    }
    if hot.window.elapsed() >= Duration::from_secs(1) {
        hot.window = std::time::Instant::now();
        hot.taken = 0;
    }
    if hot.taken < hot.per_second {
        hot.taken += 1;
        true
    } else {
        hot.throttled += 1;
        false
    }
}

/// A BatchWriteItem under a hot partition: its items beyond the key's rate come back as
/// `UnprocessedItems`; a call none of whose items can be taken is a `ThrottlingException`.
async fn hot_partition(state: &State, request: &Message) -> std::io::Result<Vec<u8>> {
    let mut body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| std::io::Error::other(format!("BatchWriteItem body is not JSON: {e}")))?;
    let Some(tables) = body.get_mut("RequestItems").and_then(Value::as_object_mut) else {
        return Err(std::io::Error::other("BatchWriteItem without RequestItems"));
    };
    let mut withheld = serde_json::Map::new();
    for (table, requests) in tables.iter_mut() {
        let Some(list) = requests.as_array_mut() else {
            continue;
        };
        let (kept, out): (Vec<Value>, Vec<Value>) = list
            .drain(..)
            .partition(|r| hot_takes(state, r["PutRequest"]["Item"]["groupName"]["S"].as_str()));
        *list = kept;
        if !out.is_empty() {
            withheld.insert(table.clone(), Value::Array(out));
        }
    }
    tables.retain(|_, v| v.as_array().is_some_and(|a| !a.is_empty()));
    if tables.is_empty() {
        return Ok(dynamodb_error(
            400,
            "Bad Request",
            "com.amazon.coral.availability#ThrottlingException",
            "Throughput exceeds the current capacity for one or more global secondary indexes \
             or partitions. DynamoDB is automatically scaling your table.",
        ));
    }
    forward_withholding(state, request, &body, withheld).await
}

/// Forwards part of a BatchWriteItem and answers the rest as `UnprocessedItems`.
async fn unprocessed(state: &State, request: &Message) -> std::io::Result<Vec<u8>> {
    let mut body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| std::io::Error::other(format!("BatchWriteItem body is not JSON: {e}")))?;
    let Some(tables) = body.get_mut("RequestItems").and_then(Value::as_object_mut) else {
        return Err(std::io::Error::other("BatchWriteItem without RequestItems"));
    };
    let mut withheld = serde_json::Map::new();
    {
        let mut rng = state.rng.lock().expect("lock");
        for (table, requests) in tables.iter_mut() {
            let Some(list) = requests.as_array_mut() else {
                continue;
            };
            let n = list.len();
            // Withhold between one and all of them.
            let count = rng.usize(1..=n.max(1)).min(n);
            let mut positions: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut positions);
            let mut held: Vec<usize> = positions.into_iter().take(count).collect();
            held.sort_unstable();
            let mut kept = Vec::new();
            let mut out = Vec::new();
            for (i, r) in list.drain(..).enumerate() {
                if held.binary_search(&i).is_ok() {
                    out.push(r);
                } else {
                    kept.push(r);
                }
            }
            *list = kept;
            withheld.insert(table.clone(), Value::Array(out));
        }
        tables.retain(|_, v| v.as_array().is_some_and(|a| !a.is_empty()));
    }
    forward_withholding(state, request, &body, withheld).await
}

/// Forwards `body` (a BatchWriteItem, what is left of it) and answers with the server's
/// `UnprocessedItems` plus the `withheld` requests.
async fn forward_withholding(
    state: &State,
    request: &Message,
    body: &Value,
    withheld: serde_json::Map<String, Value>,
) -> std::io::Result<Vec<u8>> {
    let empty = body["RequestItems"]
        .as_object()
        .is_none_or(serde_json::Map::is_empty);
    let mut answer = if empty {
        json!({ "UnprocessedItems": {} })
    } else {
        let text = body.to_string();
        let response = forward(state, request, text.as_bytes()).await?;
        let status_ok = response.start.split(' ').nth(1) == Some("200");
        if !status_ok {
            // The server refused the rest: pass its answer on as it is.
            return Ok(whole(&response));
        }
        serde_json::from_slice(&dechunk(&response))
            .map_err(|e| std::io::Error::other(format!("BatchWriteItem answer is not JSON: {e}")))?
    };
    let unprocessed = answer.as_object_mut().map_or_else(
        || json!({}),
        |o| {
            o.entry("UnprocessedItems")
                .or_insert_with(|| json!({}))
                .clone()
        },
    );
    let mut merged = unprocessed.as_object().cloned().unwrap_or_default();
    for (table, items) in withheld {
        let entry = merged.entry(table).or_insert_with(|| json!([]));
        if let (Some(list), Value::Array(items)) = (entry.as_array_mut(), items) {
            list.extend(items);
        }
    }
    answer["UnprocessedItems"] = Value::Object(merged);
    let text = answer.to_string();
    Ok(respond(
        200,
        "OK",
        "application/x-amz-json-1.0",
        text.as_bytes(),
    ))
}

/// The body of a response, decoded if it was chunked.
fn dechunk(response: &Message) -> Vec<u8> {
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if !chunked {
        return response.body.clone();
    }
    let mut out = Vec::new();
    let mut rest = response.body.as_slice();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}
