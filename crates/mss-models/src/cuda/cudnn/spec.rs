//! The attention's cuDNN graph as plain data: the composite graph cuDNN's frontend builds for
//! backends below 9.21 (`CompositeSDPANode` with its diagonal-band mask and softmax nodes), op
//! for op, so that cuDNN's fused attention engine takes it (docs/notes/cudnn-attention.md §2:
//! reordering or merging ops can drop it off that engine). `graph` makes descriptors of it.

use cudarc::cudnn::sys::{
    cudnnDataType_t as Data, cudnnPointwiseMode_t as Pw, cudnnReduceTensorOp_t as Reduce,
};

/// The element type of the queries, keys, values and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Io {
    Bf16,
    F16,
}

impl Io {
    pub fn data_type(self) -> Data {
        match self {
            Self::Bf16 => Data::CUDNN_DATA_BFLOAT16,
            Self::F16 => Data::CUDNN_DATA_HALF,
        }
    }
}

/// What one plan serves: the attention's sizes and its operands' layouts. Causal after
/// `keys - queries` memory entries (the boundary aligned at the bottom right), query head `h`
/// reading KV head `h / (heads / kv_heads)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SdpaShape {
    pub io: Io,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub queries: usize,
    pub keys: usize,
    /// Batch, head and row strides of the `[1, heads, queries, d]` queries, in elements.
    pub q: [usize; 3],
    /// The same of the `[1, kv_heads, keys, d]` keys.
    pub k: [usize; 3],
    /// The same of the `[1, kv_heads, keys, d]` values.
    pub v: [usize; 3],
}

#[cfg(test)]
impl SdpaShape {
    /// `queries` over `keys` in a layout the model hands over: the queries a view of the
    /// `[1, queries, heads, d]` projection (as Burn's RoPE leaves them; the join kernel writes
    /// them contiguous instead, [`SdpaShape::with_contiguous_queries`]), keys and values
    /// contiguous `[1, kv_heads, keys, d]`.
    pub(super) fn of_model(
        io: Io,
        [heads, kv_heads, head_dim]: [usize; 3],
        queries: usize,
        keys: usize,
    ) -> Self {
        let kv = [kv_heads * keys * head_dim, keys * head_dim, head_dim];
        Self {
            io,
            heads,
            kv_heads,
            head_dim,
            queries,
            keys,
            q: [queries * heads * head_dim, head_dim, heads * head_dim],
            k: kv,
            v: kv,
        }
    }

    /// The same with the queries contiguous `[1, heads, queries, d]`, as the join kernel
    /// writes them.
    pub(super) fn with_contiguous_queries(self) -> Self {
        let d = self.head_dim;
        Self {
            q: [self.heads * self.queries * d, self.queries * d, d],
            ..self
        }
    }
}

/// The unique ids of the graph's real tensors (those the variant pack addresses).
pub(super) mod uid {
    pub const Q: i64 = 1;
    pub const K: i64 = 2;
    pub const V: i64 = 3;
    pub const OUT: i64 = 4;
    pub const STATS: i64 = 5;
    pub const SCALE: i64 = 6;
    pub const QUERIES: i64 = 7;
    pub const KEYS: i64 = 8;
    pub const NEG_INF: i64 = 9;
    /// Virtual tensors take ids from here up.
    pub const FIRST_VIRTUAL: i64 = 101;
}

/// How a tensor is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Passed {
    /// In device memory, its pointer in the variant pack.
    Device,
    /// A host scalar, its pointer in the variant pack.
    ByValue,
    /// Inside the fused kernel only.
    Virtual,
}

/// One tensor of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TensorSpec {
    pub uid: i64,
    pub dims: [i64; 4],
    pub strides: [i64; 4],
    pub data: Data,
    pub passed: Passed,
}

/// One operation of the graph; its operands are indices into [`GraphSpec::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpSpec {
    /// `c = a b` (batched over the heads), accumulated in f32.
    Matmul { a: usize, b: usize, c: usize },
    /// `y = mode(x, b)` (`t ? x : b` for a select; `axis` for an index), in `precision`.
    Pointwise {
        mode: Pw,
        precision: Data,
        x: usize,
        b: Option<usize>,
        t: Option<usize>,
        y: usize,
        axis: Option<i64>,
    },
    /// `y` = the rows of `x` reduced by `operator` (max or sum), in f32.
    Reduction {
        operator: Reduce,
        x: usize,
        y: usize,
    },
}

/// The graph: its tensors, then its operations in order.
#[derive(Debug, Default)]
pub(super) struct GraphSpec {
    pub tensors: Vec<TensorSpec>,
    pub ops: Vec<OpSpec>,
    next_virtual: i64,
}

impl GraphSpec {
    fn tensor(&mut self, uid: i64, dims: [i64; 4], strides: [i64; 4], data: Data) -> usize {
        self.push(TensorSpec {
            uid,
            dims,
            strides,
            data,
            passed: Passed::Device,
        })
    }

    /// A host scalar of one element.
    fn scalar(&mut self, uid: i64, data: Data) -> usize {
        self.push(TensorSpec {
            uid,
            dims: [1; 4],
            strides: [1; 4],
            data,
            passed: Passed::ByValue,
        })
    }

    /// A virtual tensor, dense (rows of `dims[3]`).
    fn intermediate(&mut self, dims: [i64; 4], data: Data) -> usize {
        let [_, heads, rows, cols] = dims;
        let uid = uid::FIRST_VIRTUAL + self.next_virtual;
        self.next_virtual += 1;
        self.push(TensorSpec {
            uid,
            dims,
            strides: [heads * rows * cols, rows * cols, cols, 1],
            data,
            passed: Passed::Virtual,
        })
    }

    fn push(&mut self, tensor: TensorSpec) -> usize {
        self.tensors.push(tensor);
        self.tensors.len() - 1
    }

    /// Appends `y = mode(x, b)` (with `t` for a select, `axis` for an index).
    fn pointwise(
        &mut self,
        mode: Pw,
        precision: Data,
        [x, b, t]: [Option<usize>; 3],
        y: usize,
        axis: Option<i64>,
    ) {
        let x = x.expect("every pointwise op has an input");
        self.ops.push(OpSpec::Pointwise {
            mode,
            precision,
            x,
            b,
            t,
            y,
            axis,
        });
    }
}

/// The sixteen ops of the attention, in the order cuDNN's frontend emits them: `S = Q Kᵀ`,
/// scaled; the bottom-right causal mask as index arithmetic (`row + keys - queries >= col`)
/// and a select; the softmax with its log-sum-exp (max, subtract, exp, sum, log, add) as the
/// `Stats` output; `P` in the io type; `O = P V`.
pub(super) fn sdpa_graph(shape: &SdpaShape) -> GraphSpec {
    let n = |x: usize| x as i64;
    let (heads, kv_heads, d) = (n(shape.heads), n(shape.kv_heads), n(shape.head_dim));
    let (queries, keys) = (n(shape.queries), n(shape.keys));
    let [q, k, v] = [shape.q, shape.k, shape.v].map(|s| s.map(n));
    let io = shape.io.data_type();
    let (f32_, i32_, boolean) = (
        Data::CUDNN_DATA_FLOAT,
        Data::CUDNN_DATA_INT32,
        Data::CUDNN_DATA_BOOLEAN,
    );
    let mut g = GraphSpec::default();
    let q_t = g.tensor(uid::Q, [1, heads, queries, d], [q[0], q[1], q[2], 1], io);
    // The keys described transposed (`[1, kv_heads, d, keys]`), nothing moved.
    let k_t = g.tensor(uid::K, [1, kv_heads, d, keys], [k[0], k[1], 1, k[2]], io);
    let v_t = g.tensor(uid::V, [1, kv_heads, keys, d], [v[0], v[1], v[2], 1], io);
    // Written as `[1, queries, heads, d]`: the layout the output projection reads.
    let out = g.tensor(
        uid::OUT,
        [1, heads, queries, d],
        [queries * heads * d, d, heads * d, 1],
        io,
    );
    let rows = [1, heads, queries, 1];
    let stats = g.tensor(uid::STATS, rows, [heads * queries, queries, 1, 1], f32_);
    let scale = g.scalar(uid::SCALE, f32_);
    let queries_scalar = g.scalar(uid::QUERIES, i32_);
    let keys_scalar = g.scalar(uid::KEYS, i32_);
    let neg_inf = g.scalar(uid::NEG_INF, f32_);
    let scores = [1, heads, queries, keys];
    let s = g.intermediate(scores, f32_);
    g.ops.push(OpSpec::Matmul {
        a: q_t,
        b: k_t,
        c: s,
    });
    let s1 = g.intermediate(scores, f32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_MUL,
        f32_,
        [Some(s), Some(scale), None],
        s1,
        None,
    );
    let row = g.intermediate(scores, i32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_GEN_INDEX,
        f32_,
        [Some(s1), None, None],
        row,
        Some(2),
    );
    let col = g.intermediate(scores, i32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_GEN_INDEX,
        f32_,
        [Some(s1), None, None],
        col,
        Some(3),
    );
    let shifted = g.intermediate(scores, i32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_ADD,
        i32_,
        [Some(row), Some(keys_scalar), None],
        shifted,
        None,
    );
    let diagonal = g.intermediate(scores, i32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_SUB,
        i32_,
        [Some(shifted), Some(queries_scalar), None],
        diagonal,
        None,
    );
    let visible = g.intermediate(scores, boolean);
    g.pointwise(
        Pw::CUDNN_POINTWISE_CMP_GE,
        boolean,
        [Some(diagonal), Some(col), None],
        visible,
        None,
    );
    let masked = g.intermediate(scores, f32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_BINARY_SELECT,
        f32_,
        [Some(s1), Some(neg_inf), Some(visible)],
        masked,
        None,
    );
    let max = g.intermediate(rows, f32_);
    g.ops.push(OpSpec::Reduction {
        operator: Reduce::CUDNN_REDUCE_TENSOR_MAX,
        x: masked,
        y: max,
    });
    let centred = g.intermediate(scores, f32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_SUB,
        f32_,
        [Some(masked), Some(max), None],
        centred,
        None,
    );
    let exp = g.intermediate(scores, f32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_EXP,
        f32_,
        [Some(centred), None, None],
        exp,
        None,
    );
    let sum = g.intermediate(rows, f32_);
    g.ops.push(OpSpec::Reduction {
        operator: Reduce::CUDNN_REDUCE_TENSOR_ADD,
        x: exp,
        y: sum,
    });
    let log = g.intermediate(rows, f32_);
    g.pointwise(
        Pw::CUDNN_POINTWISE_LOG,
        f32_,
        [Some(sum), None, None],
        log,
        None,
    );
    g.pointwise(
        Pw::CUDNN_POINTWISE_ADD,
        f32_,
        [Some(max), Some(log), None],
        stats,
        None,
    );
    // P in the io type: bmm2's first operand must be (the frontend's note).
    let p = g.intermediate(scores, io);
    g.pointwise(
        Pw::CUDNN_POINTWISE_DIV,
        f32_,
        [Some(exp), Some(sum), None],
        p,
        None,
    );
    g.ops.push(OpSpec::Matmul {
        a: p,
        b: v_t,
        c: out,
    });
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 7B shape's FM step: 32 heads of 128, 1024 queries over 2048 keys, the queries a view
    /// of `[1, queries, heads, d]`, keys and values contiguous.
    fn seven_b() -> SdpaShape {
        SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 2048)
    }

    /// An op as the note's table writes it: its name, the uids it reads (x, b, t) and writes.
    fn as_row(graph: &GraphSpec, op: &OpSpec) -> (String, Vec<i64>, i64) {
        let uid = |i: usize| graph.tensors[i].uid;
        match *op {
            OpSpec::Matmul { a, b, c } => ("matmul".into(), vec![uid(a), uid(b)], uid(c)),
            OpSpec::Pointwise {
                mode,
                precision,
                x,
                b,
                t,
                y,
                axis,
            } => {
                let name = format!("{mode:?} {precision:?} {axis:?}");
                let inputs = [Some(x), b, t].into_iter().flatten().map(uid).collect();
                (name, inputs, uid(y))
            }
            OpSpec::Reduction { operator, x, y } => (format!("{operator:?}"), vec![uid(x)], uid(y)),
        }
    }

    #[test]
    fn the_ops_are_the_frontends_composite_graph_in_its_order() {
        let graph = sdpa_graph(&seven_b());
        let rows: Vec<_> = graph.ops.iter().map(|op| as_row(&graph, op)).collect();
        // docs/notes/cudnn-attention.md §2, "Operations, in graph order".
        let expected: [(&str, &[i64], i64); 16] = [
            ("matmul", &[1, 2], 101),
            ("CUDNN_POINTWISE_MUL CUDNN_DATA_FLOAT None", &[101, 6], 102),
            (
                "CUDNN_POINTWISE_GEN_INDEX CUDNN_DATA_FLOAT Some(2)",
                &[102],
                103,
            ),
            (
                "CUDNN_POINTWISE_GEN_INDEX CUDNN_DATA_FLOAT Some(3)",
                &[102],
                104,
            ),
            ("CUDNN_POINTWISE_ADD CUDNN_DATA_INT32 None", &[103, 8], 105),
            ("CUDNN_POINTWISE_SUB CUDNN_DATA_INT32 None", &[105, 7], 106),
            (
                "CUDNN_POINTWISE_CMP_GE CUDNN_DATA_BOOLEAN None",
                &[106, 104],
                107,
            ),
            (
                "CUDNN_POINTWISE_BINARY_SELECT CUDNN_DATA_FLOAT None",
                &[102, 9, 107],
                108,
            ),
            ("CUDNN_REDUCE_TENSOR_MAX", &[108], 109),
            (
                "CUDNN_POINTWISE_SUB CUDNN_DATA_FLOAT None",
                &[108, 109],
                110,
            ),
            ("CUDNN_POINTWISE_EXP CUDNN_DATA_FLOAT None", &[110], 111),
            ("CUDNN_REDUCE_TENSOR_ADD", &[111], 112),
            ("CUDNN_POINTWISE_LOG CUDNN_DATA_FLOAT None", &[112], 113),
            ("CUDNN_POINTWISE_ADD CUDNN_DATA_FLOAT None", &[109, 113], 5),
            (
                "CUDNN_POINTWISE_DIV CUDNN_DATA_FLOAT None",
                &[111, 112],
                114,
            ),
            ("matmul", &[114, 3], 4),
        ];
        assert_eq!(rows.len(), expected.len());
        for (i, (row, (name, inputs, output))) in rows.iter().zip(expected).enumerate() {
            assert_eq!(
                (row.0.as_str(), row.1.as_slice(), row.2),
                (name, inputs, output),
                "op {}",
                i + 1
            );
        }
    }

    #[test]
    fn the_tensors_are_the_notes_table() {
        use Data::{
            CUDNN_DATA_BFLOAT16 as BF16, CUDNN_DATA_BOOLEAN as BOOL, CUDNN_DATA_FLOAT as F32,
            CUDNN_DATA_INT32 as I32,
        };
        let graph = sdpa_graph(&seven_b());
        let by_uid = |uid: i64| {
            let found: Vec<_> = graph.tensors.iter().filter(|t| t.uid == uid).collect();
            assert_eq!(found.len(), 1, "uid {uid} once");
            *found[0]
        };
        let (h, q, k, d) = (32, 1024, 2048, 128);
        let real = [
            (uid::Q, [1, h, q, d], [q * h * d, d, h * d, 1], BF16),
            // Kᵀ: dims [1, kv_heads, d, keys], the row and element strides swapped.
            (uid::K, [1, h, d, k], [h * k * d, k * d, 1, d], BF16),
            (uid::V, [1, h, k, d], [h * k * d, k * d, d, 1], BF16),
            (uid::OUT, [1, h, q, d], [q * h * d, d, h * d, 1], BF16),
            (uid::STATS, [1, h, q, 1], [h * q, q, 1, 1], F32),
        ];
        for (uid, dims, strides, data) in real {
            let t = by_uid(uid);
            assert_eq!(
                (t.dims, t.strides, t.data, t.passed),
                (dims, strides, data, Passed::Device),
                "uid {uid}"
            );
        }
        for (uid, data) in [
            (uid::SCALE, F32),
            (uid::QUERIES, I32),
            (uid::KEYS, I32),
            (uid::NEG_INF, F32),
        ] {
            let t = by_uid(uid);
            assert_eq!(
                (t.dims, t.strides, t.data, t.passed),
                ([1; 4], [1; 4], data, Passed::ByValue),
                "uid {uid}"
            );
        }
        let scores = [1, h, q, k];
        let rows = [1, h, q, 1];
        let virtual_tensors = [
            (scores, F32),
            (scores, F32),
            (scores, I32),
            (scores, I32),
            (scores, I32),
            (scores, I32),
            (scores, BOOL),
            (scores, F32),
            (rows, F32),
            (scores, F32),
            (scores, F32),
            (rows, F32),
            (rows, F32),
            // P in the io type.
            (scores, BF16),
        ];
        for (i, (dims, data)) in virtual_tensors.into_iter().enumerate() {
            let t = by_uid(uid::FIRST_VIRTUAL + i as i64);
            let strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
            assert_eq!(
                (t.dims, t.strides, t.data, t.passed),
                (dims, strides, data, Passed::Virtual),
                "virtual {i}"
            );
        }
        assert_eq!(graph.tensors.len(), 9 + virtual_tensors.len());
    }

    #[test]
    fn gqa_reads_fewer_key_heads_and_f16_is_the_io_type_throughout() {
        let shape = SdpaShape::of_model(Io::F16, [9, 3, 64], 100, 137);
        let graph = sdpa_graph(&shape);
        let k = graph.tensors.iter().find(|t| t.uid == uid::K).unwrap();
        assert_eq!(k.dims, [1, 3, 64, 137]);
        let io: Vec<i64> = graph
            .tensors
            .iter()
            .filter(|t| t.data == Data::CUDNN_DATA_HALF)
            .map(|t| t.uid)
            .collect();
        assert_eq!(io, [1, 2, 3, 4, 114]);
    }
}
