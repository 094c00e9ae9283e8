//! Where a model's weights come from, by Hugging Face name and shape: the model folder's files,
//! or random draws of the same shapes. One construction path serves both.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};

use crate::Result;
use crate::weights::WeightFiles;

/// Every weight of a model by its Hugging Face name.
pub(crate) trait WeightSource<B: Backend> {
    /// The tensor `name` of `shape`.
    fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>>;

    /// The matrix `name`, stored `[out, in]` as Hugging Face does, as `[in, out]`.
    fn transposed(&self, name: &str, shape: [usize; 2]) -> Result<Tensor<B, 2>>;
}

/// The weights of a model folder, cast to `dtype` on `device`.
pub(crate) struct FileWeights<'a, B: Backend> {
    pub files: &'a WeightFiles,
    pub device: &'a B::Device,
    pub dtype: DType,
}

impl<B: Backend> WeightSource<B> for FileWeights<'_, B> {
    fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>> {
        self.files.tensor(name, shape, self.dtype, self.device)
    }

    fn transposed(&self, name: &str, shape: [usize; 2]) -> Result<Tensor<B, 2>> {
        self.files.transposed(name, shape, self.dtype, self.device)
    }
}

/// Random weights: normal with std 0.02, norms' gains at 1 (for timings, which do not depend
/// on the values). Seed the backend first for reproducible weights.
pub(crate) struct RandomWeights<'a, B: Backend> {
    pub device: &'a B::Device,
    pub dtype: DType,
}

impl<B: Backend> RandomWeights<'_, B> {
    fn normal<const D: usize>(&self, shape: [usize; D]) -> Tensor<B, D> {
        Tensor::<B, D>::random(shape, Distribution::Normal(0.0, 0.02), self.device).cast(self.dtype)
    }
}

impl<B: Backend> WeightSource<B> for RandomWeights<'_, B> {
    fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>> {
        Ok(match name.ends_with("norm.weight") {
            true => Tensor::ones(shape, (self.device, self.dtype)),
            false => self.normal(shape),
        })
    }

    fn transposed(&self, _name: &str, [d_out, d_in]: [usize; 2]) -> Result<Tensor<B, 2>> {
        // Drawn in the layout it is used in: the same draws as before there was a source.
        Ok(self.normal([d_in, d_out]))
    }
}
