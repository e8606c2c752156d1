//! TEMPORARY until fast-crypto is merged.
use super::ffi::SecContext;
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enctype;
pub(super) fn enctype_name(_: Enctype) -> &'static str { "none" }
pub(super) struct FastEngine;
impl FastEngine {
    pub(super) fn take_over(ctx: SecContext) -> std::result::Result<Self, SecContext> { let _ = ctx.lucid(); Err(ctx) }
    pub(super) fn enctype(&self) -> Enctype { Enctype }
    pub(super) fn seal(&mut self, _: &[u8]) -> Result<Vec<u8>> { unimplemented!() }
    pub(super) fn open(&mut self, _: &[u8]) -> Result<Vec<u8>> { unimplemented!() }
}
