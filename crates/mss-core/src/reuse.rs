//! Tensors that depend only on their shape, built once and reused.

use burn::prelude::*;
use burn::tensor::BasicOps;

/// The tensor in `slot` when it has `dims`, else `build()`, kept in `slot` for the next call.
///
/// Layers of one step ask for the same index and count tensors; on a GPU each tensor built is
/// an upload and operations the host pays for as for a kernel, and prefills of small models are
/// bound by the host.
pub fn reuse_or_build<B: Backend, const D: usize, K: BasicOps<B>>(
    slot: &mut Option<Tensor<B, D, K>>,
    dims: [usize; D],
    build: impl FnOnce() -> Tensor<B, D, K>,
) -> Tensor<B, D, K> {
    match slot {
        Some(tensor) if tensor.dims() == dims => tensor.clone(),
        _ => {
            let tensor = build();
            *slot = Some(tensor.clone());
            tensor
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend as B;

    #[test]
    fn builds_once_per_shape() {
        let device = Default::default();
        let mut slot: Option<Tensor<B, 1, Int>> = None;
        let mut builds = 0;
        let mut get = |len: usize, slot: &mut Option<Tensor<B, 1, Int>>| {
            reuse_or_build(slot, [len], || {
                builds += 1;
                Tensor::arange(0..len as i64, &device)
            })
        };
        let first: Vec<i64> = get(3, &mut slot)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        assert_eq!(first, [0, 1, 2]);
        get(3, &mut slot);
        let other: Vec<i64> = get(2, &mut slot)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        assert_eq!(other, [0, 1]);
        get(2, &mut slot);
        assert_eq!(builds, 2, "one build per shape in a row");
    }
}
