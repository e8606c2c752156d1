//! Every bound the protocol enforces, in one place, with the memory each one caps.
//!
//! A peer may be an attacker: nothing it sends may make us allocate or buffer more than these
//! numbers say. Decoders check lengths against the bytes that remain *before* allocating, so a
//! lying length costs nothing; these limits cap what an honest-looking length may claim.

use std::time::Duration;

/// Largest decoded block (after base64, before GSSAPI unwrap), by default.
///
/// Bounds the block decoder's line buffer to [`max_line_len`]`(MAX_BLOCK_LEN)` ≈ 1.33 MiB and the
/// decoded block to 1 MiB per connection and direction.
pub const MAX_BLOCK_LEN: usize = 1 << 20;

/// Room left in a block for the GSSAPI wrap header and trailer.
///
/// krb5 with AES adds a constant 60 bytes; 1 KiB leaves space for any krb5 enctype.
pub const WRAP_OVERHEAD_ALLOWANCE: usize = 1024;

/// Largest plaintext message inside one protected block.
pub const MAX_MESSAGE_LEN: usize = MAX_BLOCK_LEN - WRAP_OVERHEAD_ALLOWANCE;

/// Largest RFC 4121 wrap token the fast path (`fastpath`) unwraps: a wrap token is one whole
/// block, so this is [`MAX_BLOCK_LEN`]. Bounds the copy `unwrap_into` makes of a token (1 MiB).
pub const MAX_WRAP_TOKEN_LEN: usize = MAX_BLOCK_LEN;

/// The most a fast-path wrap token adds to its plaintext (header 16, confounder 16, header
/// copy 16, HMAC-SHA-384-192 checksum 24). Must fit [`WRAP_OVERHEAD_ALLOWANCE`], so every
/// message of [`MAX_MESSAGE_LEN`] wraps into a token within [`MAX_WRAP_TOKEN_LEN`].
pub const MAX_FAST_WRAP_OVERHEAD: usize = 72;

const _: () = assert!(MAX_FAST_WRAP_OVERHEAD <= WRAP_OVERHEAD_ALLOWANCE);

/// Largest single handshake token. A krb5 AP-REQ is about 700 bytes; tickets carrying a large
/// PAC stay well under 64 KiB. Bounds the memory an unauthenticated peer can make us hold.
pub const MAX_HANDSHAKE_TOKEN_LEN: usize = 64 * 1024;

/// Token exchanges allowed before the handshake is abandoned. krb5 needs one each way; a peer
/// that keeps sending continue tokens is cut off here.
pub const MAX_HANDSHAKE_ROUNDS: usize = 8;

/// Default time an unauthenticated peer gets to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a block may take to write. A peer that stops reading fills the socket buffers and
/// would otherwise pin the writing task (and its reservation, burn or relay) forever; after
/// this the write fails with `SendTimeout` and the connection is closed. Generous: a 1 MiB
/// block needs only kilobytes per second to make it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest element count of a TQValueList / TQStringList this protocol accepts.
///
/// The decoder additionally requires the count to fit the bytes that remain, so memory is
/// bounded by the message length; this cap only rejects absurd lists early.
pub const MAX_LIST_LEN: u32 = 65_536;

// --- burner protocol (docs/protocol.md §6) ---------------------------------------------------

/// Most copies one BURN may ask for: a station burns them one after the other, so this only
/// bounds how long a single request can keep a drive.
pub const MAX_COPIES: u32 = 99;

/// Longest image id, in characters. Ids are catalog keys chosen by operators, never paths.
pub const MAX_IMAGE_ID_LEN: usize = 128;

/// Longest receipt line, in characters: the audit log's own bound on a record
/// (`burnstand_audit::MAX_RECORD_LEN`, 64 KiB), so every record the station can write fits,
/// and a receipt costs at most 128 KiB of UTF-16 in one message.
pub const MAX_RECEIPT_LEN: usize = 64 * 1024;

// --- master–station link (docs/protocol.md §4.4, §5.9) ---------------------------------------

/// Longest station id on the link, in characters (a UUID is 36; an admin-chosen id may be
/// longer).
pub const MAX_STATION_ID_LEN: usize = 128;

/// Longest free text in a grant refusal or a grant request's names, in characters: one line
/// a person reads, 2 KiB of UTF-16 at most.
pub const MAX_LINK_TEXT_LEN: usize = 1024;

/// Longest exported name carried on the link, in bytes (a Kerberos exported name is the
/// principal plus 15 bytes).
pub const MAX_EXPORTED_NAME_LEN: usize = 1024;

/// Shortest heartbeat a master may ask a station for: a state record every 100 ms is already
/// far more than any display needs, and bounds the link's idle traffic.
pub const MIN_HEARTBEAT_MS: u32 = 100;

/// Longest heartbeat a master may ask for (10 minutes): longer would make a hung station
/// invisible for too long to be of use.
pub const MAX_HEARTBEAT_MS: u32 = 600_000;

/// Length of a copy id: a UUID in its hyphenated lower-case form.
pub const COPY_ID_LEN: usize = 36;

// --- block framing ----------------------------------------------------------------------------

/// Length of the base64 line (including LF and a tolerated CR) that carries a block of
/// `max_block` decoded bytes: the decoder never buffers more than this.
pub const fn max_line_len(max_block: usize) -> usize {
    max_block.div_ceil(3) * 4 + 2
}

/// Bytes a connection reads from its socket at a time once it carries bulk traffic: one
/// `read()` takes a whole 64 KiB block's line (≈ 87 KB) and more, instead of the eleven 8 KiB
/// reads it took before. Bounds the receive buffer of a busy connection direction to 128 KiB
/// (on top of the decoder's line bound, [`max_line_len`]).
pub const READ_CHUNK_LEN: usize = 128 * 1024;

/// The receive buffer a connection starts with, and keeps while its reads stay small
/// (handshakes, commands): 8 KiB per idle connection, so thousands of idle or
/// unauthenticated connections cost megabytes, not hundreds of them. A read that fills it
/// grows it to [`READ_CHUNK_LEN`] for the rest of the connection.
pub const READ_CHUNK_IDLE_LEN: usize = 8 * 1024;

/// Largest block buffer a connection keeps between blocks (each of: the line being sent, the
/// sealed message before framing, the sealed block received), so a relay or a burn reuses its
/// buffers for every block instead of allocating per block (a 64 KiB block's line is ≈ 87 KB).
/// A buffer grown past this by a rarer large block is freed after that block: per connection
/// direction at most 2 × 256 KiB stay allocated between blocks.
pub const KEPT_BUFFER_LEN: usize = 256 * 1024;

// --- burner farm (docs/protocol.md §5.10) -----------------------------------------------------

/// Most stations one RESERVE may ask for (a job's copies spread over drives). Bounds the
/// reply's list and how much of a farm one user can take at once.
pub const MAX_JOB_DRIVES: u32 = 16;

/// Longest station name, location, user or reason in a farm message, in characters.
pub const MAX_FARM_TEXT_LEN: usize = 1024;

/// Most entries in a station, queue or who report: the reply is bounded by the message length
/// anyway; this caps what a master builds for one admin command.
pub const MAX_REPORT_ROWS: usize = 4096;

// --- protocol nucleus (docs/protocol.md §4.5) -------------------------------------------------

/// Most notices in one WELCOME or ERRVERSION: a person reads a handful at login; with
/// [`MAX_NOTICE_TEXT_LEN`] this bounds the reply to about 33 KiB (16 × 2 KiB of UTF-16).
pub const MAX_NOTICES: usize = 16;

/// Longest notice text, in characters: a short paragraph, 2 KiB of UTF-16 at most.
pub const MAX_NOTICE_TEXT_LEN: usize = 1024;

/// Longest client version text in HELLO or ERRVERSION, in characters: three 32-bit numbers
/// and two dots ("4294967295.4294967295.4294967295") are 32.
pub const MAX_CLIENT_VERSION_LEN: usize = 32;

/// Longest `request_delay` (DELAY) a master may ask for and a client honours, in seconds: one
/// hour. A master's config is checked against it, and a client never sleeps longer on a
/// master's word (a hostile master cannot park a client for days).
pub const MAX_REQUEST_DELAY_SECS: u32 = 3600;
