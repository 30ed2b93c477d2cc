//! CRC-32/ISO-HDLC, CRC-32/ISCSI (CRC-32C) and CRC-64/NVME with the part of `crc-fast`'s API that
//! the AWS SDK's checksum crate calls: `Digest::new`, `update`, `finalize`, `checksum`.
//!
//! CRC-32 goes through `crc32fast` (SIMD where the CPU has it); CRC-32C and CRC-64/NVME are
//! slice-by-8 table implementations (tables built at compile time), which S3 uses only to check
//! a whole object's stored checksum on download. Parameters from the CRC catalogue
//! (reveng.sourceforge.io/crc-catalogue): all three are reflected, with all-ones initial value
//! and final XOR.

#![forbid(unsafe_code)]

/// The algorithms the SDK asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrcAlgorithm {
    Crc32IsoHdlc,
    Crc32Iscsi,
    Crc64Nvme,
}

/// A running CRC.
#[derive(Debug, Clone, Copy)]
pub struct Digest {
    algorithm: CrcAlgorithm,
    /// The register before the final XOR (all-ones to begin with).
    state: u64,
    amount: u64,
}

impl Digest {
    pub fn new(algorithm: CrcAlgorithm) -> Self {
        Self {
            algorithm,
            state: initial(algorithm),
            amount: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.state = match self.algorithm {
            CrcAlgorithm::Crc32IsoHdlc => {
                // crc32fast keeps the finalised value; its register is that XOR all-ones.
                let mut hasher = crc32fast::Hasher::new_with_initial(!(self.state as u32));
                hasher.update(data);
                u64::from(!hasher.finalize())
            }
            CrcAlgorithm::Crc32Iscsi => update(&CRC32C_TABLES, self.state, data),
            CrcAlgorithm::Crc64Nvme => update(&CRC64_NVME_TABLES, self.state, data),
        };
        self.amount += data.len() as u64;
    }

    /// The checksum of everything given so far.
    pub fn finalize(&self) -> u64 {
        self.state ^ initial(self.algorithm)
    }

    pub fn reset(&mut self) {
        self.state = initial(self.algorithm);
        self.amount = 0;
    }

    /// How many bytes have been given.
    pub fn total_bytes_processed(&self) -> u64 {
        self.amount
    }
}

/// The checksum of `buf`.
pub fn checksum(algorithm: CrcAlgorithm, buf: &[u8]) -> u64 {
    let mut digest = Digest::new(algorithm);
    digest.update(buf);
    digest.finalize()
}

/// Initial register value and final XOR, which are equal for all three.
fn initial(algorithm: CrcAlgorithm) -> u64 {
    match algorithm {
        CrcAlgorithm::Crc32IsoHdlc | CrcAlgorithm::Crc32Iscsi => u64::from(u32::MAX),
        CrcAlgorithm::Crc64Nvme => u64::MAX,
    }
}

/// Reversed polynomials.
const CRC32C_POLY: u64 = 0x82F6_3B78;
const CRC64_NVME_POLY: u64 = 0x9A6C_9329_AC4B_C9B5;

static CRC32C_TABLES: [[u64; 256]; 8] = tables(CRC32C_POLY);
static CRC64_NVME_TABLES: [[u64; 256]; 8] = tables(CRC64_NVME_POLY);

/// Slice-by-8 tables of a reflected CRC. One shape serves both widths: a 32-bit CRC kept in the
/// low half of a `u64` register never sets the high half, and XORing it into a little-endian
/// 8-byte word touches only the word's first four bytes, as the 32-bit algorithm does.
const fn tables(poly: u64) -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ poly } else { crc >> 1 };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let previous = tables[t - 1][i];
            tables[t][i] = (previous >> 8) ^ tables[0][(previous & 0xFF) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

/// The register after `data`, eight bytes per step.
fn update(t: &[[u64; 256]; 8], mut crc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]) ^ crc;
        crc = t[7][(word & 0xFF) as usize]
            ^ t[6][((word >> 8) & 0xFF) as usize]
            ^ t[5][((word >> 16) & 0xFF) as usize]
            ^ t[4][((word >> 24) & 0xFF) as usize]
            ^ t[3][((word >> 32) & 0xFF) as usize]
            ^ t[2][((word >> 40) & 0xFF) as usize]
            ^ t[1][((word >> 48) & 0xFF) as usize]
            ^ t[0][(word >> 56) as usize];
    }
    for &byte in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u64::from(byte)) & 0xFF) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue's check values: the CRC of the ASCII string "123456789".
    #[test]
    fn check_values_match_the_crc_catalogue() {
        assert_eq!(checksum(CrcAlgorithm::Crc32IsoHdlc, b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum(CrcAlgorithm::Crc32Iscsi, b"123456789"), 0xE306_9283);
        assert_eq!(checksum(CrcAlgorithm::Crc64Nvme, b"123456789"), 0xAE8B_1486_0A79_9888);
    }

    /// A bit-at-a-time reference, straight from the definition.
    fn reference(poly: u64, width: u32, data: &[u8]) -> u64 {
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        let mut crc = mask;
        for &byte in data {
            crc ^= u64::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ poly } else { crc >> 1 };
            }
        }
        crc ^ mask
    }

    /// Every length from 0 to 100 (all remainders of the 8-byte stride), in one piece and in two.
    #[test]
    fn table_implementations_match_the_definition_in_any_split() {
        let data: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let part = &data[..len];
            for (algorithm, poly, width) in [
                (CrcAlgorithm::Crc32IsoHdlc, 0xEDB8_8320, 32),
                (CrcAlgorithm::Crc32Iscsi, CRC32C_POLY, 32),
                (CrcAlgorithm::Crc64Nvme, CRC64_NVME_POLY, 64),
            ] {
                let expected = reference(poly, width, part);
                assert_eq!(checksum(algorithm, part), expected, "{algorithm:?} of {len} bytes");
                let (a, b) = part.split_at(len / 3);
                let mut digest = Digest::new(algorithm);
                digest.update(a);
                digest.update(b);
                assert_eq!(digest.finalize(), expected, "{algorithm:?} of {len} bytes in two");
                assert_eq!(digest.total_bytes_processed(), len as u64);
                digest.reset();
                assert_eq!(digest.finalize(), 0, "{algorithm:?} of nothing");
            }
        }
    }
}
