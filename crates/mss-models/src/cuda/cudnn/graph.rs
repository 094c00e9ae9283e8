//! The attention as a cuDNN operation graph, and its execution plan: the composite graph
//! cuDNN's frontend builds for backends below 9.21 (`CompositeSDPANode` with its diagonal-band
//! mask and softmax nodes), op for op, so that cuDNN's fused attention engine takes it
//! (docs/notes/cudnn-attention.md §2: reordering or merging ops can drop it off that engine).
#![allow(unsafe_code)]

use std::ffi::c_void;

use cudarc::cudnn::sys::{
    self, cudnnBackendAttributeName_t as A, cudnnBackendAttributeType_t as Type,
    cudnnBackendDescriptorType_t as Kind, cudnnBackendHeurMode_t, cudnnDataType_t as Data,
    cudnnPointwiseMode_t as Pw, cudnnReduceTensorOp_t,
};

use super::descriptor::{Descriptor, check};

/// The element type of the queries, keys, values and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Io {
    Bf16,
    F16,
}

impl Io {
    fn data_type(self) -> Data {
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

/// The unique ids of the graph's real tensors (those the variant pack addresses).
mod uid {
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

/// Every tensor is declared 16-byte aligned, as cuDNN's frontend declares them.
const ALIGNMENT: i64 = 16;

/// A node of the graph under construction: the index of its descriptor.
#[derive(Debug, Clone, Copy)]
struct Node(usize);

/// The graph's sources, hashed: saved plans are kept per version of the graph
/// (`saved::plans_folder`), as a plan of another graph would read other tensors.
pub(super) const GRAPH_SOURCE: u64 = mss_core::source_hash(include_str!("graph.rs"));

/// The descriptors of a graph under construction, in creation order.
#[derive(Default)]
struct Graph {
    descriptors: Vec<Descriptor>,
    next_virtual: i64,
}

/// How a tensor is passed.
#[derive(Clone, Copy, PartialEq)]
enum Passed {
    /// In device memory, its pointer in the variant pack.
    Device,
    /// A host scalar, its pointer in the variant pack.
    ByValue,
    /// Inside the fused kernel only.
    Virtual,
}

impl Graph {
    fn push(&mut self, descriptor: Descriptor) -> Node {
        self.descriptors.push(descriptor);
        Node(self.descriptors.len() - 1)
    }

    fn get(&self, node: Node) -> &Descriptor {
        &self.descriptors[node.0]
    }

    fn tensor(
        &mut self,
        uid: i64,
        dims: [i64; 4],
        strides: [i64; 4],
        data: Data,
        passed: Passed,
    ) -> Result<Node, String> {
        let tensor = Descriptor::new(Kind::CUDNN_BACKEND_TENSOR_DESCRIPTOR)?;
        tensor.set_data_type(A::CUDNN_ATTR_TENSOR_DATA_TYPE, data)?;
        tensor.set_i64s(A::CUDNN_ATTR_TENSOR_DIMENSIONS, &dims)?;
        tensor.set_i64s(A::CUDNN_ATTR_TENSOR_STRIDES, &strides)?;
        tensor.set_i64s(A::CUDNN_ATTR_TENSOR_UNIQUE_ID, &[uid])?;
        tensor.set_i64s(A::CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, &[ALIGNMENT])?;
        match passed {
            Passed::Virtual => tensor.set_bool(A::CUDNN_ATTR_TENSOR_IS_VIRTUAL, true)?,
            Passed::ByValue => tensor.set_bool(A::CUDNN_ATTR_TENSOR_IS_BY_VALUE, true)?,
            Passed::Device => {}
        }
        Ok(self.push(tensor.finalize("a tensor")?))
    }

    /// A host scalar of one element.
    fn scalar(&mut self, uid: i64, data: Data) -> Result<Node, String> {
        self.tensor(uid, [1; 4], [1; 4], data, Passed::ByValue)
    }

    /// A virtual tensor, dense (rows of `dims[3]`).
    fn intermediate(&mut self, dims: [i64; 4], data: Data) -> Result<Node, String> {
        let [_, heads, rows, cols] = dims;
        let strides = [heads * rows * cols, rows * cols, cols, 1];
        let uid = uid::FIRST_VIRTUAL + self.next_virtual;
        self.next_virtual += 1;
        self.tensor(uid, dims, strides, data, Passed::Virtual)
    }

    /// `y = mode(x, b)` (or `t ? x : b` for a select; `axis` for an index), computed in `precision`.
    fn pointwise(
        &mut self,
        mode: Pw,
        precision: Data,
        [x, b, t]: [Option<Node>; 3],
        y: Node,
        axis: Option<i64>,
    ) -> Result<Node, String> {
        let description = Descriptor::new(Kind::CUDNN_BACKEND_POINTWISE_DESCRIPTOR)?;
        description.set_enum(
            A::CUDNN_ATTR_POINTWISE_MODE,
            Type::CUDNN_TYPE_POINTWISE_MODE,
            mode,
        )?;
        description.set_data_type(A::CUDNN_ATTR_POINTWISE_MATH_PREC, precision)?;
        if let Some(axis) = axis {
            description.set_i64s(A::CUDNN_ATTR_POINTWISE_AXIS, &[axis])?;
        }
        let description = description.finalize("a pointwise description")?;
        let op = Descriptor::new(Kind::CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR)?;
        op.set_descriptors(
            A::CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
            &[&description],
        )?;
        let inputs = [
            (A::CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x),
            (A::CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b),
            (A::CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t),
        ];
        for (name, node) in inputs {
            if let Some(node) = node {
                op.set_descriptors(name, &[self.get(node)])?;
            }
        }
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_POINTWISE_YDESC, &[self.get(y)])?;
        // The frontend always sets both.
        op.set_f32(A::CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, 1.0)?;
        op.set_f32(A::CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, 1.0)?;
        let op = op.finalize(&format!("pointwise {mode:?}"))?;
        self.push(description);
        Ok(self.push(op))
    }

    /// `c = a b` (batched over the heads), accumulated in f32.
    fn matmul(&mut self, a: Node, b: Node, c: Node) -> Result<Node, String> {
        let description = Descriptor::new(Kind::CUDNN_BACKEND_MATMUL_DESCRIPTOR)?;
        description.set_data_type(A::CUDNN_ATTR_MATMUL_COMP_TYPE, Data::CUDNN_DATA_FLOAT)?;
        let description = description.finalize("a matmul description")?;
        let op = Descriptor::new(Kind::CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR)?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_ADESC, &[self.get(a)])?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_BDESC, &[self.get(b)])?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_CDESC, &[self.get(c)])?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_DESC, &[&description])?;
        let op = op.finalize("a matmul")?;
        self.push(description);
        Ok(self.push(op))
    }

    /// `y` = the rows of `x` reduced by `operator` (max or sum), in f32.
    fn reduction(
        &mut self,
        operator: cudnnReduceTensorOp_t,
        x: Node,
        y: Node,
    ) -> Result<Node, String> {
        let description = Descriptor::new(Kind::CUDNN_BACKEND_REDUCTION_DESCRIPTOR)?;
        description.set_data_type(A::CUDNN_ATTR_REDUCTION_COMP_TYPE, Data::CUDNN_DATA_FLOAT)?;
        description.set_enum(
            A::CUDNN_ATTR_REDUCTION_OPERATOR,
            Type::CUDNN_TYPE_REDUCTION_OPERATOR_TYPE,
            operator,
        )?;
        // Set by the frontend from cuDNN 9.11 on; accepted by the 9.14 and 9.19 tried.
        description.set_bool(A::CUDNN_ATTR_REDUCTION_IS_DETERMINISTIC, false)?;
        let description = description.finalize("a reduction description")?;
        let op = Descriptor::new(Kind::CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR)?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_DESC, &[&description])?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_XDESC, &[self.get(x)])?;
        op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_YDESC, &[self.get(y)])?;
        let op = op.finalize(&format!("reduction {operator:?}"))?;
        self.push(description);
        Ok(self.push(op))
    }
}

/// A finalised execution plan and every descriptor it was built from (kept alive as long as
/// the plan, as cuDNN's frontend keeps them; dropped after it).
pub(super) struct Plan {
    plan: Descriptor,
    /// Bytes of device workspace an execution needs.
    pub workspace: usize,
    _graph: Vec<Descriptor>,
}

/// The device and host addresses one execution reads and writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Addresses {
    pub q: u64,
    pub k: u64,
    pub v: u64,
    /// `[1, queries, heads, d]`, contiguous.
    pub out: u64,
    /// Each query row's log-sum-exp of the scaled scores, `[heads, queries]` f32.
    pub lse: u64,
    pub workspace: u64,
}

impl Plan {
    /// Builds the graph of `shape` and the plan of the first engine configuration cuDNN's
    /// heuristics offer that finalises (the fused attention kernel is compiled here, about a
    /// second for a new shape).
    pub fn build(handle: sys::cudnnHandle_t, shape: &SdpaShape) -> Result<Self, String> {
        let mut graph = Graph::default();
        let ops = sdpa_ops(&mut graph, shape)?;
        let op_graph = Descriptor::new(Kind::CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR)?;
        op_graph.set_handle(A::CUDNN_ATTR_OPERATIONGRAPH_HANDLE, handle)?;
        let ops: Vec<&Descriptor> = ops.iter().map(|&op| graph.get(op)).collect();
        op_graph.set_descriptors(A::CUDNN_ATTR_OPERATIONGRAPH_OPS, &ops)?;
        let op_graph = op_graph.finalize("the operation graph")?;
        let heuristics = Descriptor::new(Kind::CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR)?;
        heuristics.set_descriptors(A::CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, &[&op_graph])?;
        heuristics.set_enum(
            A::CUDNN_ATTR_ENGINEHEUR_MODE,
            Type::CUDNN_TYPE_HEUR_MODE,
            cudnnBackendHeurMode_t::CUDNN_HEUR_MODE_A,
        )?;
        let heuristics = heuristics.finalize("the heuristics")?;
        let configs = heuristics.engine_configs()?;
        let mut failures = Vec::new();
        for config in &configs {
            let attempt = (|| {
                let plan = Descriptor::new(Kind::CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)?;
                plan.set_handle(A::CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle)?;
                plan.set_descriptors(A::CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, &[config])?;
                let plan = plan.finalize("the execution plan")?;
                let workspace = plan.get_i64(A::CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)?;
                Ok::<_, String>((plan, workspace))
            })();
            match attempt {
                Ok((plan, workspace)) => {
                    let mut kept = graph.descriptors;
                    kept.extend([op_graph, heuristics]);
                    kept.extend(configs);
                    // Destroyed last made first, as cuDNN's frontend destroys them.
                    kept.reverse();
                    return Ok(Self {
                        plan,
                        workspace: usize::try_from(workspace).unwrap_or(0),
                        _graph: kept,
                    });
                }
                Err(error) => failures.push(error),
            }
        }
        Err(format!(
            "none of the {} engine configurations built a plan{}",
            configs.len(),
            failures
                .first()
                .map(|first| format!(" (the first: {first})"))
                .unwrap_or_default()
        ))
    }

    /// The plan in cuDNN's serialised form (runtime-compiled engines only).
    pub fn serialise(&self) -> Result<Vec<u8>, String> {
        self.plan
            .get_chars(A::CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION)
    }

    /// A plan read back from [`Plan::serialise`]'s bytes, bound to `handle`; fails where
    /// cuDNN does not take them (another version or GPU).
    pub fn deserialise(handle: sys::cudnnHandle_t, bytes: &[u8]) -> Result<Self, String> {
        let plan = Descriptor::new(Kind::CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)?;
        plan.set_chars(A::CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, bytes)?;
        plan.set_handle(A::CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle)?;
        let plan = plan.finalize("a saved execution plan")?;
        let workspace = plan.get_i64(A::CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)?;
        Ok(Self {
            plan,
            workspace: usize::try_from(workspace).unwrap_or(0),
            _graph: Vec::new(),
        })
    }

    /// Queues the attention on `handle`'s stream.
    ///
    /// # Safety
    /// The addresses must be live device allocations of the handle's context holding the
    /// operands `shape` describes (the plan's), 16-byte aligned, the workspace at least
    /// [`Plan::workspace`] bytes.
    pub unsafe fn execute(
        &self,
        handle: sys::cudnnHandle_t,
        shape: &SdpaShape,
        addresses: Addresses,
        scale: f32,
    ) -> Result<(), String> {
        let queries = i32::try_from(shape.queries).map_err(|e| e.to_string())?;
        let keys = i32::try_from(shape.keys).map_err(|e| e.to_string())?;
        let neg_inf = f32::NEG_INFINITY;
        let device = |address: u64| address as *mut c_void;
        // By-value scalars are passed as host pointers, read while the call runs.
        let host = |value: *const c_void| value.cast_mut();
        let entries = [
            (uid::Q, device(addresses.q)),
            (uid::K, device(addresses.k)),
            (uid::V, device(addresses.v)),
            (uid::OUT, device(addresses.out)),
            (uid::STATS, device(addresses.lse)),
            (uid::SCALE, host((&raw const scale).cast())),
            (uid::QUERIES, host((&raw const queries).cast())),
            (uid::KEYS, host((&raw const keys).cast())),
            (uid::NEG_INF, host((&raw const neg_inf).cast())),
        ];
        let (uids, pointers): (Vec<i64>, Vec<*mut c_void>) = entries.into_iter().unzip();
        let pack = Descriptor::new(Kind::CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)?;
        pack.set_i64s(A::CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, &uids)?;
        pack.set_pointers(A::CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, &pointers)?;
        pack.set_pointers(
            A::CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
            &[device(addresses.workspace)],
        )?;
        let pack = pack.finalize("the variant pack")?;
        // SAFETY: the caller vouches for the addresses; the host scalars live until the call
        // returns.
        let status = unsafe { sys::cudnnBackendExecute(handle, self.plan.raw(), pack.raw()) };
        check(status, || format!("executing the attention of {shape:?}"))
    }
}

/// The sixteen ops of the attention, in the order cuDNN's frontend emits them: `S = Q Kᵀ`,
/// scaled; the bottom-right causal mask as index arithmetic (`row + keys - queries >= col`)
/// and a select; the softmax with its log-sum-exp (max, subtract, exp, sum, log, add) as the
/// `Stats` output; `P` in the io type; `O = P V`.
fn sdpa_ops(graph: &mut Graph, shape: &SdpaShape) -> Result<Vec<Node>, String> {
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
    let q_node = graph.tensor(
        uid::Q,
        [1, heads, queries, d],
        [q[0], q[1], q[2], 1],
        io,
        Passed::Device,
    )?;
    // The keys described transposed (`[1, kv_heads, d, keys]`), nothing moved.
    let k_t = graph.tensor(
        uid::K,
        [1, kv_heads, d, keys],
        [k[0], k[1], 1, k[2]],
        io,
        Passed::Device,
    )?;
    let v_node = graph.tensor(
        uid::V,
        [1, kv_heads, keys, d],
        [v[0], v[1], v[2], 1],
        io,
        Passed::Device,
    )?;
    // Written as `[1, queries, heads, d]`: the layout the output projection reads.
    let out = graph.tensor(
        uid::OUT,
        [1, heads, queries, d],
        [queries * heads * d, d, heads * d, 1],
        io,
        Passed::Device,
    )?;
    let rows = [1, heads, queries, 1];
    let stats = graph.tensor(
        uid::STATS,
        rows,
        [heads * queries, queries, 1, 1],
        f32_,
        Passed::Device,
    )?;
    let scale = graph.scalar(uid::SCALE, f32_)?;
    let queries_scalar = graph.scalar(uid::QUERIES, i32_)?;
    let keys_scalar = graph.scalar(uid::KEYS, i32_)?;
    let neg_inf = graph.scalar(uid::NEG_INF, f32_)?;
    let scores = [1, heads, queries, keys];
    let mut ops = Vec::with_capacity(16);
    let s = graph.intermediate(scores, f32_)?;
    ops.push(graph.matmul(q_node, k_t, s)?);
    let s1 = graph.intermediate(scores, f32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_MUL,
        f32_,
        [Some(s), Some(scale), None],
        s1,
        None,
    )?);
    let row = graph.intermediate(scores, i32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_GEN_INDEX,
        f32_,
        [Some(s1), None, None],
        row,
        Some(2),
    )?);
    let col = graph.intermediate(scores, i32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_GEN_INDEX,
        f32_,
        [Some(s1), None, None],
        col,
        Some(3),
    )?);
    let shifted = graph.intermediate(scores, i32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_ADD,
        i32_,
        [Some(row), Some(keys_scalar), None],
        shifted,
        None,
    )?);
    let diagonal = graph.intermediate(scores, i32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_SUB,
        i32_,
        [Some(shifted), Some(queries_scalar), None],
        diagonal,
        None,
    )?);
    let visible = graph.intermediate(scores, boolean)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_CMP_GE,
        boolean,
        [Some(diagonal), Some(col), None],
        visible,
        None,
    )?);
    let masked = graph.intermediate(scores, f32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_BINARY_SELECT,
        f32_,
        [Some(s1), Some(neg_inf), Some(visible)],
        masked,
        None,
    )?);
    let max = graph.intermediate(rows, f32_)?;
    ops.push(graph.reduction(cudnnReduceTensorOp_t::CUDNN_REDUCE_TENSOR_MAX, masked, max)?);
    let centred = graph.intermediate(scores, f32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_SUB,
        f32_,
        [Some(masked), Some(max), None],
        centred,
        None,
    )?);
    let exp = graph.intermediate(scores, f32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_EXP,
        f32_,
        [Some(centred), None, None],
        exp,
        None,
    )?);
    let sum = graph.intermediate(rows, f32_)?;
    ops.push(graph.reduction(cudnnReduceTensorOp_t::CUDNN_REDUCE_TENSOR_ADD, exp, sum)?);
    let log = graph.intermediate(rows, f32_)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_LOG,
        f32_,
        [Some(sum), None, None],
        log,
        None,
    )?);
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_ADD,
        f32_,
        [Some(max), Some(log), None],
        stats,
        None,
    )?);
    // P in the io type: bmm2's first operand must be (the frontend's note).
    let p = graph.intermediate(scores, io)?;
    ops.push(graph.pointwise(
        Pw::CUDNN_POINTWISE_DIV,
        f32_,
        [Some(exp), Some(sum), None],
        p,
        None,
    )?);
    ops.push(graph.matmul(p, v_node, out)?);
    Ok(ops)
}
