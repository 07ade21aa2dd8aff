//! The digests of an RPM's own checks, computed while it streams: the MD5
//! of its signed part (main header and payload), which the signature's MD5
//! covers, and the SHA-256 of its payload, which the main header's
//! PAYLOADDIGEST carries.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{Lane, SignedPart};

/// Lead (96) + the signature header's 16-byte intro.
const RPM_PREFIX: usize = 112;

/// Where an RPM's signature header ends, from its first 112 bytes; `None`
/// when they are not an RPM's.
pub fn rpm_signature_end(prefix: &[u8]) -> Option<u64> {
    let prefix = prefix.get(..RPM_PREFIX)?;
    if prefix[..4] != [0xed, 0xab, 0xee, 0xdb] || prefix[96..100] != [0x8e, 0xad, 0xe8, 0x01] {
        return None;
    }
    let entries = u64::from(u32::from_be_bytes(prefix[104..108].try_into().ok()?));
    let data = u64::from(u32::from_be_bytes(prefix[108..112].try_into().ok()?));
    // The signature header is padded to a multiple of 8 bytes.
    Some(RPM_PREFIX as u64 + entries * 16 + data + (8 - data % 8) % 8)
}

/// Where the payload starts, from the main header's 16-byte intro at `start`.
fn main_header_end(start: u64, intro: &[u8]) -> Option<u64> {
    if intro[..4] != [0x8e, 0xad, 0xe8, 0x01] {
        return None;
    }
    let entries = u64::from(u32::from_be_bytes(intro[8..12].try_into().ok()?));
    let data = u64::from(u32::from_be_bytes(intro[12..16].try_into().ok()?));
    Some(start + 16 + entries * 16 + data)
}

/// MD5 of the bytes after the RPM signature, and SHA-256 of the payload,
/// found while streaming.
#[derive(Default)]
pub(super) struct SignedMd5 {
    prefix: Vec<u8>,
    /// Decided once the prefix is complete: `Some(None)` for a non-RPM.
    offset: Option<Option<u64>>,
    /// The main header's intro, then where the payload starts (`Some(None)`
    /// when the intro is not a header's).
    intro: Vec<u8>,
    payload: Option<Option<u64>>,
    position: u64,
    md5: Md5,
    sha256: Sha256,
}

impl SignedMd5 {
    /// The part of `data` (which starts at `position`) at or after `from`.
    fn from<'d>(&self, data: &'d [u8], from: u64) -> &'d [u8] {
        let skip = from.saturating_sub(self.position).min(data.len() as u64);
        &data[skip as usize..]
    }
}

impl Lane for SignedMd5 {
    type Out = Option<SignedPart>;

    fn update(&mut self, data: &[u8]) {
        if self.offset.is_none() {
            let take = (RPM_PREFIX - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..take]);
            if self.prefix.len() == RPM_PREFIX {
                self.offset = Some(rpm_signature_end(&self.prefix));
            }
        }
        // The offset is at least 112, so it is known before the stream reaches it.
        if let Some(Some(offset)) = self.offset {
            self.md5.update(self.from(data, offset));
            if self.payload.is_none() {
                let intro = self.from(data, offset + self.intro.len() as u64);
                let take = (16 - self.intro.len()).min(intro.len());
                self.intro.extend_from_slice(&intro[..take]);
                if self.intro.len() == 16 {
                    self.payload = Some(main_header_end(offset, &self.intro));
                }
            }
            if let Some(Some(payload)) = self.payload {
                self.sha256.update(self.from(data, payload));
            }
        }
        self.position += data.len() as u64;
    }

    fn finish(self) -> Option<SignedPart> {
        let offset = self.offset.flatten().filter(|o| *o <= self.position)?;
        let payload = self.payload.flatten().filter(|p| *p <= self.position);
        Some(SignedPart {
            offset,
            md5: hex::encode(self.md5.finalize()),
            payload_sha256: payload.map(|_| hex::encode(self.sha256.finalize())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lead; a signature of 1 entry and 13 data bytes (it ends at 144); a
    /// main header of 2 entries and 5 data bytes (the payload starts at 197).
    fn fake_rpm(total: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..total).map(|i| i as u8).collect();
        bytes[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        bytes[96..100].copy_from_slice(&[0x8e, 0xad, 0xe8, 0x01]);
        bytes[104..108].copy_from_slice(&1u32.to_be_bytes());
        bytes[108..112].copy_from_slice(&13u32.to_be_bytes());
        bytes[144..148].copy_from_slice(&[0x8e, 0xad, 0xe8, 0x01]);
        bytes[152..156].copy_from_slice(&2u32.to_be_bytes());
        bytes[156..160].copy_from_slice(&5u32.to_be_bytes());
        bytes
    }

    fn lane_over(bytes: &[u8], chunk: usize) -> Option<SignedPart> {
        let mut lane = SignedMd5::default();
        for piece in bytes.chunks(chunk) {
            lane.update(piece);
        }
        lane.finish()
    }

    #[test]
    fn the_payload_is_hashed_whatever_the_chunking() {
        let bytes = fake_rpm(1000);
        let md5 = hex::encode(Md5::digest(&bytes[144..]));
        let sha256 = hex::encode(Sha256::digest(&bytes[197..]));
        for chunk in [1, 7, 112, 144, 150, 160, 196, 197, 198, 1000] {
            let part = lane_over(&bytes, chunk).unwrap();
            assert_eq!(part.offset, 144, "chunks of {chunk}");
            assert_eq!(part.md5, md5, "chunks of {chunk}");
            assert_eq!(
                part.payload_sha256.as_deref(),
                Some(sha256.as_str()),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn no_payload_digest_without_a_main_header() {
        let mut bytes = fake_rpm(1000);
        bytes[144] = 0;
        let part = lane_over(&bytes, 100).unwrap();
        assert_eq!(part.payload_sha256, None);
        // Ending inside the main header: no payload to hash either.
        let part = lane_over(&fake_rpm(190), 100).unwrap();
        assert_eq!(part.payload_sha256, None);
        // An empty payload has a digest, the empty input's.
        let part = lane_over(&fake_rpm(197), 10).unwrap();
        assert_eq!(
            part.payload_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"")).as_str())
        );
    }
}
