//! A small Lambda Runtime API emulator (axum on 127.0.0.1:0) that drives the REAL `bootstrap`
//! binary, the way the Lambda service does: the binary long-polls `invocation/next`, and answers
//! with `invocation/{id}/response` or `invocation/{id}/error` (or `init/error`).
//!
//! The server runs on its own thread and tokio runtime, so a `Lambda` can be used from any test
//! runtime; the child's stdout and stderr are captured for assertions on log lines.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::stack;

/// How long one invocation may take before the test fails.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
/// The function ARN handed to the binary.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:asg-trail-it";

type Outcome = Result<Value, Value>;

struct Queued {
    id: String,
    event: Value,
    /// Time the function gets (`Lambda-Runtime-Deadline-Ms` is now plus this).
    budget: Duration,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    /// Every request the binary made, e.g. "GET /2018-06-01/runtime/invocation/next".
    requests: Mutex<Vec<String>>,
}

/// A running bootstrap binary attached to its own Runtime API emulator.
pub struct Lambda {
    shared: Arc<Shared>,
    queue_tx: mpsc::UnboundedSender<Queued>,
    child: Mutex<Child>,
    logs: Arc<Mutex<String>>,
    shutdown: Option<oneshot::Sender<()>>,
    seq: AtomicU64,
    /// Address of the emulator (the value of `AWS_LAMBDA_RUNTIME_API`).
    #[allow(dead_code)] // for tests that talk to the emulator directly
    pub addr: SocketAddr,
}

impl Lambda {
    /// Starts the emulator and the real bootstrap binary with `TABLE_NAME=table`.
    pub fn start(table: &str) -> Lambda {
        Self::start_with_env(table, &[])
    }

    /// Like [`Lambda::start`], with extra (or overriding) env vars for the binary.
    pub fn start_with_env(table: &str, extra_env: &[(&str, &str)]) -> Lambda {
        let env = stack::env_for_binaries();
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
        });
        let (addr, shutdown) = serve(shared.clone());

        let bin = env!("CARGO_BIN_EXE_bootstrap");
        let mut cmd = Command::new(bin);
        for k in stack::env_to_clear() {
            cmd.env_remove(k);
        }
        cmd.envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "asg-trail-it")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2024/03/05/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/asg-trail-it")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("NO_COLOR", "1")
            .env("TABLE_NAME", table)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the bootstrap binary {bin}: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            capture(out, logs.clone());
        }
        if let Some(err) = child.stderr.take() {
            capture(err, logs.clone());
        }
        Lambda {
            shared,
            queue_tx,
            child: Mutex::new(child),
            logs,
            shutdown: Some(shutdown),
            seq: AtomicU64::new(1),
            addr,
        }
    }

    /// Invokes the function with `event`; `Ok(response)` or `Err(error body)` as the binary
    /// reported it. Panics (with the binary's logs) on timeout, init error or a dead binary.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.invoke_with_budget(event, Duration::from_secs(300))
            .await
    }

    /// [`Lambda::invoke`] with the function's time limit (the deadline it is handed).
    pub async fn invoke_with_budget(&self, event: Value, budget: Duration) -> Outcome {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("8f5a6f0e-1c2b-4d3e-9f00-{n:012x}");
        let (reply, mut rx) = oneshot::channel();
        self.queue_tx
            .send(Queued {
                id: id.clone(),
                event,
                budget,
                reply,
            })
            .expect("emulator queue closed");
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                r = &mut rx => return r.unwrap_or_else(|_| self.fail(&format!("invocation {id} was dropped by the emulator"))),
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            if let Some(e) = self.shared.init_error.lock().expect("lock").clone() {
                self.fail(&format!("the binary reported an init error: {e}"));
            }
            let exited = self.child.lock().expect("lock").try_wait().ok().flatten();
            if let Some(status) = exited {
                // A response may have been posted just before the exit.
                if let Ok(r) = rx.try_recv() {
                    return r;
                }
                self.fail(&format!(
                    "the bootstrap binary exited ({status}) during invocation {id}"
                ));
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "invocation {id} got no response within {INVOKE_TIMEOUT:?}"
                ));
            }
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\nRuntime API requests: {:#?}\n--- bootstrap output ---\n{}\n--- end ---",
            self.shared.requests.lock().expect("lock"),
            self.logs()
        )
    }

    /// Everything the binary wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("lock").clone()
    }

    /// Waits (up to 10 s) until the output holds a line for which `pred` is true; returns it.
    pub async fn wait_for_log_line(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.logs().lines().find(|l| pred(l)) {
                return l.to_owned();
            }
            if Instant::now() > deadline {
                self.fail("no matching log line within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The binary's peak resident memory so far (`VmHWM`), in KiB.
    #[allow(dead_code)] // for the memory assertions of the fault tests
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.lock().expect("lock").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
    }

    /// The Runtime API requests the binary made so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

fn capture(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = Vec::new();
        while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            into.lock()
                .expect("lock")
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
}

/// Starts the emulator on its own thread; returns its address and a shutdown trigger.
fn serve(shared: Arc<Shared>) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind emulator");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local_addr");
    let (tx, rx) = oneshot::channel::<()>();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(fallback)
        .with_state(shared);
    std::thread::Builder::new()
        .name(format!("runtime-api-{}", addr.port()))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("emulator runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    r = axum::serve(listener, app) => r.expect("emulator server"),
                    _ = rx => {}
                }
            });
        })
        .expect("spawn emulator thread");
    (addr, tx)
}

fn log_request(s: &Shared, what: String) {
    s.requests.lock().expect("lock").push(what);
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    log_request(&s, "GET /2018-06-01/runtime/invocation/next".into());
    let q = {
        let mut rx = s.queue_rx.lock().await;
        rx.recv().await
    };
    let Some(q) = q else {
        return StatusCode::GONE.into_response();
    };
    s.pending
        .lock()
        .expect("lock")
        .insert(q.id.clone(), q.reply);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let deadline = now_ms + q.budget.as_millis();
    let mut h = HeaderMap::new();
    let hv = |v: String| HeaderValue::from_str(&v).expect("header value");
    h.insert("Lambda-Runtime-Aws-Request-Id", hv(q.id.clone()));
    h.insert("Lambda-Runtime-Deadline-Ms", hv(deadline.to_string()));
    h.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        hv(FUNCTION_ARN.to_owned()),
    );
    h.insert(
        "Lambda-Runtime-Trace-Id",
        hv(format!(
            "Root=1-{:08x}-{:024x};Parent=53995c3f42cd8ad8;Sampled=0",
            now_ms / 1000,
            now_ms
        )),
    );
    h.insert("Content-Type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, h, q.event.to_string()).into_response()
}

fn body_json(b: &Bytes) -> Value {
    if b.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(b)
        .unwrap_or_else(|_| json!({ "nonJsonBody": String::from_utf8_lossy(b) }))
}

fn complete(s: &Shared, id: &str, outcome: Outcome) -> Response {
    match s.pending.lock().expect("lock").remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"unknown or already completed request id","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    log_request(
        &s,
        format!("POST /2018-06-01/runtime/invocation/{id}/response"),
    );
    complete(&s, &id, Ok(body_json(&body)))
}

async fn error(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    log_request(
        &s,
        format!("POST /2018-06-01/runtime/invocation/{id}/error"),
    );
    let mut v = body_json(&body);
    if let (Some(obj), Some(t)) = (
        v.as_object_mut(),
        headers.get("lambda-runtime-function-error-type"),
    ) {
        obj.entry("errorTypeHeader")
            .or_insert_with(|| Value::String(t.to_str().unwrap_or_default().to_owned()));
    }
    complete(&s, &id, Err(v))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    log_request(&s, "POST /2018-06-01/runtime/init/error".into());
    *s.init_error.lock().expect("lock") = Some(body_json(&body));
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

async fn fallback(State(s): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    log_request(&s, format!("UNEXPECTED {} {}", req.method(), req.uri()));
    (
        StatusCode::NOT_FOUND,
        "not implemented by the test emulator",
    )
        .into_response()
}
