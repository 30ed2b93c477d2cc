//! Thumbnails: an image that fits 200×200 (aspect kept, never enlarged, turned upright as its
//! Exif orientation says), as PNG. Decoding has limits — pixels, bytes allocated and time — so a
//! decompression bomb or a file built to keep a decoder busy is refused, not an out-of-memory
//! kill or a timeout. A JPEG's scans and tables are counted before any decoder sees it
//! ([`jpeg_dc::Markers`]); one whose 1/8-scale image still covers the thumbnail (a photo),
//! sequential or progressive, is decoded from its DC coefficients alone ([`crate::jpeg_dc`]),
//! others by jpeg-decoder with DCT scaling (at 1/2, 1/4 or 1/8 of their size, the smallest that
//! still covers the thumbnail), as Pillow's `draft` mode does.

use crate::jpeg_dc;
use domain::file::FileType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::cell::Cell;
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

/// The box a thumbnail fits in.
pub const THUMBNAIL_SIZE: u32 = 200;

/// What the decoder may take.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest image, in pixels (width × height).
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
    /// Longest a decode may take.
    pub max_time: Duration,
}

impl Default for DecodeLimits {
    /// 50 megapixels (a 12-megapixel phone photo has room; an 8000×8000 bomb does not), 256 MiB
    /// of decoder memory (within the function's memory size with room to spare), and 10 s: a
    /// 50-megapixel PNG takes about 1 s on this machine's core, and the function's timeout is 60.
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_alloc: 256 * 1024 * 1024,
            max_time: Duration::from_secs(10),
        }
    }
}

/// When decoding must stop.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now().checked_add(budget))
    }

    /// No deadline.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn passed(&self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThumbnailError {
    #[error("The image is {width}×{height} pixels, more than the {max} pixels allowed")]
    TooManyPixels { width: u64, height: u64, max: u64 },
    /// Not a well-formed image (the decoder's words are logged, not shown).
    #[error("The image cannot be decoded")]
    Undecodable(String),
    /// A JPEG with more scans or tables than any real encoder writes.
    #[error(transparent)]
    Refused(#[from] jpeg_dc::Refused),
    #[error("The image takes longer than {0:?} to decode")]
    TooSlow(Duration),
    #[error("{0} is not an image type")]
    NotAnImage(&'static str),
}

/// The PNG thumbnail of an image of type `kind`, and its width and height.
pub fn make(bytes: &[u8], kind: FileType, limits: &DecodeLimits) -> Result<(Vec<u8>, u32, u32), ThumbnailError> {
    let deadline = Deadline::after(limits.max_time);
    // The thumbnail's size comes from the image's own: the decoders may hand over a reduced one.
    let (image, orientation, (source_w, source_h)) = match kind {
        FileType::Jpeg => decode_jpeg(bytes, limits, &deadline)?,
        FileType::Png => decode_png(bytes, limits, &deadline)?,
        FileType::Gif => decode_with_image(bytes, ImageFormat::Gif, limits, &deadline)?,
        FileType::Webp => decode_with_image(bytes, ImageFormat::WebP, limits, &deadline)?,
        other => return Err(ThumbnailError::NotAnImage(other.mime())),
    };
    let (width, height) = fit(source_w, source_h);
    let small = if (width, height) == (image.width(), image.height()) {
        image
    } else {
        // Pillow's `thumbnail` default is a bicubic-class filter after a box reduction; the
        // image crate's `thumbnail` is a fast area-averaging resize of the same quality class.
        match image {
            DynamicImage::ImageRgb8(rgb) => DynamicImage::ImageRgb8(image::imageops::thumbnail(&rgb, width, height)),
            DynamicImage::ImageLuma8(luma) => {
                DynamicImage::ImageLuma8(image::imageops::thumbnail(&luma, width, height))
            }
            DynamicImage::ImageLumaA8(luma) => {
                DynamicImage::ImageLumaA8(image::imageops::thumbnail(&luma, width, height))
            }
            DynamicImage::ImageRgba8(rgba) => {
                DynamicImage::ImageRgba8(image::imageops::thumbnail(&rgba, width, height))
            }
            other => DynamicImage::ImageRgba8(image::imageops::thumbnail(&other.to_rgba8(), width, height)),
        }
    };
    // Turned on the thumbnail, not the image: the same result for a fraction of the pixels.
    let small = orient(small, orientation);
    let (width, height) = (small.width(), small.height());
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| ThumbnailError::Undecodable(e.to_string()))?;
    Ok((png, width, height))
}

/// The image turned as its Exif orientation says, by moving its bytes: one small function for
/// every 8-bit pixel type (the image crate's `apply_orientation` instantiates seven operations for
/// each of its ten types, some 100 KB of binary).
fn orient(image: DynamicImage, orientation: Orientation) -> DynamicImage {
    use Orientation::*;
    if orientation == NoTransforms {
        return image;
    }
    let (w, h) = (image.width() as usize, image.height() as usize);
    let turned = matches!(orientation, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH);
    let (out_w, out_h) = if turned { (h, w) } else { (w, h) };
    let channels = usize::from(image.color().bytes_per_pixel());
    let source = image.as_bytes();
    let mut out = Vec::with_capacity(source.len());
    for y in 0..out_h {
        for x in 0..out_w {
            // The source pixel of output pixel (x, y).
            let (sx, sy) = match orientation {
                NoTransforms => (x, y),
                FlipHorizontal => (w - 1 - x, y),
                Rotate180 => (w - 1 - x, h - 1 - y),
                FlipVertical => (x, h - 1 - y),
                Rotate90 => (y, h - 1 - x),
                Rotate270 => (w - 1 - y, x),
                Rotate90FlipH => (y, x),
                Rotate270FlipH => (w - 1 - y, h - 1 - x),
            };
            let at = (sy * w + sx) * channels;
            out.extend_from_slice(&source[at..at + channels]);
        }
    }
    let (out_w, out_h) = (out_w as u32, out_h as u32);
    let turned = match &image {
        DynamicImage::ImageLuma8(_) => image::GrayImage::from_raw(out_w, out_h, out).map(DynamicImage::ImageLuma8),
        DynamicImage::ImageLumaA8(_) => {
            image::GrayAlphaImage::from_raw(out_w, out_h, out).map(DynamicImage::ImageLumaA8)
        }
        DynamicImage::ImageRgb8(_) => image::RgbImage::from_raw(out_w, out_h, out).map(DynamicImage::ImageRgb8),
        DynamicImage::ImageRgba8(_) => image::RgbaImage::from_raw(out_w, out_h, out).map(DynamicImage::ImageRgba8),
        _ => None,
    };
    turned.unwrap_or(image)
}

/// A decoded image (perhaps at a reduced scale), its Exif orientation, and its full size.
type Decoded = (DynamicImage, Orientation, (u32, u32));

/// The size that fits `THUMBNAIL_SIZE`² with the aspect kept (at least one pixel a side).
pub fn fit(width: u32, height: u32) -> (u32, u32) {
    if width <= THUMBNAIL_SIZE && height <= THUMBNAIL_SIZE {
        return (width.max(1), height.max(1));
    }
    let scale = f64::from(THUMBNAIL_SIZE) / f64::from(width.max(height));
    let side = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, THUMBNAIL_SIZE);
    (side(width), side(height))
}

fn check_pixels(width: u64, height: u64, limits: &DecodeLimits) -> Result<(), ThumbnailError> {
    if width.saturating_mul(height) > limits.max_pixels {
        return Err(ThumbnailError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    Ok(())
}

/// The bytes of an image, read by a general decoder that cannot be interrupted: every read
/// checks the deadline (the clock itself once per 256 reads), and past it the read fails.
struct Timed<'a> {
    bytes: Cursor<&'a [u8]>,
    deadline: &'a Deadline,
    reads: u32,
    out_of_time: &'a Cell<bool>,
}

impl<'a> Timed<'a> {
    fn new(bytes: &'a [u8], deadline: &'a Deadline, out_of_time: &'a Cell<bool>) -> Self {
        Self {
            bytes: Cursor::new(bytes),
            deadline,
            reads: 0,
            out_of_time,
        }
    }

    fn check(&mut self) -> std::io::Result<()> {
        self.reads = self.reads.wrapping_add(1);
        if self.out_of_time.get() || (self.reads % 256 == 0 && self.deadline.passed()) {
            self.out_of_time.set(true);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "decoding took too long",
            ));
        }
        Ok(())
    }
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        self.bytes.read(buf)
    }
}

impl BufRead for Timed<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.check()?;
        // At most 64 KiB at a time, so that a decoder comes back for more (and a check).
        let buffer = self.bytes.fill_buf()?;
        Ok(&buffer[..buffer.len().min(64 * 1024)])
    }

    fn consume(&mut self, amount: usize) {
        self.bytes.consume(amount);
    }
}

impl Seek for Timed<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.bytes.seek(to)
    }
}

/// A decoder's error, or the deadline when that is why it stopped.
fn decoder_error(out_of_time: &Cell<bool>, limits: &DecodeLimits, error: impl ToString) -> ThumbnailError {
    if out_of_time.get() {
        ThumbnailError::TooSlow(limits.max_time)
    } else {
        ThumbnailError::Undecodable(error.to_string())
    }
}

fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
    deadline: &Deadline,
) -> Result<Decoded, ThumbnailError> {
    let out_of_time = Cell::new(false);
    let failed = |e: image::ImageError| decoder_error(&out_of_time, limits, e);
    let mut reader = ImageReader::with_format(Timed::new(bytes, deadline, &out_of_time), format);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(failed)?;
    let (width, height) = decoder.dimensions();
    check_pixels(u64::from(width), u64::from(height), limits)?;
    if decoder.total_bytes() > limits.max_alloc {
        return Err(ThumbnailError::Undecodable(
            "more memory than the decoder may allocate".into(),
        ));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    Ok((image, orientation, (width, height)))
}

/// A PNG, decoded row by row into an image a whole factor smaller (each pixel the mean of a
/// factor × factor box), that still has at least twice the thumbnail's size: the full image is
/// never held, only a row and the reduced image (a 12-megapixel PNG: about 0.5 MB instead of
/// 36-48 MB). Interlaced PNGs, whose rows come in seven passes, are decoded whole.
fn decode_png(bytes: &[u8], limits: &DecodeLimits, deadline: &Deadline) -> Result<Decoded, ThumbnailError> {
    let out_of_time = Cell::new(false);
    let failed = |e: png::DecodingError| decoder_error(&out_of_time, limits, e);
    let mut decoder = png::Decoder::new(Timed::new(bytes, deadline, &out_of_time));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.set_limits(png::Limits {
        bytes: usize::try_from(limits.max_alloc).unwrap_or(usize::MAX),
    });
    let mut reader = decoder.read_info().map_err(failed)?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    check_pixels(u64::from(width), u64::from(height), limits)?;
    if info.interlaced {
        return decode_with_image(bytes, ImageFormat::Png, limits, deadline);
    }
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let channels = match reader.output_color_type() {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        other => return Err(ThumbnailError::Undecodable(format!("unexpected PNG output {other:?}"))),
    };
    let (want_w, want_h) = fit(width, height);
    let factor = ((width / want_w).min(height / want_h) / 2).max(1) as usize;
    // What this holds beyond the decoder's own limits: the reduced image and the band's sums,
    // two rows (the decoder's current and previous, for unfiltering) and the inflater's window.
    let row_bytes = u64::from(width) * channels as u64;
    let (reduced_w, reduced_h) = (
        u64::from(width.div_ceil(factor as u32)),
        u64::from(height.div_ceil(factor as u32)),
    );
    let held = reduced_w * reduced_h * channels as u64 + 4 * reduced_w * channels as u64 + 2 * row_bytes + 64 * 1024;
    if held > limits.max_alloc {
        return Err(ThumbnailError::Undecodable(
            "more memory than the decoder may allocate".into(),
        ));
    }
    let mut box_reduction = BoxReduction::new(width as usize, height as usize, channels, factor);
    for y in 0..height {
        if y % 64 == 0 && deadline.passed() {
            return Err(ThumbnailError::TooSlow(limits.max_time));
        }
        let row = reader
            .next_row()
            .map_err(failed)?
            .ok_or_else(|| ThumbnailError::Undecodable("the PNG is cut short".into()))?;
        box_reduction.add_row(row.data())?;
    }
    let (reduced_w, reduced_h) = (box_reduction.width as u32, box_reduction.height as u32);
    let pixels = box_reduction.pixels;
    let wrong_size = || ThumbnailError::Undecodable("decoded size does not match the header".into());
    let image = match channels {
        1 => image::GrayImage::from_raw(reduced_w, reduced_h, pixels).map(DynamicImage::ImageLuma8),
        2 => image::GrayAlphaImage::from_raw(reduced_w, reduced_h, pixels).map(DynamicImage::ImageLumaA8),
        3 => image::RgbImage::from_raw(reduced_w, reduced_h, pixels).map(DynamicImage::ImageRgb8),
        _ => image::RgbaImage::from_raw(reduced_w, reduced_h, pixels).map(DynamicImage::ImageRgba8),
    }
    .ok_or_else(wrong_size)?;
    Ok((image, orientation, (width, height)))
}

/// Rows in, an image `factor` times smaller out: each pixel the rounded mean of its box (the
/// last row and column of boxes may be cut by the image's edge).
struct BoxReduction {
    source_width: usize,
    source_height: usize,
    channels: usize,
    factor: usize,
    width: usize,
    height: usize,
    /// The sums of the boxes of the band of rows being read.
    sums: Vec<u32>,
    rows_in_band: usize,
    rows_read: usize,
    pixels: Vec<u8>,
}

impl BoxReduction {
    fn new(source_width: usize, source_height: usize, channels: usize, factor: usize) -> Self {
        let (width, height) = (source_width.div_ceil(factor), source_height.div_ceil(factor));
        Self {
            source_width,
            source_height,
            channels,
            factor,
            width,
            height,
            sums: vec![0; width * channels],
            rows_in_band: 0,
            rows_read: 0,
            pixels: Vec::with_capacity(width * height * channels),
        }
    }

    fn add_row(&mut self, row: &[u8]) -> Result<(), ThumbnailError> {
        let row = row
            .get(..self.source_width * self.channels)
            .ok_or_else(|| ThumbnailError::Undecodable("a PNG row is short".into()))?;
        match self.channels {
            1 => accumulate::<1>(row, &mut self.sums, self.factor),
            2 => accumulate::<2>(row, &mut self.sums, self.factor),
            3 => accumulate::<3>(row, &mut self.sums, self.factor),
            _ => accumulate::<4>(row, &mut self.sums, self.factor),
        }
        self.rows_in_band += 1;
        self.rows_read += 1;
        if self.rows_in_band == self.factor || self.rows_read == self.source_height {
            for (column, sums) in self.sums.chunks_exact_mut(self.channels).enumerate() {
                let columns = self.factor.min(self.source_width - column * self.factor);
                let count = (columns * self.rows_in_band) as u32;
                for sum in sums.iter_mut() {
                    self.pixels.push(((*sum + count / 2) / count) as u8);
                    *sum = 0;
                }
            }
            self.rows_in_band = 0;
        }
        Ok(())
    }
}

/// Adds each pixel of `row` (of `C` channels) to the sum of its box of `factor` columns.
fn accumulate<const C: usize>(row: &[u8], sums: &mut [u32], factor: usize) {
    for (pixels, sum) in row.chunks(factor * C).zip(sums.chunks_exact_mut(C)) {
        let mut total = [0u32; C];
        for pixel in pixels.chunks_exact(C) {
            for (t, &p) in total.iter_mut().zip(pixel) {
                *t += u32::from(p);
            }
        }
        for (s, t) in sum.iter_mut().zip(total) {
            *s += t;
        }
    }
}

/// How a JPEG is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegPath {
    /// At 1/8 scale from the DC coefficients alone ([`crate::jpeg_dc`]).
    DcOnly,
    /// By jpeg-decoder, at the scale it picks.
    Decoder,
}

/// Which way [`make`] decodes this JPEG (`None`: it is refused before decoding).
pub fn jpeg_path(bytes: &[u8]) -> Option<JpegPath> {
    let markers = jpeg_dc::Markers::read(bytes).ok()?;
    Some(if dc_only(&markers).is_some() {
        JpegPath::DcOnly
    } else {
        JpegPath::Decoder
    })
}

/// The JPEG as the fast path decodes it, when its 1/8-scale image still covers the thumbnail
/// (exactly when jpeg-decoder would scale to 1/8).
fn dc_only<'m, 'a>(markers: &'m jpeg_dc::Markers<'a>) -> Option<jpeg_dc::DcJpeg<'m, 'a>> {
    let jpeg = markers.dc_decodable()?;
    let (want_w, want_h) = fit(jpeg.width(), jpeg.height());
    let (eighth_w, eighth_h) = jpeg.eighth_size();
    (eighth_w >= want_w || eighth_h >= want_h).then_some(jpeg)
}

fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits, deadline: &Deadline) -> Result<Decoded, ThumbnailError> {
    let markers = jpeg_dc::Markers::read(bytes)?;
    let orientation = markers.orientation().unwrap_or(Orientation::NoTransforms);
    if let Some((width, height)) = markers.size() {
        check_pixels(u64::from(width), u64::from(height), limits)?;
    }
    if let Some(jpeg) = dc_only(&markers) {
        if jpeg.max_allocation() > limits.max_alloc {
            return Err(ThumbnailError::Undecodable(
                "more memory than the decoder may allocate".into(),
            ));
        }
        let image = jpeg.decode_eighth(deadline).map_err(|e| match e {
            jpeg_dc::DcError::Corrupt(reason) => ThumbnailError::Undecodable(reason),
            jpeg_dc::DcError::OutOfTime => ThumbnailError::TooSlow(limits.max_time),
        })?;
        return Ok((image, orientation, (jpeg.width(), jpeg.height())));
    }
    let out_of_time = Cell::new(false);
    let failed = |e: jpeg_decoder::Error| decoder_error(&out_of_time, limits, e);
    let mut decoder = jpeg_decoder::Decoder::new(Timed::new(bytes, deadline, &out_of_time));
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(failed)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbnailError::Undecodable("no JPEG header".into()))?;
    check_pixels(u64::from(info.width), u64::from(info.height), limits)?;
    let (want_w, want_h) = fit(u32::from(info.width), u32::from(info.height));
    let (width, height) = decoder.scale(want_w as u16, want_h as u16).map_err(failed)?;
    let pixels = decoder.decode().map_err(failed)?;
    let (width, height) = (u32::from(width), u32::from(height));
    let wrong_size = || ThumbnailError::Undecodable("decoded size does not match the header".into());
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => image::RgbImage::from_raw(width, height, pixels)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(wrong_size),
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(width, height, pixels)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(wrong_size),
        jpeg_decoder::PixelFormat::L16 => {
            let wide: Vec<u16> = pixels
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(width, height, wide)
                .map(DynamicImage::ImageLuma16)
                .ok_or_else(wrong_size)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            let rgb: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|p| from_jpeg_decoder_cmyk([p[0], p[1], p[2], p[3]]))
                .collect();
            image::RgbImage::from_raw(width, height, rgb)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(wrong_size)
        }
    }?;
    Ok((image, orientation, (u32::from(info.width), u32::from(info.height))))
}

/// jpeg-decoder's CMYK (the inks, Adobe's inversion undone) to RGB, as the fast path converts.
pub fn from_jpeg_decoder_cmyk(ink: [u8; 4]) -> [u8; 3] {
    jpeg_dc::inverted_cmyk_to_rgb(ink.map(|v| 255 - v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    fn size_of(png: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory_with_format(png, ImageFormat::Png).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn thumbnails_fit_200_with_the_aspect_kept() {
        for (format, kind) in [
            (ImageFormat::Jpeg, FileType::Jpeg),
            (ImageFormat::Png, FileType::Png),
            (ImageFormat::Gif, FileType::Gif),
            (ImageFormat::WebP, FileType::Webp),
        ] {
            let (png, width, height) = make(&encoded(format, 1200, 800), kind, &DecodeLimits::default()).unwrap();
            assert_eq!((width, height), (200, 133), "{kind:?}");
            assert_eq!(size_of(&png), (200, 133), "{kind:?}");
        }
        let (png, ..) = make(
            &encoded(ImageFormat::Png, 120, 90),
            FileType::Png,
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(size_of(&png), (120, 90), "small images are not enlarged");
        assert_eq!(fit(300, 3000), (20, 200));
        assert_eq!(fit(10_000, 1), (200, 1));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // 8000×8000 of one colour: a few kilobytes of PNG, 192 MB of pixels.
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8000, 8000, image::Rgb([9, 9, 9])))
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert!(png.len() < 2_000_000, "{}", png.len());
        let refused = make(&png, FileType::Png, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(refused, ThumbnailError::TooManyPixels { .. }), "{refused}");
        let small_budget = DecodeLimits {
            max_pixels: u64::MAX,
            max_alloc: 1024 * 1024,
            ..DecodeLimits::default()
        };
        // Read row by row, a PNG needs a few rows and its reduced image: within 1 MiB, not 16 KiB.
        let thousand = encoded(ImageFormat::Png, 1000, 1000);
        assert!(make(&thousand, FileType::Png, &small_budget).is_ok());
        let tiny_budget = DecodeLimits {
            max_alloc: 16 * 1024,
            ..small_budget
        };
        assert!(make(&thousand, FileType::Png, &tiny_budget).is_err());
    }

    #[test]
    fn garbage_with_an_image_type_is_undecodable() {
        let refused = make(b"\x89PNG\r\n\x1a\nnot really", FileType::Png, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(refused, ThumbnailError::Undecodable(_)));
        assert!(make(b"%PDF-1.7", FileType::Pdf, &DecodeLimits::default()).is_err());
    }

    /// A photo-like JPEG as the bench makes them (the image crate's encoder, quality 90).
    fn photo_jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            let wave = ((x as f32 / 40.0).sin() * (y as f32 / 30.0).cos() * 60.0) as i32;
            let channel = |base: u32| (base as i32 + wave).clamp(0, 255) as u8;
            image::Rgb([
                channel(x % 200 + 20),
                channel(y % 180 + 40),
                channel((x + y) % 150 + 60),
            ])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), 90)
            .encode_image(&image)
            .unwrap();
        bytes
    }

    #[test]
    fn a_photo_takes_the_dc_only_path_when_one_eighth_covers_the_thumbnail() {
        let photo = photo_jpeg(2000, 1500);
        assert_eq!(jpeg_path(&photo), Some(JpegPath::DcOnly));
        let (png, width, height) = make(&photo, FileType::Jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((width, height, size_of(&png)), (200, 150, (200, 150)));

        // At 1200×800 an eighth (150×100) is smaller than the thumbnail: jpeg-decoder scales to 1/4.
        let small = photo_jpeg(1200, 800);
        assert_eq!(jpeg_path(&small), Some(JpegPath::Decoder));
        assert_eq!(make(&small, FileType::Jpeg, &DecodeLimits::default()).unwrap().1, 200);

        let rgb = image::RgbImage::from_fn(2000, 1500, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder
            .encode(rgb.as_raw(), 2000, 1500, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert_eq!(
            jpeg_path(&progressive),
            Some(JpegPath::DcOnly),
            "progressive: from its DC scans"
        );
        assert_eq!(
            make(&progressive, FileType::Jpeg, &DecodeLimits::default()).unwrap().1,
            200
        );
    }

    #[test]
    fn the_dc_only_path_keeps_the_pixel_and_memory_limits() {
        let photo = photo_jpeg(2000, 1500);
        let limits = DecodeLimits {
            max_pixels: 1_000_000,
            ..DecodeLimits::default()
        };
        let refused = make(&photo, FileType::Jpeg, &limits).unwrap_err();
        assert!(matches!(refused, ThumbnailError::TooManyPixels { .. }), "{refused}");
        // 250×188 pixels at 1/8 scale: within 2 MiB, not within 100 kB.
        let budget = |max_alloc| DecodeLimits {
            max_alloc,
            ..DecodeLimits::default()
        };
        assert!(make(&photo, FileType::Jpeg, &budget(2 * 1024 * 1024)).is_ok());
        assert!(make(&photo, FileType::Jpeg, &budget(100_000)).is_err());
    }

    #[test]
    fn a_broken_or_cut_jpeg_on_the_dc_only_path_is_undecodable_or_a_thumbnail() {
        let photo = photo_jpeg(1600, 1200);
        assert_eq!(jpeg_path(&photo), Some(JpegPath::DcOnly));
        let limits = DecodeLimits::default();
        let acceptable = |result: Result<(Vec<u8>, u32, u32), ThumbnailError>, what: &str| match result {
            Ok(_) | Err(ThumbnailError::Undecodable(_)) => {}
            Err(other) => panic!("{what}: {other}"),
        };
        for end in (0..photo.len()).step_by(photo.len() / 97) {
            acceptable(make(&photo[..end], FileType::Jpeg, &limits), &format!("cut at {end}"));
        }
        let cut = &photo[..photo.len() * 2 / 3];
        assert!(matches!(
            make(cut, FileType::Jpeg, &limits),
            Err(ThumbnailError::Undecodable(_))
        ));
        let mut state: u32 = 0xDEAD_BEEF;
        for _ in 0..60 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let mut broken = photo.clone();
            let at = 700 + state as usize % (photo.len() - 700);
            broken[at] ^= 1 << (state >> 29);
            acceptable(make(&broken, FileType::Jpeg, &limits), &format!("bit flipped at {at}"));
        }
    }

    /// `jpeg` with an Exif APP1 segment after SOI whose orientation tag is `orientation`.
    fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let tiff = [
            b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".as_slice(),
            &[orientation],
            b"\0\0\0\0\0\0",
        ]
        .concat();
        let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_portrait_photo_stored_sideways_gets_an_upright_thumbnail() {
        // Stored landscape, red on the left half; orientation 6 (turn 90° clockwise to view):
        // the viewer sees a portrait image, red at the top.
        let stored = image::RgbImage::from_fn(1600, 1200, |x, _| {
            if x < 800 {
                image::Rgb([230, 20, 20])
            } else {
                image::Rgb([20, 20, 230])
            }
        });
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut plain), 90)
            .encode_image(&stored)
            .unwrap();
        let portrait = with_orientation(&plain, 6);
        assert_eq!(jpeg_path(&portrait), Some(JpegPath::DcOnly));
        let (png, width, height) = make(&portrait, FileType::Jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((width, height), (150, 200));
        let thumb = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        assert!(thumb.get_pixel(75, 20).0[0] > 200, "red at the top");
        assert!(thumb.get_pixel(75, 180).0[2] > 200, "blue at the bottom");
        // Through jpeg-decoder (an eighth would not cover the thumbnail), and mirrored.
        let small = image::imageops::resize(&stored, 800, 600, image::imageops::FilterType::Nearest);
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut plain), 90)
            .encode_image(&small)
            .unwrap();
        let mirrored = with_orientation(&plain, 2);
        assert_eq!(jpeg_path(&mirrored), Some(JpegPath::Decoder));
        let (png, width, height) = make(&mirrored, FileType::Jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((width, height), (200, 150));
        let thumb = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        assert!(thumb.get_pixel(180, 75).0[0] > 200, "red on the right");
    }

    #[test]
    fn a_jpeg_with_thousands_of_empty_scans_is_refused_before_decoding() {
        let rgb = image::RgbImage::from_fn(1600, 1200, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder
            .encode(rgb.as_raw(), 1600, 1200, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let mut bytes = progressive[..progressive.len() - 2].to_vec();
        for _ in 0..5000 {
            bytes.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10]);
        }
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        let started = std::time::Instant::now();
        let refused = make(&bytes, FileType::Jpeg, &DecodeLimits::default()).unwrap_err();
        assert_eq!(refused, ThumbnailError::Refused(jpeg_dc::Refused::TooManyScans));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(refused.to_string(), "The JPEG has more than 64 scans");
    }

    #[test]
    fn decoding_stops_at_the_time_budget_on_every_path() {
        let no_time = DecodeLimits {
            max_time: Duration::ZERO,
            ..DecodeLimits::default()
        };
        let big_png = encoded(ImageFormat::Png, 1200, 800);
        assert_eq!(
            make(&big_png, FileType::Png, &no_time).unwrap_err(),
            ThumbnailError::TooSlow(Duration::ZERO)
        );
        let dc_only = photo_jpeg(2000, 1500);
        assert_eq!(
            make(&dc_only, FileType::Jpeg, &no_time).unwrap_err(),
            ThumbnailError::TooSlow(Duration::ZERO)
        );
        let decoder = photo_jpeg(1200, 800);
        assert_eq!(
            make(&decoder, FileType::Jpeg, &no_time).unwrap_err(),
            ThumbnailError::TooSlow(Duration::ZERO)
        );
        assert!(make(&decoder, FileType::Jpeg, &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn cmyk_through_jpeg_decoder_has_the_colours_of_its_inks() {
        // Small enough that jpeg-decoder decodes it; cyan ink with a little black.
        let (width, height) = (400u16, 300u16);
        let ink = [200u8, 40, 0, 30];
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
            .flat_map(|_| ink)
            .collect();
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 95)
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        assert_eq!(jpeg_path(&bytes), Some(JpegPath::Decoder));
        let (png, ..) = make(&bytes, FileType::Jpeg, &DecodeLimits::default()).unwrap();
        let thumb = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        let pixel = thumb.get_pixel(100, 75).0;
        for (got, want) in pixel.iter().zip([49.0, 190.0, 225.0]) {
            assert!((f64::from(*got) - want).abs() <= 4.0, "{pixel:?}");
        }
    }

    #[test]
    fn a_png_with_an_exif_orientation_is_turned_too() {
        // An eXIf chunk before IDAT, orientation 8 (turn 90° counter-clockwise to view).
        let png = encoded(ImageFormat::Png, 300, 100);
        let tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0\0\0\0\0";
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
        let mut chunk = (tiff.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"eXIf");
        chunk.extend_from_slice(tiff);
        let crc = crc32(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        let with_exif = [&png[..idat], &chunk, &png[idat..]].concat();
        let (_, width, height) = make(&with_exif, FileType::Png, &DecodeLimits::default()).unwrap();
        assert_eq!((width, height), (67, 200));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn orient_turns_as_the_image_crate_does() {
        use Orientation::*;
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7])));
        for orientation in [
            NoTransforms,
            FlipHorizontal,
            Rotate180,
            FlipVertical,
            Rotate90,
            Rotate270,
            Rotate90FlipH,
            Rotate270FlipH,
        ] {
            let mut expected = image.clone();
            expected.apply_orientation(orientation);
            assert_eq!(orient(image.clone(), orientation), expected, "{orientation:?}");
            let grey = DynamicImage::ImageLumaA8(image.to_luma_alpha8());
            let mut expected = grey.clone();
            expected.apply_orientation(orientation);
            assert_eq!(orient(grey, orientation), expected, "{orientation:?}");
        }
    }
}
