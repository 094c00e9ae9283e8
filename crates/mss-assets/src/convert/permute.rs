//! Undoing llama.cpp's rotary row permutation of `attn_q` / `attn_k`, so that the weights use
//! Hugging Face's rotate-half layout.

use crate::error::{AssetError, Result};

/// The inverse of llama.cpp's `permute`: views the `[rows, cols]` row-major matrix `w` as
/// `[n_head, rows / n_head / 2, 2, cols]`, swaps axes 1 and 2 and views it back as
/// `[rows, cols]`. `tensor` names it in errors.
pub fn reverse_permute(
    w: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
    tensor: &str,
) -> Result<Vec<f32>> {
    let invalid = |reason: String| AssetError::InvalidTensor {
        tensor: tensor.to_owned(),
        reason,
    };
    if n_head
        .checked_mul(2)
        .is_none_or(|d| d == 0 || !rows.is_multiple_of(d))
    {
        return Err(invalid(format!(
            "{rows} rows cannot be split into {n_head} heads of rotary pairs"
        )));
    }
    if rows.checked_mul(cols) != Some(w.len()) {
        return Err(invalid(format!(
            "{} values do not form a [{rows}, {cols}] matrix",
            w.len()
        )));
    }
    let half = rows / n_head / 2;
    let mut out = Vec::with_capacity(w.len());
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                let src = h * 2 * half + i * 2 + j;
                out.extend_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_heads_of_four_rows() {
        // rows = 8, n_head = 2, half = 2, cols = 2: row r holds [10r, 10r + 1].
        let w: Vec<f32> = (0..8)
            .flat_map(|r| [10.0 * r as f32, 10.0 * r as f32 + 1.0])
            .collect();
        let got = reverse_permute(&w, 8, 2, 2, "q").unwrap();
        // Per head, the even rows come first, then the odd rows: 0 2 1 3 | 4 6 5 7.
        let order = [0, 2, 1, 3, 4, 6, 5, 7];
        let want: Vec<f32> = order
            .iter()
            .flat_map(|&r| [10.0 * r as f32, 10.0 * r as f32 + 1.0])
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn one_head_of_six_rows_one_column() {
        let w = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            reverse_permute(&w, 6, 1, 1, "k").unwrap(),
            [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
        );
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        assert!(matches!(
            reverse_permute(&[0.0; 6], 6, 1, 2, "k"),
            Err(AssetError::InvalidTensor { tensor, .. }) if tensor == "k"
        ));
        assert!(reverse_permute(&[0.0; 4], 4, 1, 0, "k").is_err());
        assert!(reverse_permute(&[0.0; 5], 4, 1, 1, "k").is_err());
    }
}
