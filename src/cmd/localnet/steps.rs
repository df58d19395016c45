//! Per-step figures of a running node, from outside the process: the node's
//! log says when a step starts ("Step k of 8: ..."), and at that moment the
//! harness snapshots the node's CPU time and TCP bytes, so each step's CPU and
//! traffic (through the relay and direct) are the differences between marks.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What a node had used when a step started.
#[derive(Clone, Debug)]
pub(super) struct Mark {
    pub(super) step: u32,
    pub(super) at: std::time::Instant,
    pub(super) cpu: f64,
    pub(super) sockets: HashMap<String, (u64, u64)>,
}

/// One step of one node, from its start to the next step's (or the exit).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepFigures {
    /// Charon's step number (1-8).
    pub step: u32,
    /// Wall seconds.
    pub secs: f64,
    /// CPU seconds (user + system).
    pub cpu: f64,
    /// TCP payload bytes (sent, received) on sockets to the relay.
    pub relayed: (u64, u64),
    /// TCP payload bytes (sent, received) on every other socket.
    pub direct: (u64, u64),
}

/// Follows a log file: complete lines appended since the last call.
#[derive(Debug, Default)]
pub(super) struct LogTail {
    offset: u64,
    partial: String,
}

impl LogTail {
    /// Step numbers whose start appeared in `log` since the last call.
    pub(super) fn new_steps(&mut self, log: &Path) -> Vec<u32> {
        let Ok(mut f) = fs::File::open(log) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        // A node's log is small next to its ceremony; 1 MiB per poll bounds a
        // runaway one.
        let Ok(read) = f.take(1 << 20).read_to_end(&mut buf) else {
            return Vec::new();
        };
        self.offset += read as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut steps = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Some(k) = step_start(&line) {
                steps.push(k);
            }
        }
        steps
    }
}

/// The step a "Step k of 8: ..." line starts.
fn step_start(line: &str) -> Option<u32> {
    let rest = &line[line.find("Step ")? + 5..];
    let (k, tail) = rest.split_once(' ')?;
    tail.starts_with("of 8:").then(|| k.parse().ok())?
}

/// Sums of (sent, received) over sockets, split by whether the remote port is
/// one of `relay_ports`.
pub(super) fn split(
    sockets: &HashMap<String, (u64, u64)>,
    relay_ports: &[u16],
) -> ((u64, u64), (u64, u64)) {
    let mut relayed = (0, 0);
    let mut direct = (0, 0);
    for (key, (s, r)) in sockets {
        let remote_port = key
            .split_whitespace()
            .nth(1)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
        let slot = if remote_port.is_some_and(|p| relay_ports.contains(&p)) {
            &mut relayed
        } else {
            &mut direct
        };
        slot.0 += s;
        slot.1 += r;
    }
    (relayed, direct)
}

/// Per-step figures from `marks` and the node's final state (`end`).
pub(super) fn figures(marks: &[Mark], end: &Mark, relay_ports: &[u16]) -> Vec<StepFigures> {
    let sub = |a: (u64, u64), b: (u64, u64)| (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1));
    marks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let next = marks.get(i + 1).unwrap_or(end);
            let (r0, d0) = split(&m.sockets, relay_ports);
            let (r1, d1) = split(&next.sockets, relay_ports);
            StepFigures {
                step: m.step,
                secs: next.at.saturating_duration_since(m.at).as_secs_f64(),
                cpu: (next.cpu - m.cpu).max(0.0),
                relayed: sub(r1, r0),
                direct: sub(d1, d0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    #[test]
    fn step_starts_are_read_from_console_and_json_lines() {
        assert_eq!(
            step_start("2026-12-03T14:00:00Z  INFO Step 3 of 8: FROST round 2 step=3 of=8"),
            Some(3)
        );
        assert_eq!(
            step_start(r#"{"level":"INFO","fields":{"message":"Step 8 of 8: shutdown"}}"#),
            Some(8)
        );
        assert_eq!(step_start("INFO Step done step=3 duration_s=1.2"), None);
        assert_eq!(step_start("Step x of 8: nope"), None);
    }

    #[test]
    fn the_tail_sees_each_line_once_and_waits_for_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        let mut f = fs::File::create(&log).unwrap();
        let mut tail = LogTail::default();
        write!(f, "INFO Step 1 of 8: connect\nINFO Step 2 of").unwrap();
        f.flush().unwrap();
        assert_eq!(tail.new_steps(&log), vec![1]);
        writeln!(f, " 8: frost").unwrap();
        f.flush().unwrap();
        assert_eq!(tail.new_steps(&log), vec![2]);
        assert!(tail.new_steps(&log).is_empty());
    }

    #[test]
    fn figures_are_differences_between_marks_split_by_relay_port() {
        let t0 = Instant::now();
        let sock = |relay: (u64, u64), direct: (u64, u64)| {
            HashMap::from([
                ("127.0.0.1:5000 127.0.0.1:3640".to_string(), relay),
                ("127.0.0.1:5001 127.0.0.1:7000".to_string(), direct),
            ])
        };
        let mark = |step, secs, cpu, s| Mark {
            step,
            at: t0 + Duration::from_secs(secs),
            cpu,
            sockets: s,
        };
        let marks = [
            mark(1, 0, 0.1, sock((10, 20), (0, 0))),
            mark(2, 2, 0.6, sock((15, 30), (100, 200))),
        ];
        let end = mark(0, 5, 2.6, sock((15, 31), (1100, 1200)));
        let f = figures(&marks, &end, &[3640]);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].step, f[0].secs), (1, 2.0));
        assert!((f[0].cpu - 0.5).abs() < 1e-9);
        assert_eq!((f[0].relayed, f[0].direct), ((5, 10), (100, 200)));
        assert_eq!((f[1].step, f[1].secs), (2, 3.0));
        assert_eq!((f[1].relayed, f[1].direct), ((0, 1), (1000, 1000)));
    }
}
