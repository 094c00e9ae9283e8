//! Several probes behind one observer.

use std::ops::Range;

use mss_core::AttentionNeeds;

use crate::event::observer;
use crate::{Composition, Forgetting, HostEvent, MemoryAttention, Probe, ProbeReport, Retention};

/// The probes of this crate as one [`MemoryObserver`](mss_core::MemoryObserver): each event is
/// read to the host once and handed to every probe switched on; the statistics asked for are
/// the union of theirs.
///
/// ```
/// use mss_probe::{Forgetting, Probes};
/// let probes = Probes::none().with_retention().with_forgetting(Forgetting::tracking(vec![4..64]));
/// assert!(probes.retention().is_some() && probes.attention().is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Probes {
    retention: Option<Retention>,
    forgetting: Option<Forgetting>,
    attention: Option<MemoryAttention>,
    composition: Option<Composition>,
    prompt_len: usize,
    n_layers: usize,
    chunks: Vec<Range<usize>>,
}

impl Probes {
    /// No probe switched on.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every probe, the forgetting curve tracking the first chunk.
    pub fn all() -> Self {
        Self::none()
            .with_retention()
            .with_forgetting(Forgetting::first_chunk())
            .with_attention()
            .with_composition()
    }

    /// Switches memory retention on.
    pub fn with_retention(mut self) -> Self {
        self.retention = Some(Retention::new());
        self
    }

    /// Switches the forgetting curve on, with its tracked ranges.
    pub fn with_forgetting(mut self, forgetting: Forgetting) -> Self {
        self.forgetting = Some(forgetting);
        self
    }

    /// Switches attention to memory on (needs column sums).
    pub fn with_attention(mut self) -> Self {
        self.attention = Some(MemoryAttention::new());
        self
    }

    /// Switches memory composition on.
    pub fn with_composition(mut self) -> Self {
        self.composition = Some(Composition::new());
        self
    }

    /// The retention probe, if on.
    pub fn retention(&self) -> Option<&Retention> {
        self.retention.as_ref()
    }

    /// The forgetting probe, if on.
    pub fn forgetting(&self) -> Option<&Forgetting> {
        self.forgetting.as_ref()
    }

    /// The attention probe, if on.
    pub fn attention(&self) -> Option<&MemoryAttention> {
        self.attention.as_ref()
    }

    /// The composition probe, if on.
    pub fn composition(&self) -> Option<&Composition> {
        self.composition.as_ref()
    }

    /// What was recorded over the last prefill (label empty; see
    /// [`ProbeReport::with_label`]).
    pub fn report(&self) -> ProbeReport {
        ProbeReport {
            label: String::new(),
            prompt_len: self.prompt_len,
            n_layers: self.n_layers,
            chunks: self.chunks.clone(),
            retention: self.retention.as_ref().map(Retention::report),
            forgetting: self.forgetting.as_ref().map(Forgetting::report),
            attention: self.attention.as_ref().map(MemoryAttention::report),
            composition: self.composition.as_ref().map(Composition::report),
        }
    }

    fn probes(&mut self) -> [Option<&mut dyn Probe>; 4] {
        [
            self.retention.as_mut().map(|p| p as &mut dyn Probe),
            self.forgetting.as_mut().map(|p| p as &mut dyn Probe),
            self.attention.as_mut().map(|p| p as &mut dyn Probe),
            self.composition.as_mut().map(|p| p as &mut dyn Probe),
        ]
    }
}

impl Probe for Probes {
    fn needs(&self) -> AttentionNeeds {
        let needs = [
            self.retention.as_ref().map(Probe::needs),
            self.forgetting.as_ref().map(Probe::needs),
            self.attention.as_ref().map(Probe::needs),
            self.composition.as_ref().map(Probe::needs),
        ];
        needs
            .into_iter()
            .flatten()
            .fold(AttentionNeeds::NONE, AttentionNeeds::union)
    }

    fn start(&mut self, prompt_len: usize, n_layers: usize) {
        self.prompt_len = prompt_len;
        self.n_layers = n_layers;
        self.chunks.clear();
        for probe in self.probes().into_iter().flatten() {
            probe.start(prompt_len, n_layers);
        }
    }

    fn record(&mut self, event: &HostEvent) {
        if self.chunks.len() <= event.step {
            self.chunks.resize(event.step + 1, 0..0);
        }
        self.chunks[event.step] = event.chunk.clone();
        for probe in self.probes().into_iter().flatten() {
            probe.record(event);
        }
    }
}

observer!(Probes);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures::{event, stats};
    use crate::tests::TestBackend as B;
    use mss_core::MemoryObserver;

    #[test]
    fn needs_are_the_union_of_the_probes_switched_on() {
        let probes = Probes::none().with_retention().with_composition();
        assert!(MemoryObserver::<B>::needs(&probes).is_empty());
        assert!(MemoryObserver::<B>::needs(&Probes::all()).column_sums);
    }

    #[test]
    fn every_probe_sees_every_event() {
        let mut probes = Probes::all();
        MemoryObserver::<B>::start(&mut probes, 10, 1);
        let s = stats(&[&[1.0, 1.0, 1.0, 1.0]], &[&[1.0; 4]]);
        probes.on_memory(&event(0, 0, 0..4, &[&[]], &[&[0, 1, 2, 3]], &s));
        let s = stats(&[&[0.5, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5]], &[&[3.0; 7]]);
        probes.on_memory(&event(1, 0, 4..7, &[&[0, 1, 2, 3]], &[&[0, 1, 3, 6]], &s));
        let report = probes.report();
        assert_eq!((report.prompt_len, report.n_layers), (10, 1));
        assert_eq!(report.chunks, vec![0..4, 4..7]);
        assert_eq!(report.retention.unwrap().by_step, vec![None, Some(0.5)]);
        assert_eq!(
            report.forgetting.unwrap().by_step,
            vec![Some(1.0), Some(0.5)]
        );
        assert!(report.attention.unwrap().mean_by_step[1].is_some());
        assert_eq!(report.composition.unwrap().unique, vec![2, 2]);
    }
}
