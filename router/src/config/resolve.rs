//! From what the user said to what the router runs with: flags and
//! environment over the file over the defaults, then every value checked.

use zroute_transport::CurveKeyPair;

use super::{Config, CurveConfig, Options, is_local_endpoint, resolve_group, upgrade_tcp_addr};

impl Options {
    /// Reads the TOML file named by --config (if any) and fills in what the
    /// command line and environment left unset.
    pub fn resolve(self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str::<Self>(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Self::default(),
        };
        let d = Config::default();
        macro_rules! pick {
            ($field:ident) => {
                self.$field.or(file.$field).unwrap_or(d.$field)
            };
        }
        let workers = if !self.workers.is_empty() {
            self.workers
        } else if !file.workers.is_empty() {
            file.workers
        } else {
            d.workers
        };
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        };
        let curve = match (
            self.curve_key.or(file.curve_key),
            self.curve_allow.or(file.curve_allow),
        ) {
            (Some(key), Some(allow)) => Some(CurveConfig {
                keypair: CurveKeyPair::from_file(&key).map_err(|e| format!("--curve-key {e}"))?,
                allow,
            }),
            (None, None) => None,
            _ => return Err("--curve-key and --curve-allow go together".to_owned()),
        };
        if curve.is_some() && !zroute_transport::curve_available() {
            return Err("this build's libzmq has no CURVE support".to_owned());
        }
        let config = Config {
            http: pick!(http),
            workers,
            admin: pick!(admin),
            tls,
            curve,
            insecure: self.insecure || file.insecure,
            heartbeat_interval: pick!(heartbeat_interval),
            heartbeat_liveness: pick!(heartbeat_liveness),
            stream_window: pick!(stream_window),
            session_window: pick!(session_window),
            max_header_pairs: pick!(max_header_pairs),
            max_header_size: pick!(max_header_size),
            max_body_size: pick!(max_body_size),
            request_timeout: pick!(request_timeout),
            first_byte_timeout: pick!(first_byte_timeout),
            idle_timeout: pick!(idle_timeout),
            lingering_time: pick!(lingering_time),
            lingering_timeout: pick!(lingering_timeout),
            max_uri_size: pick!(max_uri_size),
            max_retries: pick!(max_retries),
            max_connections: pick!(max_connections),
            max_frames_per_message: pick!(max_frames_per_message),
            max_streams_per_worker: pick!(max_streams_per_worker),
            max_workers: pick!(max_workers),
            hello_rate: pick!(hello_rate),
            hello_rate_per_source: pick!(hello_rate_per_source),
            max_workers_per_source: pick!(max_workers_per_source),
            max_part_size: pick!(max_part_size),
            max_message_size: pick!(max_message_size),
            ipc_mode: pick!(ipc_mode),
            ipc_group: match self.ipc_group.or(file.ipc_group) {
                Some(group) => Some(resolve_group(&group)?),
                None => None,
            },
            h2_max_streams: pick!(h2_max_streams),
            h2_max_reset_streams: pick!(h2_max_reset_streams),
            queue_size: pick!(queue_size),
            queue_timeout: pick!(queue_timeout),
            startup_grace: pick!(startup_grace),
            retry_buffer: pick!(retry_buffer),
            ws_max_message: pick!(ws_max_message),
            ws_close_timeout: pick!(ws_close_timeout),
            ws_drain_grace: pick!(ws_drain_grace),
            ws_idle_timeout: pick!(ws_idle_timeout),
            stream_buffer: pick!(stream_buffer),
            shutdown_timeout: pick!(shutdown_timeout),
            threads: pick!(threads),
            log_format: pick!(log_format),
            log_level: self.log_level.or(file.log_level).unwrap_or(d.log_level),
            access_log: pick!(access_log),
            router_id: self.router_id.or(file.router_id).unwrap_or(d.router_id),
            upgrade_socket: self.upgrade_socket.or(file.upgrade_socket),
            handover_grace: pick!(handover_grace),
            record: self.record.or(file.record),
            record_max_bytes: pick!(record_max_bytes),
            record_max_files: pick!(record_max_files),
            record_queue: pick!(record_queue),
        };
        config.validate()?;
        Ok(config)
    }
}

impl Config {
    fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 19] = [
            (
                !self.heartbeat_interval.is_zero(),
                "heartbeat-interval must be above 0",
            ),
            (
                self.heartbeat_liveness >= 1,
                "heartbeat-liveness must be at least 1",
            ),
            (
                (1..=0x7fff_ffff).contains(&self.stream_window),
                "stream-window must be 1..2^31-1",
            ),
            (
                (65_536..=0x7fff_ffff).contains(&self.session_window),
                "session-window must be 65536..2^31-1",
            ),
            (
                self.max_header_size >= 1024,
                "max-header-size must be at least 1024",
            ),
            (self.max_uri_size >= 64, "max-uri-size must be at least 64"),
            (
                self.max_frames_per_message >= 1,
                "max-frames-per-message must be at least 1",
            ),
            (
                self.max_streams_per_worker >= 1,
                "max-streams-per-worker must be at least 1",
            ),
            (self.max_workers >= 1, "max-workers must be at least 1"),
            (self.hello_rate >= 1, "hello-rate must be at least 1"),
            (
                self.hello_rate_per_source >= 1,
                "hello-rate-per-source must be at least 1",
            ),
            (
                self.max_workers_per_source >= 1,
                "max-workers-per-source must be at least 1",
            ),
            (
                self.max_part_size >= zroute_transport::ROUTER_MAX_MSG_SIZE,
                "max-part-size must be at least 65544 (the largest frame)",
            ),
            (
                self.max_message_size >= self.max_part_size,
                "max-message-size must be at least max-part-size",
            ),
            (
                self.ipc_mode <= 0o777,
                "ipc-mode must be permission bits only (0 to 0777)",
            ),
            (
                self.h2_max_streams >= 1,
                "h2-max-streams must be at least 1",
            ),
            (
                self.stream_buffer >= 1024,
                "stream-buffer must be at least 1024",
            ),
            (
                !self.workers.is_empty(),
                "at least one --workers endpoint is needed",
            ),
            (
                self.record_queue >= 65_544,
                "record-queue must be at least 65544 (one frame)",
            ),
        ];
        if let Some((_, msg)) = checks.iter().find(|(ok, _)| !ok) {
            return Err((*msg).to_owned());
        }
        if self.upgrade_socket.is_some() {
            // The new router holds requests for --startup-grace while the
            // old one keeps the workers for --handover-grace.
            if self.handover_grace >= self.startup_grace {
                return Err("handover-grace must be below startup-grace".to_owned());
            }
            // A successor can share a worker port only if it is the same one.
            if let Some(endpoint) = self
                .workers
                .iter()
                .find(|e| e.starts_with("tcp://") && upgrade_tcp_addr(e).is_none())
            {
                return Err(format!(
                    "--upgrade-socket needs tcp:// worker endpoints with an IP address and a                      fixed port (a successor shares the port): {endpoint}"
                ));
            }
        }
        if self.curve.is_none()
            && !self.insecure
            && let Some(endpoint) = self.exposed_endpoints().next()
        {
            return Err(format!(
                "refusing to bind {endpoint} without CURVE: any host that can reach it could \
                 register as a worker and receive every request.\n\
                 Set up keys (docs/security.md):\n  \
                 zroute-router keygen --out router   # router.key, router.pub\n  \
                 zroute-router keygen --out worker   # one pair per worker; add worker.pub to the allowlist\n  \
                 cat worker.pub >> workers.allow\n  \
                 zroute-router --curve-key router.key --curve-allow workers.allow --workers {endpoint}\n\
                 and start workers with --curve-server-key router.pub --curve-key worker.key.\n\
                 Or bind a loopback or ipc:// endpoint, or pass --insecure (ZROUTE_INSECURE=true) \
                 to accept unauthenticated workers."
            ));
        }
        Ok(())
    }

    /// The workers endpoints that other hosts may reach (spec section 14.2).
    pub fn exposed_endpoints(&self) -> impl Iterator<Item = &str> {
        self.workers
            .iter()
            .map(String::as_str)
            .filter(|e| !is_local_endpoint(e))
    }
}
