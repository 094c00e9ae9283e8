//! The attention's cuDNN graph (`spec`) as backend descriptors, and its execution plan: built
//! over the configurations cuDNN's heuristics offer, run, saved and read back.
#![allow(unsafe_code)]

use std::ffi::c_void;

use cudarc::cudnn::sys::{
    self, cudnnBackendAttributeName_t as A, cudnnBackendAttributeType_t as Type,
    cudnnBackendDescriptorType_t as Kind, cudnnBackendHeurMode_t, cudnnDataType_t as Data,
};

use super::descriptor::{Descriptor, check};
use super::spec::{OpSpec, Passed, SdpaShape, TensorSpec, sdpa_graph, uid};

/// Every tensor is declared 16-byte aligned, as cuDNN's frontend declares them.
const ALIGNMENT: i64 = 16;

/// The graph's sources, hashed: saved plans are kept per version of the graph
/// (`saved::plans_folder`), as a plan of another graph would read other tensors.
pub(super) const GRAPH_SOURCE: u64 =
    mss_core::source_hash(concat!(include_str!("spec.rs"), include_str!("graph.rs")));

/// The descriptor of one tensor.
fn tensor_descriptor(spec: &TensorSpec) -> Result<Descriptor, String> {
    let tensor = Descriptor::new(Kind::CUDNN_BACKEND_TENSOR_DESCRIPTOR)?;
    tensor.set_data_type(A::CUDNN_ATTR_TENSOR_DATA_TYPE, spec.data)?;
    tensor.set_i64s(A::CUDNN_ATTR_TENSOR_DIMENSIONS, &spec.dims)?;
    tensor.set_i64s(A::CUDNN_ATTR_TENSOR_STRIDES, &spec.strides)?;
    tensor.set_i64s(A::CUDNN_ATTR_TENSOR_UNIQUE_ID, &[spec.uid])?;
    tensor.set_i64s(A::CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, &[ALIGNMENT])?;
    match spec.passed {
        Passed::Virtual => tensor.set_bool(A::CUDNN_ATTR_TENSOR_IS_VIRTUAL, true)?,
        Passed::ByValue => tensor.set_bool(A::CUDNN_ATTR_TENSOR_IS_BY_VALUE, true)?,
        Passed::Device => {}
    }
    tensor.finalize("a tensor")
}

/// The descriptors of one op, `[its description, the op]`, reading `tensors` (the graph's
/// tensor descriptors, in the spec's order).
fn op_descriptors(op: &OpSpec, tensors: &[Descriptor]) -> Result<[Descriptor; 2], String> {
    match *op {
        OpSpec::Matmul { a, b, c } => {
            let description = Descriptor::new(Kind::CUDNN_BACKEND_MATMUL_DESCRIPTOR)?;
            description.set_data_type(A::CUDNN_ATTR_MATMUL_COMP_TYPE, Data::CUDNN_DATA_FLOAT)?;
            let description = description.finalize("a matmul description")?;
            let op = Descriptor::new(Kind::CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR)?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_ADESC, &[&tensors[a]])?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_BDESC, &[&tensors[b]])?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_CDESC, &[&tensors[c]])?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_MATMUL_DESC, &[&description])?;
            Ok([description, op.finalize("a matmul")?])
        }
        OpSpec::Pointwise {
            mode,
            precision,
            x,
            b,
            t,
            y,
            axis,
        } => {
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
                (A::CUDNN_ATTR_OPERATION_POINTWISE_XDESC, Some(x)),
                (A::CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b),
                (A::CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t),
                (A::CUDNN_ATTR_OPERATION_POINTWISE_YDESC, Some(y)),
            ];
            for (name, tensor) in inputs {
                if let Some(tensor) = tensor {
                    op.set_descriptors(name, &[&tensors[tensor]])?;
                }
            }
            // The frontend always sets both.
            op.set_f32(A::CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, 1.0)?;
            op.set_f32(A::CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, 1.0)?;
            Ok([description, op.finalize(&format!("pointwise {mode:?}"))?])
        }
        OpSpec::Reduction { operator, x, y } => {
            let description = Descriptor::new(Kind::CUDNN_BACKEND_REDUCTION_DESCRIPTOR)?;
            description.set_data_type(A::CUDNN_ATTR_REDUCTION_COMP_TYPE, Data::CUDNN_DATA_FLOAT)?;
            description.set_enum(
                A::CUDNN_ATTR_REDUCTION_OPERATOR,
                Type::CUDNN_TYPE_REDUCTION_OPERATOR_TYPE,
                operator,
            )?;
            // An attribute of cuDNN 9.11 on (the oldest used: `super::OLDEST`).
            description.set_bool(A::CUDNN_ATTR_REDUCTION_IS_DETERMINISTIC, false)?;
            let description = description.finalize("a reduction description")?;
            let op = Descriptor::new(Kind::CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR)?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_DESC, &[&description])?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_XDESC, &[&tensors[x]])?;
            op.set_descriptors(A::CUDNN_ATTR_OPERATION_REDUCTION_YDESC, &[&tensors[y]])?;
            Ok([
                description,
                op.finalize(&format!("reduction {operator:?}"))?,
            ])
        }
    }
}

/// The finalised descriptors of `shape`'s graph: its tensors (in the spec's order) and its
/// ops (each `[its description, the op]`). cuDNN checks every attribute and each op's operands
/// here; no handle (no GPU) is needed until the operation graph.
fn graph_descriptors(shape: &SdpaShape) -> Result<(Vec<Descriptor>, Vec<[Descriptor; 2]>), String> {
    let spec = sdpa_graph(shape);
    let tensors = spec
        .tensors
        .iter()
        .map(tensor_descriptor)
        .collect::<Result<Vec<_>, _>>()?;
    let ops = spec
        .ops
        .iter()
        .map(|op| op_descriptors(op, &tensors))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((tensors, ops))
}

/// A finalised execution plan and every descriptor it was built from (kept alive as long as
/// the plan, as cuDNN's frontend keeps them; dropped after it).
pub(super) struct Plan {
    plan: Descriptor,
    /// Bytes of device workspace an execution needs.
    pub workspace: usize,
    _graph: Vec<Descriptor>,
}

/// The device addresses of the operands one execution reads and writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Addresses {
    pub q: u64,
    pub k: u64,
    pub v: u64,
    /// `[1, queries, heads, d]`, contiguous.
    pub out: u64,
    /// Each query row's log-sum-exp of the scaled scores, `[heads, queries]` f32.
    pub lse: u64,
}

impl Plan {
    /// Builds the graph of `shape` and the plan of the first engine configuration cuDNN's
    /// heuristics offer that finalises (the fused attention kernel is compiled here, about a
    /// second for a new shape).
    pub fn build(handle: sys::cudnnHandle_t, shape: &SdpaShape) -> Result<Self, String> {
        let (tensors, ops) = graph_descriptors(shape)?;
        let op_graph = Descriptor::new(Kind::CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR)?;
        op_graph.set_handle(A::CUDNN_ATTR_OPERATIONGRAPH_HANDLE, handle)?;
        let op_list: Vec<&Descriptor> = ops.iter().map(|[_, op]| op).collect();
        op_graph.set_descriptors(A::CUDNN_ATTR_OPERATIONGRAPH_OPS, &op_list)?;
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
                plan.finalize("the execution plan")
            })();
            match attempt {
                Ok(plan) => {
                    let mut kept = tensors;
                    kept.extend(ops.into_iter().flatten());
                    kept.extend([op_graph, heuristics]);
                    kept.extend(configs);
                    // Destroyed last made first, as cuDNN's frontend destroys them.
                    kept.reverse();
                    return Self::finalised(plan, kept);
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
        Self::finalised(plan.finalize("a saved execution plan")?, Vec::new())
    }

    /// A finalised plan with the workspace it asks for, keeping `graph` alive beside it.
    fn finalised(plan: Descriptor, graph: Vec<Descriptor>) -> Result<Self, String> {
        let workspace = plan.get_i64(A::CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)?;
        Ok(Self {
            plan,
            workspace: usize::try_from(workspace).unwrap_or(0),
            _graph: graph,
        })
    }

    /// Queues the attention on `handle`'s stream.
    ///
    /// # Safety
    /// The addresses must be live device allocations of the handle's context holding the
    /// operands `shape` describes (the plan's), 16-byte aligned; `workspace` a device
    /// allocation of at least [`Plan::workspace`] bytes.
    pub unsafe fn execute(
        &self,
        handle: sys::cudnnHandle_t,
        shape: &SdpaShape,
        addresses: Addresses,
        workspace: u64,
        scale: f32,
    ) -> Result<(), String> {
        let scalars = Scalars::of(shape, scale)?;
        let pack = variant_pack(addresses, workspace, &scalars)?;
        // SAFETY: the caller vouches for the addresses; `scalars` lives until the call returns.
        let status = unsafe { sys::cudnnBackendExecute(handle, self.plan.raw(), pack.raw()) };
        check(status, || format!("executing the attention of {shape:?}"))
    }
}

/// The by-value scalars an execution reads, on the host: the graph's scale, its lengths (the
/// causal mask's arithmetic) and the masked scores' value.
struct Scalars {
    scale: f32,
    queries: i32,
    keys: i32,
    neg_inf: f32,
}

impl Scalars {
    fn of(shape: &SdpaShape, scale: f32) -> Result<Self, String> {
        let length = |n: usize| i32::try_from(n).map_err(|e| format!("{n} rows: {e}"));
        Ok(Self {
            scale,
            queries: length(shape.queries)?,
            keys: length(shape.keys)?,
            neg_inf: f32::NEG_INFINITY,
        })
    }
}

/// Each real tensor's uid with its device address, each by-value scalar's with a host pointer
/// into `scalars`.
fn pack_entries(addresses: Addresses, scalars: &Scalars) -> [(i64, *mut c_void); 9] {
    let device = |address: u64| address as *mut c_void;
    let host = |value: *const c_void| value.cast_mut();
    [
        (uid::Q, device(addresses.q)),
        (uid::K, device(addresses.k)),
        (uid::V, device(addresses.v)),
        (uid::OUT, device(addresses.out)),
        (uid::STATS, device(addresses.lse)),
        (uid::SCALE, host((&raw const scalars.scale).cast())),
        (uid::QUERIES, host((&raw const scalars.queries).cast())),
        (uid::KEYS, host((&raw const scalars.keys).cast())),
        (uid::NEG_INF, host((&raw const scalars.neg_inf).cast())),
    ]
}

/// The variant pack of one execution: [`pack_entries`] and the workspace. cuDNN reads the
/// scalars when the execution is queued, so `scalars` must outlive that call.
fn variant_pack(
    addresses: Addresses,
    workspace: u64,
    scalars: &Scalars,
) -> Result<Descriptor, String> {
    let (uids, pointers): (Vec<i64>, Vec<*mut c_void>) =
        pack_entries(addresses, scalars).into_iter().unzip();
    let pack = Descriptor::new(Kind::CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)?;
    pack.set_i64s(A::CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, &uids)?;
    pack.set_pointers(A::CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, &pointers)?;
    pack.set_pointers(
        A::CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
        &[workspace as *mut c_void],
    )?;
    pack.finalize("the variant pack")
}

#[cfg(test)]
mod tests {
    use super::super::spec::Io;
    use super::*;

    /// Addresses for descriptors that are built but never executed.
    const ADDRESSES: Addresses = Addresses {
        q: 0x1000,
        k: 0x2000,
        v: 0x3000,
        out: 0x4000,
        lse: 0x5000,
    };

    /// The graphs of the shapes `mss` hands cuDNN, finalised by cuDNN itself: every attribute's
    /// type and count, every op's operands (dimensions, strides, broadcasts, data types), the
    /// modes of its pointwise and reduction descriptions. Descriptors need no GPU; only the
    /// operation graph and the plan do (the GPU checks of `device_check`). Needs libcudnn
    /// (≥ 9.11, `OLDEST`) where the loader finds it (`.ci/run` installs cuDNN's wheel with pip
    /// and runs this test on its own).
    #[test]
    #[ignore = "needs libcudnn 9.11 or newer on the library path; .ci/run installs it and runs this"]
    fn cudnn_finalises_every_descriptor_of_the_graphs_mss_builds() {
        let version = super::super::cudnn_version()
            .expect("libcudnn was not found: pip install nvidia-cudnn-cu12, then add its lib to LD_LIBRARY_PATH");
        assert!(
            version >= super::super::OLDEST,
            "cuDNN {version} is older than the graph's oldest, {}",
            super::super::OLDEST
        );
        let shapes = [
            // 7B: the FM step (queries from the join kernel, and as a view), the first chunk,
            // an IMDC step, a step whose keys are no multiple of 64.
            SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 2048).with_contiguous_queries(),
            SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 2048),
            SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 1024),
            SdpaShape::of_model(Io::Bf16, [32, 32, 128], 512, 2048),
            SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1000, 2052),
            // SmolLM2's grouped queries, and f16.
            SdpaShape::of_model(Io::Bf16, [9, 3, 64], 1024, 2048),
            SdpaShape::of_model(Io::F16, [9, 3, 64], 100, 137),
        ];
        for shape in shapes {
            let (tensors, ops) = graph_descriptors(&shape)
                .unwrap_or_else(|error| panic!("cuDNN {version} refused {shape:?}: {error}"));
            let spec = sdpa_graph(&shape);
            assert_eq!(tensors.len(), spec.tensors.len());
            assert_eq!(ops.len(), spec.ops.len());
        }
    }

    /// Every tensor the graph reads or writes from outside (not virtual) gets an address or a
    /// scalar in the variant pack, and nothing else does.
    #[test]
    fn the_pack_addresses_exactly_the_graphs_real_tensors() {
        let shape = SdpaShape::of_model(Io::Bf16, [9, 3, 64], 100, 137);
        let mut real: Vec<i64> = sdpa_graph(&shape)
            .tensors
            .iter()
            .filter(|t| !matches!(t.passed, Passed::Virtual))
            .map(|t| t.uid)
            .collect();
        let scalars = Scalars::of(&shape, 0.125).unwrap();
        let mut packed: Vec<i64> = pack_entries(ADDRESSES, &scalars)
            .map(|(uid, _)| uid)
            .to_vec();
        real.sort();
        packed.sort();
        assert_eq!(packed, real);
    }

    #[test]
    fn lengths_past_i32_are_an_error_not_a_wrap() {
        let shape = SdpaShape::of_model(Io::Bf16, [1, 1, 64], 64, 1 << 31);
        assert!(Scalars::of(&shape, 1.0).is_err());
    }

    /// cuDNN takes the variant pack as built (uids, pointers, workspace).
    #[test]
    #[ignore = "needs libcudnn 9.11 or newer on the library path; .ci/run installs it and runs this"]
    fn cudnn_finalises_the_variant_pack() {
        let shape = SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 2048);
        let scalars = Scalars::of(&shape, 0.088).unwrap();
        variant_pack(ADDRESSES, 0x6000, &scalars).unwrap();
    }

    /// A wrong operand is refused at the op, not first on the GPU: the check above can fail.
    #[test]
    #[ignore = "needs libcudnn 9.11 or newer on the library path; .ci/run installs it and runs this"]
    fn cudnn_refuses_an_op_whose_operands_do_not_fit() {
        let shape = SdpaShape::of_model(Io::Bf16, [32, 32, 128], 1024, 2048);
        let mut spec = sdpa_graph(&shape);
        let tensors: Vec<_> = spec
            .tensors
            .iter()
            .map(tensor_descriptor)
            .collect::<Result<_, _>>()
            .unwrap();
        let OpSpec::Matmul { a, c, .. } = spec.ops[0] else {
            panic!("the graph starts with Q·Kᵀ")
        };
        // Q·Q has inner dimensions 128 and 1024: no product.
        spec.ops[0] = OpSpec::Matmul { a, b: a, c };
        let error = op_descriptors(&spec.ops[0], &tensors).err();
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("CUDNN_STATUS_BAD_PARAM")),
            "{error:?}"
        );
    }
}
