//! Who may become a worker (spec sections 14.1 and 14.2): the ZAP handler
//! that admits a CURVE client only if its public key is in the allowlist
//! file, which SIGHUP reloads; ipc:// sockets that only the allowed users
//! can reach from the moment they exist; and the startup lines that say who
//! can register on each endpoint.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use zroute_transport::{CurveKey, parse_key_list};

use crate::metrics::Metrics;
use crate::transport::{Context, Socket};

/// `ZMQ_ZAP_DOMAIN` of the workers sockets.
pub(crate) const ZAP_DOMAIN: &str = "zroute";
/// A refused worker reconnects every few hundred milliseconds; one log line
/// per key per interval says as much, and the metric counts every refusal.
const REJECTION_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Keys whose refusals are being rate-limited; beyond this the table starts
/// over, so a flood of fresh keys costs bounded memory.
const MAX_TRACKED_REJECTIONS: usize = 1024;

/// The worker keys admitted, as last loaded from `path`.
#[derive(Debug)]
pub(crate) struct Allowlist {
    path: PathBuf,
    keys: RwLock<Arc<HashSet<CurveKey>>>,
}

impl Allowlist {
    pub(crate) fn load(path: &Path) -> io::Result<Self> {
        let keys = read(path)?;
        Ok(Self {
            path: path.to_owned(),
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<HashSet<CurveKey>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn contains(&self, key: &CurveKey) -> bool {
        self.current().contains(key)
    }

    /// Reads the file again. On an error the keys in force stay as they are.
    pub(crate) fn reload(&self) -> io::Result<usize> {
        let keys = read(&self.path)?;
        let n = keys.len();
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
        Ok(n)
    }
}

fn read(path: &Path) -> io::Result<HashSet<CurveKey>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let keys = parse_key_list(&text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(keys.into_iter().collect())
}

/// Starts admitting CURVE clients from `allowlist`, and reloads it on
/// SIGHUP. With libzmq that means binding the ZAP handler in `ctx` (before
/// any CURVE socket is bound: with no handler libzmq would admit every
/// key); the native sockets ask [`Admission::admit`] instead, which
/// [`crate::transport::router`] installs. The tasks run until aborted;
/// abort them only after the workers sockets are closed.
pub(crate) fn start(
    ctx: &Context,
    allowlist: Arc<Allowlist>,
    metrics: Arc<Metrics>,
) -> io::Result<(Arc<Admission>, Vec<JoinHandle<()>>)> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    metrics.allowed_keys.set(allowlist.len() as i64);
    info!(
        keys = allowlist.len(),
        file = %allowlist.path.display(),
        "CURVE enabled: workers must be in the allowlist"
    );
    let admission = Arc::new(Admission {
        allowlist: allowlist.clone(),
        metrics: metrics.clone(),
        rejections: Mutex::new(RejectionLog::default()),
    });

    let reload = tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match allowlist.reload() {
                Ok(n) => {
                    metrics.allowed_keys.set(n as i64);
                    info!(keys = n, file = %allowlist.path.display(), "allowlist reloaded");
                }
                Err(e) => {
                    error!("allowlist not reloaded, the previous one stays in force: {e}")
                }
            }
        }
    });
    #[cfg(feature = "libzmq")]
    let zap = {
        let handler = zroute_transport::ZapHandler::bind(ctx)?;
        let admission = admission.clone();
        Some(tokio::spawn(async move {
            let admit = |req: &zroute_transport::ZapRequest| {
                req.domain == ZAP_DOMAIN
                    && admission.admit(req.client_key.as_ref(), &req.address, &req.mechanism)
            };
            if let Err(e) = handler.serve(admit).await {
                // Only a closing context ends the handler; the sockets it
                // guards are closing too.
                debug!("ZAP handler stopped: {e}");
            }
        }))
    };
    #[cfg(not(feature = "libzmq"))]
    let zap: Option<JoinHandle<()>> = {
        let _ = ctx;
        None
    };
    Ok((
        admission,
        [Some(reload), zap].into_iter().flatten().collect(),
    ))
}

/// Decides, from the allowlist, whether a CURVE client may register;
/// counts and logs (rate-limited) every refusal.
#[derive(Debug)]
pub(crate) struct Admission {
    allowlist: Arc<Allowlist>,
    metrics: Arc<Metrics>,
    rejections: Mutex<RejectionLog>,
}

impl Admission {
    pub(crate) fn admit(&self, key: Option<&CurveKey>, address: &str, mechanism: &str) -> bool {
        let admitted = key.is_some_and(|key| self.allowlist.contains(key));
        if admitted {
            debug!(?key, %address, "worker key admitted");
        } else {
            self.metrics.auth_rejections.inc();
            self.rejections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .log(key.copied(), address, mechanism);
        }
        admitted
    }
}

/// One warning per key per [`REJECTION_LOG_INTERVAL`], with the number of
/// refusals not logged since.
#[derive(Debug, Default)]
struct RejectionLog {
    last: HashMap<Option<CurveKey>, (Option<Instant>, u64)>,
}

impl RejectionLog {
    fn log(&mut self, key: Option<CurveKey>, address: &str, mechanism: &str) {
        let now = Instant::now();
        if self.last.len() >= MAX_TRACKED_REJECTIONS && !self.last.contains_key(&key) {
            self.last.clear();
        }
        let entry = self.last.entry(key).or_insert((None, 0));
        if entry
            .0
            .is_some_and(|at| now.duration_since(at) < REJECTION_LOG_INTERVAL)
        {
            entry.1 += 1;
            return;
        }
        let key = key.map_or_else(|| "(none)".to_owned(), |k| k.to_z85());
        warn!(
            key = %key,
            %address,
            %mechanism,
            not_logged_since = entry.1,
            "worker refused: its CURVE key is not in the allowlist"
        );
        *entry = (Some(now), 0);
    }
}

/// The permissions of ipc:// workers sockets (--ipc-mode, --ipc-group).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpcPermissions {
    pub(crate) mode: u32,
    pub(crate) gid: Option<u32>,
}

/// A bound workers endpoint.
#[derive(Debug)]
pub(crate) struct Bound {
    /// As workers connect to it.
    pub(crate) endpoint: String,
    /// The socket file this router put in place, with its device and inode:
    /// libzmq removes only the path it bound, which the file left.
    pub(crate) file: Option<(PathBuf, u64, u64)>,
}

impl Bound {
    /// Removes the socket file, unless another process has put its own in
    /// its place since (a router restarted on the same path).
    pub(crate) fn remove_file(&self) {
        if let Some((path, dev, ino)) = &self.file
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.dev() == *dev && m.ino() == *ino)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds `socket` to `endpoint`. A file-system ipc:// endpoint gets its mode
/// and group before any process can connect: the socket is bound in a new
/// directory only this user can enter (0700), given its permissions there,
/// then renamed to its path, which is atomic. (A chmod after a bind in place
/// would leave a window in which anyone the umask lets in could connect and
/// register.)
pub(crate) fn bind(
    socket: &mut Socket,
    endpoint: &str,
    ipc: IpcPermissions,
) -> Result<Bound, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot bind {endpoint}: {e}");
    let Some(path) = endpoint
        .strip_prefix("ipc://")
        .filter(|p| *p != "*" && !p.starts_with('@'))
    else {
        // tcp://; an abstract ipc:// name (no file, no permissions); or
        // ipc://*, which libzmq puts in a private directory of its own.
        let bound = socket.bind(endpoint).map_err(|e| fail(&e))?;
        return Ok(Bound {
            endpoint: bound,
            file: None,
        });
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = PathBuf::from(path);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let private = dir.join(format!(
        ".zroute-bind-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| fail(&format!("{}: {e}", private.display())))?;
    let staged = private.join("s");
    let result = (|| {
        socket
            .bind(&format!("ipc://{}", staged.display()))
            .map_err(|e| e.to_string())?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(ipc.mode))
            .map_err(|e| format!("--ipc-mode: {e}"))?;
        if let Some(gid) = ipc.gid {
            std::os::unix::fs::chown(&staged, None, Some(gid))
                .map_err(|e| format!("--ipc-group {gid}: {e}"))?;
        }
        std::fs::rename(&staged, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    let meta = result.map_err(|e| fail(&e))?;
    Ok(Bound {
        endpoint: format!("ipc://{}", path.display()),
        file: Some((path, meta.dev(), meta.ino())),
    })
}

/// Says who can register as a worker on `endpoint` (spec section 14.2): a
/// warning when anyone beyond this user can, with how to restrict it.
pub(crate) fn announce_who_can_register(endpoint: &str, curve: bool) {
    if curve {
        // The allowlist decides; start() said so.
        return;
    }
    const RESTRICT: &str = "restrict with --curve-key/--curve-allow, or an ipc:// endpoint \
                            with --ipc-mode 0600 (or 0660 and --ipc-group)";
    let Some(path) = endpoint.strip_prefix("ipc://") else {
        if crate::config::is_local_endpoint(endpoint) {
            warn!(
                endpoint,
                "any local process can register as a worker on {endpoint} and receive requests; \
                 {RESTRICT}"
            );
        } else {
            warn!(
                endpoint,
                "--insecure: workers are not authenticated and traffic is not encrypted; \
                 any host that can reach {endpoint} can register as a worker and receive \
                 requests; {RESTRICT}"
            );
        }
        return;
    };
    if path.starts_with('@') {
        warn!(
            endpoint,
            "any local process (of this network namespace) can register as a worker on \
             {endpoint}: an abstract socket name has no file permissions; use a file path, \
             or --curve-key/--curve-allow"
        );
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        // ipc://*: in a directory of libzmq's own, which only this user can enter.
        info!(
            endpoint,
            "only this user (and root) can register as a worker on {endpoint}"
        );
        return;
    };
    // Connecting to a Unix socket takes write permission on its file.
    let mode = meta.permissions().mode();
    let mut who = vec![format!(
        "processes of uid {} ({})",
        meta.uid(),
        user_name(meta.uid())
    )];
    if mode & 0o020 != 0 {
        who.push(format!(
            "processes of group {} ({})",
            meta.gid(),
            group_name(meta.gid())
        ));
    }
    let who = who.join(" and ");
    let and_root = if meta.uid() == 0 { "" } else { " (and root)" };
    if mode & 0o002 != 0 {
        warn!(
            endpoint,
            mode = %format!("{:04o}", mode & 0o777),
            "any local process can register as a worker on {endpoint} (its file mode lets \
             anyone write); {RESTRICT}"
        );
    } else if mode & 0o020 != 0 {
        warn!(
            endpoint,
            mode = %format!("{:04o}", mode & 0o777),
            "{who}{and_root} can register as workers on {endpoint}; to allow this user \
             only: --ipc-mode 0600"
        );
    } else {
        info!(
            endpoint,
            mode = %format!("{:04o}", mode & 0o777),
            "only {who}{and_root} can register as workers on {endpoint}"
        );
    }
}

/// The name of a uid or gid in an /etc file, or "?".
fn name_in(file: &str, id: u32) -> String {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|table| {
            table.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn user_name(uid: u32) -> String {
    name_in("/etc/passwd", uid)
}

fn group_name(gid: u32) -> String {
    name_in("/etc/group", gid)
}
