//! The workspace's one FFI module: owned GSSAPI handles (names, credentials, security
//! contexts) over `libgssapi-sys`, and the MIT lucid-context export that bindgen does not
//! cover.
//!
//! Why our own: the fast path needs the raw `gss_ctx_id_t` of an established context to
//! export its keys and sequence numbers (`gss_inquire_sec_context_by_oid` with the lucid OID),
//! and libgssapi keeps context, credential and name handles private. Everything here is a thin,
//! owned wrapper: each handle is released exactly once in `Drop`, every output buffer is
//! copied into Rust memory and released before returning, and no raw pointer leaves the
//! module. The rest of the crate keeps `#![forbid]`-level refusal of `unsafe` (the workspace
//! lint is `deny`; only this module allows it).
//!
//! Three files, one module tree (the lint allowance below covers its children): handles,
//! status and buffers here, the security context in `context`, the lucid structs in `lucid`
//! (declared by hand, `repr(C)`, from `/usr/include/gssapi/gssapi_krb5.h`, MIT krb5 1.20;
//! `lucid::tests::lucid_layout_matches_the_c_header` compiles a C program against that header
//! and compares every size and offset).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fmt;
use std::ptr;
use std::sync::Arc;

use libgssapi_sys as sys;

mod context;
mod lucid;

pub(super) use context::{SecContext, Step};

/// Kerberos 5 mechanism, 1.2.840.113554.1.2.2 (DER contents of the OID).
pub(super) const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// SPNEGO (RFC 4178), 1.3.6.1.5.5.2: what browsers send in HTTP `Negotiate` (RFC 4559).
pub(super) const SPNEGO_MECH: &[u8] = b"\x2b\x06\x01\x05\x05\x02";
/// GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: `name/instance@REALM` strings.
const KRB5_NT_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// GSS_KRB5_EXPORT_LUCID_CONTEXT_X_OID 1.2.840.113554.1.2.2.5.6 with the structure version
/// (1) appended as one more arc, as MIT's own `gss_krb5_export_lucid_sec_context` does.
const LUCID_CONTEXT_V1: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x06\x01";

/// Major status of GSS_S_COMPLETE.
const COMPLETE: u32 = 0;

/// A GSSAPI major/minor status pair that is an error.
#[derive(Clone, Copy, Debug)]
pub(super) struct Status {
    major: u32,
    minor: u32,
}

impl Status {
    fn check(major: u32, minor: u32) -> Result<u32, Status> {
        let routine_or_calling = (sys::_GSS_C_CALLING_ERROR_MASK
            << sys::GSS_C_CALLING_ERROR_OFFSET)
            | (sys::_GSS_C_ROUTINE_ERROR_MASK << sys::GSS_C_ROUTINE_ERROR_OFFSET);
        if major & routine_or_calling != 0 {
            Err(Status { major, minor })
        } else {
            Ok(major)
        }
    }

    /// A failure that did not come from GSSAPI itself (a malformed result).
    fn local(minor: u32) -> Status {
        Status {
            major: sys::_GSS_S_FAILURE,
            minor,
        }
    }

    /// The library's text for both codes: `major text (minor text)`.
    pub(super) fn message(&self) -> String {
        let mut text = display_status(self.major, sys::GSS_C_GSS_CODE);
        if self.minor != 0 {
            text.push_str(" (");
            text.push_str(&display_status(self.minor, sys::GSS_C_MECH_CODE));
            text.push(')');
        }
        text
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

fn display_status(code: u32, kind: u32) -> String {
    let mut parts = Vec::new();
    let mut message_context: u32 = 0;
    // gss_display_status hands out one line per call; a status has only a handful.
    for _ in 0..8 {
        let mut minor = 0;
        let mut out = OutBuffer::new();
        // SAFETY: every pointer is to a live local; `out` is released by its Drop.
        let major = unsafe {
            sys::gss_display_status(
                &mut minor,
                code,
                kind as i32,
                ptr::null_mut(),
                &mut message_context,
                &mut out.0,
            )
        };
        if Status::check(major, minor).is_err() {
            parts.push(format!("unknown GSSAPI status {code:#x}"));
            break;
        }
        parts.push(String::from_utf8_lossy(out.as_slice()).into_owned());
        if message_context == 0 {
            break;
        }
    }
    parts.join("; ")
}

/// A `gss_buffer_desc` filled by GSSAPI, released on drop.
struct OutBuffer(sys::gss_buffer_desc);

impl OutBuffer {
    fn new() -> Self {
        OutBuffer(sys::gss_buffer_desc {
            length: 0,
            value: ptr::null_mut(),
        })
    }

    fn as_slice(&self) -> &[u8] {
        if self.0.value.is_null() || self.0.length == 0 {
            return &[];
        }
        // SAFETY: GSSAPI filled `value` with `length` initialized bytes that stay allocated
        // until gss_release_buffer in Drop, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.0.value as *const u8, self.0.length) }
    }
}

impl Drop for OutBuffer {
    fn drop(&mut self) {
        if !self.0.value.is_null() {
            let mut minor = 0;
            // SAFETY: the buffer was allocated by GSSAPI and is released once.
            unsafe { sys::gss_release_buffer(&mut minor, &mut self.0) };
        }
    }
}

/// An input buffer over borrowed bytes, for calls that only read it (names, passwords,
/// messages to wrap). Peer tokens go through [`scratch`] instead.
fn input(bytes: &[u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: bytes.len(),
        value: bytes.as_ptr() as *mut c_void,
    }
}

/// An input buffer over a private, writable copy of a peer's token. MIT does not treat
/// input tokens as read-only: `gss_unwrap` undoes a wrap token's RRC by rotating the token in
/// the caller's buffer (the `unwrap_differential` fuzz target found it), which through a `&[u8]`
/// would be undefined behaviour and would change the caller's bytes.
fn scratch(copy: &mut [u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: copy.len(),
        value: copy.as_mut_ptr() as *mut c_void,
    }
}

/// An OID descriptor over a static DER body (read-only for GSSAPI, like [`input`]).
fn oid(der: &'static [u8]) -> sys::gss_OID_desc {
    sys::gss_OID_desc {
        length: der.len() as u32,
        elements: der.as_ptr() as *mut c_void,
    }
}

/// An internal GSSAPI name, released on drop.
pub(super) struct Name(sys::gss_name_t);

// SAFETY: a gss_name_t is never mutated after creation; MIT allows using it from any thread.
unsafe impl Send for Name {}

impl Drop for Name {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let mut minor = 0;
            // SAFETY: an owned name, released once.
            unsafe { sys::gss_release_name(&mut minor, &mut self.0) };
        }
    }
}

impl Name {
    /// Imports a Kerberos principal string (`user@REALM`, `service/host@REALM`).
    pub(super) fn principal(text: &str) -> Result<Name, Status> {
        let mut minor = 0;
        let mut buffer = input(text.as_bytes());
        let mut name_type = oid(KRB5_NT_PRINCIPAL);
        let mut name = Name(ptr::null_mut());
        // SAFETY: inputs point to live locals; the output name is owned by `name`.
        let major =
            unsafe { sys::gss_import_name(&mut minor, &mut buffer, &mut name_type, &mut name.0) };
        Status::check(major, minor)?;
        Ok(name)
    }

    /// The Kerberos 5 mechanism name for this name.
    pub(super) fn canonicalize(&self) -> Result<Name, Status> {
        let mut minor = 0;
        let mut mech = oid(KRB5_MECH);
        let mut out = Name(ptr::null_mut());
        // SAFETY: `self.0` is a valid name; the result is owned by `out`.
        let major =
            unsafe { sys::gss_canonicalize_name(&mut minor, self.0, &mut mech, &mut out.0) };
        Status::check(major, minor)?;
        Ok(out)
    }

    /// The exported name token (RFC 2743 §3.2) of a mechanism name.
    pub(super) fn export(&self) -> Result<Vec<u8>, Status> {
        let mut minor = 0;
        let mut out = OutBuffer::new();
        // SAFETY: `self.0` is a valid name; `out` is released by its Drop.
        let major = unsafe { sys::gss_export_name(&mut minor, self.0, &mut out.0) };
        Status::check(major, minor)?;
        Ok(out.as_slice().to_vec())
    }

    /// The printable form, `name@REALM`.
    pub(super) fn display(&self) -> Result<String, Status> {
        let mut minor = 0;
        let mut out = OutBuffer::new();
        // SAFETY: `self.0` is a valid name; the name type is not wanted (null).
        let major =
            unsafe { sys::gss_display_name(&mut minor, self.0, &mut out.0, ptr::null_mut()) };
        Status::check(major, minor)?;
        Ok(String::from_utf8_lossy(out.as_slice()).into_owned())
    }
}

struct CredHandle(sys::gss_cred_id_t);

// SAFETY: MIT's krb5 credential guards its state with its own mutex (`cred->lock` in
// lib/gssapi/krb5), taken by init/accept, so one credential may be used from several threads
// (libgssapi declares the same); the handle is only released in Drop, when no clone is left.
unsafe impl Send for CredHandle {}
// SAFETY: as above.
unsafe impl Sync for CredHandle {}

impl Drop for CredHandle {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let mut minor = 0;
            // SAFETY: the last owner releases the handle once.
            unsafe { sys::gss_release_cred(&mut minor, &mut self.0) };
        }
    }
}

/// GSSAPI credentials for the Kerberos 5 mechanism; clones share one handle.
#[derive(Clone)]
pub struct Cred(Arc<CredHandle>);

impl fmt::Debug for Cred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cred(..)")
    }
}

/// What a credential is acquired for.
#[derive(Clone, Copy)]
pub(super) enum Usage {
    Initiate,
    Accept,
}

impl Usage {
    fn to_c(self) -> sys::gss_cred_usage_t {
        match self {
            Usage::Initiate => sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
            Usage::Accept => sys::GSS_C_ACCEPT as sys::gss_cred_usage_t,
        }
    }
}

impl Cred {
    /// Credentials for `name` (or the default identity), Kerberos 5 only.
    pub(super) fn acquire(name: Option<&Name>, usage: Usage) -> Result<Cred, Status> {
        Cred::acquire_for(name, usage, &[KRB5_MECH])
    }

    /// Credentials for `name` for each mechanism of `mechanisms` (DER OID bodies; at most
    /// two: Kerberos 5 and SPNEGO, for HTTP `Negotiate`).
    pub(super) fn acquire_for(
        name: Option<&Name>,
        usage: Usage,
        mechanisms: &[&'static [u8]],
    ) -> Result<Cred, Status> {
        let mut minor = 0;
        let mut descs: Vec<sys::gss_OID_desc> = mechanisms.iter().map(|&m| oid(m)).collect();
        let mut mechs = sys::gss_OID_set_desc {
            count: descs.len(),
            elements: descs.as_mut_ptr(),
        };
        let mut cred = CredHandle(ptr::null_mut());
        // SAFETY: the mechanism set points to live locals; the handle is owned by `cred`.
        let major = unsafe {
            sys::gss_acquire_cred(
                &mut minor,
                name.map_or(ptr::null_mut(), |n| n.0),
                sys::_GSS_C_INDEFINITE,
                &mut mechs,
                usage.to_c(),
                &mut cred.0,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        Status::check(major, minor)?;
        Ok(Cred(Arc::new(cred)))
    }

    /// Initiator credentials for `name`, obtained from the KDC with `password`.
    pub(super) fn with_password(name: &Name, password: &str) -> Result<Cred, Status> {
        Cred::with_password_for(name, password, &[KRB5_MECH])
    }

    /// [`Cred::with_password`] for each mechanism of `mechanisms` (DER OID bodies).
    pub(super) fn with_password_for(
        name: &Name,
        password: &str,
        mechanisms: &[&'static [u8]],
    ) -> Result<Cred, Status> {
        let mut minor = 0;
        let mut descs: Vec<sys::gss_OID_desc> = mechanisms.iter().map(|&m| oid(m)).collect();
        let mut mechs = sys::gss_OID_set_desc {
            count: descs.len(),
            elements: descs.as_mut_ptr(),
        };
        let mut password = input(password.as_bytes());
        let mut cred = CredHandle(ptr::null_mut());
        // SAFETY: as in `acquire`; the password buffer borrows a live &str.
        let major = unsafe {
            sys::gss_acquire_cred_with_password(
                &mut minor,
                name.0,
                &mut password,
                sys::_GSS_C_INDEFINITE,
                &mut mechs,
                Usage::Initiate.to_c(),
                &mut cred.0,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        Status::check(major, minor)?;
        Ok(Cred(Arc::new(cred)))
    }
}

impl Cred {
    /// The credential's principal and remaining lifetime in seconds (0 once it ended).
    pub(super) fn inquire(&self) -> Result<(Name, u32), Status> {
        let mut minor = 0;
        let mut name = Name(ptr::null_mut());
        let mut lifetime = 0u32;
        // SAFETY: a valid credential handle; the name becomes owned by `name`; usage and
        // mechanisms are not requested (null).
        let major = unsafe {
            sys::gss_inquire_cred(
                &mut minor,
                self.0 .0,
                &mut name.0,
                &mut lifetime,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        Status::check(major, minor)?;
        Ok((name, lifetime))
    }
}
