//! Worker authentication (spec section 14.1): the ZAP handler that admits a
//! CURVE client only if its public key is in the allowlist file, which
//! SIGHUP reloads.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use zroute_transport::{Context, CurveKey, ZapHandler, ZapRequest, parse_key_list};

use crate::metrics::Metrics;

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

/// Binds the ZAP handler in `ctx` (before any CURVE socket is bound: with no
/// handler libzmq would admit every key) and answers from `allowlist`, and
/// reloads the allowlist on SIGHUP. Both tasks run until aborted; abort them
/// only after the workers sockets are closed.
pub(crate) fn start(
    ctx: &Context,
    allowlist: Arc<Allowlist>,
    metrics: Arc<Metrics>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let handler = ZapHandler::bind(ctx)?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    metrics.allowed_keys.set(allowlist.len() as i64);
    info!(
        keys = allowlist.len(),
        file = %allowlist.path.display(),
        "CURVE enabled: workers must be in the allowlist"
    );

    let reload = {
        let allowlist = allowlist.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
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
        })
    };

    let zap = tokio::spawn(async move {
        let mut rejections = RejectionLog::default();
        let admit = |req: &ZapRequest| {
            let admitted = req.domain == ZAP_DOMAIN
                && req
                    .client_key
                    .as_ref()
                    .is_some_and(|key| allowlist.contains(key));
            if admitted {
                debug!(key = ?req.client_key, address = %req.address, "worker key admitted");
            } else {
                metrics.auth_rejections.inc();
                rejections.log(req);
            }
            admitted
        };
        if let Err(e) = handler.serve(admit).await {
            // Only a closing context ends the handler; the sockets it guards
            // are closing too.
            debug!("ZAP handler stopped: {e}");
        }
    });
    Ok(vec![zap, reload])
}

/// One warning per key per [`REJECTION_LOG_INTERVAL`], with the number of
/// refusals not logged since.
#[derive(Debug, Default)]
struct RejectionLog {
    last: HashMap<Option<CurveKey>, (Option<Instant>, u64)>,
}

impl RejectionLog {
    fn log(&mut self, req: &ZapRequest) {
        let now = Instant::now();
        if self.last.len() >= MAX_TRACKED_REJECTIONS && !self.last.contains_key(&req.client_key) {
            self.last.clear();
        }
        let entry = self.last.entry(req.client_key).or_insert((None, 0));
        if entry
            .0
            .is_some_and(|at| now.duration_since(at) < REJECTION_LOG_INTERVAL)
        {
            entry.1 += 1;
            return;
        }
        let key = req
            .client_key
            .map_or_else(|| "(none)".to_owned(), |k| k.to_z85());
        warn!(
            key = %key,
            address = %req.address,
            mechanism = %req.mechanism,
            not_logged_since = entry.1,
            "worker refused: its CURVE key is not in the allowlist"
        );
        *entry = (Some(now), 0);
    }
}
