//! The model's weights seen as host slices: borrowed from Flex tensors, never copied.

use std::any::Any;

use burn::prelude::*;
use burn::tensor::DType;
use burn_flex::FlexTensor;

use super::gemm::{MatRef, Threads, matmul};
use super::simd::add_bias;
use crate::{Linear, RmsNorm, Transformer};

/// A Flex tensor's f32 storage, held by a reference count so that it can be borrowed.
#[derive(Debug, Clone)]
pub(crate) struct HostTensor(FlexTensor);

impl HostTensor {
    /// The tensor's storage when it is an f32 tensor of the Flex backend with non-negative
    /// strides; `None` for any other backend or dtype.
    pub fn of<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> Option<Self> {
        let primitive: Box<dyn Any> = Box::new(tensor.clone().into_primitive().tensor());
        let flex = primitive.downcast::<FlexTensor>().ok()?;
        (flex.dtype() == DType::F32 && flex.layout().has_positive_strides()).then(|| Self(*flex))
    }

    /// A 1-D contiguous tensor's elements.
    pub fn vector(&self) -> Option<&[f32]> {
        (self.0.layout().num_dims() == 1)
            .then(|| self.0.as_slice::<f32>())
            .flatten()
    }

    /// A 2-D tensor as a strided matrix (a transposed view stays a view).
    pub fn matrix(&self) -> Option<MatRef<'_>> {
        let layout = self.0.layout();
        let (&[rows, cols], &[row_stride, col_stride]) =
            (layout.shape().as_slice(), layout.strides())
        else {
            return None;
        };
        Some(MatRef {
            data: self.0.storage::<f32>(),
            offset: layout.start_offset(),
            rows,
            cols,
            row_stride: row_stride as usize,
            col_stride: col_stride as usize,
        })
    }
}

/// A linear layer's weight `[d_in, d_out]` and bias `[d_out]`.
#[derive(Debug, Clone)]
pub(crate) struct HostLinear {
    weight: HostTensor,
    bias: Option<HostTensor>,
}

impl HostLinear {
    fn of<B: Backend>(linear: &Linear<B>) -> Option<Self> {
        let weight = HostTensor::of(&linear.weight)?;
        weight.matrix()?;
        let bias = match &linear.bias {
            Some(bias) => Some(HostTensor::of(bias).filter(|b| b.vector().is_some())?),
            None => None,
        };
        Some(Self { weight, bias })
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.matrix().cols
    }

    fn matrix(&self) -> MatRef<'_> {
        self.weight.matrix().expect("checked when built")
    }

    /// `out = x W + b`, or `out += x W + b` when `accumulate` (a fused residual add).
    ///
    /// # Shapes
    /// - `x`: `[rows, d_in]`, `out`: `[rows, d_out]`
    pub fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
        let w = self.matrix();
        let rows = x.len() / w.rows;
        matmul(
            out,
            w.cols,
            MatRef::row_major(x, rows, w.rows),
            w,
            1.0,
            accumulate,
            Threads::All,
        );
        if let Some(bias) = &self.bias {
            add_bias(out, bias.vector().expect("checked when built"));
        }
    }
}

/// An RMSNorm's gain and epsilon.
#[derive(Debug, Clone)]
pub(crate) struct HostNorm {
    weight: HostTensor,
    pub eps: f32,
}

impl HostNorm {
    fn of<B: Backend>(norm: &RmsNorm<B>) -> Option<Self> {
        let weight = HostTensor::of(&norm.weight).filter(|w| w.vector().is_some())?;
        Some(Self {
            weight,
            eps: norm.eps as f32,
        })
    }

    pub fn weight(&self) -> &[f32] {
        self.weight.vector().expect("checked when built")
    }
}

/// One decoder layer's weights.
#[derive(Debug, Clone)]
pub(crate) struct HostLayer {
    pub input_norm: HostNorm,
    pub q: HostLinear,
    pub k: HostLinear,
    pub v: HostLinear,
    pub o: HostLinear,
    pub post_norm: HostNorm,
    pub gate: HostLinear,
    pub up: HostLinear,
    pub down: HostLinear,
}

/// Every weight of a model, as host slices.
#[derive(Debug, Clone)]
pub(crate) struct HostWeights {
    /// `[vocab, hidden]`
    pub embed: HostTensor,
    pub layers: Vec<HostLayer>,
    pub norm: HostNorm,
    pub lm_head: HostLinear,
}

impl HostWeights {
    /// The weights of `model` when they are f32 tensors of the Flex backend.
    pub fn of<B: Backend>(model: &Transformer<B>) -> Option<Self> {
        let embed = HostTensor::of(&model.embed_tokens).filter(|e| e.matrix().is_some())?;
        let layers = model
            .layers
            .iter()
            .map(|layer| {
                let attn = &layer.self_attn;
                Some(HostLayer {
                    input_norm: HostNorm::of(&layer.input_layernorm)?,
                    q: HostLinear::of(&attn.q_proj)?,
                    k: HostLinear::of(&attn.k_proj)?,
                    v: HostLinear::of(&attn.v_proj)?,
                    o: HostLinear::of(&attn.o_proj)?,
                    post_norm: HostNorm::of(&layer.post_attention_layernorm)?,
                    gate: HostLinear::of(&layer.mlp.gate_proj)?,
                    up: HostLinear::of(&layer.mlp.up_proj)?,
                    down: HostLinear::of(&layer.mlp.down_proj)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            embed,
            layers,
            norm: HostNorm::of(&model.norm)?,
            lm_head: HostLinear::of(&model.lm_head)?,
        })
    }

    /// The embedding rows of `tokens` (ids already checked against the vocabulary).
    ///
    /// # Shapes
    /// Returns `[tokens.len(), hidden]`.
    pub fn embed(&self, tokens: &[usize]) -> Vec<f32> {
        let table = self.embed.matrix().expect("checked when built");
        let mut x = Vec::with_capacity(tokens.len() * table.cols);
        for &id in tokens {
            let row = table.offset + id * table.row_stride;
            if table.col_stride == 1 {
                x.extend_from_slice(&table.data[row..row + table.cols]);
            } else {
                x.extend((0..table.cols).map(|c| table.data[row + c * table.col_stride]));
            }
        }
        x
    }
}
