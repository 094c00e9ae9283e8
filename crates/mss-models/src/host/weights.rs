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
    /// Output width when the weight is widened over the columns of its neighbours in the same
    /// storage (a [`Projection::Fused`]).
    columns: Option<usize>,
}

impl HostLinear {
    fn of<B: Backend>(linear: &Linear<B>) -> Option<Self> {
        let weight = HostTensor::of(&linear.weight.val())?;
        weight.matrix()?;
        let bias = match &linear.bias {
            Some(bias) => Some(HostTensor::of(bias).filter(|b| b.vector().is_some())?),
            None => None,
        };
        Some(Self {
            weight,
            bias,
            columns: None,
        })
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.matrix().cols
    }

    fn matrix(&self) -> MatRef<'_> {
        let matrix = self.weight.matrix().expect("checked when built");
        MatRef {
            cols: self.columns.unwrap_or(matrix.cols),
            ..matrix
        }
    }

    /// `out = x W + b`, or `out += x W + b` when `accumulate` (a fused residual add).
    ///
    /// # Shapes
    /// - `x`: `[rows, d_in]`, `out`: `[rows, d_out]`
    pub fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
        let d_in = self.matrix().rows;
        let x = MatRef::row_major(x, x.len() / d_in, d_in);
        self.forward_strided(x, out, self.d_out(), accumulate);
    }

    /// [`Self::forward`] from a strided input into rows `out_row_stride` apart.
    ///
    /// # Shapes
    /// - `x`: `[rows, d_in]`, `out`: `[rows, d_out]` with row stride `out_row_stride`
    pub fn forward_strided(
        &self,
        x: MatRef<'_>,
        out: &mut [f32],
        out_row_stride: usize,
        accumulate: bool,
    ) {
        matmul(
            out,
            out_row_stride,
            x,
            self.matrix(),
            1.0,
            accumulate,
            Threads::All,
        );
        if let Some(bias) = &self.bias {
            add_bias(
                out,
                out_row_stride,
                x.rows,
                bias.vector().expect("checked when built"),
            );
        }
    }
}

/// Linear layers reading the same input (q/k/v, gate/up), their outputs side by side in one
/// row-major `[rows, Σ d_out]` buffer: one product per element of `products`.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    /// A single widened layer when the weights are adjacent column blocks of one storage
    /// ([`fuse_projections`]): one wide product instead of several narrow ones. Otherwise
    /// the layers themselves (weights stored apart, or with biases).
    products: Vec<HostLinear>,
}

impl Projection {
    fn of(parts: Vec<HostLinear>) -> Self {
        let products = match Self::fused(&parts) {
            Some(fused) => vec![fused],
            None => parts,
        };
        Self { products }
    }

    /// The layers as one when their weights are adjacent column blocks of one storage.
    fn fused(parts: &[HostLinear]) -> Option<HostLinear> {
        let first = parts.first()?.matrix();
        let mut next_offset = first.offset;
        for part in parts {
            let m = part.matrix();
            let same_storage = std::ptr::eq(m.data, first.data);
            let adjacent = m.offset == next_offset
                && m.rows == first.rows
                && m.row_stride == first.row_stride
                && m.col_stride == 1;
            if part.bias.is_some() || !same_storage || !adjacent {
                return None;
            }
            next_offset += m.cols;
        }
        Some(HostLinear {
            columns: Some(next_offset - first.offset),
            ..parts[0].clone()
        })
    }

    /// Matrix products per call.
    #[cfg(test)]
    pub fn products(&self) -> usize {
        self.products.len()
    }

    /// Total output width.
    pub fn d_out(&self) -> usize {
        self.products.iter().map(HostLinear::d_out).sum()
    }

    /// `out = [x W_0 + b_0, x W_1 + b_1, ...]`.
    ///
    /// # Shapes
    /// - `x`: `[rows, d_in]`, `out`: `[rows, Σ d_out]`
    pub fn forward(&self, x: &[f32], out: &mut [f32]) {
        let width = self.d_out();
        let d_in = self.products.first().map_or(1, |p| p.matrix().rows);
        let x = MatRef::row_major(x, x.len() / d_in, d_in);
        let mut column = 0;
        for linear in &self.products {
            linear.forward_strided(x, &mut out[column..], width, false);
            column += linear.d_out();
        }
    }
}

/// Stores the q/k/v and gate/up weights of every layer of an f32 Flex model side by side, each
/// layer's weight a view of its columns (no copy on use), so the host path runs one product
/// per group. Layers with biases, and models the host path cannot run, are left as they are.
pub(crate) fn fuse_projections<B: Backend>(model: &mut Transformer<B>) {
    if HostTensor::of(&model.embed_tokens.val()).is_none() {
        return;
    }
    for layer in &mut model.layers {
        let attn = &mut layer.self_attn;
        share_columns([&mut attn.q_proj, &mut attn.k_proj, &mut attn.v_proj]);
        let mlp = &mut layer.mlp;
        share_columns([&mut mlp.gate_proj, &mut mlp.up_proj]);
    }
}

/// Replaces the weights `[d_in, d_out_i]` with views of one `[d_in, Σ d_out_i]` tensor.
fn share_columns<B: Backend, const N: usize>(linears: [&mut Linear<B>; N]) {
    if linears.iter().any(|l| l.bias.is_some()) {
        return;
    }
    let weights = linears.each_ref().map(|l| l.weight.val());
    let widths = weights.each_ref().map(|w| w.dims()[1]);
    let d_in = weights[0].dims()[0];
    if weights.iter().any(|w| w.dims()[0] != d_in) {
        return;
    }
    let fused = Tensor::cat(weights.to_vec(), 1);
    let mut start = 0;
    for (linear, width) in linears.into_iter().zip(widths) {
        let view = fused.clone().slice([0..d_in, start..start + width]);
        linear.weight = linear.weight.clone().map(|_| view);
        start += width;
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
        let weight = HostTensor::of(&norm.weight.val()).filter(|w| w.vector().is_some())?;
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
    /// Queries, keys and values `[rows, q_width + 2 * kv_width]`.
    pub qkv: Projection,
    pub o: HostLinear,
    pub post_norm: HostNorm,
    /// Gate and up `[rows, 2 * intermediate]`.
    pub gate_up: Projection,
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
        let embed = HostTensor::of(&model.embed_tokens.val()).filter(|e| e.matrix().is_some())?;
        let layers = model
            .layers
            .iter()
            .map(|layer| {
                let attn = &layer.self_attn;
                Some(HostLayer {
                    input_norm: HostNorm::of(&layer.input_layernorm)?,
                    qkv: Projection::of(vec![
                        HostLinear::of(&attn.q_proj)?,
                        HostLinear::of(&attn.k_proj)?,
                        HostLinear::of(&attn.v_proj)?,
                    ]),
                    o: HostLinear::of(&attn.o_proj)?,
                    post_norm: HostNorm::of(&layer.post_attention_layernorm)?,
                    gate_up: Projection::of(vec![
                        HostLinear::of(&layer.mlp.gate_proj)?,
                        HostLinear::of(&layer.mlp.up_proj)?,
                    ]),
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = burn::backend::Flex;

    fn linear(d_in: usize, d_out: usize) -> Linear<B> {
        let weight = Tensor::random(
            [d_in, d_out],
            Distribution::Normal(0.0, 1.0),
            &Default::default(),
        );
        Linear::new(weight, None)
    }

    fn output(projection: &Projection, x: &[f32]) -> Vec<f32> {
        let rows = x.len() / 6;
        let mut out = vec![f32::NAN; rows * projection.d_out()];
        projection.forward(x, &mut out);
        out
    }

    #[test]
    fn shared_columns_make_one_product_with_the_same_outputs() {
        let (mut q, mut k, mut v) = (linear(6, 4), linear(6, 2), linear(6, 2));
        let apart = Projection::of(vec![
            HostLinear::of(&q).unwrap(),
            HostLinear::of(&k).unwrap(),
            HostLinear::of(&v).unwrap(),
        ]);
        assert_eq!(apart.products(), 3);
        let before = [&q, &k, &v].map(|l| l.weight.val().to_data());

        share_columns([&mut q, &mut k, &mut v]);
        let after = [&q, &k, &v].map(|l| l.weight.val().to_data());
        assert_eq!(before, after, "each layer keeps its own weight");
        let fused = Projection::of(vec![
            HostLinear::of(&q).unwrap(),
            HostLinear::of(&k).unwrap(),
            HostLinear::of(&v).unwrap(),
        ]);
        assert_eq!(fused.products(), 1, "adjacent views of one storage fuse");
        assert_eq!(fused.d_out(), 8);

        let x: Vec<f32> = (0..3 * 6).map(|i| (i as f32 * 0.37).sin()).collect();
        let (a, b) = (output(&apart, &x), output(&fused, &x));
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn layers_in_another_order_or_with_biases_stay_apart() {
        let (mut gate, mut up) = (linear(6, 3), linear(6, 3));
        share_columns([&mut gate, &mut up]);
        let swapped = Projection::of(vec![
            HostLinear::of(&up).unwrap(),
            HostLinear::of(&gate).unwrap(),
        ]);
        assert_eq!(swapped.products(), 2);

        let (mut q, mut k) = (linear(6, 2), linear(6, 2));
        q = Linear::new(q.weight.val(), Some(Tensor::ones([2], &Default::default())));
        share_columns([&mut q, &mut k]);
        let with_bias = Projection::of(vec![
            HostLinear::of(&q).unwrap(),
            HostLinear::of(&k).unwrap(),
        ]);
        assert_eq!(with_bias.products(), 2, "a bias keeps the layers apart");
        // The bias lands in the first block's columns only.
        let x = vec![0.0f32; 2 * 6];
        assert_eq!(
            output(&with_bias, &x),
            [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn models_of_the_host_path_are_built_fused() {
        let config = crate::TransformerConfig::smollm2_135m();
        let config = crate::TransformerConfig {
            num_hidden_layers: 1,
            vocab_size: 64,
            ..config
        };
        let model = config.init::<B>(&Default::default(), DType::F32);
        let weights = HostWeights::of(&model).unwrap();
        assert_eq!(weights.layers[0].qkv.products(), 1);
        assert_eq!(weights.layers[0].gate_up.products(), 1);
        assert_eq!(weights.layers[0].qkv.d_out(), 576 + 2 * 192);
    }
}
