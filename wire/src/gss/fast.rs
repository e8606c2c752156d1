//! From an established MIT context to the Rust fast path: the lucid export, the checks that
//! the context is one the fast path implements, and the hand-over that deletes MIT's context.

use zeroize::Zeroizing;

use super::ffi::SecContext;
use crate::fastpath::{Enctype, FastContext, LucidParams};

/// Why a context stays on MIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotFast {
    /// The lucid export failed (or returned an unknown structure version).
    Export,
    /// An RFC 1964 context (DES or RC4 enctypes): not RFC 4121.
    NotCfx,
    /// An enctype other than 17–20.
    Enctype(i32),
    /// The key does not fit the enctype.
    Key,
}

/// The fast path's parameters of `ctx`, by the non-deleting lucid inquiry: MIT's context
/// stays usable (callers that switch must drop it, see [`take_over`]).
pub(super) fn lucid_params(ctx: &SecContext) -> Result<LucidParams, NotFast> {
    let lucid = ctx.lucid().map_err(|_| NotFast::Export)?;
    let fields = lucid.fields().ok_or(NotFast::Export)?;
    if fields.protocol != 1 {
        return Err(NotFast::NotCfx);
    }
    // RFC 4121 §2: with an acceptor subkey, tokens in both directions use it.
    let acceptor_subkey = fields.acceptor_subkey.is_some();
    let key = match (fields.acceptor_subkey, fields.ctx_key) {
        (Some(subkey), _) => subkey,
        (None, Some(ctx_key)) => ctx_key,
        (None, None) => return Err(NotFast::Export),
    };
    let enctype = Enctype::from_number(key.enctype).ok_or(NotFast::Enctype(key.enctype))?;
    Ok(LucidParams {
        initiator: fields.initiator,
        enctype,
        key: Zeroizing::new(key.key.to_vec()),
        acceptor_subkey,
        send_seq: fields.send_seq,
        recv_seq: fields.recv_seq,
    })
}

/// Moves `ctx` to the fast path: exports it, builds the Rust context and deletes MIT's
/// (`gss_delete_sec_context`), so MIT's sequence state can never be used next to the Rust
/// one. A context the fast path cannot take comes back unchanged with the reason.
pub(super) fn take_over(ctx: SecContext) -> Result<FastContext, (SecContext, NotFast)> {
    let params = match lucid_params(&ctx) {
        Ok(params) => params,
        Err(why) => return Err((ctx, why)),
    };
    match FastContext::new(params) {
        Ok(fast) => {
            drop(ctx);
            Ok(fast)
        }
        Err(_) => Err((ctx, NotFast::Key)),
    }
}
