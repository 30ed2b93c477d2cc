//! The 1/8-scale image of a baseline JPEG from its DC coefficients alone: the fast path for
//! thumbnails of photos.
//!
//! At 1/8 scale each 8×8 block becomes one pixel, whose value is the block's DC coefficient (its
//! mean). A general decoder still Huffman-decodes, stores and transforms every coefficient; this
//! module reads the entropy-coded data straight from the byte slice, decodes the DC difference of
//! each block, and only skips over the AC coefficients' codes: one lookup in a table indexed by the
//! next 12 bits gives the bits to skip (codes and magnitudes) and how far the coefficient index
//! moves for every AC code that lies whole in those bits. Chroma planes are upsampled with
//! libjpeg's "fancy" triangle filter and converted from YCbCr (JFIF) to RGB.
//!
//! [`Baseline::parse`] accepts only what this module decodes — baseline or extended sequential
//! (SOF0/SOF1) Huffman-coded 8-bit JPEGs with one component (grey) or three (YCbCr) in a single
//! scan, sampling factors of 1 or 2, with or without restart intervals. Anything else (progressive,
//! arithmetic coding, 12 bits, CMYK, Adobe RGB, several scans, unexpected markers) is `None`, and
//! the caller uses its general decoder. Nothing here panics or allocates in proportion to what
//! the headers claim before the caller has checked the image's size.

use image::{DynamicImage, GrayImage, RgbImage};

/// Codes up to this many bits are decoded with one table lookup; longer ones bit by bit.
const LOOKUP_BITS: u32 = 10;

/// The window of bits in which [`AcTable`] looks for whole AC codes.
const WINDOW_BITS: u32 = 12;

// A code that does not fit the window does not fit the fast table either.
const _: () = assert!(WINDOW_BITS >= LOOKUP_BITS);

/// A baseline JPEG whose headers this module understood, ready to decode at 1/8 scale.
pub struct Baseline<'a> {
    width: u16,
    height: u16,
    /// In scan order (which is frame order).
    components: Vec<Component>,
    /// Indexed by the scan's table selectors.
    dc_tables: [Option<Box<HuffmanTable>>; 4],
    ac_tables: [Option<Box<AcTable>>; 4],
    /// MCUs between restart markers (0: none).
    restart_interval: u16,
    /// The entropy-coded data of the one scan, to the end of the file.
    scan: &'a [u8],
}

struct Component {
    id: u8,
    /// Sampling factors, 1 or 2.
    h: usize,
    v: usize,
    /// The DC coefficient's quantization step.
    dc_quant: u16,
    dc_table: usize,
    ac_table: usize,
}

impl<'a> Baseline<'a> {
    /// The JPEG's headers, if it is one this module decodes (`None`: use a general decoder).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        Parser::default().run(bytes)
    }

    pub fn width(&self) -> u32 {
        u32::from(self.width)
    }

    pub fn height(&self) -> u32 {
        u32::from(self.height)
    }

    /// The size of the 1/8-scale image: one pixel per 8×8 block, rounded up.
    pub fn eighth_size(&self) -> (u32, u32) {
        (self.width().div_ceil(8), self.height().div_ceil(8))
    }

    /// The most bytes [`Self::decode_eighth`] allocates for the image: per pixel of the 1/8
    /// image, at most 12 for three planes with their MCU padding (at most one more row and
    /// column of blocks each), 3 for the upsampled planes and 3 for the RGB image.
    pub fn max_allocation(&self) -> u64 {
        let (width, height) = self.eighth_size();
        18 * u64::from(width) * u64::from(height)
    }

    /// The image at 1/8 scale: RGB for colour, grey for one component. An error means the scan
    /// is corrupt or cut short before its last block.
    pub fn decode_eighth(&self) -> Result<DynamicImage, String> {
        let planes = self.dc_planes()?;
        let (width, height) = self.eighth_size();
        let (w, h) = (width as usize, height as usize);
        let wrong_size = || "decoded size does not match the header".to_string();
        if let [grey] = planes.as_slice() {
            let pixels = grey.upsampled(1, 1, w, h);
            return GrayImage::from_raw(width, height, pixels)
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(wrong_size);
        }
        let h_max = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        let full: Vec<Vec<u8>> = planes
            .iter()
            .zip(&self.components)
            .map(|(plane, c)| plane.upsampled(h_max / c.h, v_max / c.v, w, h))
            .collect();
        let [y, cb, cr] = full.as_slice() else {
            return Err("a colour JPEG has three components".into());
        };
        let mut rgb = Vec::with_capacity(w * h * 3);
        for ((&y, &cb), &cr) in y.iter().zip(cb).zip(cr) {
            rgb.extend_from_slice(&ycbcr_to_rgb(y, cb, cr));
        }
        RgbImage::from_raw(width, height, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(wrong_size)
    }

    /// One plane per component: the DC value of each of its blocks as a sample, MCU padding
    /// included.
    fn dc_planes(&self) -> Result<Vec<Plane>, String> {
        let h_max = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        let (width, height) = (usize::from(self.width), usize::from(self.height));
        // A single-component scan is not interleaved: its MCU is one block, whatever the
        // sampling factors say.
        let interleaved = self.components.len() > 1;
        let (mcus_x, mcus_y) = if interleaved {
            (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max))
        } else {
            (width.div_ceil(8), height.div_ceil(8))
        };
        let blocks = |c: &Component| if interleaved { (c.h, c.v) } else { (1, 1) };
        let mut planes: Vec<Plane> = self
            .components
            .iter()
            .map(|c| {
                let (bh, bv) = blocks(c);
                Plane {
                    // The blocks that hold image samples; the rest is MCU padding.
                    width: (width * c.h).div_ceil(h_max).div_ceil(8),
                    height: (height * c.v).div_ceil(v_max).div_ceil(8),
                    stride: mcus_x * bh,
                    samples: vec![0; mcus_x * bh * mcus_y * bv],
                }
            })
            .collect();
        let mut tables = Vec::with_capacity(self.components.len());
        for c in &self.components {
            let dc = self.dc_tables[c.dc_table].as_deref().ok_or("no DC table")?;
            let ac = self.ac_tables[c.ac_table].as_deref().ok_or("no AC table")?;
            tables.push((dc, ac));
        }

        let mut reader = BitReader::new(self.scan);
        let mut predictions = [0i32; 3];
        let mut until_restart = self.restart_interval;
        for mcu_y in 0..mcus_y {
            for mcu_x in 0..mcus_x {
                if self.restart_interval > 0 {
                    if until_restart == 0 {
                        reader.restart()?;
                        predictions = [0; 3];
                        until_restart = self.restart_interval;
                    }
                    until_restart -= 1;
                }
                for (index, c) in self.components.iter().enumerate() {
                    let (dc, ac) = tables[index];
                    let (bh, bv) = blocks(c);
                    let plane = &mut planes[index];
                    for block_y in 0..bv {
                        let row = (mcu_y * bv + block_y) * plane.stride + mcu_x * bh;
                        for block_x in 0..bh {
                            let diff = reader.block(dc, ac)?;
                            predictions[index] = predictions[index].wrapping_add(diff);
                            plane.samples[row + block_x] = dc_sample(predictions[index], c.dc_quant);
                        }
                    }
                }
            }
        }
        if reader.read_past_the_end() {
            return Err("the scan is cut short".into());
        }
        Ok(planes)
    }
}

/// A block's pixel value at 1/8 scale: its dequantized DC coefficient over 8, level-shifted.
fn dc_sample(dc: i32, quant: u16) -> u8 {
    let value = ((i64::from(dc) * i64::from(quant) + 4) >> 3) + 128;
    value.clamp(0, 255) as u8
}

/// JFIF's YCbCr → RGB, in 16-bit fixed point.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const HALF: i32 = 1 << 15;
    let y = (i32::from(y) << 16) + HALF;
    let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
    let channel = |fixed: i32| (fixed >> 16).clamp(0, 255) as u8;
    [
        channel(y + 91_881 * cr),
        channel(y - 22_554 * cb - 46_802 * cr),
        channel(y + 116_130 * cb),
    ]
}

/// One component's samples at 1/8 scale.
struct Plane {
    /// The samples that belong to the image (the rest of each row and column is padding).
    width: usize,
    height: usize,
    stride: usize,
    samples: Vec<u8>,
}

impl Plane {
    /// The plane at `width`×`height`, each sample stretched `fx`×`fy` (1 or 2) times with the
    /// triangle filter of libjpeg's fancy upsampling: a new sample is ¾ its nearest source sample
    /// and ¼ the next nearest, in each direction.
    fn upsampled(&self, fx: usize, fy: usize, width: usize, height: usize) -> Vec<u8> {
        let last_x = self.width.max(1) - 1;
        let last_y = self.height.max(1) - 1;
        // Source index of the nearest and the next nearest sample, as weights ¾ and ¼ (or the
        // same sample twice when not stretched).
        let neighbours = |out: usize, factor: usize, last: usize| {
            if factor == 1 {
                let at = out.min(last);
                (at, at)
            } else {
                let near = (out / 2).min(last);
                let far = if out % 2 == 0 {
                    near.saturating_sub(1)
                } else {
                    (near + 1).min(last)
                };
                (near, far)
            }
        };
        let columns: Vec<(usize, usize)> = (0..width).map(|x| neighbours(x, fx, last_x)).collect();
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            let (near, far) = neighbours(y, fy, last_y);
            let near_row = &self.samples[near * self.stride..][..self.stride];
            let far_row = &self.samples[far * self.stride..][..self.stride];
            let vertical = |x: usize| 3 * u32::from(near_row[x]) + u32::from(far_row[x]);
            out.extend(
                columns
                    .iter()
                    .map(|&(near, far)| ((3 * vertical(near) + vertical(far) + 8) >> 4) as u8),
            );
        }
        out
    }
}

/// A Huffman table, for decoding (DC) or skipping (AC) codes.
struct HuffmanTable {
    /// By the next `LOOKUP_BITS` bits of the stream: `length << 8 | symbol` of the code they start
    /// with, or 0 when that code is longer.
    fast: [u16; 1 << LOOKUP_BITS],
    /// The longest code of each length (-1 if none), and what turns a code of that length into
    /// an index into `symbols`.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl HuffmanTable {
    /// The table of a DHT entry: 16 counts of codes by length, then the symbols. `None` if the
    /// counts do not make a prefix code.
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Self> {
        let mut table = Self {
            fast: [0; 1 << LOOKUP_BITS],
            max_code: [-1; 17],
            offset: [0; 17],
            symbols: symbols.to_vec(),
        };
        let mut code: u32 = 0;
        let mut index: usize = 0;
        for length in 1..=16u32 {
            let count = usize::from(counts[length as usize - 1]);
            table.offset[length as usize] = index as i32 - code as i32;
            for _ in 0..count {
                if code >= 1 << length {
                    return None;
                }
                let symbol = *symbols.get(index)?;
                if length <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - length;
                    let first = (code << shift) as usize;
                    let entry = (length as u16) << 8 | u16::from(symbol);
                    table.fast[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                table.max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Some(table)
    }

    /// The code at the top of `bits` (left-aligned): its length and symbol.
    #[inline]
    fn decode(&self, bits: u64) -> Result<(u32, u8), &'static str> {
        let entry = self.fast[(bits >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            return Ok((u32::from(entry >> 8), entry as u8));
        }
        self.decode_long(bits)
    }

    /// A code longer than `LOOKUP_BITS`: rare, kept out of the hot loop.
    #[cold]
    #[inline(never)]
    fn decode_long(&self, bits: u64) -> Result<(u32, u8), &'static str> {
        for length in LOOKUP_BITS + 1..=16 {
            let code = (bits >> (64 - length)) as i32;
            if code <= self.max_code[length as usize] {
                let index = usize::try_from(code + self.offset[length as usize]).map_err(|_| "bad Huffman code")?;
                let symbol = *self.symbols.get(index).ok_or("bad Huffman code")?;
                return Ok((length, symbol));
            }
        }
        Err("bad Huffman code")
    }
}

/// For an AC code of `length` bits and `symbol` (run << 4 | size): the bits to skip (the code
/// and the coefficient's magnitude) and how far the coefficient index moves. A zero size with a
/// run other than 15 ends the block, as libjpeg reads it.
fn ac_skip(length: u32, symbol: u8) -> (u32, u32) {
    let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
    let advance = match (run, size) {
        (15, 0) => 16,
        (_, 0) => 64,
        _ => run + 1,
    };
    (length + size, advance)
}

/// An AC Huffman table for skipping codes. Reading one code after another is a chain of dependent
/// steps (shift, look up, shift); taking every code that starts in a 12-bit window per lookup
/// (two or three, often) shortens the chain.
struct AcTable {
    huffman: HuffmanTable,
    /// By the next `WINDOW_BITS` bits: what the codes that lie whole in them skip (the
    /// magnitude bits of the last one may lie beyond), packed by [`Skip::pack`]; 0 when the
    /// first code is longer than the window.
    run: Box<[u32; 1 << WINDOW_BITS]>,
}

/// What one lookup in an [`AcTable`] skips: some codes with their magnitude bits.
#[derive(Clone, Copy, Default)]
struct Skip {
    /// Bits, ≤ 27 (the window and the last code's magnitude).
    bits: u32,
    /// How far the coefficient index moves: below 256 (an end of block ends the run, and at
    /// most eleven 16-coefficient skips fit in the window before it).
    advance: u32,
    /// How far it moves before the last code: the block ends before that code (coefficient 63
    /// was reached without an end-of-block code) when the index would pass 63 here.
    advance_before_last: u32,
}

impl Skip {
    fn pack(self) -> u32 {
        self.bits | self.advance << 6 | self.advance_before_last << 14
    }

    #[inline]
    fn unpack(entry: u32) -> Self {
        Self {
            bits: entry & 63,
            advance: entry >> 6 & 255,
            advance_before_last: entry >> 14,
        }
    }
}

impl AcTable {
    fn new(huffman: HuffmanTable) -> Self {
        let mut run = Box::new([0; 1 << WINDOW_BITS]);
        for (index, entry) in run.iter_mut().enumerate() {
            let window = (index as u64) << (64 - WINDOW_BITS);
            let mut skip = Skip::default();
            // Codes while the next one lies whole in the window, up to an end of block.
            while skip.bits < WINDOW_BITS && skip.advance < 64 {
                let Ok((length, symbol)) = huffman.decode(window << skip.bits) else {
                    break;
                };
                if skip.bits + length > WINDOW_BITS {
                    break;
                }
                let (bits, advance) = ac_skip(length, symbol);
                skip.advance_before_last = skip.advance;
                skip.bits += bits;
                skip.advance += advance;
            }
            if skip.bits > 0 {
                *entry = skip.pack();
            }
        }
        Self { huffman, run }
    }
}

/// Entropy-coded data, read from a byte slice through a 64-bit buffer: stuffed bytes (FF 00)
/// become FF; at a marker or the end of the data, zero bits follow (as libjpeg does).
struct BitReader<'a> {
    data: &'a [u8],
    /// The next byte to load.
    position: usize,
    /// Left-aligned; `count` of them are valid.
    bits: u64,
    count: u32,
    /// A marker (or the end of the data) was reached: only zero bits are loaded until a restart.
    stopped: bool,
    /// The data ended without a marker: the file is cut short.
    ended: bool,
    /// Zero bits loaded since `stopped`.
    padding: u64,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            position: 0,
            bits: 0,
            count: 0,
            stopped: false,
            ended: false,
            padding: 0,
        }
    }

    /// Loads bytes until at least 56 bits are buffered.
    #[inline]
    fn refill(&mut self) {
        // The common case: eight bytes ahead and none of them FF, loaded in one go.
        if let Some(chunk) = self.data.get(self.position..self.position + 8) {
            let word = u64::from_be_bytes(chunk.try_into().unwrap_or([0xFF; 8]));
            let inverted = !word;
            let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if !self.stopped && has_ff == 0 {
                let bytes = (63 - self.count) / 8;
                self.bits |= (word >> (64 - 8 * bytes)) << (64 - 8 * bytes - self.count);
                self.count += 8 * bytes;
                self.position += bytes as usize;
                return;
            }
        }
        self.refill_bytewise();
    }

    /// Near an FF byte, a marker or the end of the data: one byte at a time.
    #[inline(never)]
    fn refill_bytewise(&mut self) {
        while self.count <= 56 {
            let byte = self.next_byte();
            self.bits |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn next_byte(&mut self) -> u8 {
        if !self.stopped {
            match self.data.get(self.position) {
                Some(0xFF) if self.data.get(self.position + 1) == Some(&0) => {
                    self.position += 2;
                    return 0xFF;
                }
                Some(0xFF) => self.stopped = true,
                Some(&byte) => {
                    self.position += 1;
                    return byte;
                }
                None => {
                    self.stopped = true;
                    self.ended = true;
                }
            }
        }
        self.padding += 8;
        0
    }

    /// One block: its DC difference, its AC codes skipped. This is the hot loop; the buffer is
    /// kept in locals (written back around a refill) so that it stays in registers, and at least
    /// 32 bits are buffered before each code: any code with its magnitude bits, or a
    /// window's worth of codes and the last one's magnitude (27 bits).
    #[inline(never)]
    fn block(&mut self, dc: &HuffmanTable, ac: &AcTable) -> Result<i32, &'static str> {
        if self.count < 32 {
            self.refill();
        }
        let (mut bits, mut count) = (self.bits, self.count);
        let (length, size) = dc.decode(bits)?;
        if size > 15 {
            return Err("bad DC magnitude");
        }
        bits <<= length;
        count -= length;
        let size = u32::from(size);
        let difference = if size == 0 {
            0
        } else {
            let value = (bits >> (64 - size)) as i32;
            bits <<= size;
            count -= size;
            // Values below half the range are negative (JPEG's EXTEND).
            if value < 1 << (size - 1) {
                value - (1 << size) + 1
            } else {
                value
            }
        };
        let mut k = 1;
        while k < 64 {
            if count < 32 {
                (self.bits, self.count) = (bits, count);
                self.refill();
                (bits, count) = (self.bits, self.count);
            }
            let entry = ac.run[(bits >> (64 - WINDOW_BITS)) as usize];
            let skip = Skip::unpack(entry);
            let (skipped, advance) = if entry != 0 && k + skip.advance_before_last < 64 {
                (skip.bits, skip.advance)
            } else {
                // A code longer than the window, or a block that ends within it without an
                // end-of-block code: one code.
                let (length, symbol) = ac.huffman.decode(bits)?;
                ac_skip(length, symbol)
            };
            bits <<= skipped;
            count -= skipped;
            k += advance;
        }
        (self.bits, self.count) = (bits, count);
        Ok(difference)
    }

    /// Moves past the next restart marker: the buffered bits are dropped (the rest of the
    /// interval's last byte is padding) and the data resumes after the marker.
    fn restart(&mut self) -> Result<(), String> {
        self.bits = 0;
        self.count = 0;
        self.stopped = false;
        self.padding = 0;
        // Anything between the data read so far and the marker is junk, skipped as libjpeg does.
        while let Some(at) = self
            .data
            .get(self.position..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        {
            self.position += at + 1;
            match self.data.get(self.position) {
                Some(0xD0..=0xD7) => {
                    self.position += 1;
                    return Ok(());
                }
                Some(0x00 | 0xFF) => continue,
                _ => break,
            }
        }
        Err("a restart marker is missing".into())
    }

    /// Whether the blocks decoded took bits from beyond the end of the data (not just from the
    /// zero bits that follow a marker, which libjpeg also accepts).
    fn read_past_the_end(&self) -> bool {
        self.ended && self.padding > u64::from(self.count)
    }
}

/// What SOF says: the size, and each component's id, sampling factors and quantization table.
struct Frame {
    width: u16,
    height: u16,
    components: Vec<FrameComponent>,
}

struct FrameComponent {
    id: u8,
    h: usize,
    v: usize,
    quant_table: usize,
}

/// Reads the markers up to the first scan.
#[derive(Default)]
struct Parser {
    frame: Option<Frame>,
    dc_quant: [Option<u16>; 4],
    dc_tables: [Option<Box<HuffmanTable>>; 4],
    ac_tables: [Option<Box<AcTable>>; 4],
    restart_interval: u16,
    jfif: bool,
    adobe_transform: Option<u8>,
}

impl Parser {
    fn run(mut self, bytes: &[u8]) -> Option<Baseline<'_>> {
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return None;
        }
        let mut position = 2;
        loop {
            if *bytes.get(position)? != 0xFF {
                return None;
            }
            // Fill bytes (FF) may precede a marker.
            while *bytes.get(position)? == 0xFF {
                position += 1;
            }
            let marker = bytes[position];
            position += 1;
            // Standalone markers (SOI, EOI, RSTn, TEM) have no place before the scan here.
            if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD9) {
                return None;
            }
            let length = usize::from(u16::from_be_bytes([*bytes.get(position)?, *bytes.get(position + 1)?]));
            let segment = bytes.get(position + 2..position.checked_add(length)?)?;
            position += length;
            match marker {
                0xC0 | 0xC1 => self.frame(segment)?,
                0xC4 => self.huffman_tables(segment)?,
                0xDB => self.quantization_tables(segment)?,
                0xDD => self.restart_interval = u16::from_be_bytes(segment.try_into().ok()?),
                0xE0 => self.jfif |= segment.starts_with(b"JFIF\0"),
                0xEE if segment.starts_with(b"Adobe") => self.adobe_transform = Some(*segment.get(11)?),
                0xDA => return self.scan(segment, bytes.get(position..)?),
                // Other frame types (progressive, lossless, hierarchical, arithmetic), DNL.
                0xC2..=0xCF | 0xDC => return None,
                _ => {}
            }
        }
    }

    /// SOF0/SOF1: 8-bit samples, one or three components, sampling factors 1 or 2.
    fn frame(&mut self, segment: &[u8]) -> Option<()> {
        let [8, h1, h0, w1, w0, count, rest @ ..] = segment else {
            return None;
        };
        let (height, width) = (u16::from_be_bytes([*h1, *h0]), u16::from_be_bytes([*w1, *w0]));
        if self.frame.is_some() || height == 0 || width == 0 || !matches!(count, 1 | 3) {
            return None;
        }
        if rest.len() != 3 * usize::from(*count) {
            return None;
        }
        let mut components: Vec<FrameComponent> = Vec::with_capacity(3);
        for c in rest.chunks_exact(3) {
            let component = FrameComponent {
                id: c[0],
                h: usize::from(c[1] >> 4),
                v: usize::from(c[1] & 15),
                quant_table: usize::from(c[2]),
            };
            if !(1..=2).contains(&component.h) || !(1..=2).contains(&component.v) || component.quant_table > 3 {
                return None;
            }
            if components.iter().any(|other| other.id == component.id) {
                return None;
            }
            components.push(component);
        }
        self.frame = Some(Frame {
            width,
            height,
            components,
        });
        Some(())
    }

    fn huffman_tables(&mut self, mut segment: &[u8]) -> Option<()> {
        while let [class_and_id, rest @ ..] = segment {
            let counts: &[u8; 16] = rest.get(..16)?.try_into().ok()?;
            let total = counts.iter().map(|&n| usize::from(n)).sum::<usize>();
            let symbols = rest.get(16..16 + total)?;
            let table = HuffmanTable::new(counts, symbols)?;
            match (class_and_id >> 4, usize::from(class_and_id & 15)) {
                (0, id @ 0..=3) => self.dc_tables[id] = Some(Box::new(table)),
                (1, id @ 0..=3) => self.ac_tables[id] = Some(Box::new(AcTable::new(table))),
                _ => return None,
            }
            segment = &rest[16 + total..];
        }
        Some(())
    }

    /// Only each table's first (DC) entry is needed.
    fn quantization_tables(&mut self, mut segment: &[u8]) -> Option<()> {
        while let [precision_and_id, rest @ ..] = segment {
            let id = usize::from(precision_and_id & 15);
            let (first, size) = match precision_and_id >> 4 {
                0 => (u16::from(*rest.first()?), 64),
                1 => (u16::from_be_bytes([*rest.first()?, *rest.get(1)?]), 128),
                _ => return None,
            };
            if id > 3 || first == 0 || rest.len() < size {
                return None;
            }
            self.dc_quant[id] = Some(first);
            segment = &rest[size..];
        }
        Some(())
    }

    /// SOS: every component of the frame in one sequential scan, in frame order.
    fn scan<'a>(mut self, segment: &[u8], data: &'a [u8]) -> Option<Baseline<'a>> {
        let Frame {
            width,
            height,
            components: frame,
        } = self.frame.take()?;
        let [count, rest @ ..] = segment else {
            return None;
        };
        if usize::from(*count) != frame.len() || rest.len() != 2 * frame.len() + 3 {
            return None;
        }
        if rest[2 * frame.len()..] != [0, 63, 0] {
            return None;
        }
        let mut components = Vec::with_capacity(frame.len());
        for (selector, c) in rest.chunks_exact(2).zip(&frame) {
            let (dc_table, ac_table) = (usize::from(selector[1] >> 4), usize::from(selector[1] & 15));
            if selector[0] != c.id || dc_table > 3 || ac_table > 3 {
                return None;
            }
            self.dc_tables[dc_table].as_ref()?;
            self.ac_tables[ac_table].as_ref()?;
            components.push(Component {
                id: c.id,
                h: c.h,
                v: c.v,
                dc_quant: self.dc_quant[c.quant_table]?,
                dc_table,
                ac_table,
            });
        }
        if components.len() == 3 && !self.is_ycbcr(&components) {
            return None;
        }
        if self.adobe_transform.is_some_and(|t| t > 2) {
            return None;
        }
        Some(Baseline {
            width,
            height,
            components,
            dc_tables: self.dc_tables,
            ac_tables: self.ac_tables,
            restart_interval: self.restart_interval,
            scan: data,
        })
    }

    /// Whether three components are YCbCr, decided as jpeg-decoder decides it (component ids
    /// first, then the JFIF and Adobe markers); RGB and the rest go to the general decoder.
    fn is_ycbcr(&self, components: &[Component]) -> bool {
        match components.iter().map(|c| c.id).collect::<Vec<_>>().as_slice() {
            [1, 2, 3] => true,
            [1, 34, 35] | [82, 71, 66] | [114, 103, 98] => false,
            _ => self.jfif || matches!(self.adobe_transform, None | Some(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    use std::io::Cursor;

    /// A photo-like image (gradients, waves, a little deterministic noise) with a few sharp edges.
    fn photo(width: u32, height: u32) -> RgbImage {
        let mut state: u32 = 0x2545_F491;
        RgbImage::from_fn(width, height, |x, y| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state % 9) as i32 - 4;
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let wave = ((fx * 23.0).sin() * (fy * 17.0).cos() * 40.0) as i32;
            let edge = if (x / 97 + y / 61) % 5 == 0 { 60 } else { 0 };
            let channel = |base: f32| (base as i32 + wave + noise - edge).clamp(0, 255) as u8;
            image::Rgb([
                channel(60.0 + 150.0 * fx),
                channel(90.0 + 120.0 * fy),
                channel(200.0 - 120.0 * fx * fy),
            ])
        })
    }

    fn with_image_crate(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), 90)
            .encode_image(image)
            .unwrap();
        bytes
    }

    /// A JPEG from jpeg-encoder: `sampling` of the chroma, a restart interval in MCUs (0: none),
    /// optimised Huffman tables or the standard ones, grey or colour, progressive or sequential.
    fn with_jpeg_encoder(
        image: &RgbImage,
        sampling: SamplingFactor,
        restart_interval: u16,
        optimized: bool,
        grey: bool,
        progressive: bool,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, 88);
        encoder.set_sampling_factor(sampling);
        encoder.set_restart_interval(restart_interval);
        encoder.set_optimized_huffman_tables(optimized);
        encoder.set_progressive(progressive);
        let (width, height) = (image.width() as u16, image.height() as u16);
        if grey {
            let luma = DynamicImage::ImageRgb8(image.clone()).to_luma8();
            encoder.encode(luma.as_raw(), width, height, ColorType::Luma).unwrap();
        } else {
            encoder.encode(image.as_raw(), width, height, ColorType::Rgb).unwrap();
        }
        bytes
    }

    /// jpeg-decoder's own 1/8-scale image, as the general path would decode it.
    fn reference(bytes: &[u8]) -> DynamicImage {
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        decoder.read_info().unwrap();
        let (width, height) = decoder.scale(1, 1).unwrap();
        let pixels = decoder.decode().unwrap();
        let (width, height) = (u32::from(width), u32::from(height));
        match decoder.info().unwrap().pixel_format {
            jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
            jpeg_decoder::PixelFormat::L8 => GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
            other => panic!("unexpected {other:?}"),
        }
        .unwrap()
    }

    /// Decodes with the fast path and checks it against jpeg-decoder: same size and colour type,
    /// mean absolute difference of the samples at most 3.
    fn assert_matches_jpeg_decoder(bytes: &[u8], what: &str) {
        let jpeg = Baseline::parse(bytes).unwrap_or_else(|| panic!("{what}: not taken by the fast path"));
        let fast = jpeg.decode_eighth().unwrap_or_else(|e| panic!("{what}: {e}"));
        let slow = reference(bytes);
        assert_eq!((fast.width(), fast.height()), (slow.width(), slow.height()), "{what}");
        assert_eq!(fast.color(), slow.color(), "{what}");
        let (a, b) = (fast.as_bytes(), slow.as_bytes());
        let total: u64 = a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum();
        let mean = total as f64 / a.len() as f64;
        assert!(mean <= 3.0, "{what}: mean absolute difference {mean:.2}");
    }

    #[test]
    fn the_image_crates_colour_and_grey_jpegs_match_jpeg_decoder_at_one_eighth() {
        for (width, height) in [(800, 600), (1001, 777), (9, 17), (1, 1)] {
            let colour = DynamicImage::ImageRgb8(photo(width, height));
            let grey = DynamicImage::ImageLuma8(colour.to_luma8());
            assert_matches_jpeg_decoder(&with_image_crate(&colour), &format!("colour {width}×{height}"));
            assert_matches_jpeg_decoder(&with_image_crate(&grey), &format!("grey {width}×{height}"));
        }
    }

    #[test]
    fn every_chroma_sampling_with_and_without_restarts_matches_jpeg_decoder() {
        for (width, height) in [(1001, 777), (640, 480), (23, 5)] {
            let image = photo(width, height);
            for sampling in [
                SamplingFactor::R_4_4_4,
                SamplingFactor::R_4_2_2,
                SamplingFactor::R_4_2_0,
                SamplingFactor::R_4_4_0,
            ] {
                for restart_interval in [0, 1, 7] {
                    let bytes = with_jpeg_encoder(&image, sampling, restart_interval, false, false, false);
                    assert_matches_jpeg_decoder(
                        &bytes,
                        &format!("{width}×{height} {sampling:?} restart {restart_interval}"),
                    );
                }
            }
            let grey = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 5, false, true, false);
            assert_matches_jpeg_decoder(&grey, &format!("grey {width}×{height} restart 5"));
            // Huffman tables built for the image, not the standard ones (jpeg-encoder 0.6 builds
            // them without the restarts' DC resets, so not with restarts).
            let optimized = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, true, true, false);
            assert_matches_jpeg_decoder(&optimized, &format!("grey {width}×{height} optimized tables"));
        }
    }

    #[test]
    fn what_the_fast_path_does_not_decode_is_left_to_jpeg_decoder() {
        let image = photo(320, 240);
        let progressive = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, false, false, true);
        assert!(Baseline::parse(&progressive).is_none(), "progressive");
        let four_one_one = with_jpeg_encoder(&image, SamplingFactor::R_4_1_1, 0, false, false, false);
        assert!(Baseline::parse(&four_one_one).is_none(), "4:1:1 sampling");
        // jpeg-encoder writes optimised colour as one scan per component.
        let scan_per_component = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, true, false, false);
        assert!(Baseline::parse(&scan_per_component).is_none(), "a scan per component");
        assert!(Baseline::parse(b"\xFF\xD8\xFF\xD9").is_none(), "no frame");
        assert!(Baseline::parse(b"GIF89a").is_none(), "not a JPEG");
        // An Adobe marker saying the three components are RGB, not YCbCr.
        let sequential = with_jpeg_encoder(&image, SamplingFactor::R_4_4_4, 0, false, false, false);
        let mut rgb = sequential[..2].to_vec();
        rgb.extend_from_slice(b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x00");
        rgb.extend_from_slice(&sequential[2..]);
        let without_jfif = strip_app0(&rgb);
        assert!(Baseline::parse(&without_jfif).is_none(), "Adobe RGB");
        assert!(
            Baseline::parse(&strip_app0(&sequential)).is_some(),
            "no JFIF marker: still YCbCr"
        );
    }

    /// The JPEG without its APP0 (JFIF) segment, if it starts with one after SOI.
    fn strip_app0(bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes[..2].to_vec();
        let mut position = 2;
        while bytes[position] == 0xFF && bytes[position + 1] != 0xDA {
            let length = usize::from(u16::from_be_bytes([bytes[position + 2], bytes[position + 3]]));
            if bytes[position + 1] != 0xE0 {
                out.extend_from_slice(&bytes[position..position + 2 + length]);
            }
            position += 2 + length;
        }
        out.extend_from_slice(&bytes[position..]);
        out
    }

    #[test]
    fn a_scan_cut_short_is_an_error_and_no_input_panics() {
        let image = photo(120, 90);
        let samples = [
            with_image_crate(&DynamicImage::ImageRgb8(image.clone())),
            with_jpeg_encoder(&image, SamplingFactor::R_4_2_2, 2, false, false, false),
            with_jpeg_encoder(&image, SamplingFactor::R_4_4_0, 0, true, true, false),
            with_jpeg_encoder(&image, SamplingFactor::R_4_4_4, 0, false, true, false),
        ];
        for bytes in &samples {
            let scan_start = bytes.len() - Baseline::parse(bytes).unwrap().scan.len();
            let half = &bytes[..scan_start + (bytes.len() - scan_start) / 2];
            assert!(
                Baseline::parse(half).unwrap().decode_eighth().is_err(),
                "cut in the middle of the scan"
            );
            for end in (0..bytes.len()).step_by(7) {
                if let Some(jpeg) = Baseline::parse(&bytes[..end]) {
                    let _ = jpeg.decode_eighth();
                }
            }
            let mut state: u32 = 0x1234_5678;
            for _ in 0..400 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let mut broken = bytes.clone();
                let at = scan_start + state as usize % (bytes.len() - scan_start);
                broken[at] ^= 1 << (state >> 29);
                if state % 3 == 0 {
                    broken[at] = 0xFF;
                }
                if let Some(jpeg) = Baseline::parse(&broken) {
                    let _ = jpeg.decode_eighth();
                }
            }
        }
    }

    #[test]
    fn huffman_counts_that_are_no_prefix_code_are_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three codes of one bit
        assert!(HuffmanTable::new(&counts, &[0, 1, 2]).is_none());
        counts[0] = 2;
        assert!(HuffmanTable::new(&counts, &[0, 1]).is_some());
        assert!(HuffmanTable::new(&counts, &[0]).is_none(), "fewer symbols than codes");
    }
}
