//! RoPE on host slices: cosine and sine rows of positions, cached across chunks.

use std::sync::{Arc, Mutex};

/// Cosines and sines of the positions `0..len` for one set of inverse frequencies.
///
/// # Shapes
/// - `cos`, `sin`: `[len, head_dim / 2]`
#[derive(Debug)]
pub(crate) struct RopeRows {
    inv_freq: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeRows {
    /// Angles are `position as f32 * inv_freq` in f32, as transformers (and the Burn path)
    /// compute them.
    fn new(inv_freq: &[f32], len: usize) -> Self {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for position in 0..len {
            for &f in inv_freq {
                let angle = position as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self {
            inv_freq: inv_freq.to_vec(),
            cos,
            sin,
        }
    }

    fn len(&self) -> usize {
        self.cos.len() / self.inv_freq.len().max(1)
    }

    /// Rotates one head's vector at `position` in place (rotate-half layout:
    /// `x * cos + rotate_half(x) * sin`).
    ///
    /// # Panics
    /// If `position` is not below the table's length.
    #[inline(always)]
    pub fn rotate(&self, x: &mut [f32], position: usize) {
        let half = self.inv_freq.len();
        let cos = &self.cos[position * half..(position + 1) * half];
        let sin = &self.sin[position * half..(position + 1) * half];
        let (first, second) = x.split_at_mut(half);
        for (((a, b), &c), &s) in first.iter_mut().zip(second).zip(cos).zip(sin) {
            let (x0, x1) = (*a, *b);
            *a = x0 * c + x1 * -s;
            *b = x1 * c + x0 * s;
        }
    }
}

/// Tables shared by every chunk of a model: most prefills and every decoding step reuse one.
/// A few are kept, since dynamic scalings change the frequencies with the step's length.
#[derive(Debug, Default)]
pub(crate) struct RopeCache {
    tables: Mutex<Vec<Arc<RopeRows>>>,
}

/// Tables kept at most (dynamic scalings make one per distinct length).
const KEPT: usize = 4;

impl RopeCache {
    /// A table for `inv_freq` covering positions `0..len` at least.
    pub fn rows(&self, inv_freq: &[f32], len: usize) -> Arc<RopeRows> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = tables
            .iter()
            .find(|t| t.inv_freq == inv_freq && t.len() >= len)
        {
            return found.clone();
        }
        // Grown in powers of two so that a growing prompt rebuilds its table rarely.
        let table = Arc::new(RopeRows::new(inv_freq, len.next_power_of_two()));
        tables.retain(|t| t.inv_freq != inv_freq);
        if tables.len() == KEPT {
            tables.remove(0);
        }
        tables.push(table.clone());
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_matches_rotate_half_and_tables_are_reused() {
        let inv_freq = [1.0f32, 0.1];
        let cache = RopeCache::default();
        let rows = cache.rows(&inv_freq, 5);
        assert!(Arc::ptr_eq(&rows, &cache.rows(&inv_freq, 8)));
        let x = [0.3f32, -1.2, 0.7, 2.0];
        let mut rotated = x;
        rows.rotate(&mut rotated, 3);
        for i in 0..4 {
            let angle = 3.0 * inv_freq[i % 2];
            let half = if i < 2 { -x[i + 2] } else { x[i - 2] };
            let want = x[i] * angle.cos() + half * angle.sin();
            assert!((rotated[i] - want).abs() < 1e-6);
        }
        let longer = cache.rows(&inv_freq, 9);
        assert!(longer.len() >= 9 && !Arc::ptr_eq(&rows, &longer));
    }
}
