//! cuDNN's backend descriptors: created, given their attributes, finalised, destroyed on drop.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_void};

use cudarc::cudnn::sys::{
    self, cudnnBackendAttributeName_t as Attribute, cudnnBackendAttributeType_t as Type,
    cudnnBackendDescriptorType_t as Kind, cudnnDataType_t, cudnnStatus_t,
};

/// One backend descriptor, destroyed when dropped.
#[derive(Debug)]
pub(super) struct Descriptor(sys::cudnnBackendDescriptor_t);

impl Descriptor {
    /// A new descriptor of `kind`, not yet finalised.
    pub fn new(kind: Kind) -> Result<Self, String> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: writes one descriptor pointer.
        check(
            unsafe { sys::cudnnBackendCreateDescriptor(kind, &mut raw) },
            || format!("creating a {kind:?}"),
        )?;
        Ok(Self(raw))
    }

    pub fn raw(&self) -> sys::cudnnBackendDescriptor_t {
        self.0
    }

    /// Sets attribute `name` to `values`, whose element type `kind` names.
    ///
    /// # Safety
    /// `T` must be the C type of `kind` (an `i64` for `INT64`, a 4-byte enum for enum types, a
    /// 1-byte `bool` for `BOOLEAN`, a pointer for descriptors, handles and `VOID_PTR`).
    unsafe fn set<T>(&self, name: Attribute, kind: Type, values: &[T]) -> Result<(), String> {
        let count = values.len() as i64;
        // SAFETY: the caller vouches for `T`; cuDNN copies the values.
        let status = unsafe {
            sys::cudnnBackendSetAttribute(self.0, name, kind, count, values.as_ptr().cast())
        };
        check(status, || format!("setting {name:?}"))
    }

    pub fn set_i64s(&self, name: Attribute, values: &[i64]) -> Result<(), String> {
        // SAFETY: `INT64` elements are `i64`.
        unsafe { self.set(name, Type::CUDNN_TYPE_INT64, values) }
    }

    pub fn set_data_type(&self, name: Attribute, value: cudnnDataType_t) -> Result<(), String> {
        // SAFETY: the enum is `#[repr(u32)]`, as cuDNN's.
        unsafe { self.set(name, Type::CUDNN_TYPE_DATA_TYPE, &[value]) }
    }

    pub fn set_bool(&self, name: Attribute, value: bool) -> Result<(), String> {
        // SAFETY: `BOOLEAN` is a one-byte C `bool`.
        unsafe { self.set(name, Type::CUDNN_TYPE_BOOLEAN, &[value]) }
    }

    pub fn set_f32(&self, name: Attribute, value: f32) -> Result<(), String> {
        // SAFETY: `FLOAT` is an `f32`.
        unsafe { self.set(name, Type::CUDNN_TYPE_FLOAT, &[value]) }
    }

    /// Sets an enum-typed attribute (pointwise mode, reduction operator, heuristics mode).
    pub fn set_enum<E: Copy>(&self, name: Attribute, kind: Type, value: E) -> Result<(), String> {
        const { assert!(std::mem::size_of::<E>() == 4, "cuDNN's enums are 4 bytes") };
        // SAFETY: the enums passed are cudarc's `#[repr(u32)]` copies of cuDNN's.
        unsafe { self.set(name, kind, &[value]) }
    }

    pub fn set_descriptors(&self, name: Attribute, values: &[&Descriptor]) -> Result<(), String> {
        let raw: Vec<_> = values.iter().map(|d| d.0).collect();
        // SAFETY: `BACKEND_DESCRIPTOR` elements are descriptor pointers.
        unsafe { self.set(name, Type::CUDNN_TYPE_BACKEND_DESCRIPTOR, &raw) }
    }

    pub fn set_handle(&self, name: Attribute, handle: sys::cudnnHandle_t) -> Result<(), String> {
        // SAFETY: `HANDLE` elements are handles.
        unsafe { self.set(name, Type::CUDNN_TYPE_HANDLE, &[handle]) }
    }

    pub fn set_pointers(&self, name: Attribute, values: &[*mut c_void]) -> Result<(), String> {
        // SAFETY: `VOID_PTR` elements are pointers.
        unsafe { self.set(name, Type::CUDNN_TYPE_VOID_PTR, values) }
    }

    /// Sets a `CHAR` attribute (a serialised plan).
    pub fn set_chars(&self, name: Attribute, bytes: &[u8]) -> Result<(), String> {
        // SAFETY: `CHAR` elements are bytes.
        unsafe { self.set(name, Type::CUDNN_TYPE_CHAR, bytes) }
    }

    /// A `CHAR` attribute of a finalised descriptor (a serialised plan), as many bytes as
    /// cuDNN says it holds.
    pub fn get_chars(&self, name: Attribute) -> Result<Vec<u8>, String> {
        // SAFETY: `CHAR` elements are bytes.
        let count = unsafe { self.get::<u8>(name, Type::CUDNN_TYPE_CHAR, &mut []) }?;
        let mut bytes = vec![0u8; count];
        // SAFETY: as above.
        let got = unsafe { self.get(name, Type::CUDNN_TYPE_CHAR, &mut bytes) }?;
        bytes.truncate(got);
        Ok(bytes)
    }

    /// Reads attribute `name` into `values` (as many elements as they have room for) and
    /// returns how many it holds, at most that room when there is any (with an empty `values`,
    /// only how many).
    ///
    /// # Safety
    /// `T` must be the C type of `kind`, as for [`Descriptor::set`]; descriptors must have been
    /// created beforehand (cuDNN fills them).
    unsafe fn get<T>(
        &self,
        name: Attribute,
        kind: Type,
        values: &mut [T],
    ) -> Result<usize, String> {
        let (room, mut count) = (values.len() as i64, 0i64);
        let array = match values.is_empty() {
            true => std::ptr::null_mut(),
            false => values.as_mut_ptr().cast(),
        };
        // SAFETY: `array` has room for `room` elements of `kind` (the caller vouches for `T`).
        let status =
            unsafe { sys::cudnnBackendGetAttribute(self.0, name, kind, room, &mut count, array) };
        check(status, || format!("reading {name:?}"))?;
        let count = count.max(0) as usize;
        Ok(if values.is_empty() {
            count
        } else {
            count.min(values.len())
        })
    }

    /// Finalises the descriptor (its attributes are then fixed).
    pub fn finalize(self, what: &str) -> Result<Self, String> {
        // SAFETY: the descriptor is alive.
        check(unsafe { sys::cudnnBackendFinalize(self.0) }, || {
            format!("finalising {what}")
        })?;
        Ok(self)
    }

    /// One `INT64` attribute of a finalised descriptor.
    pub fn get_i64(&self, name: Attribute) -> Result<i64, String> {
        let mut value = [0i64];
        // SAFETY: `INT64` elements are `i64`.
        unsafe { self.get(name, Type::CUDNN_TYPE_INT64, &mut value) }?;
        Ok(value[0])
    }

    /// The engine configurations the heuristics descriptor found, best first.
    pub fn engine_configs(&self) -> Result<Vec<Descriptor>, String> {
        let (results, kind) = (
            Attribute::CUDNN_ATTR_ENGINEHEUR_RESULTS,
            Type::CUDNN_TYPE_BACKEND_DESCRIPTOR,
        );
        // SAFETY: `BACKEND_DESCRIPTOR` elements are descriptor pointers.
        let count = unsafe { self.get::<sys::cudnnBackendDescriptor_t>(results, kind, &mut []) }?;
        // cuDNN fills configurations created beforehand (not finalised).
        let mut configs = (0..count)
            .map(|_| Descriptor::new(Kind::CUDNN_BACKEND_ENGINECFG_DESCRIPTOR))
            .collect::<Result<Vec<_>, _>>()?;
        let mut raw: Vec<_> = configs.iter().map(|d| d.0).collect();
        // SAFETY: as above; `raw` holds the descriptors just created.
        let got = unsafe { self.get(results, kind, &mut raw) }?;
        configs.truncate(got);
        Ok(configs)
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and destroyed once; a failure leaks host memory only.
        let _ = unsafe { sys::cudnnBackendDestroyDescriptor(self.0) };
    }
}

/// `Ok` on success, else what failed with cuDNN's status and its last error message.
pub(super) fn check(status: cudnnStatus_t, what: impl FnOnce() -> String) -> Result<(), String> {
    if status == cudnnStatus_t::CUDNN_STATUS_SUCCESS {
        return Ok(());
    }
    Err(format!("{}: {status:?}{}", what(), last_error()))
}

/// cuDNN's message on its last error, as `" (…)"`, or nothing.
fn last_error() -> String {
    let mut buffer = [0 as c_char; 1024];
    // SAFETY: cuDNN writes a NUL-terminated message of at most the buffer's size.
    unsafe { sys::cudnnGetLastErrorString(buffer.as_mut_ptr(), buffer.len() - 1) };
    // SAFETY: the buffer is NUL-terminated (zeroed, and written so by cuDNN).
    let message = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy();
    let message = message.trim();
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}
