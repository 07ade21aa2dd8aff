//! The digests of an RPM's own checks, computed while it streams: the MD5
//! of its signed part (main header and payload), which the signature's MD5
//! covers, and the SHA-256 of its payload, which the main header's
//! PAYLOADDIGEST carries.
//!
//! The MD5 is a whole extra pass over the file, and rpm 4.14 and later
//! cover the same bytes with two SHA-256 digests (the signature's of the
//! main header, the main header's of the payload). Unless asked for the MD5
//! regardless (obshell reports it), the lane stops hashing it at the payload
//! when the headers carry both tags; the domain checks those digests
//! instead, and reads the MD5 back from the store in the rare case they turn
//! out not to be usable (`BlobStore::signed_md5`).

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{Lane, SignedPart, SignedPartMd5};

/// Lead (96) + the signature header's 16-byte intro.
const RPM_PREFIX: usize = 112;
/// The signature's SHA-256 of the main header (RPMSIGTAG_SHA256).
const SIGTAG_SHA256: u32 = 273;
/// The main header's digest of the payload (RPMTAG_PAYLOADDIGEST).
const TAG_PAYLOADDIGEST: u32 = 5092;

/// Where an RPM's signature header ends, from its first 112 bytes; `None`
/// when they are not an RPM's.
pub fn rpm_signature_end(prefix: &[u8]) -> Option<u64> {
    let (_, end) = header_extent(RPM_PREFIX as u64 - 16, prefix.get(96..RPM_PREFIX)?)?;
    if prefix[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return None;
    }
    // The signature header is padded to a multiple of 8 bytes.
    Some(end + (8 - end % 8) % 8)
}

/// A header's entry count and where it ends, from its 16-byte intro at `start`.
fn header_extent(start: u64, intro: &[u8]) -> Option<(u64, u64)> {
    if intro[..4] != [0x8e, 0xad, 0xe8, 0x01] {
        return None;
    }
    let entries = u64::from(u32::from_be_bytes(intro[8..12].try_into().ok()?));
    let data = u64::from(u32::from_be_bytes(intro[12..16].try_into().ok()?));
    Some((entries, start + 16 + entries * 16 + data))
}

/// Looks for one tag in a header's index (16-byte entries, the tag first)
/// as the bytes stream past, whatever their chunking.
#[derive(Default)]
struct TagScan {
    wanted: u32,
    start: u64,
    end: u64,
    tag: [u8; 4],
    found: bool,
}

impl TagScan {
    fn new(wanted: u32, intro_at: u64, entries: u64) -> Self {
        Self {
            wanted,
            start: intro_at + 16,
            end: intro_at + 16 + entries * 16,
            ..Self::default()
        }
    }

    /// `data` starts at `position`.
    fn feed(&mut self, data: &[u8], position: u64) {
        let mut at = self.start.max(position);
        let end = self.end.min(position + data.len() as u64);
        while at < end {
            let within = ((at - self.start) % 16) as usize;
            if within < 4 {
                let take = (4 - within).min((end - at) as usize);
                let from = (at - position) as usize;
                self.tag[within..within + take].copy_from_slice(&data[from..from + take]);
                if within + take == 4 && u32::from_be_bytes(self.tag) == self.wanted {
                    self.found = true;
                }
                at += take as u64;
            } else {
                at += (16 - within as u64).min(end - at);
            }
        }
    }
}

/// MD5 of the bytes after the RPM signature, and SHA-256 of the payload,
/// found while streaming.
pub(super) struct SignedMd5 {
    mode: SignedPartMd5,
    prefix: Vec<u8>,
    /// Decided once the prefix is complete: `Some(None)` for a non-RPM.
    offset: Option<Option<u64>>,
    signature_tags: TagScan,
    /// The main header's intro, then where the payload starts (`Some(None)`
    /// when the intro is not a header's).
    intro: Vec<u8>,
    payload: Option<Option<u64>>,
    main_tags: TagScan,
    position: u64,
    /// `None` once left off, at the payload of an RPM whose SHA-256 digests cover it.
    md5: Option<Md5>,
    sha256: Sha256,
}

impl SignedMd5 {
    pub(super) fn new(mode: SignedPartMd5) -> Self {
        Self {
            mode,
            prefix: Vec::with_capacity(RPM_PREFIX),
            offset: None,
            signature_tags: TagScan::default(),
            intro: Vec::with_capacity(16),
            payload: None,
            main_tags: TagScan::default(),
            position: 0,
            md5: Some(Md5::default()),
            sha256: Sha256::default(),
        }
    }

    /// The part of `data` (which starts at `position`) at or after `from`.
    fn from<'d>(&self, data: &'d [u8], from: u64) -> &'d [u8] {
        let skip = from.saturating_sub(self.position).min(data.len() as u64);
        &data[skip as usize..]
    }

    /// Whether the headers carry the SHA-256 digests that cover the signed part.
    fn covered(&self) -> bool {
        self.mode == SignedPartMd5::UnlessCovered
            && self.signature_tags.found
            && self.main_tags.found
    }

    fn learn_offsets(&mut self, data: &[u8]) {
        if self.offset.is_none() {
            let take = (RPM_PREFIX - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..take]);
            if self.prefix.len() == RPM_PREFIX {
                self.offset = Some(rpm_signature_end(&self.prefix));
                if let Some((entries, _)) = header_extent(96, &self.prefix[96..]) {
                    self.signature_tags = TagScan::new(SIGTAG_SHA256, 96, entries);
                }
            }
        }
        if let (Some(Some(offset)), None) = (self.offset, self.payload) {
            let intro = self.from(data, offset + self.intro.len() as u64);
            let take = (16 - self.intro.len()).min(intro.len());
            self.intro.extend_from_slice(&intro[..take]);
            if self.intro.len() == 16 {
                let extent = header_extent(offset, &self.intro);
                if let Some((entries, _)) = extent {
                    self.main_tags = TagScan::new(TAG_PAYLOADDIGEST, offset, entries);
                }
                self.payload = Some(extent.map(|(_, end)| end));
            }
        }
    }
}

impl Lane for SignedMd5 {
    type Out = Option<SignedPart>;

    fn update(&mut self, data: &[u8]) {
        self.learn_offsets(data);
        // The offset is at least 112, so it is known before the stream reaches it.
        if let Some(Some(offset)) = self.offset {
            self.signature_tags.feed(data, self.position);
            self.main_tags.feed(data, self.position);
            let signed = self.from(data, offset);
            match self.payload {
                Some(Some(payload)) => {
                    let header = signed.len() - self.from(data, payload).len();
                    let (header, payload_bytes) = signed.split_at(header);
                    if let Some(md5) = &mut self.md5 {
                        md5.update(header);
                    }
                    if !payload_bytes.is_empty() && self.covered() {
                        self.md5 = None;
                    }
                    if let Some(md5) = &mut self.md5 {
                        md5.update(payload_bytes);
                    }
                    self.sha256.update(payload_bytes);
                }
                _ => {
                    if let Some(md5) = &mut self.md5 {
                        md5.update(signed);
                    }
                }
            }
        }
        self.position += data.len() as u64;
    }

    fn finish(self) -> Option<SignedPart> {
        let offset = self.offset.flatten().filter(|o| *o <= self.position)?;
        let payload = self.payload.flatten().filter(|p| *p <= self.position);
        Some(SignedPart {
            offset,
            md5: self.md5.map(|md5| hex::encode(md5.finalize())),
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
        scan(bytes, chunk, SignedPartMd5::Compute)
    }

    fn scan(bytes: &[u8], chunk: usize, mode: SignedPartMd5) -> Option<SignedPart> {
        let mut lane = SignedMd5::new(mode);
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
            assert_eq!(part.md5.as_deref(), Some(md5.as_str()), "chunks of {chunk}");
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

    /// `fake_rpm` with the signature's entry tagged `sig_tag` and the main
    /// header's second entry `main_tag`.
    fn tagged_rpm(total: usize, sig_tag: u32, main_tag: u32) -> Vec<u8> {
        let mut bytes = fake_rpm(total);
        bytes[112..116].copy_from_slice(&sig_tag.to_be_bytes());
        bytes[176..180].copy_from_slice(&main_tag.to_be_bytes());
        bytes
    }

    #[test]
    fn the_md5_is_left_off_only_where_both_sha256_digests_cover_it() {
        let covered = tagged_rpm(1000, SIGTAG_SHA256, TAG_PAYLOADDIGEST);
        let sha256 = hex::encode(Sha256::digest(&covered[197..]));
        for chunk in [1, 5, 113, 178, 196, 197, 1000] {
            let part = scan(&covered, chunk, SignedPartMd5::UnlessCovered).unwrap();
            assert_eq!(part.md5, None, "chunks of {chunk}");
            assert_eq!(part.payload_sha256.as_deref(), Some(sha256.as_str()));
            // Asked for regardless, or missing either tag: computed.
            let md5 = hex::encode(Md5::digest(&covered[144..]));
            let part = scan(&covered, chunk, SignedPartMd5::Compute).unwrap();
            assert_eq!(part.md5.as_deref(), Some(md5.as_str()), "chunks of {chunk}");
            for (sig, main) in [(0, TAG_PAYLOADDIGEST), (SIGTAG_SHA256, 0)] {
                let bytes = tagged_rpm(1000, sig, main);
                let md5 = hex::encode(Md5::digest(&bytes[144..]));
                let part = scan(&bytes, chunk, SignedPartMd5::UnlessCovered).unwrap();
                assert_eq!(part.md5.as_deref(), Some(md5.as_str()), "chunks of {chunk}");
            }
        }
        // A tag number in an entry's other fields does not count.
        let mut bytes = fake_rpm(1000);
        bytes[116..120].copy_from_slice(&SIGTAG_SHA256.to_be_bytes());
        bytes[180..184].copy_from_slice(&TAG_PAYLOADDIGEST.to_be_bytes());
        assert!(
            scan(&bytes, 7, SignedPartMd5::UnlessCovered)
                .unwrap()
                .md5
                .is_some()
        );
    }
}
