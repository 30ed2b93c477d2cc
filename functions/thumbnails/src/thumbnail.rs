//! Thumbnails: an image that fits 200×200 (aspect kept, never enlarged), as PNG. Decoding has
//! limits — pixels and bytes allocated — so a decompression bomb is refused, not an
//! out-of-memory kill. JPEGs are decoded with DCT scaling (at 1/2, 1/4 or 1/8 of their size,
//! the smallest that still covers the thumbnail), as Pillow's `draft` mode does; at 1/8, a
//! baseline JPEG takes the DC-only fast path of [`crate::jpeg_dc`].

use crate::jpeg_dc;
use domain::file::FileType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The box a thumbnail fits in.
pub const THUMBNAIL_SIZE: u32 = 200;

/// What the decoder may take.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest image, in pixels (width × height).
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 50 megapixels (a 12-megapixel phone photo has room; an 8000×8000 bomb does not), and
    /// 256 MiB of decoder memory: within the function's memory size with room to spare.
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThumbnailError {
    #[error("The image is {width}×{height} pixels, more than the {max} pixels allowed")]
    TooManyPixels { width: u64, height: u64, max: u64 },
    /// Not a well-formed image (the decoder's words are logged, not shown).
    #[error("The image cannot be decoded")]
    Undecodable(String),
    #[error("{0} is not an image type")]
    NotAnImage(&'static str),
}

/// The PNG thumbnail of an image of type `kind`, and its width and height.
pub fn make(bytes: &[u8], kind: FileType, limits: &DecodeLimits) -> Result<(Vec<u8>, u32, u32), ThumbnailError> {
    let image = match kind {
        FileType::Jpeg => decode_jpeg(bytes, limits)?,
        FileType::Png => decode_with_image(bytes, ImageFormat::Png, limits)?,
        FileType::Gif => decode_with_image(bytes, ImageFormat::Gif, limits)?,
        FileType::Webp => decode_with_image(bytes, ImageFormat::WebP, limits)?,
        other => return Err(ThumbnailError::NotAnImage(other.mime())),
    };
    let (width, height) = fit(image.width(), image.height());
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
            other => DynamicImage::ImageRgba8(image::imageops::thumbnail(&other.to_rgba8(), width, height)),
        }
    };
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| ThumbnailError::Undecodable(e.to_string()))?;
    Ok((png, width, height))
}

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

fn decode_with_image(bytes: &[u8], format: ImageFormat, limits: &DecodeLimits) -> Result<DynamicImage, ThumbnailError> {
    let undecodable = |e: image::ImageError| ThumbnailError::Undecodable(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(undecodable)?;
    check_pixels(u64::from(width), u64::from(height), limits)?;
    reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    reader.decode().map_err(undecodable)
}

/// How a JPEG is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegPath {
    /// At 1/8 scale from the DC coefficients alone ([`crate::jpeg_dc`]).
    DcOnly,
    /// By jpeg-decoder, at the scale it picks.
    Decoder,
}

/// Which way [`make`] decodes this JPEG.
pub fn jpeg_path(bytes: &[u8]) -> JpegPath {
    if dc_only(bytes).is_some() {
        JpegPath::DcOnly
    } else {
        JpegPath::Decoder
    }
}

/// The JPEG's headers when the fast path decodes it: a baseline JPEG whose 1/8-scale image
/// still covers the thumbnail (exactly when jpeg-decoder would scale to 1/8).
fn dc_only(bytes: &[u8]) -> Option<jpeg_dc::Baseline<'_>> {
    let jpeg = jpeg_dc::Baseline::parse(bytes)?;
    let (want_w, want_h) = fit(jpeg.width(), jpeg.height());
    let (eighth_w, eighth_h) = jpeg.eighth_size();
    (eighth_w >= want_w || eighth_h >= want_h).then_some(jpeg)
}

fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage, ThumbnailError> {
    if let Some(jpeg) = dc_only(bytes) {
        check_pixels(u64::from(jpeg.width()), u64::from(jpeg.height()), limits)?;
        if jpeg.max_allocation() > limits.max_alloc {
            return Err(ThumbnailError::Undecodable(
                "more memory than the decoder may allocate".into(),
            ));
        }
        return jpeg.decode_eighth().map_err(ThumbnailError::Undecodable);
    }
    let undecodable = |e: jpeg_decoder::Error| ThumbnailError::Undecodable(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(undecodable)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbnailError::Undecodable("no JPEG header".into()))?;
    check_pixels(u64::from(info.width), u64::from(info.height), limits)?;
    let (want_w, want_h) = fit(u32::from(info.width), u32::from(info.height));
    let (width, height) = decoder.scale(want_w as u16, want_h as u16).map_err(undecodable)?;
    let pixels = decoder.decode().map_err(undecodable)?;
    let (width, height) = (u32::from(width), u32::from(height));
    let wrong_size = || ThumbnailError::Undecodable("decoded size does not match the header".into());
    match info.pixel_format {
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
            // Adobe CMYK JPEGs store inverted values; plain conversion is close enough for a thumbnail.
            let rgb: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u16::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k) / 255) as u8)
                })
                .collect();
            image::RgbImage::from_raw(width, height, rgb)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(wrong_size)
        }
    }
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
        };
        assert!(make(&encoded(ImageFormat::Png, 1000, 1000), FileType::Png, &small_budget).is_err());
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
        assert_eq!(jpeg_path(&photo), JpegPath::DcOnly);
        let (png, width, height) = make(&photo, FileType::Jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((width, height, size_of(&png)), (200, 150, (200, 150)));

        // At 1200×800 an eighth (150×100) is smaller than the thumbnail: jpeg-decoder scales to 1/4.
        let small = photo_jpeg(1200, 800);
        assert_eq!(jpeg_path(&small), JpegPath::Decoder);
        assert_eq!(make(&small, FileType::Jpeg, &DecodeLimits::default()).unwrap().1, 200);

        let rgb = image::RgbImage::from_fn(2000, 1500, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder
            .encode(rgb.as_raw(), 2000, 1500, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert_eq!(jpeg_path(&progressive), JpegPath::Decoder);
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
        // 250×188 pixels at 1/8 scale: within 1 MB, not within 100 kB.
        let budget = |max_alloc| DecodeLimits {
            max_alloc,
            ..DecodeLimits::default()
        };
        assert!(make(&photo, FileType::Jpeg, &budget(1024 * 1024)).is_ok());
        assert!(make(&photo, FileType::Jpeg, &budget(100_000)).is_err());
    }

    #[test]
    fn a_broken_or_cut_jpeg_on_the_dc_only_path_is_undecodable_or_a_thumbnail() {
        let photo = photo_jpeg(1600, 1200);
        assert_eq!(jpeg_path(&photo), JpegPath::DcOnly);
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
}
