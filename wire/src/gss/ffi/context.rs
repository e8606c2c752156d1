//! A GSSAPI security context: the handshake steps, inquiry, MIT's wrap/unwrap and the
//! non-deleting lucid export.

use std::ffi::c_void;
use std::ptr;

use libgssapi_sys as sys;

use super::lucid::{Lucid, LucidContextV1};
use super::{
    input, oid, scratch, Cred, Name, OutBuffer, Status, COMPLETE, KRB5_MECH, LUCID_CONTEXT_V1,
};

/// A GSSAPI security context (either side), deleted on drop.
pub(in crate::gss) struct SecContext(sys::gss_ctx_id_t);

// SAFETY: one owner at a time (no `&self` method runs concurrently with another call: RFC
// 2744 forbids concurrent calls on one context, and `Sync` is not implemented); moving the
// handle to another thread is allowed.
unsafe impl Send for SecContext {}

impl Drop for SecContext {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let mut minor = 0;
            // SAFETY: an owned context, deleted once; no output token wanted.
            unsafe { sys::gss_delete_sec_context(&mut minor, &mut self.0, ptr::null_mut()) };
        }
    }
}

/// What one handshake step produced: a token for the peer (maybe empty) and whether the
/// context is complete on this side.
pub(in crate::gss) struct Step {
    pub token: Vec<u8>,
    pub complete: bool,
}

/// What `gss_inquire_context` reports about a context.
pub(in crate::gss) struct ContextInfo {
    pub source: Name,
    pub target: Name,
    pub lifetime_secs: u32,
    pub mechanism: Vec<u8>,
    pub flags: u32,
    pub local: bool,
    pub open: bool,
}

impl SecContext {
    pub(in crate::gss) fn new() -> Self {
        SecContext(ptr::null_mut())
    }

    fn step_result(major: u32, minor: u32, out: &OutBuffer) -> Result<Step, Status> {
        let major = Status::check(major, minor)?;
        Ok(Step {
            token: out.as_slice().to_vec(),
            complete: major & sys::_GSS_S_CONTINUE_NEEDED == 0,
        })
    }

    /// One `gss_init_sec_context` call with the Kerberos 5 mechanism.
    pub(in crate::gss) fn initiate(
        &mut self,
        cred: &Cred,
        target: &Name,
        flags: u32,
        token: Option<&[u8]>,
    ) -> Result<Step, Status> {
        self.initiate_with(cred, target, KRB5_MECH, flags, token)
    }

    /// One `gss_init_sec_context` call with `mechanism` (a DER OID body).
    pub(in crate::gss) fn initiate_with(
        &mut self,
        cred: &Cred,
        target: &Name,
        mechanism: &'static [u8],
        flags: u32,
        token: Option<&[u8]>,
    ) -> Result<Step, Status> {
        let mut minor = 0;
        let mut mech = oid(mechanism);
        let mut copy = token.map(<[u8]>::to_vec);
        let mut token = copy.as_deref_mut().map(scratch);
        let mut out = OutBuffer::new();
        // SAFETY: all pointers are to live locals or owned handles; the peer's token is our
        // own copy (see `scratch`); the context handle is updated in place and owned by
        // `self`; `out` is released by its Drop.
        let major = unsafe {
            sys::gss_init_sec_context(
                &mut minor,
                cred.0 .0,
                &mut self.0,
                target.0,
                &mut mech,
                flags,
                sys::_GSS_C_INDEFINITE,
                ptr::null_mut(),
                token.as_mut().map_or(ptr::null_mut(), |t| t as *mut _),
                ptr::null_mut(),
                &mut out.0,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        Self::step_result(major, minor, &out)
    }

    /// One `gss_accept_sec_context` call. No delegated credentials are asked for.
    pub(in crate::gss) fn accept(&mut self, cred: &Cred, token: &[u8]) -> Result<Step, Status> {
        let mut minor = 0;
        let mut copy = token.to_vec();
        let mut token = scratch(&mut copy);
        let mut out = OutBuffer::new();
        // SAFETY: as in `initiate`; source name, mechanism, flags, time and delegated
        // credential outputs are not requested (null).
        let major = unsafe {
            sys::gss_accept_sec_context(
                &mut minor,
                &mut self.0,
                cred.0 .0,
                &mut token,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut out.0,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        Self::step_result(major, minor, &out)
    }

    /// Names, lifetime, mechanism, flags and direction of an established context.
    pub(in crate::gss) fn inquire(&self) -> Result<ContextInfo, Status> {
        let mut minor = 0;
        let mut source = Name(ptr::null_mut());
        let mut target = Name(ptr::null_mut());
        let mut lifetime = 0u32;
        let mut mech: sys::gss_OID = ptr::null_mut();
        let mut flags = 0u32;
        let mut local = 0;
        let mut open = 0;
        // SAFETY: outputs are live locals; the two names become owned by `source` and
        // `target` (released on drop even on error); the mechanism OID is static storage
        // of the library (never freed by the caller).
        let major = unsafe {
            sys::gss_inquire_context(
                &mut minor,
                self.0,
                &mut source.0,
                &mut target.0,
                &mut lifetime,
                &mut mech,
                &mut flags,
                &mut local,
                &mut open,
            )
        };
        Status::check(major, minor)?;
        let mechanism = if mech.is_null() {
            Vec::new()
        } else {
            // SAFETY: a non-null gss_OID from inquire points to a valid descriptor whose
            // `elements` holds `length` bytes.
            unsafe {
                let desc = &*mech;
                if desc.elements.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(desc.elements as *const u8, desc.length as usize)
                        .to_vec()
                }
            }
        };
        Ok(ContextInfo {
            source,
            target,
            lifetime_secs: lifetime,
            mechanism,
            flags,
            local: local != 0,
            open: open != 0,
        })
    }

    /// `gss_wrap` with confidentiality requested; returns the token and whether it really
    /// was encrypted (`conf_state`).
    pub(in crate::gss) fn wrap(&mut self, plaintext: &[u8]) -> Result<(Vec<u8>, bool), Status> {
        let mut minor = 0;
        let mut message = input(plaintext);
        let mut conf_state = 0;
        let mut out = OutBuffer::new();
        // SAFETY: live locals and the owned context handle; `out` released by its Drop.
        let major = unsafe {
            sys::gss_wrap(
                &mut minor,
                self.0,
                1,
                sys::GSS_C_QOP_DEFAULT,
                &mut message,
                &mut conf_state,
                &mut out.0,
            )
        };
        Status::check(major, minor)?;
        Ok((out.as_slice().to_vec(), conf_state != 0))
    }

    /// `gss_unwrap`; returns the plaintext and whether the token was encrypted.
    ///
    /// Supplementary statuses (duplicate, old, unsequenced, gap) are errors here: this
    /// protocol tolerates no replay, loss or reordering.
    pub(in crate::gss) fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), Status> {
        let mut minor = 0;
        let mut copy = token.to_vec();
        let mut message = scratch(&mut copy);
        let mut conf_state = 0;
        let mut qop = 0;
        let mut out = OutBuffer::new();
        // SAFETY: live locals and the owned context handle; MIT may rewrite the token in
        // place, so it gets `copy`, ours to change; `out` released by its Drop.
        let major = unsafe {
            sys::gss_unwrap(
                &mut minor,
                self.0,
                &mut message,
                &mut out.0,
                &mut conf_state,
                &mut qop,
            )
        };
        let major = Status::check(major, minor)?;
        if major != COMPLETE {
            return Err(Status { major, minor });
        }
        Ok((out.as_slice().to_vec(), conf_state != 0))
    }

    /// The lucid (exported) form of this context, by `gss_inquire_sec_context_by_oid`. The
    /// MIT context stays usable: callers that switch to the lucid keys must drop `self`
    /// (see `gss::fast::take_over`).
    pub(in crate::gss) fn lucid(&self) -> Result<Lucid, Status> {
        let mut minor = 0;
        let mut request = oid(LUCID_CONTEXT_V1);
        let mut set: sys::gss_buffer_set_t = ptr::null_mut();
        // SAFETY: live locals and the owned context; the buffer set is released below.
        let major = unsafe {
            sys::gss_inquire_sec_context_by_oid(&mut minor, self.0, &mut request, &mut set)
        };
        let checked = Status::check(major, minor);
        // SAFETY: on success MIT returns one buffer holding exactly a `void *` to a
        // gss_krb5_lucid_context_v1_t it allocated; we copy the pointer out, take ownership
        // of the struct (freed by `Lucid`'s Drop) and release the set. A set of another
        // shape is refused (and nothing is read from it).
        let lucid = unsafe {
            let mut lucid = None;
            if !set.is_null() && (*set).count == 1 && !(*set).elements.is_null() {
                let element = &*(*set).elements;
                if element.length == std::mem::size_of::<*mut c_void>() && !element.value.is_null()
                {
                    let raw = ptr::read_unaligned(element.value as *const *mut LucidContextV1);
                    lucid = ptr::NonNull::new(raw).map(Lucid::from_raw);
                }
            }
            if !set.is_null() {
                let mut release_minor = 0;
                sys::gss_release_buffer_set(&mut release_minor, &mut set);
            }
            lucid
        };
        checked?;
        lucid.ok_or(Status::local(0))
    }
}
