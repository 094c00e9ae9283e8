//! The items' random numbers.

use super::SyntheticTask;

/// SplitMix64, seeded by the item: the same task, cell and sample give the same question.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(task: SyntheticTask, tokens: usize, depth: f64, sample: usize) -> Self {
        let mut seed = 0xcbf2_9ce4_8422_2325_u64;
        for byte in task
            .name()
            .bytes()
            .chain((tokens as u64).to_le_bytes())
            .chain(depth.to_bits().to_le_bytes())
            .chain((sample as u64).to_le_bytes())
        {
            seed = (seed ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is far below what the tasks notice).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `k` distinct indices of `0..n`, in random order (all of them when `k >= n`).
    pub(super) fn distinct(&mut self, k: usize, n: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        self.shuffle(&mut all);
        all.truncate(k);
        all
    }

    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A variable name: five capital letters.
    pub(super) fn name(&mut self) -> String {
        (0..5)
            .map(|_| char::from(b'A' + self.below(26) as u8))
            .collect()
    }
}
