//! The demo's step lines: one per ceremony step, once every node is past it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::dkg::ceremony::{Progress, STEPS, step_name};

/// Follows every node's ceremony and prints one line per step once all nodes
/// are past it: the nodes in the order they reached it and how long the
/// cluster spent in it (from all nodes at this step to all at the next), so
/// the lines add up to the ceremony's wall time.
pub(super) struct StepBoard {
    json: bool,
    progress: Vec<Option<Progress>>,
    /// When each node returned from a successful ceremony (step 9, "done").
    done: Vec<Arc<Mutex<Option<Instant>>>>,
    /// `reached[k - 1][node]`: when `node` was first seen at step `k` (1..=9).
    reached: Vec<Vec<Option<Instant>>>,
    printed: u64,
}

impl StepBoard {
    pub(super) fn new(
        json: bool,
        progress: Vec<Option<Progress>>,
        done: Vec<Arc<Mutex<Option<Instant>>>>,
    ) -> Self {
        let n = progress.len();
        StepBoard {
            json,
            progress,
            done,
            reached: vec![vec![None; n]; STEPS as usize + 1],
            printed: 0,
        }
    }

    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        for node in 0..self.progress.len() {
            let at = self.progress[node].as_ref().map_or(0, |p| p.state().step);
            let done = self.done[node].lock().ok().and_then(|d| *d);
            for k in 1..=at.min(STEPS) {
                self.reached[k as usize - 1][node].get_or_insert(now);
            }
            if let Some(t) = done {
                for row in self.reached.iter_mut() {
                    row[node].get_or_insert(t);
                }
            }
        }
        while self.printed < STEPS && self.all_at(self.printed + 2).is_some() {
            self.print(self.printed + 1, &[]);
            self.printed += 1;
        }
    }

    /// When the last node reached step `k` (9 = done), if all have.
    fn all_at(&self, k: u64) -> Option<Instant> {
        let row = self.reached.get(k as usize - 1)?;
        row.iter()
            .copied()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// Prints the step the cluster stopped in, naming the nodes that never
    /// reached it, if the ceremony did not finish.
    pub(super) fn finish(&mut self) {
        self.tick();
        if self.printed < STEPS {
            let k = self.printed + 1;
            let missing: Vec<usize> = (0..self.progress.len())
                .filter(|&n| self.reached[k as usize - 1][n].is_none())
                .collect();
            self.print(k, &missing);
            self.printed = STEPS;
        }
    }

    fn print(&self, k: u64, missing: &[usize]) {
        let row = &self.reached[k as usize - 1];
        let mut arrived: Vec<(Instant, usize)> = row
            .iter()
            .enumerate()
            .filter_map(|(n, t)| t.map(|t| (t, n)))
            .collect();
        arrived.sort();
        let nodes: Vec<String> = arrived.iter().map(|(_, n)| format!("node{n}")).collect();
        let duration = match (self.all_at(k), self.all_at(k + 1)) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_secs_f64()),
            _ => None,
        };
        let missing: Vec<String> = missing.iter().map(|n| format!("node{n}")).collect();
        if self.json {
            println!(
                "{}",
                serde_json::json!({
                    "step": k,
                    "of": STEPS,
                    "name": step_name(k),
                    "nodes": nodes,
                    "duration_s": duration.map(|d| (d * 1000.0).round() / 1000.0),
                    "missing": missing,
                })
            );
            return;
        }
        let mut line = format!(
            "step {k}/{STEPS} {:<22} [{}]",
            step_name(k),
            nodes.join(" ")
        );
        match duration {
            Some(d) => line.push_str(&format!("  {d:.2} s")),
            None if !missing.is_empty() => {
                line.push_str(&format!("  never reached by {}", missing.join(" ")))
            }
            None => line.push_str("  did not finish"),
        }
        println!("{line}");
    }
}
