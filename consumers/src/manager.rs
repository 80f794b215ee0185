//! Event source mappings while the server runs: create, update, enable, disable, delete,
//! list and describe. Mappings are persisted in the log's documents and restarted on
//! open; each enabled mapping runs one poller per shard of its stream, resuming from its
//! checkpoints.

use std::collections::HashMap;
use std::sync::Arc;

use eddy_shards::sync::Mutex;
use eddy_shards::{DocumentWrite, InvalidArgument, Log, ReadError, StorageError};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::checkpoint::CheckpointStore;
use crate::functions::Functions;
use crate::mapping::{MappingSpec, StartingPosition};
use crate::poller::{run_shard_poller, MappingContext};
use crate::stats::{MappingStats, MappingStatsSnapshot};

const NAMESPACE: &str = "mappings";

#[derive(Debug, Error)]
pub enum MappingError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error("event source mapping `{0}` not found")]
    NotFound(String),
    #[error("function `{0}` not found")]
    FunctionNotFound(String),
    #[error("stream `{0}` not found")]
    StreamNotFound(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Lambda's mapping states that eddy goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingState {
    Enabled,
    Disabled,
}

#[derive(Clone, Debug)]
pub struct MappingInfo {
    pub id: String,
    pub spec: MappingSpec,
    pub state: MappingState,
    pub stats: MappingStatsSnapshot,
}

struct RunningMapping {
    spec: MappingSpec,
    stats: Arc<MappingStats>,
    cancel: CancellationToken,
    pollers: Vec<JoinHandle<()>>,
}

pub struct MappingManager {
    log: Arc<Log>,
    functions: Arc<Functions>,
    mappings: Mutex<HashMap<String, RunningMapping>>,
    shutdown: CancellationToken,
}

impl MappingManager {
    /// Loads the persisted mappings and starts the enabled ones.
    pub fn open(
        log: Arc<Log>,
        functions: Arc<Functions>,
        shutdown: CancellationToken,
    ) -> Result<Self, MappingError> {
        let manager = Self {
            log,
            functions,
            mappings: Mutex::new(HashMap::new()),
            shutdown,
        };
        for (id, bytes) in manager.log.list_documents(NAMESPACE)? {
            let spec: MappingSpec = serde_json::from_slice(&bytes)
                .map_err(|err| StorageError::Corruption(format!("mapping {id}: {err}")))?;
            let running = manager.start(&id, spec)?;
            manager.mappings.lock().insert(id, running);
        }
        Ok(manager)
    }

    /// Validates and persists a new mapping, starts it if enabled, and returns its id.
    pub fn create(&self, mut spec: MappingSpec) -> Result<MappingInfo, MappingError> {
        self.check(&spec)?;
        spec.last_modified_millis = self.log.now_millis();
        let id = crate::ids::new_uuid();
        // The mapping and where each shard starts, in one synced write: a create that
        // fails leaves nothing behind, and LATEST survives a power loss.
        let mut writes = vec![mapping_write(&id, &spec)];
        writes.extend(self.starting_checkpoints(&id, &spec)?);
        self.log.write_documents(&writes, true)?;
        let running = self.start(&id, spec)?;
        let info = info_of(&id, &running);
        self.mappings.lock().insert(id.clone(), running);
        info!(mapping = %id, stream = %info.spec.stream, function = %info.spec.function, "mapping created");
        Ok(info)
    }

    /// Replaces a mapping's parameters (stream and function stay) and restarts its
    /// pollers, which resume from their checkpoints.
    pub async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut MappingSpec),
    ) -> Result<MappingInfo, MappingError> {
        let mut spec = self.describe(id)?.spec;
        let (stream, function) = (spec.stream.clone(), spec.function.clone());
        change(&mut spec);
        if spec.stream != stream || spec.function != function {
            return Err(InvalidArgument::new(
                "stream",
                "a mapping's stream and function cannot change; create a new mapping",
            )
            .into());
        }
        self.check(&spec)?;
        spec.last_modified_millis = self.log.now_millis();
        self.stop(id).await?;
        self.persist(id, &spec)?;
        let running = self.start(id, spec)?;
        let info = info_of(id, &running);
        self.mappings.lock().insert(id.to_string(), running);
        Ok(info)
    }

    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<MappingInfo, MappingError> {
        self.update(id, |spec| spec.enabled = enabled).await
    }

    /// Stops the pollers and forgets the mapping and its checkpoints.
    pub async fn delete(&self, id: &str) -> Result<(), MappingError> {
        self.stop(id).await?;
        self.mappings.lock().remove(id);
        self.log.write_documents(
            &[DocumentWrite::Delete {
                namespace: NAMESPACE,
                key: id.to_string(),
            }],
            true,
        )?;
        CheckpointStore::new(self.log.clone()).delete_mapping(id)?;
        info!(mapping = %id, "mapping deleted");
        Ok(())
    }

    pub fn describe(&self, id: &str) -> Result<MappingInfo, MappingError> {
        let mappings = self.mappings.lock();
        let running = mappings
            .get(id)
            .ok_or_else(|| MappingError::NotFound(id.to_string()))?;
        Ok(info_of(id, running))
    }

    pub fn list(&self) -> Vec<MappingInfo> {
        let mappings = self.mappings.lock();
        let mut infos: Vec<MappingInfo> = mappings
            .iter()
            .map(|(id, running)| info_of(id, running))
            .collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// Pollers still running for a mapping (0 once it is disabled).
    pub fn running_pollers(&self, id: &str) -> usize {
        self.mappings.lock().get(id).map_or(0, |running| {
            running.pollers.iter().filter(|p| !p.is_finished()).count()
        })
    }

    /// Stops every poller after its current invocation; checkpoints stay.
    pub async fn shutdown(&self) {
        let pollers: Vec<JoinHandle<()>> = {
            let mut mappings = self.mappings.lock();
            mappings
                .values_mut()
                .flat_map(|running| {
                    running.cancel.cancel();
                    running.pollers.drain(..)
                })
                .collect()
        };
        for poller in pollers {
            let _ = poller.await;
        }
    }

    fn check(&self, spec: &MappingSpec) -> Result<(), MappingError> {
        spec.validate()?;
        if self.functions.get(&spec.function).is_none() {
            return Err(MappingError::FunctionNotFound(spec.function.clone()));
        }
        self.log
            .describe_stream(&spec.stream)
            .map_err(|_| MappingError::StreamNotFound(spec.stream.clone()))?;
        if let Some(destination) = &spec.on_failure_stream {
            self.log
                .describe_stream(destination)
                .map_err(|_| MappingError::StreamNotFound(destination.clone()))?;
        }
        Ok(())
    }

    /// Where each shard starts, resolved now, so that LATEST means "after `create`
    /// returned": a record put once the caller has the mapping id is delivered.
    fn starting_checkpoints(
        &self,
        id: &str,
        spec: &MappingSpec,
    ) -> Result<Vec<DocumentWrite>, MappingError> {
        let shards = self
            .log
            .shards(&spec.stream)
            .map_err(|_| MappingError::StreamNotFound(spec.stream.clone()))?;
        let mut writes = Vec::with_capacity(shards.len());
        for shard in shards {
            let seq = match spec.starting_position {
                StartingPosition::TrimHorizon => shard.trim_seq(),
                StartingPosition::Latest => shard.head_seq_exclusive(),
                StartingPosition::AtTimestamp(millis) => self
                    .log
                    .seq_at_timestamp(&shard, millis)
                    .map_err(|err| match err {
                        ReadError::InvalidArgument(err) => MappingError::InvalidArgument(err),
                        ReadError::NotFound(_) => MappingError::StreamNotFound(spec.stream.clone()),
                        ReadError::Storage(err) => MappingError::Storage(err),
                    })?,
            };
            writes.push(CheckpointStore::write_for(id, shard.shard_id(), seq));
        }
        Ok(writes)
    }

    fn persist(&self, id: &str, spec: &MappingSpec) -> Result<(), MappingError> {
        self.log.write_documents(&[mapping_write(id, spec)], true)?;
        Ok(())
    }

    async fn stop(&self, id: &str) -> Result<(), MappingError> {
        let pollers = {
            let mut mappings = self.mappings.lock();
            let running = mappings
                .get_mut(id)
                .ok_or_else(|| MappingError::NotFound(id.to_string()))?;
            running.cancel.cancel();
            std::mem::take(&mut running.pollers)
        };
        for poller in pollers {
            let _ = poller.await;
        }
        Ok(())
    }

    /// Starts one poller per shard when the mapping is enabled (none when disabled, or
    /// when its function or stream is gone: it then shows its last state).
    fn start(&self, id: &str, spec: MappingSpec) -> Result<RunningMapping, MappingError> {
        let stats = Arc::new(MappingStats::default());
        let cancel = self.shutdown.child_token();
        let mut pollers = Vec::new();
        let function = self.functions.mapping_handler(&spec.function);
        let settings = self.functions.settings();
        if spec.enabled {
            match (function, self.log.shards(&spec.stream)) {
                (Some((handler, function_timeout)), Ok(shards)) => {
                    let filters = spec.validate()?;
                    let ctx = Arc::new(MappingContext {
                        log: self.log.clone(),
                        mapping_id: id.to_string(),
                        spec: spec.clone(),
                        filters,
                        function_arn: self.functions.arn_of(&spec.function),
                        function_timeout,
                        handler,
                        checkpoints: CheckpointStore::new(self.log.clone()),
                        stats: stats.clone(),
                        stream_arn: format!(
                            "arn:aws:kinesis:{}:{}:stream/{}",
                            settings.region, settings.account, spec.stream
                        ),
                        region: settings.region.clone(),
                    });
                    for shard in shards {
                        let (ctx, cancel, id) = (ctx.clone(), cancel.clone(), id.to_string());
                        // Task: mapping-poller, one per (mapping, shard), until cancelled.
                        pollers.push(tokio::spawn(async move {
                            let shard_id = shard.shard_id().to_string();
                            if let Err(err) = run_shard_poller(ctx.clone(), shard, cancel).await {
                                error!(mapping = %id, shard = %shard_id, %err, "poller stopped");
                                ctx.stats.set_last_processing_result(format!(
                                    "PROBLEM: poller stopped: {err}"
                                ));
                            }
                        }));
                    }
                }
                (None, _) => stats.set_last_processing_result(format!(
                    "PROBLEM: function `{}` not found",
                    spec.function
                )),
                (_, Err(_)) => stats.set_last_processing_result(format!(
                    "PROBLEM: stream `{}` not found",
                    spec.stream
                )),
            }
        }
        Ok(RunningMapping {
            spec,
            stats,
            cancel,
            pollers,
        })
    }
}

fn mapping_write(id: &str, spec: &MappingSpec) -> DocumentWrite {
    DocumentWrite::Put {
        namespace: NAMESPACE,
        key: id.to_string(),
        value: serde_json::to_vec(spec).expect("mapping spec serialises"),
    }
}

fn info_of(id: &str, running: &RunningMapping) -> MappingInfo {
    MappingInfo {
        id: id.to_string(),
        spec: running.spec.clone(),
        state: if running.spec.enabled {
            MappingState::Enabled
        } else {
            MappingState::Disabled
        },
        stats: running.stats.snapshot(),
    }
}
