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
//! The lucid structs are declared by hand, `repr(C)`, from `/usr/include/gssapi/gssapi_krb5.h`
//! (MIT krb5 1.20); `tests::lucid_layout_matches_the_c_header` compiles a C program against
//! that header and compares every size and offset.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fmt;
use std::ptr;
use std::sync::Arc;

use libgssapi_sys as sys;
use zeroize::Zeroizing;

/// Kerberos 5 mechanism, 1.2.840.113554.1.2.2 (DER contents of the OID).
pub(super) const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: `name/instance@REALM` strings.
const KRB5_NT_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// GSS_KRB5_EXPORT_LUCID_CONTEXT_X_OID 1.2.840.113554.1.2.2.5.6 with the structure version
/// (1) appended as one more arc, as MIT's own `gss_krb5_export_lucid_sec_context` does.
const LUCID_CONTEXT_V1: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x06\x01";

/// Largest key MIT may hand us in a lucid context: AES-256 and the SHA-384 enctype's key are
/// 32 bytes; 64 leaves room without trusting an arbitrary length from C.
const MAX_LUCID_KEY_LEN: usize = 64;

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

/// An input buffer over borrowed bytes. GSSAPI never writes through input buffers; the
/// `*mut` is only what the C prototypes declare.
fn input(bytes: &[u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: bytes.len(),
        value: bytes.as_ptr() as *mut c_void,
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

// SAFETY: MIT credentials lock internally and may be shared between threads (libgssapi
// declares the same); the handle is only released in Drop, when no clone is left.
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
        let mut minor = 0;
        let mut mech = oid(KRB5_MECH);
        let mut mechs = sys::gss_OID_set_desc {
            count: 1,
            elements: &mut mech,
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
        let mut minor = 0;
        let mut mech = oid(KRB5_MECH);
        let mut mechs = sys::gss_OID_set_desc {
            count: 1,
            elements: &mut mech,
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

/// A GSSAPI security context (either side), deleted on drop.
pub(super) struct SecContext(sys::gss_ctx_id_t);

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
pub(super) struct Step {
    pub token: Vec<u8>,
    pub complete: bool,
}

/// What `gss_inquire_context` reports about a context.
pub(super) struct ContextInfo {
    pub source: Name,
    pub target: Name,
    pub lifetime_secs: u32,
    pub mechanism: Vec<u8>,
    pub flags: u32,
    pub local: bool,
    pub open: bool,
}

impl SecContext {
    pub(super) fn new() -> Self {
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
    pub(super) fn initiate(
        &mut self,
        cred: &Cred,
        target: &Name,
        flags: u32,
        token: Option<&[u8]>,
    ) -> Result<Step, Status> {
        let mut minor = 0;
        let mut mech = oid(KRB5_MECH);
        let mut token = token.map(input);
        let mut out = OutBuffer::new();
        // SAFETY: all pointers are to live locals or owned handles; the context handle is
        // updated in place and owned by `self`; `out` is released by its Drop.
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
    pub(super) fn accept(&mut self, cred: &Cred, token: &[u8]) -> Result<Step, Status> {
        let mut minor = 0;
        let mut token = input(token);
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
    pub(super) fn inquire(&self) -> Result<ContextInfo, Status> {
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
    pub(super) fn wrap(&mut self, plaintext: &[u8]) -> Result<(Vec<u8>, bool), Status> {
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
    pub(super) fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), Status> {
        let mut minor = 0;
        let mut message = input(token);
        let mut conf_state = 0;
        let mut qop = 0;
        let mut out = OutBuffer::new();
        // SAFETY: live locals and the owned context handle; `out` released by its Drop.
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
    pub(super) fn lucid(&self) -> Result<Lucid, Status> {
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
                    lucid = ptr::NonNull::new(raw).map(Lucid);
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

/// `gss_krb5_lucid_key_t`.
#[repr(C)]
struct LucidKey {
    kind: u32,
    length: u32,
    data: *mut c_void,
}

/// `gss_krb5_rfc1964_keydata_t`.
#[repr(C)]
struct Rfc1964KeyData {
    sign_alg: u32,
    seal_alg: u32,
    ctx_key: LucidKey,
}

/// `gss_krb5_cfx_keydata_t`.
#[repr(C)]
struct CfxKeyData {
    have_acceptor_subkey: u32,
    ctx_key: LucidKey,
    acceptor_subkey: LucidKey,
}

/// `gss_krb5_lucid_context_v1_t`.
#[repr(C)]
struct LucidContextV1 {
    version: u32,
    initiate: u32,
    endtime: u32,
    send_seq: u64,
    recv_seq: u64,
    protocol: u32,
    rfc1964_kd: Rfc1964KeyData,
    cfx_kd: CfxKeyData,
}

#[link(name = "gssapi_krb5")]
extern "C" {
    /// Frees (and zeroes the keys of) a lucid context from the export.
    fn gss_krb5_free_lucid_sec_context(minor_status: *mut u32, kctx: *mut c_void) -> u32;
}

/// An exported lucid context, freed by MIT (which zeroes its keys) on drop.
pub(super) struct Lucid(ptr::NonNull<LucidContextV1>);

impl Drop for Lucid {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the pointer came from MIT's lucid export and is freed once.
        unsafe { gss_krb5_free_lucid_sec_context(&mut minor, self.0.as_ptr() as *mut c_void) };
    }
}

/// One key of a lucid context, copied into memory that is zeroed on drop.
pub(super) struct LucidKeyCopy {
    pub enctype: i32,
    pub key: Zeroizing<Vec<u8>>,
}

/// The fields of a lucid context the fast path needs, copied out of MIT's memory.
pub(super) struct LucidFields {
    pub initiator: bool,
    /// 0: RFC 1964 tokens; 1: RFC 4121 (CFX).
    pub protocol: u32,
    pub send_seq: u64,
    pub recv_seq: u64,
    /// Only for `protocol == 1`: the context key and the acceptor subkey, if any.
    pub ctx_key: Option<LucidKeyCopy>,
    pub acceptor_subkey: Option<LucidKeyCopy>,
}

impl Lucid {
    /// Copies the fields out; `None` for a structure version other than 1 or a key longer
    /// than [`MAX_LUCID_KEY_LEN`].
    pub(super) fn fields(&self) -> Option<LucidFields> {
        // SAFETY: the pointer is MIT's live lucid context, read-only while `self` lives.
        let lucid = unsafe { self.0.as_ref() };
        if lucid.version != 1 {
            return None;
        }
        let (ctx_key, acceptor_subkey) = if lucid.protocol == 1 {
            let cfx = &lucid.cfx_kd;
            let subkey = if cfx.have_acceptor_subkey != 0 {
                Some(copy_key(&cfx.acceptor_subkey)?)
            } else {
                None
            };
            (Some(copy_key(&cfx.ctx_key)?), subkey)
        } else {
            (None, None)
        };
        Some(LucidFields {
            initiator: lucid.initiate != 0,
            protocol: lucid.protocol,
            send_seq: lucid.send_seq,
            recv_seq: lucid.recv_seq,
            ctx_key,
            acceptor_subkey,
        })
    }
}

fn copy_key(key: &LucidKey) -> Option<LucidKeyCopy> {
    let length = key.length as usize;
    if length > MAX_LUCID_KEY_LEN || (length > 0 && key.data.is_null()) {
        return None;
    }
    let bytes = if length == 0 {
        Vec::new()
    } else {
        // SAFETY: MIT's lucid key points to `length` bytes owned by the lucid context.
        unsafe { std::slice::from_raw_parts(key.data as *const u8, length) }.to_vec()
    };
    Some(LucidKeyCopy {
        enctype: key.kind as i32,
        key: Zeroizing::new(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Compiles a C program against MIT's installed `gssapi/gssapi_krb5.h` that prints every
    /// size and offset of the lucid structs, and compares them with the Rust declarations.
    /// `cc` is always present where Rust links (it is the linker) and the header comes with
    /// libkrb5-dev, which the build already needs.
    #[test]
    fn lucid_layout_matches_the_c_header() {
        let dir = std::env::temp_dir().join(format!("burnstand-lucid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let source = dir.join("layout.c");
        let program = dir.join("layout");
        std::fs::write(
            &source,
            r#"#include <stdio.h>
#include <stddef.h>
#include <gssapi/gssapi_krb5.h>
#define P(e) printf("%zu\n", (size_t)(e))
int main(void) {
  P(sizeof(gss_krb5_lucid_key_t)); P(offsetof(gss_krb5_lucid_key_t, type));
  P(offsetof(gss_krb5_lucid_key_t, length)); P(offsetof(gss_krb5_lucid_key_t, data));
  P(sizeof(gss_krb5_rfc1964_keydata_t)); P(offsetof(gss_krb5_rfc1964_keydata_t, sign_alg));
  P(offsetof(gss_krb5_rfc1964_keydata_t, seal_alg)); P(offsetof(gss_krb5_rfc1964_keydata_t, ctx_key));
  P(sizeof(gss_krb5_cfx_keydata_t)); P(offsetof(gss_krb5_cfx_keydata_t, have_acceptor_subkey));
  P(offsetof(gss_krb5_cfx_keydata_t, ctx_key)); P(offsetof(gss_krb5_cfx_keydata_t, acceptor_subkey));
  P(sizeof(gss_krb5_lucid_context_v1_t)); P(offsetof(gss_krb5_lucid_context_v1_t, version));
  P(offsetof(gss_krb5_lucid_context_v1_t, initiate)); P(offsetof(gss_krb5_lucid_context_v1_t, endtime));
  P(offsetof(gss_krb5_lucid_context_v1_t, send_seq)); P(offsetof(gss_krb5_lucid_context_v1_t, recv_seq));
  P(offsetof(gss_krb5_lucid_context_v1_t, protocol)); P(offsetof(gss_krb5_lucid_context_v1_t, rfc1964_kd));
  P(offsetof(gss_krb5_lucid_context_v1_t, cfx_kd));
  P(sizeof(((gss_krb5_lucid_key_t *)0)->type)); P(sizeof(((gss_krb5_lucid_context_v1_t *)0)->send_seq));
  return 0;
}
"#,
        )
        .expect("write C source");
        let compiled = std::process::Command::new("cc")
            .arg(&source)
            .arg("-o")
            .arg(&program)
            .status()
            .expect("run cc (the C compiler Rust links with)");
        assert!(compiled.success(), "cc failed: is libkrb5-dev installed?");
        let output = std::process::Command::new(&program)
            .output()
            .expect("run layout program");
        let _ = std::fs::remove_dir_all(&dir);
        let c: Vec<usize> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.parse().expect("a number"))
            .collect();
        let rust = vec![
            size_of::<LucidKey>(),
            offset_of!(LucidKey, kind),
            offset_of!(LucidKey, length),
            offset_of!(LucidKey, data),
            size_of::<Rfc1964KeyData>(),
            offset_of!(Rfc1964KeyData, sign_alg),
            offset_of!(Rfc1964KeyData, seal_alg),
            offset_of!(Rfc1964KeyData, ctx_key),
            size_of::<CfxKeyData>(),
            offset_of!(CfxKeyData, have_acceptor_subkey),
            offset_of!(CfxKeyData, ctx_key),
            offset_of!(CfxKeyData, acceptor_subkey),
            size_of::<LucidContextV1>(),
            offset_of!(LucidContextV1, version),
            offset_of!(LucidContextV1, initiate),
            offset_of!(LucidContextV1, endtime),
            offset_of!(LucidContextV1, send_seq),
            offset_of!(LucidContextV1, recv_seq),
            offset_of!(LucidContextV1, protocol),
            offset_of!(LucidContextV1, rfc1964_kd),
            offset_of!(LucidContextV1, cfx_kd),
            size_of::<u32>(),
            size_of::<u64>(),
        ];
        assert_eq!(c, rust);
    }

    /// The same layout by hand (x86-64/aarch64 LP64): what the C test checks, written down so
    /// a reader can follow it without a compiler.
    #[test]
    fn lucid_layout_by_reasoning() {
        // key: u32 type, u32 length, 8-byte pointer.
        assert_eq!(size_of::<LucidKey>(), 16);
        // rfc1964: two u32, then a key (8-aligned) at 8: 24 bytes.
        assert_eq!(size_of::<Rfc1964KeyData>(), 24);
        // cfx: u32 + 4 padding, two keys: 8 + 32 = 40.
        assert_eq!(size_of::<CfxKeyData>(), 40);
        // v1: 3 × u32 (+4 pad) = 16, two u64 = 32, protocol u32 (+4 pad) = 40, +24 +40 = 104.
        assert_eq!(offset_of!(LucidContextV1, send_seq), 16);
        assert_eq!(offset_of!(LucidContextV1, protocol), 32);
        assert_eq!(offset_of!(LucidContextV1, rfc1964_kd), 40);
        assert_eq!(offset_of!(LucidContextV1, cfx_kd), 64);
        assert_eq!(size_of::<LucidContextV1>(), 104);
    }
}
