//! MIT's lucid context v1 (`gssapi/gssapi_krb5.h`), declared by hand: bindgen's output in
//! libgssapi-sys does not include that header.

use std::ffi::c_void;
use std::ptr;

use zeroize::Zeroizing;

/// Largest key MIT may hand us in a lucid context: AES-256 and the SHA-384 enctype's key are
/// 32 bytes; 64 leaves room without trusting an arbitrary length from C.
const MAX_LUCID_KEY_LEN: usize = 64;

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
pub(super) struct LucidContextV1 {
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
pub(in crate::gss) struct Lucid(ptr::NonNull<LucidContextV1>);

impl Drop for Lucid {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the pointer came from MIT's lucid export and is freed once.
        unsafe { gss_krb5_free_lucid_sec_context(&mut minor, self.0.as_ptr() as *mut c_void) };
    }
}

/// One key of a lucid context, copied into memory that is zeroed on drop.
pub(in crate::gss) struct LucidKeyCopy {
    pub enctype: i32,
    pub key: Zeroizing<Vec<u8>>,
}

/// The fields of a lucid context the fast path needs, copied out of MIT's memory.
pub(in crate::gss) struct LucidFields {
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
    /// Takes ownership of a lucid context MIT allocated (freed on drop).
    pub(super) fn from_raw(raw: ptr::NonNull<LucidContextV1>) -> Self {
        Lucid(raw)
    }

    /// Copies the fields out; `None` for a structure version other than 1 or a key longer
    /// than [`MAX_LUCID_KEY_LEN`].
    pub(in crate::gss) fn fields(&self) -> Option<LucidFields> {
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
