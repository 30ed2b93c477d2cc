//! JPEG markers read without decoding, and the 1/8-scale image of a JPEG from its DC
//! coefficients alone: the fast path for thumbnails of photos, and what keeps a hostile JPEG from
//! stalling the function.
//!
//! [`Markers::read`] walks the segments of a JPEG (entropy-coded data is skipped to the next
//! marker, as a decoder finds it) and counts its scans and Huffman tables: a file with more than
//! [`MAX_SCANS`] scans or [`MAX_HUFFMAN_TABLES`] tables is refused before any decoder sees it. A
//! progressive JPEG followed by thousands of empty scans would otherwise make a general decoder
//! walk every block once per scan (jpeg-decoder: ~0.16 µs per block per scan, a minute for
//! 230 KB of a 49-megapixel image). Tables are kept as the slices that define them, and built
//! only for the scans that are decoded.
//!
//! At 1/8 scale each 8×8 block becomes one pixel, whose value is the block's DC coefficient (its
//! mean). A general decoder still Huffman-decodes, stores and transforms every coefficient; this
//! module reads the entropy-coded data straight from the byte slice and decodes the DC of each
//! block. In a sequential JPEG it skips over the AC coefficients' codes (one lookup in a table
//! indexed by the next 12 bits gives the bits to skip, codes and magnitudes, and how far the
//! coefficient index moves, for every AC code that lies whole in those bits); in a progressive
//! one it reads the DC scans (the first, and the refinements' one bit per block) and never looks
//! inside the AC scans. Chroma planes are upsampled with libjpeg's "fancy" triangle filter (by
//! replication for factors other than 2) and converted to RGB.
//!
//! [`Markers::dc_decodable`] accepts only what this module decodes — 8-bit Huffman-coded
//! sequential (SOF0/SOF1) or progressive (SOF2) JPEGs with one component (grey), three (YCbCr or
//! RGB) or four (CMYK, YCCK), sampling factors 1 to 4 that divide the largest, with or without
//! restart intervals. Anything else (arithmetic coding, 12 bits, lossless, hierarchical, a scan
//! that breaks the rules) is `None`, and the caller uses its general decoder. Nothing here panics
//! or allocates in proportion to what the headers claim before the caller has checked the image's
//! size against [`DcJpeg::max_allocation`]; decoding checks a deadline once per row of blocks.

use crate::thumbnail::Deadline;
use image::{DynamicImage, GrayImage, RgbImage};

/// More scans than this and the file is refused. libjpeg's progressive script writes 10 for a
/// colour image; 64 leaves room for any real encoder, and keeps what a general decoder spends
/// per scan on a small image (every block walked once per scan) within a second or two.
pub const MAX_SCANS: usize = 64;

/// More Huffman table definitions than this and the file is refused (a real file defines a few
/// per scan at most; each costs a general decoder a table build).
pub const MAX_HUFFMAN_TABLES: usize = 8 * MAX_SCANS;

/// Codes up to this many bits are decoded with one table lookup; longer ones bit by bit.
const LOOKUP_BITS: u32 = 10;

/// The window of bits in which [`AcTable`] looks for whole AC codes.
const WINDOW_BITS: u32 = 12;

// A code that does not fit the window does not fit the fast table either.
const _: () = assert!(WINDOW_BITS >= LOOKUP_BITS);

/// Why a JPEG is refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("The JPEG has more than {MAX_SCANS} scans")]
    TooManyScans,
    #[error("The JPEG defines more than {MAX_HUFFMAN_TABLES} Huffman tables")]
    TooManyTables,
}

/// Why decoding at 1/8 scale stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcError {
    /// The entropy-coded data is corrupt or cut short.
    Corrupt(String),
    /// The deadline passed.
    OutOfTime,
}

impl From<String> for DcError {
    fn from(reason: String) -> Self {
        Self::Corrupt(reason)
    }
}

impl From<&str> for DcError {
    fn from(reason: &str) -> Self {
        Self::Corrupt(reason.to_owned())
    }
}

/// What a JPEG's markers say, up to its end of image (or the end of the bytes).
pub struct Markers<'a> {
    frame: Option<Frame>,
    scans: Vec<Scan<'a>>,
    /// The first entry of each quantization table, as last defined.
    dc_quant: [Option<u16>; 4],
    jfif: bool,
    adobe_transform: Option<u8>,
    /// The TIFF structure of the first Exif APP1 segment.
    exif: Option<&'a [u8]>,
    /// Something this module does not decode (another coding process, a malformed segment).
    unsupported: bool,
}

/// What SOF says: the size, the coding process, and each component's id, sampling factors and
/// quantization table.
struct Frame {
    width: u16,
    height: u16,
    progressive: bool,
    components: Vec<FrameComponent>,
}

struct FrameComponent {
    id: u8,
    /// Sampling factors, 1 to 4.
    h: usize,
    v: usize,
    quant_table: usize,
}

/// One scan: its components (indices into the frame's), spectral selection and successive
/// approximation, and what it needs to be read: the tables and restart interval in force at its
/// SOS, and its entropy-coded data.
struct Scan<'a> {
    /// (frame component index, DC table, AC table), in scan order.
    components: Vec<(usize, usize, usize)>,
    spectral_start: u8,
    spectral_end: u8,
    approximation_high: u8,
    approximation_low: u8,
    restart_interval: u16,
    /// Each slot's definition (16 counts, then the symbols), as a slice of the file.
    dc_tables: [Option<&'a [u8]>; 4],
    ac_tables: [Option<&'a [u8]>; 4],
    /// The DC quantization steps in force at this scan (a sequential scan uses these).
    dc_quant: [Option<u16>; 4],
    data: &'a [u8],
}

impl<'a> Markers<'a> {
    /// Walks the JPEG's segments. Only too many scans or tables is an error: anything else that
    /// is wrong only makes the file something [`Self::dc_decodable`] refuses, left to a general
    /// decoder's judgement.
    pub fn read(bytes: &'a [u8]) -> Result<Self, Refused> {
        let mut markers = Markers {
            frame: None,
            scans: Vec::new(),
            dc_quant: [None; 4],
            jfif: false,
            adobe_transform: None,
            exif: None,
            unsupported: false,
        };
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            markers.unsupported = true;
            return Ok(markers);
        }
        let mut tables = Tables::default();
        let mut scans = 0;
        let mut position = 2;
        loop {
            // Bytes between segments are skipped (libjpeg does too), then fill bytes.
            while bytes.get(position).is_some_and(|&b| b != 0xFF) {
                position += 1;
            }
            while bytes.get(position) == Some(&0xFF) {
                position += 1;
            }
            let Some(&marker) = bytes.get(position) else {
                break;
            };
            position += 1;
            match marker {
                0xD9 => break,
                // Standalone markers, and a stray stuffed byte.
                0x00 | 0x01 | 0xD0..=0xD7 => continue,
                0xD8 => {
                    markers.unsupported = true;
                    continue;
                }
                _ => {}
            }
            let length = match (bytes.get(position), bytes.get(position + 1)) {
                (Some(&high), Some(&low)) => usize::from(u16::from_be_bytes([high, low])),
                _ => break,
            };
            let Some(segment) = bytes.get(position + 2..position + length.max(2)) else {
                // Cut short inside a segment.
                markers.unsupported = true;
                break;
            };
            position += length.max(2);
            let understood = match marker {
                0xC0 | 0xC1 => markers.frame(segment, false),
                0xC2 => markers.frame(segment, true),
                0xC4 => tables.define(segment)?,
                0xDB => markers.quantization_tables(segment),
                0xDD => segment.try_into().ok().map(|interval| {
                    tables.restart_interval = u16::from_be_bytes(interval);
                }),
                0xE0 => {
                    markers.jfif |= segment.starts_with(b"JFIF\0");
                    Some(())
                }
                0xE1 => {
                    if markers.exif.is_none() {
                        markers.exif = segment.strip_prefix(b"Exif\0\0");
                    }
                    Some(())
                }
                0xEE if segment.starts_with(b"Adobe\0") => segment.get(11).map(|&transform| {
                    markers.adobe_transform = Some(transform);
                }),
                0xDA => {
                    scans += 1;
                    if scans > MAX_SCANS {
                        return Err(Refused::TooManyScans);
                    }
                    let end = entropy_coded_end(bytes, position);
                    let scan = markers.scan(segment, &tables, &bytes[position..end]);
                    position = end;
                    scan.map(|scan| markers.scans.push(scan))
                }
                // Other frame types (lossless, hierarchical, arithmetic), DAC, DNL, DHP, EXP.
                0xC3 | 0xC5..=0xCF | 0xDC | 0xDE | 0xDF => None,
                _ => Some(()),
            };
            markers.unsupported |= understood.is_none();
        }
        Ok(markers)
    }

    /// The orientation the Exif data asks for, if any.
    pub fn orientation(&self) -> Option<image::metadata::Orientation> {
        self.exif.and_then(image::metadata::Orientation::from_exif_chunk)
    }

    /// The image's width and height, if a frame header was read.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.frame.as_ref().map(|f| (u32::from(f.width), u32::from(f.height)))
    }

    /// The JPEG as this module decodes it, if it can (`None`: use a general decoder).
    pub fn dc_decodable(&self) -> Option<DcJpeg<'_, 'a>> {
        if self.unsupported || self.scans.is_empty() {
            return None;
        }
        let frame = self.frame.as_ref()?;
        let h_max = frame.components.iter().map(|c| c.h).max()?;
        let v_max = frame.components.iter().map(|c| c.v).max()?;
        if frame.components.iter().any(|c| h_max % c.h != 0 || v_max % c.v != 0) {
            return None;
        }
        let color = self.color(frame)?;
        for scan in &self.scans {
            let dc = scan.spectral_start == 0;
            let valid = if frame.progressive {
                // A DC scan has no AC coefficient; an AC scan has one component.
                scan.spectral_start <= scan.spectral_end
                    && scan.spectral_end <= 63
                    && (!dc || scan.spectral_end == 0)
                    && (dc || scan.components.len() == 1)
                    && scan.approximation_low <= 13
            } else {
                (
                    scan.spectral_start,
                    scan.spectral_end,
                    scan.approximation_high,
                    scan.approximation_low,
                ) == (0, 63, 0, 0)
            };
            if !valid {
                return None;
            }
            // Every table the decoded part of a scan reads is defined.
            for &(_, dc_table, ac_table) in &scan.components {
                let first = dc && scan.approximation_high == 0;
                if first && scan.dc_tables[dc_table].is_none() {
                    return None;
                }
                if !frame.progressive && scan.ac_tables[ac_table].is_none() {
                    return None;
                }
            }
        }
        Some(DcJpeg {
            markers: self,
            frame,
            color,
            h_max,
            v_max,
        })
    }

    /// What the components are, decided as jpeg-decoder decides it (component ids first, then
    /// the JFIF and Adobe markers); `None` for what it does not decode either.
    fn color(&self, frame: &Frame) -> Option<Color> {
        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
        match ids.as_slice() {
            [_] => return Some(Color::Grey),
            [1, 2, 3] => return Some(Color::YCbCr),
            [82, 71, 66] => return Some(Color::Rgb),
            [1, 34, 35] | [114, 103, 98] => return None,
            [_, _, _] if self.jfif => return Some(Color::YCbCr),
            _ => {}
        }
        match (ids.len(), self.adobe_transform) {
            (3, Some(0)) => Some(Color::Rgb),
            (3, Some(1) | None) => Some(Color::YCbCr),
            (4, Some(0) | None) => Some(Color::Cmyk),
            (4, Some(2)) => Some(Color::Ycck),
            _ => None,
        }
    }

    /// SOF0/SOF1/SOF2: 8-bit samples, one, three or four components, sampling factors 1 to 4.
    fn frame(&mut self, segment: &[u8], progressive: bool) -> Option<()> {
        let [8, h1, h0, w1, w0, count, rest @ ..] = segment else {
            return None;
        };
        let (height, width) = (u16::from_be_bytes([*h1, *h0]), u16::from_be_bytes([*w1, *w0]));
        if self.frame.is_some() || height == 0 || width == 0 || !matches!(count, 1 | 3 | 4) {
            return None;
        }
        if rest.len() != 3 * usize::from(*count) {
            return None;
        }
        let mut components: Vec<FrameComponent> = Vec::with_capacity(4);
        for c in rest.chunks_exact(3) {
            let component = FrameComponent {
                id: c[0],
                h: usize::from(c[1] >> 4),
                v: usize::from(c[1] & 15),
                quant_table: usize::from(c[2]),
            };
            if !(1..=4).contains(&component.h) || !(1..=4).contains(&component.v) || component.quant_table > 3 {
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
            progressive,
            components,
        });
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

    /// SOS: the scan's components (of the frame, in frame order, each once), its spectral
    /// selection and successive approximation.
    fn scan(&self, segment: &[u8], tables: &Tables<'a>, data: &'a [u8]) -> Option<Scan<'a>> {
        let frame = self.frame.as_ref()?;
        let [count, rest @ ..] = segment else {
            return None;
        };
        let count = usize::from(*count);
        if !(1..=4).contains(&count) || rest.len() != 2 * count + 3 {
            return None;
        }
        let mut components: Vec<(usize, usize, usize)> = Vec::with_capacity(count);
        for selector in rest[..2 * count].chunks_exact(2) {
            let index = frame.components.iter().position(|c| c.id == selector[0])?;
            let (dc_table, ac_table) = (usize::from(selector[1] >> 4), usize::from(selector[1] & 15));
            if dc_table > 3 || ac_table > 3 || components.last().is_some_and(|&(last, ..)| last >= index) {
                return None;
            }
            components.push((index, dc_table, ac_table));
        }
        let [spectral_start, spectral_end, approximation] = rest[2 * count..] else {
            return None;
        };
        Some(Scan {
            components,
            spectral_start,
            spectral_end,
            approximation_high: approximation >> 4,
            approximation_low: approximation & 15,
            restart_interval: tables.restart_interval,
            dc_tables: tables.dc,
            ac_tables: tables.ac,
            dc_quant: self.dc_quant,
            data,
        })
    }
}

/// The Huffman tables and restart interval in force, as the walk goes.
#[derive(Default)]
struct Tables<'a> {
    dc: [Option<&'a [u8]>; 4],
    ac: [Option<&'a [u8]>; 4],
    restart_interval: u16,
    /// Definitions so far.
    defined: usize,
}

impl<'a> Tables<'a> {
    /// DHT: each table's slot now holds its definition (counts and symbols), unbuilt.
    fn define(&mut self, mut segment: &'a [u8]) -> Result<Option<()>, Refused> {
        while let [class_and_id, rest @ ..] = segment {
            self.defined += 1;
            if self.defined > MAX_HUFFMAN_TABLES {
                return Err(Refused::TooManyTables);
            }
            let Some(counts) = rest.get(..16) else {
                return Ok(None);
            };
            let total = 16 + counts.iter().map(|&n| usize::from(n)).sum::<usize>();
            let Some(definition) = rest.get(..total) else {
                return Ok(None);
            };
            match (class_and_id >> 4, usize::from(class_and_id & 15)) {
                (0, id @ 0..=3) => self.dc[id] = Some(definition),
                (1, id @ 0..=3) => self.ac[id] = Some(definition),
                _ => return Ok(None),
            }
            segment = &rest[total..];
        }
        Ok(Some(()))
    }
}

/// Where the entropy-coded data that starts at `from` ends: at the first marker that is not a
/// restart marker (a stuffed FF 00 and fill bytes are data), or at the end of the bytes.
fn entropy_coded_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(offset) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
        let marker_start = at + offset;
        let mut next = marker_start + 1;
        while bytes.get(next) == Some(&0xFF) {
            next += 1;
        }
        match bytes.get(next) {
            Some(0x00 | 0xD0..=0xD7) => at = next + 1,
            Some(_) => return marker_start,
            None => return bytes.len(),
        }
    }
    bytes.len()
}

/// How the components become RGB (or grey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Color {
    Grey,
    YCbCr,
    Rgb,
    /// Adobe's inverted CMYK.
    Cmyk,
    /// Adobe's YCCK: YCbCr of the inverted CMY, and inverted K.
    Ycck,
}

/// A JPEG this module decodes at 1/8 scale.
pub struct DcJpeg<'m, 'a> {
    markers: &'m Markers<'a>,
    frame: &'m Frame,
    color: Color,
    h_max: usize,
    v_max: usize,
}

/// One component's DC coefficients, one per block of its MCU-padded plane.
struct Coefficients {
    stride: usize,
    values: Vec<i32>,
}

impl DcJpeg<'_, '_> {
    pub fn width(&self) -> u32 {
        u32::from(self.frame.width)
    }

    pub fn height(&self) -> u32 {
        u32::from(self.frame.height)
    }

    /// The size of the 1/8-scale image: one pixel per 8×8 block, rounded up.
    pub fn eighth_size(&self) -> (u32, u32) {
        (self.width().div_ceil(8), self.height().div_ceil(8))
    }

    fn mcus(&self) -> (usize, usize) {
        let (width, height) = (usize::from(self.frame.width), usize::from(self.frame.height));
        (width.div_ceil(8 * self.h_max), height.div_ceil(8 * self.v_max))
    }

    /// The most bytes [`Self::decode_eighth`] allocates: per component and MCU-padded block (at
    /// most 4 more rows and columns than the 1/8 image has pixels), 4 for its DC coefficient and
    /// 1 for its sample; per pixel of the 1/8 image, 1 per upsampled component and 3 for the
    /// RGB image; and 128 KiB for the Huffman tables of one scan and the bookkeeping.
    pub fn max_allocation(&self) -> u64 {
        let (width, height) = self.eighth_size();
        let padded = (u64::from(width) + 4) * (u64::from(height) + 4);
        let components = self.frame.components.len() as u64;
        components * 6 * padded + 3 * padded + 128 * 1024
    }

    /// The image at 1/8 scale: RGB for colour, grey for one component. An error means a decoded
    /// scan is corrupt or cut short before its last block, or the deadline passed.
    pub fn decode_eighth(&self, deadline: &Deadline) -> Result<DynamicImage, DcError> {
        let (mcus_x, mcus_y) = self.mcus();
        let mut coefficients: Vec<Coefficients> = self
            .frame
            .components
            .iter()
            .map(|c| Coefficients {
                stride: mcus_x * c.h,
                values: vec![0; mcus_x * c.h * mcus_y * c.v],
            })
            .collect();
        // Which coefficients of each component have been sent in full (the last bit of their
        // successive approximation): once all 64 have, a component is done, and a later scan
        // does not change it (as jpeg-decoder renders a component when it is done; only a
        // corrupt file sends more).
        // Its DC quantization step is the one in force at the scan that made it done (a
        // component never done: the last one defined).
        let mut sent = [0u64; 4];
        let mut quant: Vec<Option<u16>> = self
            .frame
            .components
            .iter()
            .map(|c| self.markers.dc_quant[c.quant_table])
            .collect();
        for scan in &self.markers.scans {
            let done = sent.map(|bits| bits == !0);
            if scan.approximation_low == 0 {
                for &(index, ..) in &scan.components {
                    if sent[index] != !0 {
                        for coefficient in scan.spectral_start..=scan.spectral_end.min(63) {
                            sent[index] |= 1 << coefficient;
                        }
                        if sent[index] == !0 {
                            quant[index] = scan.dc_quant[self.frame.components[index].quant_table];
                        }
                    }
                }
            }
            if scan.spectral_start == 0 {
                self.decode_dc_scan(scan, &mut coefficients, &done, deadline)?;
            }
        }
        let (width, height) = self.eighth_size();
        let (w, h) = (width as usize, height as usize);
        let mut planes = Vec::with_capacity(coefficients.len());
        for (index, (c, coefficients)) in self.frame.components.iter().zip(coefficients).enumerate() {
            let quant = quant[index].ok_or("no quantization table")?;
            let plane = Plane {
                // The blocks that hold image samples; the rest is MCU padding.
                width: (usize::from(self.frame.width) * c.h).div_ceil(self.h_max).div_ceil(8),
                height: (usize::from(self.frame.height) * c.v).div_ceil(self.v_max).div_ceil(8),
                stride: coefficients.stride,
                samples: coefficients.values.iter().map(|&dc| dc_sample(dc, quant)).collect(),
            };
            drop(coefficients);
            planes.push(plane.upsampled(self.h_max / c.h, self.v_max / c.v, w, h));
        }
        let wrong_size = || DcError::Corrupt("decoded size does not match the header".into());
        if self.color == Color::Grey {
            let grey = planes.pop().ok_or_else(wrong_size)?;
            return GrayImage::from_raw(width, height, grey)
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(wrong_size);
        }
        let mut rgb = Vec::with_capacity(w * h * 3);
        match (self.color, planes.as_slice()) {
            (Color::YCbCr, [y, cb, cr]) => {
                for ((&y, &cb), &cr) in y.iter().zip(cb).zip(cr) {
                    rgb.extend_from_slice(&ycbcr_to_rgb(y, cb, cr));
                }
            }
            (Color::Rgb, [r, g, b]) => {
                for ((&r, &g), &b) in r.iter().zip(g).zip(b) {
                    rgb.extend_from_slice(&[r, g, b]);
                }
            }
            (Color::Cmyk, [c, m, y, k]) => {
                for (((&c, &m), &y), &k) in c.iter().zip(m).zip(y).zip(k) {
                    rgb.extend_from_slice(&inverted_cmyk_to_rgb([c, m, y, k]));
                }
            }
            (Color::Ycck, [y, cb, cr, k]) => {
                for (((&y, &cb), &cr), &k) in y.iter().zip(cb).zip(cr).zip(k) {
                    let [c, m, y] = ycbcr_to_rgb(y, cb, cr);
                    rgb.extend_from_slice(&inverted_cmyk_to_rgb([255 - c, 255 - m, 255 - y, k]));
                }
            }
            _ => return Err(wrong_size()),
        }
        RgbImage::from_raw(width, height, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(wrong_size)
    }

    /// A scan with the DC coefficient: the first (a DC difference per block, after which a
    /// sequential scan skips the block's AC codes) or a refinement (one bit per block). The
    /// blocks of a component that is `done` are read but not kept.
    fn decode_dc_scan(
        &self,
        scan: &Scan,
        coefficients: &mut [Coefficients],
        done: &[bool; 4],
        deadline: &Deadline,
    ) -> Result<(), DcError> {
        let refining = self.frame.progressive && scan.approximation_high != 0;
        let mut tables = Vec::with_capacity(scan.components.len());
        for &(_, dc, ac) in &scan.components {
            let build = |definition: Option<&[u8]>| {
                definition
                    .and_then(HuffmanTable::from_definition)
                    .ok_or(DcError::Corrupt("a Huffman table is not a prefix code".into()))
            };
            if refining {
                tables.push(None);
            } else if self.frame.progressive {
                tables.push(Some((build(scan.dc_tables[dc])?, None)));
            } else {
                let ac = AcTable::new(build(scan.ac_tables[ac])?);
                tables.push(Some((build(scan.dc_tables[dc])?, Some(ac))));
            }
        }
        // A scan of one component is not interleaved: its MCU is one block, and it covers only
        // the blocks that hold the component's samples.
        let (mcus_x, mcus_y) = self.mcus();
        let interleaved = scan.components.len() > 1;
        let (units_x, units_y) = if interleaved {
            (mcus_x, mcus_y)
        } else {
            let c = &self.frame.components[scan.components[0].0];
            let width = (usize::from(self.frame.width) * c.h).div_ceil(self.h_max);
            let height = (usize::from(self.frame.height) * c.v).div_ceil(self.v_max);
            (width.div_ceil(8), height.div_ceil(8))
        };
        let low = u32::from(scan.approximation_low);
        let mut reader = BitReader::new(scan.data);
        // 16 bits, wrapping, as jpeg-decoder keeps them (only corrupt data can overflow them).
        let mut predictions = [0i16; 4];
        let mut until_restart = scan.restart_interval;
        for unit_y in 0..units_y {
            if deadline.passed() {
                return Err(DcError::OutOfTime);
            }
            if reader.read_past_the_end() {
                return Err(DcError::Corrupt("the scan is cut short".into()));
            }
            for unit_x in 0..units_x {
                if scan.restart_interval > 0 {
                    if until_restart == 0 {
                        reader.restart()?;
                        predictions = [0; 4];
                        until_restart = scan.restart_interval;
                    }
                    until_restart -= 1;
                }
                for (slot, &(index, ..)) in scan.components.iter().enumerate() {
                    let c = &self.frame.components[index];
                    let (bh, bv) = if interleaved { (c.h, c.v) } else { (1, 1) };
                    let plane = &mut coefficients[index];
                    for block_y in 0..bv {
                        let row = (unit_y * bv + block_y) * plane.stride + unit_x * bh;
                        for block_x in 0..bh {
                            // A done component's blocks are read (the bits must be) into a scratch.
                            let mut scratch = 0;
                            let value = if done[index] {
                                &mut scratch
                            } else {
                                &mut plane.values[row + block_x]
                            };
                            match &tables[slot] {
                                None => *value = i32::from((*value as i16) | ((reader.bit() as i16) << low)),
                                Some((dc, ac)) => {
                                    let difference = match ac {
                                        Some(ac) => reader.block(dc, ac)?,
                                        None => reader.dc_difference(dc)?,
                                    };
                                    predictions[slot] = predictions[slot].wrapping_add(difference as i16);
                                    *value = i32::from(predictions[slot].wrapping_shl(low));
                                }
                            }
                        }
                    }
                }
            }
        }
        if reader.read_past_the_end() {
            return Err(DcError::Corrupt("the scan is cut short".into()));
        }
        Ok(())
    }
}

/// Adobe's inverted CMYK (as its JPEGs store it: 255 is no ink) to RGB, the way Pillow converts
/// CMYK: each channel is what its ink and the black leave of the light.
pub fn inverted_cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let k = u16::from(k);
    [c, m, y].map(|v| ((u16::from(v) * k + 127) / 255) as u8)
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
    /// The plane at `width`×`height`, each sample stretched `fx`×`fy` times: by 2 (and 1) with
    /// the triangle filter of libjpeg's fancy upsampling (a new sample is ¾ its nearest source
    /// sample and ¼ the next nearest, in each direction), by other factors by replication.
    fn upsampled(&self, fx: usize, fy: usize, width: usize, height: usize) -> Vec<u8> {
        let last_x = self.width.max(1) - 1;
        let last_y = self.height.max(1) - 1;
        // Source index of the nearest and the next nearest sample, as weights ¾ and ¼ (or the
        // same sample twice when not stretched).
        // The triangle filter only where both factors are 1 or 2 (jpeg-decoder replicates in
        // both directions when either is larger).
        let fancy = fx <= 2 && fy <= 2;
        let neighbours = |out: usize, factor: usize, last: usize| {
            if factor != 2 || !fancy {
                let at = (out / factor).min(last);
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
    fn from_definition(definition: &[u8]) -> Option<Self> {
        let (counts, symbols) = definition.split_first_chunk::<16>()?;
        Self::new(counts, symbols)
    }

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

/// How far an end of block moves the coefficient index: past any index a block can reach
/// otherwise, so that a block that ends past 63 without it (a run too long) is told apart.
const END_OF_BLOCK: u32 = 128;

/// For an AC code of `length` bits and `symbol` (run << 4 | size): the bits to skip (the code
/// and the coefficient's magnitude) and how far the coefficient index moves (an end of block:
/// [`END_OF_BLOCK`]). `None` for an end-of-band run, which only a progressive scan may hold:
/// corrupt data, which libjpeg and jpeg-decoder read differently, so refused here.
fn ac_skip(length: u32, symbol: u8) -> Option<(u32, u32)> {
    let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
    let advance = match (run, size) {
        (15, 0) => 16,
        (0, 0) => END_OF_BLOCK,
        (_, 0) => return None,
        _ => run + 1,
    };
    Some((length + size, advance))
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
    /// How far the coefficient index moves: below 256 (the codes before the last move it less
    /// than 64, the last at most [`END_OF_BLOCK`]).
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
                let Some((bits, advance)) = ac_skip(length, symbol) else {
                    break;
                };
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
        // At most 11 bits for 8-bit samples (jpeg-decoder refuses more, libjpeg reads up to 15).
        if size > 11 {
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
                ac_skip(length, symbol).ok_or("an end-of-band run in a sequential scan")?
            };
            bits <<= skipped;
            count -= skipped;
            k += advance;
        }
        // Past 63 without an end of block: a run too long, which libjpeg reads with its
        // magnitude bits and jpeg-decoder without. Corrupt either way.
        if k != 64 && k < END_OF_BLOCK {
            return Err("an AC run passes the end of a block");
        }
        (self.bits, self.count) = (bits, count);
        Ok(difference)
    }

    /// One block's DC difference, and nothing else (a progressive DC scan).
    fn dc_difference(&mut self, dc: &HuffmanTable) -> Result<i32, &'static str> {
        if self.count < 32 {
            self.refill();
        }
        let (length, size) = dc.decode(self.bits)?;
        // At most 11 bits for 8-bit samples (jpeg-decoder refuses more, libjpeg reads up to 15).
        if size > 11 {
            return Err("bad DC magnitude");
        }
        self.bits <<= length;
        self.count -= length;
        let size = u32::from(size);
        if size == 0 {
            return Ok(0);
        }
        let value = (self.bits >> (64 - size)) as i32;
        self.bits <<= size;
        self.count -= size;
        // Values below half the range are negative (JPEG's EXTEND).
        Ok(if value < 1 << (size - 1) {
            value - (1 << size) + 1
        } else {
            value
        })
    }

    /// One bit (a DC refinement).
    fn bit(&mut self) -> u32 {
        if self.count < 1 {
            self.refill();
        }
        let bit = (self.bits >> 63) as u32;
        self.bits <<= 1;
        self.count -= 1;
        bit
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

    /// The fast path's 1/8-scale image, `None` when it does not take the file.
    fn eighth(bytes: &[u8]) -> Option<Result<DynamicImage, DcError>> {
        let markers = Markers::read(bytes).ok()?;
        let jpeg = markers.dc_decodable()?;
        Some(jpeg.decode_eighth(&Deadline::none()))
    }

    fn taken(bytes: &[u8]) -> bool {
        Markers::read(bytes).is_ok_and(|m| m.dc_decodable().is_some())
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
        let fast = eighth(bytes)
            .unwrap_or_else(|| panic!("{what}: not taken by the fast path"))
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
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
    fn progressive_and_scan_per_component_jpegs_match_jpeg_decoder_from_their_dc_scans() {
        for (width, height) in [(1001, 777), (640, 480), (23, 5)] {
            let image = photo(width, height);
            for sampling in [
                SamplingFactor::R_4_4_4,
                SamplingFactor::R_4_2_0,
                SamplingFactor::R_4_1_1,
            ] {
                for restart_interval in [0, 3] {
                    let bytes = with_jpeg_encoder(&image, sampling, restart_interval, false, false, true);
                    assert_matches_jpeg_decoder(
                        &bytes,
                        &format!("progressive {width}×{height} {sampling:?} restart {restart_interval}"),
                    );
                }
            }
            let grey = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, false, true, true);
            assert_matches_jpeg_decoder(&grey, &format!("progressive grey {width}×{height}"));
            // jpeg-encoder writes optimised colour as one scan per component.
            let scan_per_component = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, true, false, false);
            assert_matches_jpeg_decoder(&scan_per_component, &format!("a scan per component {width}×{height}"));
            let four_one_one = with_jpeg_encoder(&image, SamplingFactor::R_4_1_1, 0, false, false, false);
            assert_matches_jpeg_decoder(&four_one_one, &format!("4:1:1 {width}×{height}"));
        }
    }

    /// A CMYK JPEG of one ink colour, as Adobe stores it (inverted), plain or as YCCK.
    fn cmyk(ink: [u8; 4], ycck: bool, progressive: bool) -> Vec<u8> {
        let (width, height) = (64u16, 48u16);
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
            .flat_map(|_| ink)
            .collect();
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, 95);
        encoder.set_progressive(progressive);
        let color = if ycck { ColorType::CmykAsYcck } else { ColorType::Cmyk };
        encoder.encode(&pixels, width, height, color).unwrap();
        bytes
    }

    #[test]
    fn cmyk_and_ycck_become_the_rgb_their_inks_leave() {
        // Cyan with a little black: (255 - ink) × (255 - black) / 255 of each light.
        let ink = [200, 40, 0, 30];
        let expected = [49.0, 190.0, 225.0];
        for ycck in [false, true] {
            for progressive in [false, true] {
                let image = eighth(&cmyk(ink, ycck, progressive)).unwrap().unwrap();
                assert_eq!((image.width(), image.height()), (8, 6));
                let pixel = image.to_rgb8().get_pixel(3, 3).0;
                for (got, want) in pixel.iter().zip(expected) {
                    assert!((f64::from(*got) - want).abs() <= 4.0, "ycck {ycck}: {pixel:?}");
                }
            }
        }
    }

    #[test]
    fn what_the_fast_path_does_not_decode_is_left_to_jpeg_decoder() {
        let image = photo(320, 240);
        assert!(!taken(b"\xFF\xD8\xFF\xD9"), "no frame");
        assert!(!taken(b"GIF89a"), "not a JPEG");
        let sequential = with_jpeg_encoder(&image, SamplingFactor::R_4_4_4, 0, false, false, false);
        // Arithmetic coding (SOF9) in place of the baseline frame.
        let sof0 = sequential.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let mut arithmetic = sequential.clone();
        arithmetic[sof0 + 1] = 0xC9;
        assert!(!taken(&arithmetic), "arithmetic coding");
        // 12-bit samples.
        let mut twelve = sequential.clone();
        twelve[sof0 + 4] = 12;
        assert!(!taken(&twelve), "12 bits");
        // An Adobe marker saying the three components are YCCK, which they cannot be.
        let mut odd = sequential[..2].to_vec();
        odd.extend_from_slice(b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x02");
        odd.extend_from_slice(&strip_app0(&sequential)[2..]);
        assert!(!taken(&odd), "three components said to be YCCK");
        // An Adobe marker saying they are RGB: decoded as RGB.
        let mut rgb = sequential[..2].to_vec();
        rgb.extend_from_slice(b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x00");
        rgb.extend_from_slice(&strip_app0(&sequential)[2..]);
        let markers = Markers::read(&rgb).unwrap();
        assert_eq!(markers.dc_decodable().map(|j| j.color), Some(Color::Rgb));
        assert!(taken(&strip_app0(&sequential)), "no JFIF marker: still YCbCr");
    }

    /// A progressive JPEG followed by `extra` empty AC scans (each one EOB run over all blocks).
    fn with_empty_scans(extra: usize) -> Vec<u8> {
        let image = photo(64, 64);
        let progressive = with_jpeg_encoder(&image, SamplingFactor::R_4_4_4, 0, false, true, true);
        let end = progressive.len() - 2;
        let mut bytes = progressive[..end].to_vec();
        for _ in 0..extra {
            // SOS: one component (id 1), tables 0/0, coefficients 1–63, refinement of bit 0;
            // then no data at all (zero bits follow the marker).
            bytes.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10]);
        }
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        bytes
    }

    #[test]
    fn scans_and_huffman_tables_are_counted_before_decoding() {
        let fine = with_empty_scans(MAX_SCANS - 20);
        assert!(Markers::read(&fine).is_ok());
        let many = with_empty_scans(5000);
        assert!(many.len() < 60_000);
        assert_eq!(Markers::read(&many).err(), Some(Refused::TooManyScans));

        // Thousands of AC tables in DHT segments: refused, and none of them built.
        let image = photo(64, 64);
        let sequential = with_jpeg_encoder(&image, SamplingFactor::R_4_4_4, 0, false, false, false);
        let mut table = vec![0x11u8];
        table.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
        let mut tables = sequential[..2].to_vec();
        for _ in 0..20 {
            let segment: Vec<u8> = table.iter().copied().cycle().take(table.len() * 50).collect();
            tables.extend_from_slice(&[0xFF, 0xC4]);
            tables.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
            tables.extend_from_slice(&segment);
        }
        tables.extend_from_slice(&sequential[2..]);
        assert_eq!(Markers::read(&tables).err(), Some(Refused::TooManyTables));
    }

    #[test]
    fn exif_orientation_is_read_from_app1() {
        let image = photo(64, 48);
        let plain = with_jpeg_encoder(&image, SamplingFactor::R_4_2_0, 0, false, false, false);
        assert_eq!(Markers::read(&plain).unwrap().orientation(), None);
        for (endian, tiff) in [
            (
                "big",
                b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec(),
            ),
            (
                "little",
                b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec(),
            ),
        ] {
            let mut rotated = plain[..2].to_vec();
            let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
            rotated.extend_from_slice(&[0xFF, 0xE1]);
            rotated.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            rotated.extend_from_slice(&payload);
            rotated.extend_from_slice(&plain[2..]);
            assert_eq!(
                Markers::read(&rotated).unwrap().orientation(),
                Some(image::metadata::Orientation::Rotate90),
                "{endian}"
            );
        }
    }

    #[test]
    fn the_deadline_stops_decoding() {
        let bytes = with_jpeg_encoder(&photo(800, 600), SamplingFactor::R_4_2_0, 0, false, false, false);
        let markers = Markers::read(&bytes).unwrap();
        let jpeg = markers.dc_decodable().unwrap();
        let passed = Deadline::after(std::time::Duration::ZERO);
        assert_eq!(jpeg.decode_eighth(&passed).err(), Some(DcError::OutOfTime));
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
            let scan_start = bytes.len() - Markers::read(bytes).unwrap().scans[0].data.len() - 2;
            let half = &bytes[..scan_start + (bytes.len() - scan_start) / 2];
            assert!(eighth(half).unwrap().is_err(), "cut in the middle of the scan");
            for end in (0..bytes.len()).step_by(7) {
                let _ = eighth(&bytes[..end]);
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
                let _ = eighth(&broken);
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
