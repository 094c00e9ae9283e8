//! [`Plan::validate`]: the invariants every plan satisfies.

use crate::plan::{after, decremental_memory, target};
use crate::{
    Budget, MemoryType, Plan, Result, ScheduleError, decremental_chunks_for, num_chunks,
    standard_chunks,
};

impl Plan {
    /// Checks the plan's invariants; [`plan`](crate::plan) runs it before returning.
    ///
    /// - the chunks are contiguous, non-empty, and cover `0..L`; there are `ceil(L / C)`;
    /// - standard chunks are those of [`standard_chunks`]; decremental chunks keep
    ///   `c_i + m_{i−1}` constant for `1 ≤ i < n − 1` (the last absorbs the rounding);
    /// - every budget follows the configured curve, never exceeds `M`, and equals `M` for
    ///   every layer at the last step;
    /// - each step reads what the previous one kept (nothing before step 0), and keeps
    ///   `min(budget, candidates)` (FM, IM) or appends `min(slice, fresh)` (FI), so it never
    ///   keeps more than its budget nor more than the non-sink tokens seen so far;
    /// - FI slices sum to `M`.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidPlan`] naming the first step that breaks an invariant, or the
    /// configuration's own errors.
    pub fn validate(&self) -> Result<()> {
        let config = &self.config;
        config.validate()?;
        let fail = |step: usize, reason: String| Err(ScheduleError::InvalidPlan { step, reason });
        if *config != config.for_prompt(self.prompt_len) {
            return fail(
                0,
                "the baseline's memory or sinks are not set from the prompt".into(),
            );
        }
        let n = num_chunks(self.prompt_len, config.chunk)?;
        if self.steps.len() != n {
            return fail(0, format!("{} steps instead of {n}", self.steps.len()));
        }
        let (memory, sinks) = (config.memory, config.sinks);
        let (mut start, mut before) = (0, Budget::Uniform(0));
        for (i, step) in self.steps.iter().enumerate() {
            let (s, e) = (step.tokens.start, step.tokens.end);
            if step.index != i || s != start || e <= s {
                return fail(
                    i,
                    format!("chunk {} covers {s}..{e}, after {start}", step.index),
                );
            }
            let fresh = (e - s) - (sinks.min(e) - sinks.min(s));
            if step.sinks != sinks.min(s) || step.fresh != fresh {
                return fail(i, "wrong sink or candidate count".into());
            }
            if step.memory_before != before {
                return fail(i, "reads another memory than the previous step kept".into());
            }
            if step.budget != target(config, n, i)? || !step.budget.within(memory) {
                return fail(
                    i,
                    format!("budget {:?} is off the curve or above M", step.budget),
                );
            }
            let seen = e - sinks.min(e);
            let kept = &step.memory_after;
            if !kept.within_budget(&step.budget) || !kept.within(seen) {
                return fail(
                    i,
                    format!("keeps {kept:?}: over budget or tokens seen ({seen})"),
                );
            }
            let fi = config.memory_type == MemoryType::Fi;
            if step.fi_slice.is_some() != fi
                || *kept != after(&step.budget, &before, fresh, step.fi_slice)
            {
                return fail(
                    i,
                    "keeps another number than the memory type implies".into(),
                );
            }
            (start, before) = (e, kept.clone());
        }
        let last = n - 1;
        if start != self.prompt_len {
            return fail(
                last,
                format!("chunks end at {start}, not at {}", self.prompt_len),
            );
        }
        let full = match &self.steps[last].budget {
            Budget::Uniform(v) => *v == memory,
            Budget::PerLayer(v) => v.iter().all(|&v| v == memory),
            Budget::Measured { .. } => false,
        };
        if !full {
            return fail(last, "the last budget is not M for every layer".into());
        }
        let slices: usize = self.steps.iter().filter_map(|s| s.fi_slice).sum();
        if config.memory_type == MemoryType::Fi && slices != memory {
            return fail(last, format!("FI slices sum to {slices}, not M = {memory}"));
        }
        self.validate_lengths()
    }

    fn validate_lengths(&self) -> Result<()> {
        let fail = |step: usize, reason: String| Err(ScheduleError::InvalidPlan { step, reason });
        let lengths = self.chunk_lengths();
        let n = lengths.len();
        let Some(memory) = &self.decremental_memory else {
            if lengths != standard_chunks(self.prompt_len, self.config.chunk)? {
                return fail(0, "standard chunks expected".into());
            }
            return Ok(());
        };
        if !self.config.decremental || *memory != decremental_memory(&self.config, n)? {
            return fail(
                0,
                "decremental memory sequence does not match the config".into(),
            );
        }
        if lengths != decremental_chunks_for(self.prompt_len, memory)? {
            return fail(0, "decremental chunks expected".into());
        }
        if n < 3 {
            return Ok(());
        }
        let mean_memory =
            memory[..n - 1].iter().map(|&m| m as u128).sum::<u128>() / (n as u128 - 1);
        let constant = (self.prompt_len / n) as u128 + mean_memory;
        match (1..n - 1).find(|&i| (lengths[i] + memory[i - 1]) as u128 != constant) {
            Some(i) => fail(i, format!("chunk + memory read differs from {constant}")),
            None => Ok(()),
        }
    }
}
