//! obshell's v2 request bodies: `base64(AES-128-CBC(key, iv, PKCS#7(body)))`,
//! decrypted as they stream. Base64 is decoded in 4-character groups and AES
//! block by block; the last whole block is held back until the end, where its
//! padding is checked and removed. Memory is a few bytes of carry plus what
//! one input chunk decrypts to, whatever the body's size.

use aes::Aes128;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::generic_array::GenericArray;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};

const BLOCK: usize = 16;

/// The AES key and IV the header's `keys` carries (base64 of key ‖ IV).
#[derive(Clone, PartialEq, Eq)]
pub struct BodyKeys {
    key: [u8; 16],
    iv: [u8; 16],
}

impl std::fmt::Debug for BodyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyKeys(…)")
    }
}

impl BodyKeys {
    pub fn new(key: [u8; 16], iv: [u8; 16]) -> Self {
        Self { key, iv }
    }

    /// `keys` as the header carries it; `None` unless it is 32 bytes.
    pub fn parse(encoded: &str) -> Option<Self> {
        let raw = BASE64.decode(encoded.trim()).ok()?;
        let (key, iv) = raw.split_at_checked(16)?;
        Some(Self {
            key: key.try_into().ok()?,
            iv: iv.try_into().ok()?,
        })
    }
}

/// Why a body could not be decrypted: each means it was not encrypted with
/// the header's keys, or was damaged on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not base64")]
    Base64,
    #[error("the encrypted body is not a whole number of AES blocks")]
    Length,
    #[error("the decrypted body's padding is wrong")]
    Padding,
    #[error("the decrypted body does not start as its Content-Type says")]
    Prefix,
}

/// Decrypts one body, fed in chunks of any size.
pub struct BodyDecryptor {
    cipher: cbc::Decryptor<Aes128>,
    /// Base64 characters not yet making a group of 4.
    text: Vec<u8>,
    /// Ciphertext not yet making a block.
    partial: Vec<u8>,
    /// The last whole block decrypted, held back for its padding.
    held: Option<[u8; BLOCK]>,
    /// Base64 padding was seen: nothing may follow.
    ended: bool,
    /// What the plaintext must start with, and how much of it has been seen.
    prefix: Vec<u8>,
    prefix_seen: usize,
    /// Whether any ciphertext arrived (an empty body stays empty).
    any: bool,
}

impl BodyDecryptor {
    pub fn new(keys: &BodyKeys) -> Self {
        Self {
            cipher: cbc::Decryptor::<Aes128>::new(&keys.key.into(), &keys.iv.into()),
            text: Vec::with_capacity(4),
            partial: Vec::with_capacity(BLOCK),
            held: None,
            ended: false,
            prefix: Vec::new(),
            prefix_seen: 0,
            any: false,
        }
    }

    /// The plaintext must start with `prefix` (a multipart body's first
    /// boundary): CBC has no integrity check, and a body decrypted with other
    /// keys than it was encrypted with is otherwise only noticed at its end.
    pub fn expect_prefix(mut self, prefix: &[u8]) -> Self {
        self.prefix = prefix.to_vec();
        self
    }

    /// Decrypts what `input` completes; the plaintext may be empty.
    pub fn update(&mut self, input: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut ciphertext = Vec::with_capacity(input.len() / 4 * 3 + 3);
        for &c in input {
            // Go's decoder, obshell's, skips line breaks.
            if c == b'\r' || c == b'\n' {
                continue;
            }
            if self.ended {
                return Err(BodyError::Base64);
            }
            self.text.push(c);
            if self.text.len() == 4 {
                if self.text.contains(&b'=') {
                    self.ended = true;
                }
                let group = BASE64.decode(&self.text).map_err(|_| BodyError::Base64)?;
                ciphertext.extend_from_slice(&group);
                self.text.clear();
            }
        }
        let plain = self.decrypt(&ciphertext);
        self.check_prefix(&plain)?;
        Ok(plain)
    }

    /// The rest of the plaintext, its padding removed.
    pub fn finish(mut self) -> Result<Vec<u8>, BodyError> {
        if !self.text.is_empty() {
            return Err(BodyError::Base64);
        }
        if !self.partial.is_empty() {
            return Err(BodyError::Length);
        }
        let Some(last) = self.held.take() else {
            return if self.any {
                Err(BodyError::Length)
            } else {
                Ok(Vec::new())
            };
        };
        let pad = last[BLOCK - 1] as usize;
        if pad == 0 || pad > BLOCK || last[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
            return Err(BodyError::Padding);
        }
        let plain = last[..BLOCK - pad].to_vec();
        self.check_prefix(&plain)?;
        if self.prefix_seen < self.prefix.len() {
            return Err(BodyError::Prefix);
        }
        Ok(plain)
    }

    /// Decrypts the whole blocks `ciphertext` completes, but for the last.
    fn decrypt(&mut self, ciphertext: &[u8]) -> Vec<u8> {
        self.any |= !ciphertext.is_empty();
        let mut out = Vec::with_capacity(ciphertext.len() + BLOCK);
        let mut rest = ciphertext;
        if !self.partial.is_empty() {
            let take = (BLOCK - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() < BLOCK {
                return out;
            }
            let block: [u8; BLOCK] = self.partial[..].try_into().expect("a whole block");
            self.partial.clear();
            self.push_block(block, &mut out);
        }
        let mut blocks = rest.chunks_exact(BLOCK);
        for block in &mut blocks {
            self.push_block(block.try_into().expect("a whole block"), &mut out);
        }
        self.partial.extend_from_slice(blocks.remainder());
        out
    }

    /// Decrypts `block` and holds it back, releasing the one held before.
    fn push_block(&mut self, mut block: [u8; BLOCK], out: &mut Vec<u8>) {
        self.cipher
            .decrypt_block_mut(GenericArray::from_mut_slice(&mut block));
        if let Some(previous) = self.held.replace(block) {
            out.extend_from_slice(&previous);
        }
    }

    fn check_prefix(&mut self, plain: &[u8]) -> Result<(), BodyError> {
        let wanted = &self.prefix[self.prefix_seen..];
        let n = wanted.len().min(plain.len());
        if wanted[..n] != plain[..n] {
            return Err(BodyError::Prefix);
        }
        self.prefix_seen += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cbc::cipher::BlockEncryptMut;

    use super::*;

    const KEYS: ([u8; 16], [u8; 16]) = ([7; 16], [9; 16]);

    fn keys() -> BodyKeys {
        BodyKeys::new(KEYS.0, KEYS.1)
    }

    /// What the SDKs send: base64 of the padded body, encrypted.
    pub(crate) fn encrypt(keys: &BodyKeys, body: &[u8]) -> String {
        let pad = BLOCK - body.len() % BLOCK;
        let mut data = body.to_vec();
        data.extend(std::iter::repeat_n(pad as u8, pad));
        let mut enc = cbc::Encryptor::<Aes128>::new(&keys.key.into(), &keys.iv.into());
        for block in data.chunks_exact_mut(BLOCK) {
            enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        BASE64.encode(data)
    }

    fn decrypt_in(chunks: &[&[u8]], prefix: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut d = BodyDecryptor::new(&keys()).expect_prefix(prefix);
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(d.update(chunk)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    /// Deterministic noise and split points.
    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn any_split_of_any_length_decrypts() {
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 1000, 4096, 100_003] {
            let body: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            let text = encrypt(&keys(), &body);
            for _ in 0..20 {
                let mut chunks = Vec::new();
                let mut rest = text.as_bytes();
                while !rest.is_empty() {
                    let n = (xorshift(&mut seed) as usize % 70).min(rest.len()).max(1);
                    chunks.push(&rest[..n]);
                    rest = &rest[n..];
                }
                assert_eq!(decrypt_in(&chunks, b"").unwrap(), body, "length {len}");
            }
        }
    }

    #[test]
    fn many_chunks_hold_back_only_one_block() {
        // 8 MiB in 64 KiB chunks: each chunk's plaintext leaves at once.
        let body = vec![0x5a; 8 << 20];
        let text = encrypt(&keys(), &body);
        let mut d = BodyDecryptor::new(&keys());
        let mut total = 0;
        for chunk in text.as_bytes().chunks(64 << 10) {
            let out = d.update(chunk).unwrap();
            assert!(out.len() <= chunk.len() / 4 * 3 + BLOCK);
            assert!(d.text.len() < 4 && d.partial.len() < BLOCK);
            total += out.len();
        }
        assert!(total >= body.len() - BLOCK);
        total += d.finish().unwrap().len();
        assert_eq!(total, body.len());
    }

    #[test]
    fn line_breaks_are_skipped_like_go_does() {
        let text = encrypt(&keys(), b"hello, obshell");
        let wrapped = format!("{}\r\n{}\n", &text[..10], &text[10..]);
        assert_eq!(
            decrypt_in(&[wrapped.as_bytes()], b"").unwrap(),
            b"hello, obshell"
        );
    }

    #[test]
    fn hostile_bodies_are_refused() {
        let text = encrypt(&keys(), b"--boundary\r\nbody");
        // Not base64; data after the final padding; a cut group.
        assert_eq!(decrypt_in(&[b"!!!!"], b""), Err(BodyError::Base64));
        let twice = format!("{text}{text}");
        if text.ends_with('=') {
            assert_eq!(decrypt_in(&[twice.as_bytes()], b""), Err(BodyError::Base64));
        }
        assert_eq!(
            decrypt_in(&[&text.as_bytes()[..text.len() - 1]], b""),
            Err(BodyError::Base64)
        );
        // Not whole blocks: 20 bytes.
        let short = BASE64.encode([1u8; 20]);
        assert_eq!(decrypt_in(&[short.as_bytes()], b""), Err(BodyError::Length));
        // Other keys: the padding, or the prefix, gives it away.
        let other = encrypt(&BodyKeys::new([1; 16], [2; 16]), b"--boundary\r\nbody");
        assert_eq!(
            decrypt_in(&[other.as_bytes()], b"--boundary"),
            Err(BodyError::Prefix)
        );
        assert!(decrypt_in(&[other.as_bytes()], b"").is_err());
        // A plaintext body where an encrypted one was due.
        assert!(decrypt_in(&[b"--boundary\r\nContent-Disposition"], b"--boundary").is_err());
        // The right keys and prefix.
        assert_eq!(
            decrypt_in(&[text.as_bytes()], b"--boundary").unwrap(),
            b"--boundary\r\nbody"
        );
        // A body shorter than the prefix it must start with.
        let tiny = encrypt(&keys(), b"--b");
        assert_eq!(
            decrypt_in(&[tiny.as_bytes()], b"--boundary"),
            Err(BodyError::Prefix)
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        let both = BASE64.encode([[7u8; 16], [9u8; 16]].concat());
        assert_eq!(BodyKeys::parse(&both), Some(keys()));
        assert_eq!(BodyKeys::parse(&BASE64.encode([0u8; 31])), None);
        assert_eq!(BodyKeys::parse("not base64"), None);
    }
}
