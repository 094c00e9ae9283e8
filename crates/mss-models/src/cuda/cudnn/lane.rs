//! What one thread's cuDNN attentions run on: a handle, the plans built so far, a workspace.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use cudarc::cudnn::sys;
use cudarc::driver::result as driver;
use cudarc::driver::sys::CUstream;

use super::descriptor::check;
use super::graph::{Addresses, Plan};
use super::saved;
use super::spec::SdpaShape;
use crate::cuda::scratch::Scratch;
use crate::cuda::{LaneCell, with_lane};

struct Lane {
    handle: sys::cudnnHandle_t,
    /// Where plans are kept between processes: a folder per cuDNN version and GPU model, as a
    /// saved plan holds for these two only.
    plans_folder: Option<PathBuf>,
    /// The stream the handle queues on now (null: the legacy default stream).
    bound: CUstream,
    plans: HashMap<SdpaShape, Plan>,
    /// The plans' workspace, as large as the largest asked for so far.
    workspace: Scratch,
}

impl Lane {
    fn new() -> Result<Self, String> {
        let mut handle = std::ptr::null_mut();
        // SAFETY: writes one handle; the thread's context is current (CubeCL's server thread).
        check(unsafe { sys::cudnnCreate(&mut handle) }, || {
            "creating a cuDNN handle".into()
        })?;
        // A lane is made only where cuDNN was found (`cudnn_attention_available`).
        let version = super::cudnn_version().unwrap_or_default();
        Ok(Self {
            handle,
            plans_folder: saved::plans_folder(version, &gpu_name()),
            bound: std::ptr::null_mut(),
            plans: HashMap::new(),
            workspace: Scratch::new("cuDNN"),
        })
    }

    /// The plan of `shape`: the one saved by an earlier process where cuDNN takes it back,
    /// else built (and saved) the first time it is asked for.
    fn plan(&mut self, shape: &SdpaShape) -> Result<&Plan, String> {
        if !self.plans.contains_key(shape) {
            let started = Instant::now();
            let folder = self.plans_folder.as_deref();
            let saved = folder
                .and_then(|folder| saved::read(folder, shape))
                .and_then(|bytes| Plan::deserialise(self.handle, &bytes).ok());
            let loaded = saved.is_some();
            let plan = match saved {
                Some(plan) => plan,
                None => {
                    let plan = Plan::build(self.handle, shape)?;
                    if let (Some(folder), Ok(bytes)) = (folder, plan.serialise()) {
                        saved::write(folder, shape, &bytes);
                    }
                    plan
                }
            };
            super::record_plan(started.elapsed(), loaded);
            self.plans.insert(*shape, plan);
        }
        Ok(&self.plans[shape])
    }

    fn bind(&mut self, stream: CUstream) -> Result<(), String> {
        if self.bound != stream {
            // SAFETY: the handle is this lane's; CubeCL never destroys its streams.
            check(
                unsafe { sys::cudnnSetStream(self.handle, stream.cast()) },
                || "setting cuDNN's stream".into(),
            )?;
            self.bound = stream;
        }
        Ok(())
    }
}

/// The name of the current context's GPU (`unknown` where the driver does not say).
fn gpu_name() -> String {
    let mut device = 0;
    // SAFETY: writes one device ordinal of the current context.
    let found = unsafe { cudarc::driver::sys::cuCtxGetDevice(&mut device) }.result();
    found
        .ok()
        .and_then(|()| driver::device::get_name(device).ok())
        .unwrap_or_else(|| "unknown".into())
}

thread_local! {
    static LANE: LaneCell<Lane> = const { RefCell::new(None) };
}

/// Builds this thread's plan of `shape` unless it has one.
pub(super) fn prepare(shape: &SdpaShape) -> Result<(), String> {
    with_lane(&LANE, Lane::new, |lane| lane.plan(shape).map(|_| ()))
}

/// Queues the attention of `shape` on `stream` (CubeCL's, ordered by the stream alone), or,
/// without one, between two synchronisations of the context.
///
/// # Safety
/// As [`Plan::execute`], but for the workspace (the lane's own).
pub(super) unsafe fn execute(
    shape: &SdpaShape,
    addresses: Addresses,
    scale: f32,
    stream: Option<CUstream>,
) -> Result<(), String> {
    with_lane(&LANE, Lane::new, |lane| {
        let bytes = lane.plan(shape)?.workspace;
        let (workspace, _) = lane.workspace.at_least(bytes)?;
        lane.bind(stream.unwrap_or(std::ptr::null_mut()))?;
        let synchronise = || driver::ctx::synchronize().map_err(|e| format!("synchronising: {e}"));
        if stream.is_none() {
            static SAID: std::sync::OnceLock<()> = std::sync::OnceLock::new();
            SAID.get_or_init(|| {
                eprintln!(
                    "mss: cuDNN's attention runs between synchronisations of the context \
                     (CubeCL's stream not found or not asked for): slow"
                )
            });
            synchronise()?;
        }
        let plan = &lane.plans[shape];
        // SAFETY: forwarded from the caller; the workspace holds the plan's.
        unsafe { plan.execute(lane.handle, shape, addresses, workspace, scale) }?;
        if stream.is_none() {
            synchronise()?;
        }
        Ok(())
    })
}
