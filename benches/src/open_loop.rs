//! Put → consumer latency without coordinated omission, shared by `eddy-bench e2e` and the
//! delivery workloads of `eddy-bench compare`.
//!
//! - [`stamped_record`] writes the put's *scheduled* time into the first 8 bytes of the
//!   payload and the time it was actually sent into the next 8, as microseconds since
//!   [`epoch`].
//! - [`pace`] is the open-loop pacer: a dedicated thread fires put number `n` at
//!   `start + n / rate` on the runtime, whether or not earlier puts were acknowledged, so
//!   a slow system's queueing shows in the latency instead of lowering the offered load.
//! - A [`Sink`] is what a consumer (eddy's native handler, a Redis XREADGROUP loop, a NATS
//!   pull consumer, a Kinesis GetRecords loop) hands every payload it receives: it counts
//!   them and records now − scheduled (and now − sent) in HDR histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_shards::sync::Mutex;
use hdrhistogram::Histogram;

/// Payloads must hold the two stamps.
pub const STAMP_BYTES: usize = 16;

/// The instant every stamp counts from (the first call's).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_micros() as u64
}

/// A payload of `size` bytes (at least [`STAMP_BYTES`]) stamped with `scheduled` and now.
pub fn stamped_record(size: usize, scheduled: Instant) -> Bytes {
    let mut data = vec![0u8; size.max(STAMP_BYTES)];
    data[..8].copy_from_slice(&micros_since_epoch(scheduled).to_le_bytes());
    data[8..16].copy_from_slice(&micros_since_epoch(Instant::now()).to_le_bytes());
    data.into()
}

/// Where a consumer that exists before its sink (a native function registered when the
/// server starts, the floor's echo server) finds the sink of the current run.
pub type SinkSlot = Arc<Mutex<Option<Arc<Sink>>>>;

/// Hands `payloads` to the sink in `slot`, if one is there.
pub fn observe_in<'a>(slot: &SinkSlot, payloads: impl ExactSizeIterator<Item = &'a [u8]>) {
    if let Some(sink) = slot.lock().as_ref() {
        sink.observe(payloads);
    }
}

/// Counts what a consumer receives and, when `measures_latency`, how late it arrived.
pub struct Sink {
    records: AtomicU64,
    measures_latency: bool,
    /// From the scheduled send: includes the pacer's own lateness and client queueing.
    latency_micros: Mutex<Histogram<u64>>,
    /// From the moment the put was actually sent.
    latency_from_send_micros: Mutex<Histogram<u64>>,
}

impl Sink {
    pub fn new(measures_latency: bool) -> Arc<Self> {
        Arc::new(Self {
            records: AtomicU64::new(0),
            measures_latency,
            latency_micros: Mutex::new(Histogram::new(3).expect("3 significant figures")),
            latency_from_send_micros: Mutex::new(Histogram::new(3).expect("3 significant figures")),
        })
    }

    /// Takes one delivered batch's payloads.
    pub fn observe<'a>(&self, payloads: impl ExactSizeIterator<Item = &'a [u8]>) {
        let count = payloads.len() as u64;
        if self.measures_latency {
            let now = micros_since_epoch(Instant::now());
            let mut histogram = self.latency_micros.lock();
            let mut from_send = self.latency_from_send_micros.lock();
            for data in payloads.filter(|data| data.len() >= STAMP_BYTES) {
                let scheduled = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
                let sent = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
                let _ = histogram.record(now.saturating_sub(scheduled));
                let _ = from_send.record(now.saturating_sub(sent));
            }
        }
        self.records.fetch_add(count, Ordering::Relaxed);
    }

    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// (from the scheduled send, from the actual send).
    pub fn latency(&self) -> (Histogram<u64>, Histogram<u64>) {
        (
            self.latency_micros.lock().clone(),
            self.latency_from_send_micros.lock().clone(),
        )
    }

    pub fn reset_latency(&self) {
        self.latency_micros.lock().reset();
        self.latency_from_send_micros.lock().reset();
    }

    /// Waits until `target` records have arrived; false on timeout.
    pub async fn wait_for(&self, target: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.records() < target {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// Fires `total` puts at `rate` per second from a dedicated thread: `fire(n, scheduled)`
/// is called at each scheduled instant and must only spawn the put onto the runtime.
/// Returns once the last one is fired.
pub async fn pace(
    rate: f64,
    total: u64,
    fire: impl Fn(u64, Instant) + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(rate > 0.0, "the open-loop rate must be positive");
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Thread: bench-pacer; std sleeps are precise to tens of µs, tokio's timer to 1 ms.
    let pacer = std::thread::Builder::new()
        .name("bench-pacer".into())
        .spawn(move || {
            let start = Instant::now() + Duration::from_millis(10);
            for n in 0..total {
                let scheduled = start + interval.mul_f64(n as f64);
                let now = Instant::now();
                if scheduled > now {
                    std::thread::sleep(scheduled - now);
                }
                fire(n, scheduled);
            }
        })?;
    tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the pacer thread panicked"))
}

/// User + system CPU seconds of this process.
pub fn process_cpu_secs() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// This process's peak RSS in MiB since the last [`reset_own_peak_rss`].
pub fn own_peak_rss_mib() -> f64 {
    crate::systems::process::peak_rss_mib_of(std::process::id())
}

/// Resets this process's peak RSS to its current RSS (Linux `clear_refs` value 5), so that
/// one in-process run's peak is not an earlier run's.
pub fn reset_own_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
