//! Server processes under test: started as children on ephemeral loopback ports, each
//! in a fresh data dir, and measured from `/proc` (CPU time and peak RSS).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A child server process; killed on drop.
pub struct ServerProcess {
    pub name: String,
    child: Child,
}

impl ServerProcess {
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        Ok(Self {
            name: name.to_string(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid())
    }

    /// Peak resident set size in MiB (VmHWM).
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib_of(self.pid())
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub fn wait_for_port(process: &mut ServerProcess, port: u16, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if !process.is_running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "{} did not listen on port {port}; its log:\n{}",
        process.name,
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// CPU seconds (user + system) process `pid` has used so far; 0 when it is gone.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let total = ticks(11).unwrap_or(0) + ticks(12).unwrap_or(0);
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    total as f64 / per_second
}

/// Peak resident set size of process `pid` in MiB (VmHWM); 0 when it is gone.
pub fn peak_rss_mib_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
