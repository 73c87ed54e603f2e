//! Serving: s3s on hyper, over plain TCP or TLS (`tls.rs`), one tracing span per request,
//! graceful shutdown; the web console (`console/`) on a listener of its own, with the
//! same connection limits, TLS and S3 service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use fastgate_cluster::ClusterChunks;
use fastgate_model::Store;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tracing::Instrument as _;

use crate::admin::AdminRoute;
use crate::auth::Users;
use crate::config::Settings;
use crate::connection::{AcceptBackoff, Activity, BusyBody};
use crate::console::{Console, Route};
use crate::metrics::Metrics;
use crate::s3::Gateway;
use crate::tls::{CertStore, Stream};

/// Runs the server on `settings.listen` until SIGINT or SIGTERM, then drains open
/// connections (10 s at most). What `fastgate serve` does.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    serve_on(settings, listener, shutdown_signal()).await
}

/// A server running on a task of the caller's runtime, as tests start one in-process.
pub struct Running {
    /// The address it accepts connections on (the port the listener got).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, drains open connections and returns how serving ended.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("server task")?
    }
}

impl Drop for Running {
    /// A handle dropped without [`Running::shutdown`] still stops its server.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts serving `settings` on `listener` in a task of the current runtime and returns
/// once the store is open and connections are accepted. Bind `127.0.0.1:0` for a free
/// port; [`Running::addr`] says which one. The background tasks (garbage collection,
/// upload expiry) live as long as the runtime.
pub async fn start(settings: Settings, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        serve_ready(settings, listener, shutdown, Some(ready_tx)).await
    });
    if ready.await.is_err() {
        // The task ended before it was ready: its result says why.
        task.await.context("server task")??;
        anyhow::bail!("the server stopped before it was ready");
    }
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Serves `settings` on `listener` until `shutdown` completes, then drains open
/// connections (10 s at most).
pub async fn serve_on(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_ready(settings, listener, shutdown, None).await
}

async fn serve_ready(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let (store, cluster) = open_store(&settings)?;
    let metrics = Arc::new(Metrics::default());

    // Preflights and the CORS headers of every answer are decided here, around s3s: a
    // preflight carries no credentials, and error answers need the headers as well.
    let cors = Arc::new(crate::s3::cors::Cors::new(store.clone(), &settings.domains)?);
    let mut builder = S3ServiceBuilder::new(Gateway::new(store.clone(), metrics.clone(), &settings));
    let mut cfg = s3s::config::S3Config::default();
    // aws cli v1 presign and boto3 without `s3v4` still produce SigV2.
    cfg.enable_sig_v2 = true;
    cfg.put_object_max_size = Some(settings.max_object_size.max(5 << 30));
    // A form upload's file is refused (EntityTooLarge) before it is read past this.
    cfg.post_object_max_file_size = settings.max_object_size;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(cfg))));
    let users = Arc::new(crate::user_admin::UserAdmin::new(store.clone(), &settings));
    users.check_seal()?;
    builder.set_auth(Users::new(&settings.root, &settings.users, store.clone()));
    builder.set_access(crate::auth::Identities::new(
        &settings.root,
        &settings.users,
        store.clone(),
    ));
    builder.set_route(AdminRoute {
        store: store.clone(),
        metrics: metrics.clone(),
        root_access_key: settings.root.access_key.clone(),
        cluster: cluster.clone(),
        users,
        cluster_secret: settings.cluster.as_ref().map(|c| c.secret.clone()),
    });
    if let Some(c) = &cluster {
        tokio::spawn(crate::admin::follow_registered_nodes(Arc::downgrade(&store), c.clone()));
    }
    if !settings.domains.is_empty() {
        let host = s3s::host::MultiDomain::new(&settings.domains).map_err(|e| anyhow::anyhow!("bad domain: {e}"))?;
        builder.set_host(host);
    }
    let service = builder.build();

    crate::housekeeping::spawn(
        store.clone(),
        metrics.clone(),
        settings.gc_interval,
        settings.upload_check_interval,
        settings.upload_expiry,
    );

    let addr: SocketAddr = listener.local_addr()?;
    let metrics_listener = match &settings.metrics_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("binding the metrics listener {a} (\"off\" disables it)"))?,
        ),
        None => None,
    };
    let console_listener = match &settings.console_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("binding the console listener {a} (\"off\" disables it)"))?,
        ),
        None => None,
    };
    // Loaded before anything is announced: a server that cannot read its certificate
    // must not look started.
    let certs = match &settings.tls {
        Some(files) => Some(CertStore::load(files.clone()).context("loading the TLS certificate")?),
        None => None,
    };
    let tls = certs.as_ref().map(CertStore::acceptor).transpose()?;
    #[cfg(unix)]
    crate::tls::reload_on_sighup(certs).context("listening for SIGHUP")?;
    // Scripts and the tests read the address from this line.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("fastgate listening on {scheme}://{addr}");
    println!("  data dir:   {}", settings.data_dir.display());
    println!("  metadata:   {}", settings.storage.meta_engine);
    if let Some(c) = &settings.cluster {
        let nodes: usize = c.groups.iter().map(|g| g.nodes.len()).sum();
        println!("  cluster:    {} groups, {nodes} storage nodes", c.groups.len());
    }
    match &console_listener {
        Some(l) => println!("  console:    {scheme}://{}/", l.local_addr()?),
        None => println!("  console:    off"),
    }
    match &metrics_listener {
        Some(l) => println!("  metrics:    http://{}/metrics", l.local_addr()?),
        None => println!("  metrics:    off"),
    }
    println!("  access key: {}", settings.root.access_key);
    if settings.generated_root {
        println!("  secret key: {}", settings.root.secret_key);
        println!("  (generated; set FASTGATE_ACCESS_KEY and FASTGATE_SECRET_KEY to choose your own)");
    }

    if let Some(l) = metrics_listener {
        tokio::spawn(crate::admin::serve_metrics(
            l,
            store.clone(),
            metrics.clone(),
            cluster.clone(),
        ));
    }
    let limits = &settings.connections;
    let mut http = ConnBuilder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let accepting = Accepting {
        http,
        tls,
        graceful: &graceful,
        // The handshake is the TLS part of "sending the headers": bounded alike.
        handshake_timeout: Duration::from_secs(limits.header_read_timeout_secs.max(1)),
        idle: Duration::from_secs(limits.idle_timeout_secs.max(1)),
        service,
        ids: Arc::new(AtomicU64::new(0)),
        metrics,
        cors,
    };
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let console = async {
        if let Some(l) = console_listener {
            let front = Front::Console(Arc::new(Console::new(&settings.region)));
            let slots = Arc::new(tokio::sync::Semaphore::new(CONSOLE_CONNECTIONS));
            accepting.accept_loop(l, front, slots, shutdown.clone()).await;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::join!(
        accepting.accept_loop(listener, Front::S3, slots, shutdown.clone()),
        console
    );
    drop(accepting);
    println!("fastgate shutting down");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => tracing::warn!("connections still open after 10s"),
    }
    Ok(())
}

/// What a listener answers: the S3 API, or the web console (its page, and `/s3/...`
/// forwarded to the same S3 service).
#[derive(Clone)]
enum Front {
    S3,
    Console(Arc<Console>),
}

/// Connections the console serves at once: it is a page for people, and its budget is
/// its own (a loop holds one slot while it waits for a connection, so two loops sharing
/// `max_connections` would each keep one of them idle).
const CONSOLE_CONNECTIONS: usize = 64;

/// What every listener of the server shares: timeouts, TLS, the S3 service.
struct Accepting<'a> {
    http: ConnBuilder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    graceful: &'a hyper_util::server::graceful::GracefulShutdown,
    handshake_timeout: Duration,
    idle: Duration,
    service: S3Service,
    ids: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
    cors: Arc<crate::s3::cors::Cors>,
}

impl Accepting<'_> {
    /// Accepts connections on `listener` until `shutdown`, each served on a task of its
    /// own, at most as many at once as `slots` has permits.
    async fn accept_loop(
        &self,
        listener: TcpListener,
        front: Front,
        slots: Arc<tokio::sync::Semaphore>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut backoff = AcceptBackoff::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // A free slot first: past the limit, clients wait in the listen backlog.
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                res = listener.accept() => match res {
                    Ok(x) => x,
                    Err(e) => {
                        backoff.wait(&e).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            backoff.reset();
            let _ = stream.set_nodelay(true);
            let svc = self.service.clone();
            let (ids, metrics, front) = (self.ids.clone(), self.metrics.clone(), front.clone());
            let cors = self.cors.clone();
            let (http, watcher, tls) = (self.http.clone(), self.graceful.watcher(), self.tls.clone());
            let (handshake_timeout, idle) = (self.handshake_timeout, self.idle);
            // Its own task from here: a slow or stalled handshake must not hold up accepts.
            tokio::spawn(async move {
                let stream = match tls {
                    None => Stream::Plain(stream),
                    Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    },
                };
                let transport = stream.transport();
                let activity = Activity::new();
                let conn_activity = activity.clone();
                let per_request = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let busy = activity.begin();
                    req.extensions_mut().insert(transport);
                    req.extensions_mut().insert(crate::s3::ClientAddr(peer));
                    let (svc, ids, metrics, front) = (svc.clone(), ids.clone(), metrics.clone(), front.clone());
                    let cors = cors.clone();
                    async move {
                        let resp = match front {
                            Front::S3 => call_s3(&svc, &ids, &metrics, &cors, req, peer).await?,
                            Front::Console(console) => match console.route(req) {
                                Route::Page(resp) => resp,
                                Route::S3(req) => {
                                    console.secure(call_s3(&svc, &ids, &metrics, &cors, req, peer).await?)
                                }
                            },
                        };
                        Ok::<_, s3s::HttpError>(resp.map(|b| BusyBody::new(b, busy)))
                    }
                });
                let conn = http.serve_connection(TokioIo::new(stream), per_request).into_owned();
                let conn = watcher.watch(conn);
                crate::connection::serve_until_idle(conn, conn_activity, idle).await;
                drop(slot);
            });
        }
    }
}

/// One S3 request through the service, in a tracing span of its own, with its request id.
async fn call_s3(
    svc: &S3Service,
    ids: &AtomicU64,
    metrics: &Metrics,
    cors: &crate::s3::cors::Cors,
    req: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
    let id = ids.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{id:016X}");
    metrics.requests.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), uri = %req.uri(), %peer);
    async move {
        let mut resp = if let Some(preflight) = cors.preflight(&req).await {
            preflight
        } else {
            let allow = cors.actual(&req).await;
            let form = crate::s3::post::is_form_upload(&req);
            let mut req = crate::s3::raw_body::split(req);
            if form {
                req = crate::s3::post::tap(req);
            }
            let check = req.extensions().get::<crate::s3::raw_body::PayloadCheck>().cloned();
            let mut resp = svc.call(req).await?;
            if let Some(check) = check {
                resp = check.correct(resp);
            }
            if form {
                resp = crate::s3::post::Refusal::correct(resp);
            }
            if let Some(allow) = allow {
                resp.headers_mut().extend(allow);
            }
            resp
        };
        if let Ok(v) = http::HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amz-request-id", v);
        }
        resp = crate::s3::with_request_id(resp, &request_id);
        tracing::debug!(status = %resp.status(), "response");
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// The store over this machine's store paths, or over the storage nodes of
/// `[cluster]` (then also the cluster's chunk layer, for `admin cluster`).
fn open_store(settings: &Settings) -> anyhow::Result<(Arc<Store>, Option<Arc<ClusterChunks>>)> {
    let Some(c) = &settings.cluster else {
        return Ok((Store::open(&settings.storage).context("opening the store")?, None));
    };
    let meta = fastgate_model::meta::open_at(
        settings.storage.meta_engine,
        &settings.storage.meta_dir,
        settings.storage.meta_url.as_deref(),
    )
    .context("opening the metadata")?;
    let chunks = ClusterChunks::start(c, settings.storage.chunks.placement.clone()).context("starting the cluster")?;
    let store = Store::with_layers(&settings.storage, meta, chunks.clone()).context("opening the store")?;
    // A repaired node holds what it was owed. Weak: the store owns the chunk layer.
    let owner = Arc::downgrade(&store);
    chunks.on_repaired(Box::new(move |group, node| {
        let Some(store) = owner.upgrade() else { return };
        tokio::spawn(async move {
            match store.settle_owed(group, node).await {
                Ok(n) if n > 0 => tracing::info!(group, node, settled = n, "owed copies settled by repair"),
                Ok(_) => {}
                Err(e) => tracing::warn!(group, node, error = %e, "owed copies not settled"),
            }
        });
    }));
    Ok((store, Some(chunks)))
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
