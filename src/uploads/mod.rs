//! Attachment files on disk: what may be uploaded, where it lives, and how images are
//! made safe to serve.
//!
//! Layout under the uploads folder:
//! `tmp/` (uploads in flight), `chat/{room_id}/{message_id}/{stored}` and
//! `chat/{room_id}/{message_id}/thumbnails/{stored}.jpg`.

mod budget;
pub mod gc;

pub use budget::ImageBudget;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::domain::{MessageId, RoomId};
use crate::error::{ApiError, ApiResult};

/// How much of the start of a file is kept in memory to recognise its type.
pub const HEAD_BYTES: usize = 8 * 1024;
/// Longest original file name kept, in bytes.
const MAX_NAME_BYTES: usize = 200;
/// Stored images are scaled down to fit this square; larger ones are rarely useful in a
/// chat and cost every reader bandwidth.
const MAX_STORED_SIDE: u32 = 4096;
const THUMBNAIL_SIDE: u32 = 400;

/// What the content of a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    Pdf,
    Zip,
    /// The compound-file container of legacy Office documents.
    Ole,
    Text,
}

impl Kind {
    pub fn is_image(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp)
    }

    fn image_format(self) -> Option<ImageFormat> {
        match self {
            Kind::Jpeg => Some(ImageFormat::Jpeg),
            Kind::Png => Some(ImageFormat::Png),
            Kind::Gif => Some(ImageFormat::Gif),
            Kind::Webp => Some(ImageFormat::WebP),
            _ => None,
        }
    }
}

/// The allow-list: each accepted extension, the content it must have and the type it is
/// served with.
fn expected(extension: &str) -> Option<(Kind, &'static str)> {
    Some(match extension {
        "jpg" | "jpeg" => (Kind::Jpeg, "image/jpeg"),
        "png" => (Kind::Png, "image/png"),
        "gif" => (Kind::Gif, "image/gif"),
        "webp" => (Kind::Webp, "image/webp"),
        "pdf" => (Kind::Pdf, "application/pdf"),
        "zip" => (Kind::Zip, "application/zip"),
        "docx" => (Kind::Zip, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        "xlsx" => (Kind::Zip, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "pptx" => (Kind::Zip, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        "doc" => (Kind::Ole, "application/msword"),
        "xls" => (Kind::Ole, "application/vnd.ms-excel"),
        "ppt" => (Kind::Ole, "application/vnd.ms-powerpoint"),
        "txt" | "log" => (Kind::Text, "text/plain; charset=utf-8"),
        "csv" => (Kind::Text, "text/csv; charset=utf-8"),
        "md" => (Kind::Text, "text/markdown; charset=utf-8"),
        _ => return None,
    })
}

/// Every extension the allow-list accepts, as the web client is told (`GET
/// /chat/api/uploads/rules`), so that it refuses others before uploading.
pub const EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "pdf", "zip", "docx", "xlsx", "pptx", "doc", "xls", "ppt", "txt", "log",
    "csv", "md",
];

/// What the allow-list accepts, in words: the end of every refusal.
pub const ALLOWED: &str = "images (jpeg, png, gif, webp), pdf, zip, office documents, txt, csv, md, log";

/// Checks an extension against the allow-list before any byte of the file is read.
pub fn check_extension(extension: Option<&str>) -> ApiResult<()> {
    match extension.and_then(expected) {
        Some(_) => Ok(()),
        None => Err(unsupported(extension)),
    }
}

fn unsupported(extension: Option<&str>) -> ApiError {
    let what = extension.map_or_else(|| "files without an extension".to_owned(), |e| format!("'.{e}' files"));
    ApiError::UnsupportedMediaType(format!("{what} are not accepted; allowed: {ALLOWED}"))
}

/// The binary container a file's first bytes announce (read by `infer`), if any we accept.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let found = infer::get(head)?;
    Some(match found.mime_type() {
        "image/jpeg" => Kind::Jpeg,
        "image/png" => Kind::Png,
        "image/gif" => Kind::Gif,
        "image/webp" => Kind::Webp,
        "application/pdf" => Kind::Pdf,
        // OOXML documents are zip archives.
        "application/zip"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => Kind::Zip,
        // Legacy Office documents share the compound-file container.
        "application/x-ole-storage"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint" => Kind::Ole,
        _ => return None,
    })
}

/// Text has no magic number: it must be UTF-8 with no NUL near the start, and must not be
/// one of the binary formats above.
fn looks_like_text(head: &[u8]) -> bool {
    if head[..head.len().min(1024)].contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // The head may end in the middle of a character.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// The content's kind and the type to serve it with, when the content matches the
/// extension; 415 otherwise.
pub fn classify(extension: &str, head: &[u8]) -> ApiResult<(Kind, &'static str)> {
    let (kind, mime) = expected(extension).ok_or_else(|| unsupported(Some(extension)))?;
    let matches = match sniff(head) {
        Some(found) => found == kind,
        None => kind == Kind::Text && looks_like_text(head),
    };
    if matches {
        Ok((kind, mime))
    } else {
        Err(ApiError::UnsupportedMediaType(format!("the content of the file is not what '.{extension}' promises")))
    }
}

/// Whether a browser may show the file in the page rather than download it.
pub fn is_inline_image(file_type: &str) -> bool {
    matches!(file_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp")
}

/// The name to show for a file: its last path segment, without control or bidi-override
/// characters, bounded in length. Never used to build a path.
pub fn sanitize_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return "file".into();
    }
    if cleaned.len() <= MAX_NAME_BYTES {
        return cleaned.to_owned();
    }
    // Keep the extension: it is what tells the reader what the file is.
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let room = MAX_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(ext) => format!("{}.{ext}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}

/// The lower-cased extension of a (sanitized) name, when it has a plausible one.
pub fn extension_of(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    let plausible = !stem.is_empty() && (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    plausible.then(|| ext.to_ascii_lowercase())
}

/// A fresh name that owes nothing to the client.
pub fn random_name(extension: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    format!("{}.{extension}", hex::encode(bytes))
}

pub fn tmp_dir(uploads: &Path) -> PathBuf {
    uploads.join("tmp")
}

pub fn message_dir(uploads: &Path, room_id: RoomId, message_id: MessageId) -> PathBuf {
    uploads.join("chat").join(room_id.to_string()).join(message_id.to_string())
}

pub fn file_path(uploads: &Path, room_id: RoomId, message_id: MessageId, stored: &str) -> PathBuf {
    message_dir(uploads, room_id, message_id).join(stored)
}

pub fn thumbnail_path(uploads: &Path, room_id: RoomId, message_id: MessageId, thumbnail: &str) -> PathBuf {
    message_dir(uploads, room_id, message_id).join("thumbnails").join(thumbnail)
}

/// One uploaded file, checked and waiting in the temporary folder.
pub struct Staged {
    pub path: PathBuf,
    /// The client's name, for display only.
    pub file_name: String,
    pub extension: String,
    pub kind: Kind,
    pub mime: &'static str,
    pub thumbnail: Option<PathBuf>,
}

/// Everything an upload wrote, and the guard that removes it unless committed.
pub struct Upload {
    pub files: Vec<Staged>,
    pub written: Written,
}

/// Files and folders written for an upload that has not been committed; dropping it
/// removes them, so that a refused, failed or abandoned upload leaves nothing behind.
#[derive(Debug, Default)]
pub struct Written {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    kept: bool,
}

impl Written {
    pub fn file(&mut self, path: PathBuf) {
        self.files.push(path);
    }

    /// A folder that belongs to this upload alone (its message's), removed with its contents.
    pub fn dir(&mut self, path: PathBuf) {
        self.dirs.push(path);
    }

    /// The upload is committed: its files stay.
    pub fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
            // The room's folder too, when this upload was its only content.
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// The result of preparing an uploaded image.
pub struct PreparedImage {
    /// The file to store instead of the upload, when it was rewritten.
    pub replacement: Option<PathBuf>,
    pub thumbnail: PathBuf,
}

fn image_error(err: ImageError, kind: Kind) -> ApiError {
    match err {
        ImageError::Limits(_) => ApiError::TooLarge("the image is too large to process".into()),
        ImageError::IoError(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => ApiError::internal(e),
        _ => ApiError::UnsupportedMediaType(format!("the file is not a valid {kind:?} image").to_lowercase()),
    }
}

/// Memory the decoder may use: the decoded pixels and some working space.
fn max_alloc(max_pixels: u64) -> u64 {
    const CAP: u64 = 1024 * 1024 * 1024;
    max_pixels.saturating_mul(4).saturating_add(64 * 1024 * 1024).min(CAP)
}

/// Opens an uploaded image's decoder under the size limits; the header alone refuses one
/// that is too large, before any pixel buffer exists.
fn open_decoder(path: &Path, kind: Kind, max_pixels: u64) -> ApiResult<impl ImageDecoder> {
    let format = kind.image_format().ok_or_else(|| ApiError::internal(anyhow::anyhow!("{kind:?} is not an image")))?;
    let file = File::open(path).map_err(ApiError::internal)?;
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_alloc(max_pixels));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| image_error(e, kind))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ApiError::TooLarge(format!(
            "the image is {width}x{height}; at most {max_pixels} pixels are accepted"
        )));
    }
    Ok(decoder)
}

const MIB: u64 = 1024 * 1024;
/// Encoders' buffers, the thumbnail and what the estimate leaves out.
const IMAGE_SLACK_MIB: u64 = 8;

/// What preparing the image will hold in memory at its peak, in MiB, read from its header
/// before any pixel is decoded. `prepare_image` goes through three phases, each holding
/// less than the sum of all: decoding (the frame and the decoder's own buffers), scaling
/// down (the frame and its copy within `MAX_STORED_SIDE`), then turning and encoding (the
/// copy, and at most one more of its size).
pub fn image_cost_mib(path: &Path, kind: Kind, max_pixels: u64) -> ApiResult<u64> {
    let decoder = open_decoder(path, kind, max_pixels)?;
    let (width, height) = decoder.dimensions();
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    let pixels = u64::from(width) * u64::from(height);
    let frame = pixels * bytes_per_pixel;
    let decoding = match kind {
        // A few rows.
        Kind::Png => 4 * u64::from(width) * bytes_per_pixel,
        // Progressive and multi-scan JPEGs keep every coefficient (two bytes per sample)
        // until the last scan.
        Kind::Jpeg => 2 * frame,
        // GIF's palette indices and WebP's own planes, at most one frame more.
        _ => frame,
    };
    let (fit_width, fit_height) = fitted(width, height, MAX_STORED_SIDE);
    let stored = u64::from(fit_width) * u64::from(fit_height) * bytes_per_pixel;
    let scaling = if fit_width < width || fit_height < height { frame + stored } else { frame };
    let peak = (frame + decoding).max(scaling).max(2 * stored);
    Ok(peak.div_ceil(MIB) + IMAGE_SLACK_MIB)
}

/// The size of an image of `width` x `height` scaled down to fit a square of `side`.
fn fitted(width: u32, height: u32, side: u32) -> (u32, u32) {
    if width <= side && height <= side {
        return (width, height);
    }
    let scale = f64::from(side) / f64::from(width.max(height));
    let shrink = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, side);
    (shrink(width), shrink(height))
}

fn decode(path: &Path, kind: Kind, max_pixels: u64) -> ApiResult<(DynamicImage, Orientation)> {
    let mut decoder = open_decoder(path, kind, max_pixels)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, kind))?;
    Ok((image, orientation))
}

/// A copy scaled down to fit a square of `side`, or `None` when the image fits already.
/// Each source pixel counts once towards the pixel it falls in: no intermediate image.
fn shrunk(image: &DynamicImage, side: u32) -> Option<DynamicImage> {
    (image.width() > side || image.height() > side).then(|| image.thumbnail(side, side))
}

/// JPEG has no alpha: transparent areas become white rather than black.
fn flatten(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

fn write_with(path: &Path, encode: impl FnOnce(&mut BufWriter<File>) -> ApiResult<()>) -> ApiResult<()> {
    let file = File::create(path).map_err(ApiError::internal)?;
    let mut out = BufWriter::new(file);
    encode(&mut out)?;
    out.flush().map_err(ApiError::internal)?;
    Ok(())
}

/// Gray and RGB images (every decoded JPEG) are encoded from their own pixels; others
/// (thumbnails of PNG, GIF and WebP images) through a flattened copy.
fn write_jpeg(path: &Path, image: &DynamicImage, quality: u8) -> ApiResult<()> {
    let (width, height) = (image.width(), image.height());
    let encode = |out: &mut BufWriter<File>, pixels: &[u8], color: ColorType| {
        JpegEncoder::new_with_quality(out, quality)
            .write_image(pixels, width, height, color.into())
            .map_err(ApiError::internal)
    };
    match image.color() {
        color @ (ColorType::L8 | ColorType::Rgb8) => write_with(path, |out| encode(out, image.as_bytes(), color)),
        _ => {
            let rgb = flatten(image);
            write_with(path, |out| encode(out, rgb.as_raw(), ColorType::Rgb8))
        }
    }
}

fn write_png(path: &Path, image: &DynamicImage) -> ApiResult<()> {
    write_with(path, |out| image.write_to(out, ImageFormat::Png).map_err(ApiError::internal))
}

fn write_webp(path: &Path, image: &DynamicImage) -> ApiResult<()> {
    write_with(path, |out| match image.color() {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => {
            image.write_with_encoder(WebPEncoder::new_lossless(out)).map_err(ApiError::internal)
        }
        _ => image.to_rgba8().write_with_encoder(WebPEncoder::new_lossless(out)).map_err(ApiError::internal),
    })
}

/// Removes the EXIF and XMP chunks of a WebP file, keeping its pixels (and animation)
/// untouched; `None` when the file is not a well-formed RIFF container.
pub fn strip_webp_metadata(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 12 || !data.starts_with(b"RIFF") || &data[8..12] != b"WEBP" {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    let mut pos = 12;
    while pos < data.len() {
        let header = data.get(pos..pos + 8)?;
        let size = usize::try_from(u32::from_le_bytes([header[4], header[5], header[6], header[7]])).ok()?;
        let end = pos.checked_add(8)?.checked_add(size)?.checked_add(size & 1)?;
        let chunk = data.get(pos..end)?;
        match &header[..4] {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let start = out.len();
                out.extend_from_slice(chunk);
                // The feature flags announce the chunks dropped above.
                if let Some(flags) = out.get_mut(start + 8) {
                    *flags &= !(0x08 | 0x04);
                }
            }
            _ => out.extend_from_slice(chunk),
        }
        pos = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

/// Validates an uploaded image by decoding it under limits, writes its thumbnail, and
/// rewrites the stored file without metadata (EXIF and its GPS position) and within
/// `MAX_STORED_SIDE`. Beside the decoded frame it makes at most one copy of the stored size
/// at a time (see `image_cost_mib`). Blocking: call it from the blocking pool.
pub fn prepare_image(path: &Path, kind: Kind, max_pixels: u64, written: &mut Written) -> ApiResult<PreparedImage> {
    let (frame, orientation) = decode(path, kind, max_pixels)?;
    let dir = path.parent().ok_or_else(|| ApiError::internal(anyhow::anyhow!("upload without a folder")))?;
    let oversized = frame.width() > MAX_STORED_SIDE || frame.height() > MAX_STORED_SIDE;
    // The frame goes as soon as its smaller copy exists.
    let mut stored = match shrunk(&frame, MAX_STORED_SIDE) {
        Some(smaller) => {
            drop(frame);
            smaller
        }
        None => frame,
    };
    stored.apply_orientation(orientation);

    let thumbnail = dir.join(random_name("jpg"));
    written.file(thumbnail.clone());
    let small = shrunk(&stored, THUMBNAIL_SIDE);
    write_jpeg(&thumbnail, small.as_ref().unwrap_or(&stored), 80)?;
    drop(small);

    let rewritten = |written: &mut Written, ext: &str| {
        let path = dir.join(random_name(ext));
        written.file(path.clone());
        path
    };
    let replacement = match kind {
        Kind::Jpeg => {
            let out = rewritten(written, "jpg");
            write_jpeg(&out, &stored, 90)?;
            Some(out)
        }
        Kind::Png => {
            let out = rewritten(written, "png");
            write_png(&out, &stored)?;
            Some(out)
        }
        Kind::Webp => {
            let out = rewritten(written, "webp");
            let stripped = if oversized || orientation != Orientation::NoTransforms {
                None
            } else {
                strip_webp_metadata(&std::fs::read(path).map_err(ApiError::internal)?)
            };
            match stripped {
                Some(bytes) => std::fs::write(&out, bytes).map_err(ApiError::internal)?,
                None => write_webp(&out, &stored)?,
            }
            Some(out)
        }
        // Rewriting a GIF would lose its animation; it carries no EXIF.
        _ => None,
    };
    Ok(PreparedImage { replacement, thumbnail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_paths() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(sanitize_file_name("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(sanitize_file_name(".."), "file");
        assert_eq!(sanitize_file_name("   "), "file");
        let long = format!("{}.pdf", "é".repeat(300));
        let name = sanitize_file_name(&long);
        assert!(name.len() <= MAX_NAME_BYTES && name.ends_with(".pdf"));
    }

    #[test]
    fn the_listed_extensions_are_the_accepted_ones() {
        for extension in EXTENSIONS {
            assert!(expected(extension).is_some(), "{extension}");
        }
        for other in ["exe", "svg", "html", "js", "tar", "bmp"] {
            assert!(expected(other).is_none(), "{other}");
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(extension_of("photo.JPG").as_deref(), Some("jpg"));
        assert_eq!(extension_of("noext"), None);
        assert_eq!(extension_of(".png"), None);
    }

    #[test]
    fn content_must_match_the_extension() {
        assert!(classify("png", b"\x89PNG\r\n\x1a\n....").is_ok());
        assert!(classify("png", b"\x7fELF\x02\x01\x01\0").is_err());
        assert!(classify("txt", b"hello\n").is_ok());
        assert!(classify("txt", b"%PDF-1.4").is_err());
        assert!(classify("txt", b"a\0b").is_err());
        assert!(classify("docx", b"PK\x03\x04rest").is_ok());
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.resize(1024, 0);
        assert!(classify("doc", &ole).is_ok());
        assert!(classify("zip", &ole).is_err());
        assert!(classify("jpg", b"\xFF\xD8\xFF\xE0\0\x10JFIF\0").is_ok());
        assert!(classify("webp", b"RIFF\0\0\0\0WEBPVP8 ").is_ok());
        assert!(classify("html", b"<html>").is_err());
        assert!(classify("svg", b"<svg/>").is_err());
        // A head cut inside a multi-byte character is still text.
        assert!(looks_like_text(&"é".as_bytes()[..1]));
    }

    #[test]
    fn webp_metadata_is_dropped() {
        let mut file = b"RIFF\0\0\0\0WEBP".to_vec();
        file.extend_from_slice(b"VP8X\x0a\0\0\0\x0c\0\0\0\0\0\0\0\0\0");
        file.extend_from_slice(b"EXIF\x03\0\0\0abc\0");
        file.extend_from_slice(b"VP8L\x02\0\0\0xy");
        let stripped = strip_webp_metadata(&file).unwrap();
        assert!(!stripped.windows(4).any(|w| w == b"EXIF"));
        assert_eq!(stripped[20], 0);
        assert_eq!(
            u32::from_le_bytes([stripped[4], stripped[5], stripped[6], stripped[7]]) as usize,
            stripped.len() - 8
        );
    }
}
