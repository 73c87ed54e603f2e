//! Settings: a TOML file (sample in `deploy/fastgate.toml`) overlaid by flags and
//! `FASTGATE_*` environment variables, resolved once at start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use fastgate_cluster::ClusterConfig;
use fastgate_model::config::ChunkConfig;
use fastgate_model::config::{GroupConfig, PlacementConfig};
use fastgate_model::encryption::Keyring;
use fastgate_model::{DedupIndex, DedupScope, MetaEngine, StorageConfig};
use serde::Deserialize;

pub use crate::tls::TlsFiles;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub access_key: String,
    pub secret_key: String,
    /// The address ACL grants by email (`emailAddress=`) resolve to this user by.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstantUploadConfig {
    /// Answer PUT/UploadPart from the store before the body is sent, when possible.
    pub enabled: bool,
    /// Who must have stored the content before for a hash to be honoured.
    pub scope: DedupScope,
    /// Let `Content-MD5` alone trigger instant upload (MD5 collisions are cheap: off
    /// by default).
    pub trust_md5: bool,
}

impl Default for InstantUploadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scope: DedupScope::Owner,
            trust_md5: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Seconds an unreferenced chunk is kept before it may be deleted.
    pub grace_period_secs: u64,
    /// Seconds between garbage collection passes.
    pub interval_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            grace_period_secs: 24 * 3600,
            interval_secs: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultipartConfig {
    /// Seconds after which an incomplete upload is aborted (0: never, unless a bucket
    /// lifecycle rule says so).
    pub expire_after_secs: u64,
    /// Seconds between expiry passes.
    pub check_interval_secs: u64,
}

impl Default for MultipartConfig {
    fn default() -> Self {
        Self {
            expire_after_secs: 7 * 24 * 3600,
            check_interval_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Seconds a client has to send a request's headers once it has started them.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection with no request in progress stays open: an idle keep-alive
    /// connection, or one whose client never sends a request. A request in progress
    /// (a long upload or download) is never cut.
    pub idle_timeout_secs: u64,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1000,
        }
    }
}

/// `[tls]`: serve HTTPS with these PEM files (both or neither).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// The private key of the leaf certificate.
    pub key: Option<PathBuf>,
}

/// `[encryption]`: the operator's keys for encryption at rest, and SSE-C's transport.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// A file of keys, `name:base64-of-32-bytes` one a line (MinIO's single-key KMS
    /// format); `FASTGATE_KMS_KEYS` (same format, comma-separated) adds to it. It must
    /// not be under the data dir: the keys never sit next to the data they open.
    pub key_file: Option<PathBuf>,
    /// The key SSE-S3 seals new objects under; default: the first key.
    pub master_key: Option<String>,
    /// Accept SSE-C over plain HTTP (AWS refuses it: the key would cross the network in
    /// the clear). For tests, and behind a proxy that terminates TLS.
    pub allow_sse_c_over_http: bool,
}

/// The keyring of `[encryption]` and `FASTGATE_KMS_KEYS` (empty without either), with a
/// key file under the data dir refused.
fn keyring(enc: &EncryptionConfig, data_dir: &Path) -> anyhow::Result<Keyring> {
    let mut text = String::new();
    if let Some(path) = &enc.key_file {
        let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if abs(path).starts_with(abs(data_dir)) {
            bail!(
                "[encryption] key_file {} is under the data dir {}: keep keys apart from the data they open",
                path.display(),
                data_dir.display()
            );
        }
        text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    }
    if let Ok(env) = std::env::var("FASTGATE_KMS_KEYS") {
        text.push('\n');
        text.push_str(&env);
    }
    Keyring::parse(&text, enc.master_key.as_deref()).map_err(|e| anyhow::anyhow!("encryption keys: {e}"))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// `sled` (default), `fjall` or `postgres`. A data directory keeps the engine it was
    /// created with.
    pub engine: MetaEngine,
    /// The database of the postgres engine, as a `postgres://` URL or libpq's
    /// `key=value` form.
    pub url: Option<String>,
}

/// The TOML file's shape. Every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// Where Prometheus metrics are served without authentication, or `off`.
    pub metrics_listen: Option<String>,
    /// Where the web console is served, or `off`.
    pub console_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub domains: Vec<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub users: Vec<UserConfig>,
    pub groups: Vec<GroupConfig>,
    pub placement: PlacementConfig,
    pub instant_upload: InstantUploadConfig,
    pub gc: GcConfig,
    pub multipart: MultipartConfig,
    pub metadata: MetadataConfig,
    pub connections: ConnectionsConfig,
    pub tls: TlsConfig,
    pub encryption: EncryptionConfig,
    /// Largest single PUT body in bytes (S3: 5 GiB).
    pub max_object_size: Option<u64>,
    /// Large chunks bypass the page cache when written (default on).
    pub direct_writes: Option<bool>,
    /// MiB of body all large uploads together may hold in write buffers (default 16).
    pub write_buffer_mib: Option<u64>,
    /// Storage nodes to keep chunks on instead of this machine's store paths.
    pub cluster: Option<ClusterConfig>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Everything the server runs with, after merging.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: String,
    /// `None` when the metrics listener is off.
    pub metrics_listen: Option<String>,
    /// `None` when the web console is off.
    pub console_listen: Option<String>,
    pub data_dir: PathBuf,
    pub region: String,
    pub domains: Vec<String>,
    pub root: UserConfig,
    /// True when the root credentials were generated (and must be printed).
    pub generated_root: bool,
    pub users: Vec<UserConfig>,
    pub storage: StorageConfig,
    pub instant_upload: InstantUploadConfig,
    pub gc_interval: Duration,
    pub upload_expiry: Option<Duration>,
    pub upload_check_interval: Duration,
    pub max_object_size: u64,
    pub connections: ConnectionsConfig,
    /// HTTPS with these files; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// A gateway over storage nodes (`[cluster]`); this machine's store paths when `None`.
    pub cluster: Option<ClusterConfig>,
    /// SSE-C is accepted over plain HTTP (`[encryption] allow_sse_c_over_http`).
    pub allow_sse_c_over_http: bool,
}

pub struct Overrides {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub console_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub config: Option<PathBuf>,
    pub domains: Vec<String>,
    pub region: Option<String>,
    pub meta_engine: Option<MetaEngine>,
    /// The postgres engine's database, over `[metadata] url`.
    pub meta_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The cluster secret, over `[cluster] secret`.
    pub cluster_secret: Option<String>,
}

/// Loopback, so that only the node itself (or what the operator opens up) can scrape
/// it; 9464 rather than 9100, which node_exporter takes on most hosts.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// Loopback: the console is a page for the people at this machine unless the operator
/// opens it up (and then, preferably, with TLS: the page signs requests with WebCrypto,
/// which browsers offer only on loopback and HTTPS origins). 9001, next to the S3 port's
/// 9000, as MinIO's console.
pub const DEFAULT_CONSOLE_LISTEN: &str = "127.0.0.1:9001";

/// `Some(address)`, or `None` for "off".
fn listener_or_off(addr: String) -> Option<String> {
    Some(addr).filter(|a| !a.trim().eq_ignore_ascii_case("off"))
}

/// A new access key: `FG` and 18 characters of base32, as AWS's are 20 characters.
pub(crate) fn new_access_key() -> String {
    format!("FG{}", random_key(18, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
}

/// A new secret key: 40 alphanumeric characters (238 bits), as AWS's.
pub(crate) fn new_secret_key() -> String {
    random_key(40, b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}

fn random_key(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rand::random_range(0..alphabet.len())]))
        .collect()
}

impl Settings {
    pub fn resolve(o: Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let data_dir = o
            .data_dir
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("fastgate-data"));
        let chunks = chunk_config(&data_dir, &file);
        let access = o.access_key.or(file.access_key);
        let secret = o.secret_key.or(file.secret_key);
        let (root, generated_root) = match (access, secret) {
            (Some(a), Some(s)) => (
                UserConfig {
                    access_key: a,
                    secret_key: s,
                    email: None,
                },
                false,
            ),
            (None, None) => (
                UserConfig {
                    access_key: new_access_key(),
                    secret_key: new_secret_key(),
                    email: None,
                },
                true,
            ),
            _ => bail!("set both the access key and the secret key, or neither"),
        };
        // Each file from the flag, else the file's `[tls]`: a flag may override one of them.
        let tls = match (o.tls_cert.or(file.tls.cert), o.tls_key.or(file.tls.key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!("set both the TLS certificate and its key (--tls-cert, --tls-key or [tls]), or neither"),
        };
        let mut storage = StorageConfig::single(&data_dir);
        storage.chunks = chunks;
        storage.meta_engine = o.meta_engine.unwrap_or(file.metadata.engine);
        storage.meta_url = o.meta_url.filter(|u| !u.is_empty()).or(file.metadata.url);
        if storage.meta_engine == MetaEngine::Postgres && storage.meta_url.is_none() {
            bail!("the postgres metadata engine needs its database: [metadata] url, --meta-url or FASTGATE_META_URL");
        }
        storage.gc_grace = Duration::from_secs(file.gc.grace_period_secs);
        storage.keyring = keyring(&file.encryption, &data_dir)?;
        let mut cluster = file.cluster;
        if let (Some(c), Some(s)) = (&mut cluster, o.cluster_secret.filter(|s| !s.is_empty())) {
            c.secret = s;
        }
        if let Some(c) = &cluster {
            c.validate()?;
        }
        let iu = &file.instant_upload;
        storage.dedup_index = DedupIndex::for_lookups(iu.enabled, iu.scope, iu.trust_md5);
        // An empty FASTGATE_DOMAIN means "no virtual-hosted style", not a bad domain.
        let mut domains: Vec<String> = o.domains.into_iter().filter(|d| !d.trim().is_empty()).collect();
        domains.extend(file.domains);
        Ok(Self {
            listen: o.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:9000".into()),
            metrics_listen: listener_or_off(
                o.metrics_listen
                    .or(file.metrics_listen)
                    .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.into()),
            ),
            console_listen: listener_or_off(
                o.console_listen
                    .or(file.console_listen)
                    .unwrap_or_else(|| DEFAULT_CONSOLE_LISTEN.into()),
            ),
            data_dir,
            region: o.region.or(file.region).unwrap_or_else(|| "us-east-1".into()),
            domains,
            root,
            generated_root,
            users: file.users,
            storage,
            instant_upload: file.instant_upload,
            gc_interval: Duration::from_secs(file.gc.interval_secs.max(1)),
            upload_expiry: (file.multipart.expire_after_secs > 0)
                .then(|| Duration::from_secs(file.multipart.expire_after_secs)),
            upload_check_interval: Duration::from_secs(file.multipart.check_interval_secs.max(1)),
            max_object_size: file.max_object_size.unwrap_or(5 << 30),
            connections: file.connections,
            tls,
            cluster,
            allow_sse_c_over_http: file.encryption.allow_sse_c_over_http,
        })
    }
}

/// The chunk layer's settings from the file: groups, store paths, placement, writes.
/// Shared by `serve` and `storage`, whose store paths are configured alike.
fn chunk_config(data_dir: &Path, file: &FileConfig) -> ChunkConfig {
    let mut chunks = StorageConfig::single(data_dir).chunks;
    if !file.groups.is_empty() {
        chunks.groups.clone_from(&file.groups);
    }
    chunks.placement = file.placement.clone();
    chunks.direct_writes = file.direct_writes.unwrap_or(true);
    if let Some(mib) = file.write_buffer_mib {
        chunks.write_buffer_budget = usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    }
    chunks
}

/// What `fastgate storage` runs with.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub chunks: ChunkConfig,
    pub secret: String,
}

impl NodeSettings {
    /// A storage node's settings: its store paths and limits from the file (as for
    /// `serve`), the rest from flags or the environment.
    pub fn resolve(
        listen: Option<String>,
        data_dir: Option<PathBuf>,
        config: Option<&Path>,
        secret: Option<String>,
    ) -> anyhow::Result<Self> {
        let file = match config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let data_dir = data_dir
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("fastgate-data"));
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            bail!("a storage node needs the cluster secret: --cluster-secret or FASTGATE_CLUSTER_SECRET");
        };
        if secret.len() < 16 {
            bail!("the cluster secret needs at least 16 characters");
        }
        Ok(Self {
            listen: listen
                .or(file.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:9100".into()),
            chunks: chunk_config(&data_dir, &file),
            data_dir,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(config: Option<PathBuf>, meta_engine: Option<MetaEngine>) -> Overrides {
        Overrides {
            listen: None,
            metrics_listen: None,
            console_listen: None,
            data_dir: Some("/srv/fastgate".into()),
            access_key: Some("ak".into()),
            secret_key: Some("sk".into()),
            config,
            domains: Vec::new(),
            region: None,
            meta_engine,
            meta_url: None,
            tls_cert: None,
            tls_key: None,
            cluster_secret: None,
        }
    }

    #[test]
    fn the_sample_config_file_parses() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/fastgate.toml");
        let s = Settings::resolve(overrides(Some(sample), None)).unwrap();
        assert_eq!(s.storage.meta_engine, MetaEngine::Sled);
    }

    #[test]
    fn the_metrics_listener_is_on_loopback_unless_configured_or_off() {
        let s = Settings::resolve(overrides(None, None)).unwrap();
        assert_eq!(s.metrics_listen.as_deref(), Some(DEFAULT_METRICS_LISTEN));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "metrics_listen = \"off\"\n").unwrap();
        assert_eq!(
            Settings::resolve(overrides(Some(file), None)).unwrap().metrics_listen,
            None
        );
    }

    #[test]
    fn the_console_is_on_loopback_unless_configured_or_off() {
        let s = Settings::resolve(overrides(None, None)).unwrap();
        assert_eq!(s.console_listen.as_deref(), Some(DEFAULT_CONSOLE_LISTEN));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "console_listen = \"0.0.0.0:9101\"\n").unwrap();
        let from_file = Settings::resolve(overrides(Some(file.clone()), None)).unwrap();
        assert_eq!(from_file.console_listen.as_deref(), Some("0.0.0.0:9101"));
        let mut o = overrides(Some(file), None);
        o.console_listen = Some("OFF".into());
        assert_eq!(Settings::resolve(o).unwrap().console_listen, None);
    }

    #[test]
    fn tls_needs_both_files_and_a_flag_overrides_the_file() {
        let s = Settings::resolve(overrides(None, None)).unwrap();
        assert_eq!(s.tls, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "[tls]\ncert = \"/etc/a.crt\"\nkey = \"/etc/a.key\"\n").unwrap();
        let from_file = Settings::resolve(overrides(Some(file.clone()), None)).unwrap();
        assert_eq!(from_file.tls.unwrap().cert, Path::new("/etc/a.crt"));
        let mut o = overrides(Some(file), None);
        o.tls_cert = Some("/etc/b.crt".into());
        let tls = Settings::resolve(o).unwrap().tls.unwrap();
        assert_eq!(
            (tls.cert.as_path(), tls.key.as_path()),
            (Path::new("/etc/b.crt"), Path::new("/etc/a.key"))
        );
        let mut only_cert = overrides(None, None);
        only_cert.tls_cert = Some("/etc/b.crt".into());
        assert!(Settings::resolve(only_cert).is_err());
    }

    #[test]
    fn a_cluster_section_parses_with_its_defaults_and_the_flag_overrides_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        let groups = "[[cluster.groups]]\nname = \"g1\"\nnodes = [\"http://10.0.0.1:9100\", \"http://10.0.0.2:9100\"]\n\
                      [[cluster.groups]]\nname = \"g2\"\nnodes = [\"http://10.0.0.3:9100\"]\n";
        std::fs::write(&file, format!("[cluster]\nsecret = \"0123456789abcdef0123\"\n{groups}")).unwrap();
        let s = Settings::resolve(overrides(Some(file.clone()), None)).unwrap();
        let c = s.cluster.unwrap();
        assert_eq!((c.timeout_ms, c.heartbeat_ms), (5000, 1000));
        // 2 by default, or the group's size if smaller.
        assert_eq!(c.min_copies_of(&c.groups[0]), 2);
        assert_eq!(c.min_copies_of(&c.groups[1]), 1);
        let mut o = overrides(Some(file), None);
        o.cluster_secret = Some("from-the-flag-0123456789".into());
        assert_eq!(
            Settings::resolve(o).unwrap().cluster.unwrap().secret,
            "from-the-flag-0123456789"
        );
        assert!(Settings::resolve(overrides(None, None)).unwrap().cluster.is_none());

        for bad in [
            format!("[cluster]\nsecret = \"short\"\n{groups}"),
            format!("[cluster]\nsecret = \"0123456789abcdef0123\"\nmin_copies = 2\n{groups}"),
            "[cluster]\nsecret = \"0123456789abcdef0123\"\ngroups = []\n".to_owned(),
            format!("[cluster]\nsecret = \"0123456789abcdef0123\"\nmin_copy = 2\n{groups}"),
        ] {
            std::fs::write(dir.path().join("bad.toml"), &bad).unwrap();
            assert!(
                Settings::resolve(overrides(Some(dir.path().join("bad.toml")), None)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_sample_cluster_section_parses_once_uncommented() {
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/fastgate.toml")).unwrap();
        let section = &sample[sample.find("\n#[cluster]\n").expect("a [cluster] example")..];
        let uncommented: String = section
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.starts_with('[') || l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')))
            .map(|l| format!("{l}\n"))
            .collect();
        let file: FileConfig = toml::from_str(&uncommented).unwrap();
        let c = file.cluster.unwrap();
        c.validate().unwrap();
        assert_eq!(c.groups.len(), 2);
        assert_eq!(c.min_copies, Some(2));
    }

    #[test]
    fn the_metadata_engine_comes_from_the_flag_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "[metadata]\nengine = \"fjall\"\n").unwrap();
        let from_file = Settings::resolve(overrides(Some(file.clone()), None)).unwrap();
        assert_eq!(from_file.storage.meta_engine, MetaEngine::Fjall);
        let from_flag = Settings::resolve(overrides(Some(file), Some(MetaEngine::Sled))).unwrap();
        assert_eq!(from_flag.storage.meta_engine, MetaEngine::Sled);
        std::fs::write(dir.path().join("bad.toml"), "[metadata]\nengine = \"rocksdb\"\n").unwrap();
        assert!(Settings::resolve(overrides(Some(dir.path().join("bad.toml")), None)).is_err());
    }
}
