//! Reading the host from `/proc`: CPU, load, memory, network and disk. The counters in `/proc`
//! only grow, so rates (CPU %, bytes per second) are the difference between two readings; the
//! first reading has none, and neither has a host without `/proc` (the page leaves a gap).

use std::time::Instant;

/// One reading of the host, with rates against the reading before it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// CPU busy over the last interval, in percent of all cores.
    pub cpu_percent: Option<f64>,
    /// Load average over the last minute.
    pub load_1m: Option<f64>,
    /// Memory in use (total less available), in MiB.
    pub memory_used_mib: Option<u64>,
    /// Memory installed, in MiB.
    pub memory_total_mib: Option<u64>,
    /// Bytes received per second, on every interface but loopback.
    pub net_rx_bytes_per_s: Option<f64>,
    /// Bytes sent per second, on every interface but loopback.
    pub net_tx_bytes_per_s: Option<f64>,
    /// Bytes read per second, from whole disks.
    pub disk_read_bytes_per_s: Option<f64>,
    /// Bytes written per second, to whole disks.
    pub disk_write_bytes_per_s: Option<f64>,
}

/// The counters a rate is taken from.
#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    cpu: Option<(u64, u64)>,
    net: Option<(u64, u64)>,
    disk: Option<(u64, u64)>,
}

/// Reads the host; keeps the last counters to turn them into rates.
#[derive(Debug, Default)]
pub struct Host {
    previous: Option<Counters>,
}

impl Host {
    /// A reader with no earlier reading: its first [`Host::read`] has no rates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `/proc` now.
    pub fn read(&mut self) -> Reading {
        let proc = |name: &str| std::fs::read_to_string(format!("/proc/{name}")).ok();
        let now = Counters {
            at: Instant::now(),
            cpu: proc("stat").as_deref().and_then(cpu_counters),
            net: proc("net/dev").as_deref().and_then(net_counters),
            disk: proc("diskstats")
                .as_deref()
                .and_then(|text| disk_counters(text, whole_disk)),
        };
        let memory = proc("meminfo").as_deref().and_then(memory_mib);
        let mut reading = Reading {
            load_1m: proc("loadavg")
                .as_deref()
                .and_then(|text| text.split_whitespace().next()?.parse().ok()),
            memory_used_mib: memory.map(|(used, _)| used),
            memory_total_mib: memory.map(|(_, total)| total),
            ..Reading::default()
        };
        if let Some(before) = self.previous {
            let seconds = now.at.duration_since(before.at).as_secs_f64();
            if let (Some((busy, total)), Some((busy_0, total_0))) = (now.cpu, before.cpu) {
                let total = total.saturating_sub(total_0);
                if total > 0 {
                    let busy = busy.saturating_sub(busy_0) as f64;
                    reading.cpu_percent = Some((100.0 * busy / total as f64).min(100.0));
                }
            }
            let rate = |now: u64, before: u64| {
                (seconds > 0.0).then(|| now.saturating_sub(before) as f64 / seconds)
            };
            if let (Some((rx, tx)), Some((rx_0, tx_0))) = (now.net, before.net) {
                reading.net_rx_bytes_per_s = rate(rx, rx_0);
                reading.net_tx_bytes_per_s = rate(tx, tx_0);
            }
            if let (Some((read, written)), Some((read_0, written_0))) = (now.disk, before.disk) {
                reading.disk_read_bytes_per_s = rate(read, read_0);
                reading.disk_write_bytes_per_s = rate(written, written_0);
            }
        }
        self.previous = Some(now);
        reading
    }
}

/// `(busy, total)` jiffies of all CPUs, from the first line of `/proc/stat`.
fn cpu_counters(stat: &str) -> Option<(u64, u64)> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal: guest time is already in user and nice.
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((total.saturating_sub(idle), total))
}

/// `(received, sent)` bytes of every interface but `lo`, from `/proc/net/dev`.
fn net_counters(dev: &str) -> Option<(u64, u64)> {
    let mut sums = (0, 0);
    for line in dev.lines().skip(2) {
        let (name, numbers) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let numbers: Vec<u64> = numbers
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        sums.0 += numbers.first()?;
        sums.1 += numbers.get(8)?;
    }
    Some(sums)
}

/// `(read, written)` bytes of the devices `is_disk` accepts, from `/proc/diskstats`, whose
/// sectors are 512 bytes whatever the device's own sector size.
fn disk_counters(stats: &str, is_disk: impl Fn(&str) -> bool) -> Option<(u64, u64)> {
    let mut sums = (0, 0);
    for line in stats.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(read), Some(written)) = (fields.get(2), fields.get(5), fields.get(9))
        else {
            continue;
        };
        if is_disk(name) {
            sums.0 += read.parse::<u64>().ok()? * 512;
            sums.1 += written.parse::<u64>().ok()? * 512;
        }
    }
    Some(sums)
}

/// Whole disks are in `/sys/block` (partitions are not, so nothing is counted twice); loop and
/// RAM devices are left out.
fn whole_disk(name: &str) -> bool {
    !name.starts_with("loop")
        && !name.starts_with("ram")
        && std::path::Path::new("/sys/block")
            .join(name.replace('/', "!"))
            .exists()
}

/// `(used, total)` MiB from `/proc/meminfo`.
fn memory_mib(meminfo: &str) -> Option<(u64, u64)> {
    let kib = |field: &str| -> Option<u64> {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(field))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let (total, available) = (kib("MemTotal:")?, kib("MemAvailable:")?);
    Some((total.saturating_sub(available) / 1024, total / 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_counts_idle_and_iowait_as_not_busy() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(cpu_counters(stat), Some((150, 1000)));
        assert_eq!(cpu_counters("intr 1 2 3"), None);
    }

    #[test]
    fn network_leaves_loopback_out() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n\
                   lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n\
                   eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n\
                   wlan0: 1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n";
        assert_eq!(net_counters(dev), Some((1001, 2002)));
    }

    #[test]
    fn disks_count_sectors_of_whole_devices() {
        let stats = "   8       0 sda 10 0 100 0 20 0 200 0 0 0 0\n\
                        8       1 sda1 10 0 100 0 20 0 200 0 0 0 0\n";
        assert_eq!(
            disk_counters(stats, |name| name == "sda"),
            Some((100 * 512, 200 * 512))
        );
    }

    #[test]
    fn memory_is_total_less_available() {
        let meminfo = "MemTotal:  2097152 kB\nMemFree: 1 kB\nMemAvailable: 1048576 kB\n";
        assert_eq!(memory_mib(meminfo), Some((1024, 2048)));
        assert_eq!(memory_mib("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn the_second_reading_has_rates() {
        let mut host = Host::new();
        let first = host.read();
        assert_eq!(first.cpu_percent, None);
        std::thread::sleep(std::time::Duration::from_millis(120));
        let second = host.read();
        if std::path::Path::new("/proc/stat").exists() {
            let cpu = second.cpu_percent.expect("a CPU figure on Linux");
            assert!((0.0..=100.0).contains(&cpu), "{cpu}");
            assert!(second.net_rx_bytes_per_s.is_some());
            assert!(second.memory_total_mib.unwrap() > 0);
        }
    }
}
