//! Differential fuzzing of the JPEG fast path (`thumbnails::jpeg_dc`) against jpeg-decoder, on
//! stable Rust: valid JPEGs of every kind the encoders here write, and mutations of them (bits
//! flipped, bytes set, markers and random bytes inserted, ranges removed or repeated, headers
//! changed, files cut). For each case:
//!
//! - nothing panics: not the marker walk, not the fast path, not the whole thumbnail path;
//! - nothing hangs: each case within 20 s (the thumbnail's budget is 10 s, in a release build);
//! - the fast path allocates no more than it declares (`DcJpeg::max_allocation`, which the
//!   thumbnail checks against its budget before decoding), counted by this test's allocator;
//! - when both decode, the 1/8-scale images agree: same size and colour type, and a mean
//!   absolute difference of at most 3 per sample (a valid file) or 8 (a mutated one).
//!
//! `FUZZ_CASES` sets how many cases run (default: a few seconds' worth, as `make test` runs it),
//! `FUZZ_SEED` the generator's seed (default fixed, so a failure is reproducible); a failing
//! input is written to `target/fuzz-failures/`.

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use thumbnails::jpeg_dc::{DcError, Markers};
use thumbnails::thumbnail::{self, Deadline, DecodeLimits};
use thumbnails::FileType;

/// Counts the bytes this thread holds, and the most it held since the last reset.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + delta;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call goes to the system allocator as it came; this only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            track(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            track(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes this thread held while `f` ran, beyond what it held before.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let value = f();
    let peak = PEAK.with(Cell::get);
    (value, (peak - before).max(0) as u64)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|n| n.parse().ok())
}

/// A photo-like image: gradients, waves, deterministic noise and a few sharp edges.
fn photo(width: u32, height: u32, rng: &mut fastrand::Rng) -> RgbImage {
    let phase = rng.f32() * 6.0;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let wave = ((fx * 19.0 + phase).sin() * (fy * 13.0).cos() * 50.0) as i32;
        let edge = if (x / 23 + y / 17) % 4 == 0 { 70 } else { 0 };
        let noise = rng.i32(-6..=6);
        let channel = |base: f32| (base as i32 + wave + noise - edge).clamp(0, 255) as u8;
        image::Rgb([
            channel(40.0 + 170.0 * fx),
            channel(80.0 + 140.0 * fy),
            channel(210.0 - 130.0 * fx * fy),
        ])
    })
}

/// A valid JPEG of a kind picked at random: either encoder, sequential or progressive, every
/// chroma sampling, restart intervals, optimised tables, grey, RGB, CMYK and YCCK.
fn valid_jpeg(rng: &mut fastrand::Rng) -> (Vec<u8>, String) {
    let sizes = [(1, 1), (9, 17), (64, 48), (150, 100), (257, 129), (33, 260)];
    let (width, height) = sizes[rng.usize(..sizes.len())];
    let image = photo(width, height, rng);
    if rng.u8(..6) == 0 {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), rng.u8(50..=95))
            .encode_image(&image)
            .expect("encode");
        return (bytes, format!("image crate {width}×{height}"));
    }
    let samplings = [
        SamplingFactor::R_4_4_4,
        SamplingFactor::R_4_2_2,
        SamplingFactor::R_4_2_0,
        SamplingFactor::R_4_4_0,
        SamplingFactor::R_4_1_1,
    ];
    let sampling = samplings[rng.usize(..samplings.len())];
    let progressive = rng.bool();
    let restart = [0, 0, 1, 3, 7][rng.usize(..5)];
    let optimized = rng.bool() && restart == 0;
    let colors = [ColorType::Rgb, ColorType::Luma, ColorType::Cmyk, ColorType::CmykAsYcck];
    let color = colors[rng.usize(..colors.len())];
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, rng.u8(40..=95));
    encoder.set_sampling_factor(sampling);
    encoder.set_progressive(progressive);
    encoder.set_restart_interval(restart);
    encoder.set_optimized_huffman_tables(optimized);
    let pixels: Vec<u8> = match color {
        ColorType::Luma => DynamicImage::ImageRgb8(image.clone()).to_luma8().into_raw(),
        ColorType::Rgb => image.as_raw().clone(),
        _ => image
            .pixels()
            .flat_map(|p| {
                let [r, g, b] = p.0;
                [255 - r, 255 - g, 255 - b, (r / 4).min(g / 4)]
            })
            .collect(),
    };
    encoder
        .encode(&pixels, width as u16, height as u16, color)
        .expect("encode");
    let what = format!(
        "jpeg-encoder {width}×{height} {color:?} {sampling:?} progressive {progressive} restart {restart} optimized {optimized}"
    );
    (bytes, what)
}

/// Bytes that mean something in a JPEG, for insertions.
const MARKERS: [&[u8]; 10] = [
    b"\xFF",
    b"\xFF\x00",
    b"\xFF\xD0",
    b"\xFF\xD9",
    b"\xFF\xDA\x00\x08\x01\x01\x00\x01\x3F\x10",
    b"\xFF\xDA\x00\x08\x01\x01\x00\x00\x00\x01",
    b"\xFF\xC4\x00\x14\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xFF\xDB\x00\x43\x00",
    b"\xFF\xDD\x00\x04\x00\x01",
    b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x02",
];

/// One to four random changes to `bytes`.
fn mutate(bytes: &mut Vec<u8>, rng: &mut fastrand::Rng) -> String {
    let mut done = Vec::new();
    for _ in 0..rng.usize(1..=4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.usize(..bytes.len());
        match rng.u8(..9) {
            0 => {
                bytes[at] ^= 1 << rng.u8(..8);
                done.push(format!("flip@{at}"));
            }
            1 => {
                bytes[at] = [0xFF, 0x00, rng.u8(..)][rng.usize(..3)];
                done.push(format!("set@{at}"));
            }
            2 => {
                let marker = MARKERS[rng.usize(..MARKERS.len())];
                bytes.splice(at..at, marker.iter().copied());
                done.push(format!("marker@{at}"));
            }
            3 => {
                let random: Vec<u8> = (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect();
                bytes.splice(at..at, random);
                done.push(format!("insert@{at}"));
            }
            4 => {
                let end = (at + rng.usize(1..64)).min(bytes.len());
                bytes.drain(at..end);
                done.push(format!("remove@{at}..{end}"));
            }
            5 => {
                let end = (at + rng.usize(1..256)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.usize(..=bytes.len());
                bytes.splice(to..to, copy);
                done.push(format!("repeat@{at}..{end}→{to}"));
            }
            6 => {
                bytes.truncate(at);
                done.push(format!("cut@{at}"));
            }
            7 => {
                // A header field: the frame's size, sampling or component count.
                if let Some(sof) = bytes.windows(2).position(|w| matches!(w, [0xFF, 0xC0..=0xC2])) {
                    let field = sof + 4 + rng.usize(..10);
                    if field < bytes.len() {
                        bytes[field] = rng.u8(..);
                        done.push(format!("frame@{field}"));
                    }
                }
            }
            _ => {
                // A byte in the last part of the file, where the entropy-coded data is.
                let at = bytes.len() - 1 - rng.usize(..bytes.len().min(2000));
                bytes[at] = rng.u8(..);
                done.push(format!("data@{at}"));
            }
        }
    }
    done.join(" ")
}

/// jpeg-decoder's 1/8-scale image, in the fast path's colour types (CMYK converted as the
/// thumbnail converts it).
fn jpeg_decoder_eighth(bytes: &[u8]) -> Option<DynamicImage> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(64 * 1024 * 1024);
    decoder.read_info().ok()?;
    let (width, height) = decoder.scale(1, 1).ok()?;
    let pixels = decoder.decode().ok()?;
    let (width, height) = (u32::from(width), u32::from(height));
    match decoder.info()?.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        jpeg_decoder::PixelFormat::L8 => GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
        jpeg_decoder::PixelFormat::CMYK32 => {
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| thumbnail::from_jpeg_decoder_cmyk([p[0], p[1], p[2], p[3]]))
                .collect();
            RgbImage::from_raw(width, height, rgb).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L16 => None,
    }
}

/// What one case found wrong, if anything.
fn check(bytes: &[u8], valid: bool) -> Result<bool, String> {
    let max_pixels = DecodeLimits::default().max_pixels;
    let ((fast, refused, budget), allocated) = peak_allocation(|| {
        let markers = match Markers::read(bytes) {
            Ok(markers) => markers,
            Err(refused) => return (None, Some(refused.to_string()), 128 * 1024),
        };
        let Some(jpeg) = markers.dc_decodable() else {
            return (None, None, 128 * 1024);
        };
        // The thumbnail refuses more pixels before decoding, as it checks the budget.
        if u64::from(jpeg.width()) * u64::from(jpeg.height()) > max_pixels {
            return (None, None, 128 * 1024);
        }
        let budget = jpeg.max_allocation();
        (Some(jpeg.decode_eighth(&Deadline::none())), None, budget)
    });
    if allocated > budget {
        return Err(format!("allocated {allocated} bytes, declared {budget}"));
    }
    if valid && refused.is_some() {
        return Err(format!("a valid file was refused: {refused:?}"));
    }
    // The whole thumbnail path, jpeg-decoder included, never panics; errors are fine.
    let _ = thumbnail::make(bytes, FileType::Jpeg, &DecodeLimits::default());
    // Larger images than the seeds are mutated headers; jpeg-decoder's reference decode of one
    // would take seconds here (the thumbnail refuses those past 50 megapixels).
    let pixels = Markers::read(bytes)
        .ok()
        .and_then(|m| m.size())
        .map_or(0, |(w, h)| u64::from(w) * u64::from(h));
    if pixels > 4_000_000 {
        return Ok(false);
    }
    let Some(fast) = fast else {
        return if valid && refused.is_none() && !bytes.is_empty() {
            Err("a valid file was not taken by the fast path".into())
        } else {
            Ok(false)
        };
    };
    let slow = catch_unwind(|| jpeg_decoder_eighth(bytes)).map_err(|_| "jpeg-decoder panicked".to_string())?;
    match (fast, slow) {
        (Ok(fast), Some(slow)) => {
            if (fast.width(), fast.height(), fast.color()) != (slow.width(), slow.height(), slow.color()) {
                return Err(format!(
                    "fast {}×{} {:?}, jpeg-decoder {}×{} {:?}",
                    fast.width(),
                    fast.height(),
                    fast.color(),
                    slow.width(),
                    slow.height(),
                    slow.color()
                ));
            }
            let (a, b) = (fast.as_bytes(), slow.as_bytes());
            let total: u64 = a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum();
            let mean = total as f64 / a.len().max(1) as f64;
            let tolerance = if valid { 3.0 } else { 8.0 };
            if mean > tolerance {
                return Err(format!("mean absolute difference {mean:.2} > {tolerance}"));
            }
            Ok(true)
        }
        (Err(DcError::OutOfTime), _) => Err("out of time without a deadline".into()),
        (Err(e), _) if valid => Err(format!("a valid file failed: {e:?}")),
        (Ok(_), None) if valid => Err("jpeg-decoder failed on a valid file".into()),
        _ => Ok(false),
    }
}

#[test]
fn the_fast_path_agrees_with_jpeg_decoder_and_keeps_its_budgets_on_valid_and_mutated_jpegs() {
    let seed = env_number("FUZZ_SEED").unwrap_or(0x4a50_4547);
    let cases = env_number("FUZZ_CASES").unwrap_or(1500);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut corpus: Vec<(Vec<u8>, String)> = (0..24).map(|_| valid_jpeg(&mut rng)).collect();
    let (mut compared, mut failures) = (0, Vec::new());
    for case in 0..cases {
        if case % 200 == 199 {
            // New valid files now and then, so a long run sees more kinds.
            let slot = rng.usize(..corpus.len());
            corpus[slot] = valid_jpeg(&mut rng);
        }
        let (seed_bytes, what) = &corpus[rng.usize(..corpus.len())];
        let mut bytes = seed_bytes.clone();
        let valid = rng.u8(..8) == 0;
        let how = if valid {
            "as encoded".to_owned()
        } else {
            mutate(&mut bytes, &mut rng)
        };
        let started = Instant::now();
        let outcome =
            catch_unwind(AssertUnwindSafe(|| check(&bytes, valid))).unwrap_or_else(|_| Err("panicked".into()));
        let outcome = match outcome {
            // The thumbnail's own budget is 10 s (debug builds here are slower than release).
            Ok(_) if started.elapsed() > Duration::from_secs(20) => Err(format!("took {:?}", started.elapsed())),
            other => other,
        };
        match outcome {
            Ok(both) => compared += usize::from(both),
            Err(problem) => {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("jpeg-{seed}-{case}.jpg"));
                let _ = std::fs::write(&file, &bytes);
                failures.push(format!("case {case} ({what}; {how}): {problem} → {}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared as u64 > cases / 4,
        "only {compared} of {cases} cases were decoded by both"
    );
}

/// `FUZZ_FILE=path cargo test -p thumbnails --test fuzz_jpeg one_file -- --nocapture`: one file
/// (a failure the fuzz test wrote) through every step, timed.
#[test]
fn one_file() {
    let Ok(path) = std::env::var("FUZZ_FILE") else {
        return;
    };
    let bytes = std::fs::read(path).expect("FUZZ_FILE");
    let started = Instant::now();
    let markers = Markers::read(&bytes);
    println!(
        "markers: {:?} in {:?}",
        markers.as_ref().map(|m| m.size()).err(),
        started.elapsed()
    );
    if let Ok(markers) = &markers {
        println!("size {:?}", markers.size());
        if let Some(jpeg) = markers.dc_decodable() {
            let started = Instant::now();
            let fast = jpeg.decode_eighth(&Deadline::none());
            println!(
                "fast: {:?} in {:?}",
                fast.as_ref().map(|i| (i.width(), i.height(), i.color())),
                started.elapsed()
            );
        }
    }
    let started = Instant::now();
    let made = thumbnail::make(&bytes, FileType::Jpeg, &DecodeLimits::default());
    println!(
        "make: {:?} in {:?}",
        made.as_ref().map(|m| (m.1, m.2)),
        started.elapsed()
    );
    let started = Instant::now();
    let slow = jpeg_decoder_eighth(&bytes);
    println!(
        "jpeg-decoder: {:?} in {:?}",
        slow.as_ref().map(|i| (i.width(), i.height(), i.color())),
        started.elapsed()
    );
    println!("check: {:?}", check(&bytes, false));
    if let (Some(Ok(fast)), Some(slow)) = (
        markers
            .ok()
            .and_then(|m| m.dc_decodable().map(|j| j.decode_eighth(&Deadline::none()))),
        slow,
    ) {
        let (a, b) = (fast.to_rgb8(), slow.to_rgb8());
        for y in 0..a.height() {
            let row: Vec<u8> = (0..a.width())
                .map(|x| {
                    let (p, q) = (a.get_pixel(x, y).0, b.get_pixel(x, y).0);
                    (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0)
                })
                .collect();
            println!("row {y:3}: {row:?}");
        }
    }
}
