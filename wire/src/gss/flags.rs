//! GSSAPI context flags (RFC 2744 §3.7): what a context protects.

use std::fmt;

/// A set of GSSAPI context flags, with the RFC 2744 names (the values of `gssapi.h`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtxFlags(u32);

impl CtxFlags {
    pub const GSS_C_DELEG_FLAG: CtxFlags = CtxFlags(1);
    pub const GSS_C_MUTUAL_FLAG: CtxFlags = CtxFlags(2);
    pub const GSS_C_REPLAY_FLAG: CtxFlags = CtxFlags(4);
    pub const GSS_C_SEQUENCE_FLAG: CtxFlags = CtxFlags(8);
    pub const GSS_C_CONF_FLAG: CtxFlags = CtxFlags(16);
    pub const GSS_C_INTEG_FLAG: CtxFlags = CtxFlags(32);
    pub const GSS_C_ANON_FLAG: CtxFlags = CtxFlags(64);
    pub const GSS_C_PROT_READY_FLAG: CtxFlags = CtxFlags(128);
    pub const GSS_C_TRANS_FLAG: CtxFlags = CtxFlags(256);

    const NAMES: [(CtxFlags, &'static str); 9] = [
        (Self::GSS_C_DELEG_FLAG, "GSS_C_DELEG_FLAG"),
        (Self::GSS_C_MUTUAL_FLAG, "GSS_C_MUTUAL_FLAG"),
        (Self::GSS_C_REPLAY_FLAG, "GSS_C_REPLAY_FLAG"),
        (Self::GSS_C_SEQUENCE_FLAG, "GSS_C_SEQUENCE_FLAG"),
        (Self::GSS_C_CONF_FLAG, "GSS_C_CONF_FLAG"),
        (Self::GSS_C_INTEG_FLAG, "GSS_C_INTEG_FLAG"),
        (Self::GSS_C_ANON_FLAG, "GSS_C_ANON_FLAG"),
        (Self::GSS_C_PROT_READY_FLAG, "GSS_C_PROT_READY_FLAG"),
        (Self::GSS_C_TRANS_FLAG, "GSS_C_TRANS_FLAG"),
    ];

    /// No flag.
    pub const fn empty() -> Self {
        CtxFlags(0)
    }

    /// The flags of a C bit mask, unknown bits kept.
    pub const fn from_bits_retain(bits: u32) -> Self {
        CtxFlags(bits)
    }

    /// The C bit mask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Both sets.
    pub const fn union(self, other: Self) -> Self {
        CtxFlags(self.0 | other.0)
    }

    /// The flags of `self` that are not in `other`.
    pub const fn difference(self, other: Self) -> Self {
        CtxFlags(self.0 & !other.0)
    }

    /// Whether every flag of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for CtxFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| (*name).to_owned())
            .collect();
        let known = Self::NAMES
            .iter()
            .fold(0, |bits, (flag, _)| bits | flag.bits());
        if self.0 & !known != 0 {
            names.push(format!("{:#x}", self.0 & !known));
        }
        write!(f, "CtxFlags({})", names.join(" | "))
    }
}

/// The context flags both sides require: without any one of them a session is refused.
pub const REQUIRED_FLAGS: CtxFlags = CtxFlags::GSS_C_MUTUAL_FLAG
    .union(CtxFlags::GSS_C_CONF_FLAG)
    .union(CtxFlags::GSS_C_INTEG_FLAG)
    .union(CtxFlags::GSS_C_REPLAY_FLAG)
    .union(CtxFlags::GSS_C_SEQUENCE_FLAG);

/// The protections in `flags`, in words, for error messages.
pub(super) fn flag_names(flags: CtxFlags) -> String {
    let names = [
        (CtxFlags::GSS_C_MUTUAL_FLAG, "mutual"),
        (CtxFlags::GSS_C_CONF_FLAG, "confidentiality"),
        (CtxFlags::GSS_C_INTEG_FLAG, "integrity"),
        (CtxFlags::GSS_C_REPLAY_FLAG, "replay detection"),
        (CtxFlags::GSS_C_SEQUENCE_FLAG, "sequence detection"),
    ];
    names
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_flags_are_the_five_protections() {
        assert_eq!(
            flag_names(REQUIRED_FLAGS),
            "mutual, confidentiality, integrity, replay detection, sequence detection"
        );
    }

    #[test]
    fn debug_names_each_flag() {
        let flags = CtxFlags::GSS_C_MUTUAL_FLAG.union(CtxFlags::from_bits_retain(0x1_0000));
        assert_eq!(
            format!("{flags:?}"),
            "CtxFlags(GSS_C_MUTUAL_FLAG | 0x10000)"
        );
        assert!(REQUIRED_FLAGS
            .difference(CtxFlags::GSS_C_CONF_FLAG)
            .difference(REQUIRED_FLAGS)
            .is_empty());
    }
}
