//! Choosing the next token from logits: greedy, or sampling with temperature and top-p.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The most likely token (ties: the lowest id).
    Greedy,
    /// A draw from `softmax(logits / temperature)` restricted to the smallest set of most
    /// likely tokens whose probability reaches `top_p` (nucleus sampling), from a seeded RNG.
    Sample {
        /// Softmax temperature, > 0.
        temperature: f32,
        /// Nucleus mass in (0, 1].
        top_p: f32,
        /// RNG seed: equal seeds give equal continuations.
        seed: u64,
    },
}

impl Sampling {
    /// Checks temperature and top-p.
    pub fn validate(&self) -> Result<()> {
        if let Sampling::Sample {
            temperature, top_p, ..
        } = *self
        {
            if temperature.is_nan() || temperature <= 0.0 {
                return Err(Error::InvalidArgument {
                    name: "temperature",
                    reason: format!("{temperature} must be > 0"),
                });
            }
            if top_p.is_nan() || top_p <= 0.0 || top_p > 1.0 {
                return Err(Error::InvalidArgument {
                    name: "top_p",
                    reason: format!("{top_p} must be in (0, 1]"),
                });
            }
        }
        Ok(())
    }
}

/// Draws tokens according to a [`Sampling`].
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    sampling: Sampling,
    rng: ChaCha8Rng,
}

impl Sampler {
    pub(crate) fn new(sampling: Sampling) -> Result<Self> {
        sampling.validate()?;
        let seed = match sampling {
            Sampling::Sample { seed, .. } => seed,
            Sampling::Greedy => 0,
        };
        Ok(Self {
            sampling,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    pub(crate) fn next(&mut self, logits: &[f32]) -> u32 {
        match self.sampling {
            Sampling::Greedy => argmax(logits),
            Sampling::Sample {
                temperature, top_p, ..
            } => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut probs: Vec<(u32, f64)> = logits
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as u32, (((l - max) / temperature) as f64).exp()))
                    .collect();
                probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let total: f64 = probs.iter().map(|p| p.1).sum();
                let mut mass = 0.0;
                let keep = probs
                    .iter()
                    .position(|p| {
                        mass += p.1 / total;
                        mass >= top_p as f64
                    })
                    .map_or(probs.len(), |i| i + 1);
                probs.truncate(keep);
                let kept: f64 = probs.iter().map(|p| p.1).sum();
                let mut draw = self.rng.random::<f64>() * kept;
                for &(id, p) in &probs {
                    if draw < p {
                        return id;
                    }
                    draw -= p;
                }
                probs.last().map_or(0, |p| p.0)
            }
        }
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_and_the_lowest_id_on_ties() {
        let mut s = Sampler::new(Sampling::Greedy).unwrap();
        assert_eq!(s.next(&[0.1, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn a_tiny_nucleus_is_greedy() {
        let mut s = Sampler::new(Sampling::Sample {
            temperature: 1.0,
            top_p: 1e-6,
            seed: 3,
        })
        .unwrap();
        for _ in 0..20 {
            assert_eq!(s.next(&[0.0, 5.0, 4.9, 1.0]), 1);
        }
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let draw = |seed| {
            let mut s = Sampler::new(Sampling::Sample {
                temperature: 1.0,
                top_p: 1.0,
                seed,
            })
            .unwrap();
            (0..4000).map(|_| s.next(&logits)).collect::<Vec<_>>()
        };
        let a = draw(11);
        assert_eq!(a, draw(11));
        assert_ne!(a, draw(12));
        let ones = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((ones - 0.75).abs() < 0.03, "P(1) = {ones}, expected 0.75");
        assert!(!a.contains(&2), "a token of probability 0 was drawn");
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(
            Sampler::new(Sampling::Sample {
                temperature: 0.0,
                top_p: 0.9,
                seed: 0
            })
            .is_err()
        );
        assert!(
            Sampler::new(Sampling::Sample {
                temperature: 1.0,
                top_p: 1.5,
                seed: 0
            })
            .is_err()
        );
        assert!(
            Sampler::new(Sampling::Sample {
                temperature: f32::NAN,
                top_p: 0.5,
                seed: 0
            })
            .is_err()
        );
    }
}
