//! A hasher with the exact behaviour of fastssz v1.0.0's `Hasher`, which charon
//! uses for its own layouts (definitions, locks), including its quirks: an empty
//! `put_bytes` appends nothing, `put_bytes_n` pads on the left, limits are in
//! 32-byte chunks.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use crate::lock::cluster::error::HashError;

/// Maximum Merkle depth any charon layout needs, with room to spare.
const MAX_DEPTH: usize = 64;

static ZERO_HASHES: LazyLock<[[u8; 32]; MAX_DEPTH + 1]> = LazyLock::new(|| {
    let mut z = [[0u8; 32]; MAX_DEPTH + 1];
    for i in 1..=MAX_DEPTH {
        z[i] = hash_pair(&z[i - 1], &z[i - 1]);
    }
    z
});

fn hash_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// A flat buffer of 32-byte chunks, merkleized in place.
#[derive(Debug, Default)]
pub struct Hasher {
    buf: Vec<u8>,
}

impl Hasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Hasher::default()
    }

    /// The current buffer length, the start of a container or list.
    pub fn index(&self) -> usize {
        self.buf.len()
    }

    /// Appends `b`, zero-padded on the right to a multiple of 32.
    pub fn append_bytes32(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.pad32();
    }

    fn pad32(&mut self) {
        let rem = self.buf.len() % 32;
        if rem != 0 {
            self.buf.resize(self.buf.len() + 32 - rem, 0);
        }
    }

    /// Appends a little-endian uint64 chunk.
    pub fn put_u64(&mut self, x: u64) {
        self.append_bytes32(&x.to_le_bytes());
    }

    /// Appends a bool chunk.
    pub fn put_bool(&mut self, b: bool) {
        self.append_bytes32(&[u8::from(b)]);
    }

    /// fastssz `PutBytes`: ≤ 32 bytes are appended as one chunk (nothing at all
    /// when empty); longer values are replaced by their Merkle root.
    pub fn put_bytes(&mut self, b: &[u8]) {
        if b.len() <= 32 {
            self.append_bytes32(b);
        } else {
            let idx = self.index();
            self.append_bytes32(b);
            self.merkleize(idx);
        }
    }

    /// Replaces the chunks from `idx` by their Merkle root (no limit).
    pub fn merkleize(&mut self, idx: usize) {
        let root = merkleize_chunks(self.buf.get(idx..).unwrap_or(&[]), 0);
        self.buf.truncate(idx);
        self.buf.extend_from_slice(&root);
    }

    /// Replaces the chunks from `idx` by `mix_in(root(limit), num)`.
    /// `limit` is in chunks; more chunks than the limit is an error.
    pub fn merkleize_with_mixin(
        &mut self,
        idx: usize,
        num: u64,
        limit: u64,
        field: &str,
    ) -> Result<(), HashError> {
        self.pad32();
        let chunks = self.buf.get(idx..).unwrap_or(&[]);
        let count = chunks.len().div_ceil(32) as u64;
        if limit != 0 && count > limit {
            return Err(HashError::new(
                field,
                format!("{count} chunks exceed the SSZ limit of {limit}"),
            ));
        }
        let root = merkleize_chunks(chunks, limit);
        let mut h = Sha256::new();
        h.update(root);
        let mut n = [0u8; 32];
        n[..8].copy_from_slice(&num.to_le_bytes());
        h.update(n);
        let mixed: [u8; 32] = h.finalize().into();
        self.buf.truncate(idx);
        self.buf.extend_from_slice(&mixed);
        Ok(())
    }

    /// `PutUint64Array(a, max)`: packed little-endian values as a `List[uint64, max]`.
    pub fn put_u64_list(&mut self, a: &[u64], max: u64, field: &str) -> Result<(), HashError> {
        if a.len() as u64 > max {
            return Err(HashError::new(
                field,
                format!("{} items exceed the maximum of {max}", a.len()),
            ));
        }
        let idx = self.index();
        for x in a {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
        self.pad32();
        self.merkleize_with_mixin(idx, a.len() as u64, (max * 8).div_ceil(32), field)
    }

    /// charon `putByteList`: an SSZ `ByteList[max]`.
    pub fn put_byte_list(&mut self, b: &[u8], max: usize, field: &str) -> Result<(), HashError> {
        if b.len() > max {
            return Err(HashError::new(
                field,
                format!("{} bytes exceed the maximum of {max}", b.len()),
            ));
        }
        let idx = self.index();
        self.append_bytes32(b);
        self.merkleize_with_mixin(idx, b.len() as u64, max.div_ceil(32) as u64, field)
    }

    /// charon `putBytesN`: left-pads `b` with zeros to `n` bytes, then `put_bytes`.
    pub fn put_bytes_n(&mut self, b: &[u8], n: usize, field: &str) -> Result<(), HashError> {
        if b.len() > n {
            return Err(HashError::new(
                field,
                format!("{} bytes exceed the size of {n}", b.len()),
            ));
        }
        if b.len() == n {
            self.put_bytes(b);
        } else {
            let mut padded = vec![0u8; n - b.len()];
            padded.extend_from_slice(b);
            self.put_bytes(&padded);
        }
        Ok(())
    }

    /// charon `putHexBytes20`: a `0x` hex address (or `""` for zeros) as 20 bytes.
    pub fn put_hex_bytes20(&mut self, addr: &str, field: &str) -> Result<(), HashError> {
        let b = from_0x_hex(addr, 20).map_err(|e| HashError::new(field, e))?;
        self.put_bytes_n(&b, 20, field)
    }

    /// charon `putK1SigList` (v1.11): a `List[Bytes65, max]` of concatenated signatures.
    pub fn put_k1_sig_list(&mut self, sig: &[u8], max: u64, field: &str) -> Result<(), HashError> {
        if !sig.len().is_multiple_of(65) {
            return Err(HashError::new(
                field,
                format!("signature of {} bytes is not a multiple of 65", sig.len()),
            ));
        }
        let num = (sig.len() / 65) as u64;
        if num > max {
            return Err(HashError::new(
                field,
                format!("{num} signatures exceed the maximum of {max}"),
            ));
        }
        let idx = self.index();
        for piece in sig.chunks(65) {
            self.put_bytes(piece);
        }
        self.merkleize_with_mixin(idx, num, max, field)
    }

    /// The final root; the buffer must hold exactly one chunk.
    pub fn root(&self) -> Result<[u8; 32], HashError> {
        self.buf.as_slice().try_into().map_err(|_| {
            HashError::new(
                "root",
                format!("buffer holds {} bytes, not 32", self.buf.len()),
            )
        })
    }
}

/// charon `from0xHex(s, len)`: `""` gives no bytes; otherwise exactly `len` bytes.
pub fn from_0x_hex(s: &str, len: usize) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let b = hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| format!("invalid hex {s:?}: {e}"))?;
    if b.len() != len {
        return Err(format!("{s:?} is {} bytes, expected {len}", b.len()));
    }
    Ok(b)
}

/// fastssz `merkleizeImpl`; `chunks` is a multiple of 32 bytes long, except that
/// a trailing partial chunk is zero-padded.
fn merkleize_chunks(input: &[u8], limit: u64) -> [u8; 32] {
    let count = input.len().div_ceil(32) as u64;
    let limit = if limit == 0 { count } else { limit };
    if limit == 0 {
        return [0u8; 32];
    }
    if limit == 1 {
        return if count == 1 {
            chunk_at(input, 0)
        } else {
            [0u8; 32]
        };
    }
    let depth = (64 - (limit - 1).leading_zeros()) as usize;
    if count == 0 {
        return ZERO_HASHES[depth];
    }
    let mut layer: Vec<[u8; 32]> = (0..count as usize).map(|i| chunk_at(input, i)).collect();
    for level in 0..depth {
        if !layer.len().is_multiple_of(2) {
            layer.push(ZERO_HASHES[level]);
        }
        layer = layer
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
    }
    layer.first().copied().unwrap_or([0u8; 32])
}

fn chunk_at(input: &[u8], i: usize) -> [u8; 32] {
    let mut c = [0u8; 32];
    let start = i * 32;
    let end = (start + 32).min(input.len());
    if let Some(src) = input.get(start..end) {
        c[..src.len()].copy_from_slice(src);
    }
    c
}

/// `hash_tree_root` of a container of `chunks` fixed 32-byte fields.
pub fn container_root(chunks: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Hasher::new();
    for c in chunks {
        h.buf.extend_from_slice(c);
    }
    merkleize_chunks(&h.buf, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn root_of(f: impl FnOnce(&mut Hasher)) -> String {
        let mut h = Hasher::new();
        let idx = h.index();
        f(&mut h);
        h.merkleize(idx);
        hex::encode(h.root().unwrap())
    }

    // Vectors: shared/vectors/inline_vectors.json -> ssz_helpers.
    #[test]
    fn charon_helper_vectors() {
        let cases: Vec<(String, &str)> = vec![
            (
                root_of(|h| h.put_byte_list(b"", 64, "x").unwrap()),
                "7a0501f5957bdf9cb3a8ff4966f02265f968658b7a9c62642cba1165e86642f5",
            ),
            (
                root_of(|h| h.put_byte_list(b"hello", 256, "x").unwrap()),
                "d714c994fb91ed0c822936ddab0934529ab7816e60dc94027e77a4188e2e4459",
            ),
            (
                root_of(|h| h.put_byte_list(&[0u8; 32], 64, "x").unwrap()),
                "e36306f41e65a19bc26226df4c969ef1ae6ac2e29edf4038761d553854385723",
            ),
            (
                root_of(|h| h.put_byte_list(&hx("ffffffff"), 32, "x").unwrap()),
                "a729ed14d00c6e5f58c31993077a42444a53cc9bed4cbf64e43afd4c29a38880",
            ),
            (
                root_of(|h| {
                    h.put_u64(42);
                    h.put_byte_list(b"hello", 256, "x").unwrap()
                }),
                "bbc79cd2fdb2cc4810be1c265d80e601221f69df244a956b222db5454dd7d439",
            ),
            (
                root_of(|h| {
                    h.put_bytes(&hx("01020304"));
                    h.put_byte_list(&hx("ff"), 32, "x").unwrap()
                }),
                "e27cef6249214493f3e7ade1aa0af8130029eedfc7c17d928ed8af341a5511e9",
            ),
            (
                root_of(|h| h.put_bytes_n(&[], 32, "x").unwrap()),
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            (
                root_of(|h| h.put_bytes_n(&[], 20, "x").unwrap()),
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            (
                root_of(|h| h.put_bytes_n(&hx("01020304"), 4, "x").unwrap()),
                "0102030400000000000000000000000000000000000000000000000000000000",
            ),
            (
                root_of(|h| h.put_bytes_n(&hx("abcd"), 32, "x").unwrap()),
                "000000000000000000000000000000000000000000000000000000000000abcd",
            ),
            (
                root_of(|h| {
                    h.put_u64(1);
                    h.put_bytes_n(&hx("abcd"), 32, "x").unwrap()
                }),
                "392b769bc14dd0593bbb9d28f2fa7c4ec6eb113ef750db4046b7136c5844c95d",
            ),
            (
                root_of(|h| {
                    h.put_bytes(&[0u8; 20]);
                    h.put_bytes_n(&hx("01020304"), 4, "x").unwrap()
                }),
                "c092c674a087720f7136046e41d587e355a5f359b3940336f8e4e9dde2ffe236",
            ),
            (
                root_of(|h| {
                    h.put_hex_bytes20("0x0000000000000000000000000000000000000000", "x")
                        .unwrap()
                }),
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            (
                root_of(|h| {
                    h.put_hex_bytes20("0xabcdef0123456789abcdef0123456789abcdef01", "x")
                        .unwrap()
                }),
                "abcdef0123456789abcdef0123456789abcdef01000000000000000000000000",
            ),
            (
                root_of(|h| {
                    h.put_u64(99);
                    h.put_hex_bytes20("0x1111111111111111111111111111111111111111", "x")
                        .unwrap()
                }),
                "2051384e282f804390dac5c19fcfd1e4cacca29abacb0f07cd6c17995388f5b0",
            ),
            (
                root_of(|h| {
                    h.put_byte_list(b"prefix", 256, "x").unwrap();
                    h.put_hex_bytes20("0xabcdef0123456789abcdef0123456789abcdef01", "x")
                        .unwrap()
                }),
                "c3105b794bd2b28cc863326f5ffa8baad9e1c1d7d424556e188961ca59f69100",
            ),
        ];
        for (i, (got, want)) in cases.iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn empty_put_bytes_appends_nothing_and_limits_are_enforced() {
        let mut h = Hasher::new();
        h.put_bytes(&[]);
        assert_eq!(h.index(), 0);
        assert!(h.put_bytes_n(&[0; 5], 4, "x").is_err());
        assert!(h.put_byte_list(&[0; 65], 64, "x").is_err());
        assert!(h.put_hex_bytes20("0x11", "x").is_err());
        assert!(h.put_hex_bytes20("zz", "x").is_err());
        assert!(h.put_k1_sig_list(&[0; 64], 32, "x").is_err());
        assert!(h.put_k1_sig_list(&[1; 65 * 33], 32, "x").is_err());
        assert!(h.put_u64_list(&[0; 257], 256, "x").is_err());
        // A 48-byte value merkleizes to a single chunk.
        let mut h = Hasher::new();
        h.put_bytes(&[7u8; 48]);
        assert_eq!(h.index(), 32);
        assert!(h.root().is_ok());
    }

    #[test]
    fn merkle_matches_plain_binary_tree() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        let want = hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &[0u8; 32]));
        assert_eq!(container_root(&[a, b, c]), want);
        assert_eq!(container_root(&[a]), a);
        assert_eq!(container_root(&[]), [0u8; 32]);
    }
}
