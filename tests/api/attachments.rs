use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::*;
use crate::sse::SseReader;

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 200]));
    encode(DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 64]));
    encode(DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A JPEG with an APP1 "Exif" segment (carrying a fake GPS note) right after SOI.
fn jpeg_with_exif() -> Vec<u8> {
    let plain = jpeg(64, 48);
    let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0GPS 48.8584 N 2.2945 E".to_vec();
    payload.resize(64, 0);
    let len = (payload.len() + 2) as u16;
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A few hundred bytes that claim a 60000x60000 RGBA image (14 GB decoded).
fn png_bomb() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&60_000u32.to_be_bytes());
    header.extend_from_slice(&60_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &header);
    // A zlib stream of a few zero rows; the rest is missing, as in a real bomb it would be
    // a tiny deflate of billions of zeros.
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn file_part(bytes: Vec<u8>, name: &str) -> Part {
    Part::bytes(bytes).file_name(name.to_owned())
}

async fn upload(user: &TestUser, room: i64, content: &str, files: Vec<(Vec<u8>, &str)>) -> Response {
    let mut form = Form::new().text("room_id", room.to_string()).text("content", content.to_owned());
    for (bytes, name) in files {
        form = form.part("files", file_part(bytes, name));
    }
    user.client.post(user.url("/messages")).multipart(form).send().await.unwrap()
}

async fn upload_ok(user: &TestUser, room: i64, files: Vec<(Vec<u8>, &str)>) -> Value {
    expect_status(upload(user, room, "", files).await, StatusCode::CREATED).await
}

fn uploads_dir(app: &TestApp) -> PathBuf {
    app.dir.path().join("uploads")
}

async fn messages_in(user: &TestUser, room: i64) -> Vec<Value> {
    user.get_json(&format!("/rooms/{room}/messages")).await["messages"].as_array().unwrap().clone()
}

async fn download(user: &TestUser, url: &str) -> Response {
    user.client.get(format!("{}{url}", user.address)).send().await.unwrap()
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

#[tokio::test]
async fn files_round_trip_with_safe_headers() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Files", &[&alice]).await;
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let text = "name,city\nZoé,Zürich\n".as_bytes().to_vec();
    let photo = png(32, 16);
    let message = upload_ok(
        &alice,
        room,
        vec![(photo.clone(), "chart.png"), (pdf.clone(), "report.pdf"), (text.clone(), "notes.txt")],
    )
    .await;
    assert_eq!(message["message_type"], "file");
    assert_eq!(message["content"], "");
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 3);
    assert_eq!(attachments[0]["file_name"], "chart.png");
    assert_eq!(attachments[0]["file_type"], "image/png");
    assert_eq!(attachments[0]["file_extension"], "png");
    assert!(attachments[0]["thumbnail_url"].is_string());
    assert_eq!(attachments[1]["file_type"], "application/pdf");
    assert_eq!(attachments[1]["file_size"], pdf.len() as i64);
    assert_eq!(attachments[1]["thumbnail_url"], Value::Null);

    // The PNG is re-encoded, so compare pixels; the others byte for byte.
    let r = download(&app.admin, attachments[0]["url"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/png");
    assert!(header(&r, "content-disposition").starts_with("inline"));
    assert!(header(&r, "content-disposition").contains("chart.png"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(!header(&r, "etag").is_empty());
    let got = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(got.to_rgba8(), image::load_from_memory(&photo).unwrap().to_rgba8());

    let r = download(&alice, attachments[1]["url"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "application/pdf");
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    assert!(header(&r, "content-disposition").contains("report.pdf"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);

    let r = download(&alice, attachments[2]["url"].as_str().unwrap()).await;
    assert!(header(&r, "content-type").starts_with("text/plain"));
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), text);

    // Byte ranges and revalidation.
    let url = format!("{}{}", alice.address, attachments[1]["url"].as_str().unwrap());
    let r = alice.client.get(&url).header("range", "bytes=0-3").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF");
    // A range that does not parse is ignored: the whole file.
    let r = alice.client.get(&url).header("range", "bytes=abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);
    // A range outside the file: 416 in the contract's shape, with the file's length.
    let r = alice.client.get(&url).header("range", format!("bytes={}-", pdf.len() + 10)).send().await.unwrap();
    assert_eq!(header(&r, "content-range"), format!("bytes */{}", pdf.len()));
    assert_error(r, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;
    let etag = header(&download(&alice, attachments[1]["url"].as_str().unwrap()).await, "etag").to_owned();
    let r = alice.client.get(&url).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // The room's file list, newest first, and the message as everyone sees it.
    let list: Vec<Value> = alice.get_json(&format!("/rooms/{room}/attachments")).await.as_array().unwrap().clone();
    let ids: Vec<i64> = list.iter().map(|a| int(a, "id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
    assert_eq!(list.len(), 3);
    let before = ids[0];
    let older = alice.get_json(&format!("/rooms/{room}/attachments?before={before}")).await;
    assert_eq!(older.as_array().unwrap().len(), 2);
    assert_eq!(messages_in(&alice, room).await[0], message);

    // Files live under chat/{room}/{message}/ with generated names.
    let stored = files_under(&uploads_dir(&app).join("chat"));
    assert_eq!(stored.len(), 4, "three files and a thumbnail: {stored:?}");
    let message_id = int(&message, "id");
    let folder = uploads_dir(&app).join("chat").join(room.to_string()).join(message_id.to_string());
    assert!(stored.iter().all(|p| p.starts_with(&folder)));
    assert!(stored.iter().all(|p| !p.to_string_lossy().contains("report")));
    assert!(files_under(&uploads_dir(&app).join("tmp")).is_empty());
}

#[tokio::test]
async fn jpeg_gets_a_bounded_thumbnail_and_loses_its_exif() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Photos", &[]).await;
    let photo = jpeg_with_exif();
    assert!(photo.windows(4).any(|w| w == b"Exif"));
    let big = jpeg(1200, 900);
    let message = upload_ok(&app.admin, room, vec![(photo, "holiday.jpg"), (big, "big.JPEG")]).await;
    let attachments = message["attachments"].as_array().unwrap();

    let r = download(&app.admin, attachments[0]["url"].as_str().unwrap()).await;
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    let stored = r.bytes().await.unwrap();
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "EXIF survived");
    assert!(!stored.windows(3).any(|w| w == b"GPS"));
    let decoded = image::load_from_memory_with_format(&stored, ImageFormat::Jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 48));

    assert_eq!(attachments[1]["file_extension"], "jpeg");
    let thumb_url = attachments[1]["thumbnail_url"].as_str().unwrap();
    let r = download(&app.admin, thumb_url).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert!(thumb.width() <= 400 && thumb.height() <= 400, "{}x{}", thumb.width(), thumb.height());
    assert_eq!(thumb.width(), 400, "scaled to fit, aspect kept");
    assert_eq!(thumb.height(), 300);

    // GIF and WebP are checked, kept as images and get thumbnails too.
    let gif =
        encode(DynamicImage::ImageRgba8(RgbaImage::from_pixel(500, 20, image::Rgba([1, 2, 3, 255]))), ImageFormat::Gif);
    let webp = encode(DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 600, image::Rgb([9, 8, 7]))), ImageFormat::WebP);
    let message = upload_ok(&app.admin, room, vec![(gif.clone(), "wave.gif"), (webp, "tall.webp")]).await;
    for (attachment, format, size) in [
        (&message["attachments"][0], ImageFormat::Gif, (500, 20)),
        (&message["attachments"][1], ImageFormat::WebP, (30, 600)),
    ] {
        let r = download(&app.admin, attachment["url"].as_str().unwrap()).await;
        assert!(header(&r, "content-disposition").starts_with("inline"));
        let stored = image::load_from_memory_with_format(&r.bytes().await.unwrap(), format).unwrap();
        assert_eq!((stored.width(), stored.height()), size);
        let r = download(&app.admin, attachment["thumbnail_url"].as_str().unwrap()).await;
        let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert!(thumb.width() <= 400 && thumb.height() <= 400);
    }

    // A PDF has no thumbnail.
    let pdf = upload_ok(&app.admin, room, vec![(b"%PDF-1.7\n%%EOF\n".to_vec(), "a.pdf")]).await;
    let id = int(&pdf["attachments"][0], "id");
    assert_error(app.admin.get(&format!("/attachments/{id}/thumbnail")).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn oversized_file_is_refused_and_leaves_nothing() {
    let app = spawn_app_with(|s| s.max_file_bytes = 1024).await;
    let room = app.admin.create_room("group", "Small", &[]).await;
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(64 * 1024, b'x');
    let r = upload(&app.admin, room, "too big", vec![(b"hello".to_vec(), "ok.txt"), (big, "big.pdf")]).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(files_under(&uploads_dir(&app)).is_empty(), "{:?}", files_under(&uploads_dir(&app)));
    assert!(messages_in(&app.admin, room).await.is_empty());
    // The server is fine and a small file still goes through.
    upload_ok(&app.admin, room, vec![(b"small".to_vec(), "ok.txt")]).await;
}

#[tokio::test]
async fn too_many_files_or_too_large_a_request_is_refused() {
    let app = spawn_app_with(|s| {
        s.max_files_per_message = 2;
        s.max_upload_bytes = 16 * 1024;
    })
    .await;
    let room = app.admin.create_room("group", "Few", &[]).await;
    let three = vec![(b"a".to_vec(), "a.txt"), (b"b".to_vec(), "b.txt"), (b"c".to_vec(), "c.txt")];
    assert_error(upload(&app.admin, room, "", three).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Refused on its Content-Length, before the body is read.
    for size in [20 * 1024, 8 * 1024 * 1024] {
        let r = upload(&app.admin, room, "", vec![(vec![b'y'; size], "big.txt")]).await;
        assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    assert!(files_under(&uploads_dir(&app)).is_empty());
    assert!(messages_in(&app.admin, room).await.is_empty());
}

/// A file part of unknown length, so the request goes out chunked, without a Content-Length.
fn streamed_part(total: usize, name: &str) -> Part {
    let chunks = (0..total.div_ceil(8192)).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'z'; 8192])));
    Part::stream(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))).file_name(name.to_owned())
}

#[tokio::test]
async fn streamed_uploads_are_cut_off_at_the_limits() {
    let app = spawn_app_with(|s| {
        s.max_file_bytes = 64 * 1024;
        s.max_upload_bytes = 256 * 1024;
    })
    .await;
    let room = app.admin.create_room("group", "Streams", &[]).await;
    let send = |form: Form| app.admin.client.post(app.admin.url("/messages")).multipart(form).send();

    let form = Form::new().text("room_id", room.to_string()).part("files", streamed_part(4 * 1024 * 1024, "big.txt"));
    let r = send(form).await.unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Each file under its own limit, together over the request's.
    let mut form = Form::new().text("room_id", room.to_string());
    for i in 0..8 {
        form = form.part("files", streamed_part(60 * 1024, &format!("part{i}.txt")));
    }
    let r = send(form).await.unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert!(files_under(&uploads_dir(&app)).is_empty(), "{:?}", files_under(&uploads_dir(&app)));
    assert!(messages_in(&app.admin, room).await.is_empty());
    let form = Form::new().text("room_id", room.to_string()).part("files", streamed_part(20 * 1024, "fine.txt"));
    assert_eq!(send(form).await.unwrap().status(), StatusCode::CREATED);
}

#[tokio::test]
async fn types_must_be_allowed_and_match_the_extension() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Types", &[]).await;
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.resize(4096, 0);
    for (bytes, name) in [
        (elf, "cute.png"),
        (b"<html><script>alert(1)</script></html>".to_vec(), "page.html"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(), "logo.svg"),
        (png(4, 4), "image.pdf"),
        (b"%PDF-1.4\n".to_vec(), "doc.txt"),
        (b"plain".to_vec(), "no_extension"),
        (b"MZ\x90\0".to_vec(), "setup.exe"),
    ] {
        let r = upload(&app.admin, room, "", vec![(bytes, name)]).await;
        assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    // A file with the right magic but broken content is refused too.
    let mut broken = png(8, 8);
    broken.truncate(40);
    let r = upload(&app.admin, room, "", vec![(broken, "broken.png")]).await;
    assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert!(files_under(&uploads_dir(&app)).is_empty());
    assert!(messages_in(&app.admin, room).await.is_empty());
    // Office documents, zip and csv are welcome.
    let zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    let ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest".to_vec();
    upload_ok(
        &app.admin,
        room,
        vec![(zip.clone(), "a.zip"), (zip, "b.docx"), (ole, "c.xls"), (b"a,b\n1,2\n".to_vec(), "d.csv")],
    )
    .await;
}

#[tokio::test]
async fn hostile_file_names_stay_inside_the_uploads_folder() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Names", &[]).await;
    let message = upload_ok(
        &app.admin,
        room,
        vec![(b"one".to_vec(), "../../../escape.txt"), (b"two".to_vec(), "..\\..\\win\u{202E}txt.exe.txt")],
    )
    .await;
    assert_eq!(message["attachments"][0]["file_name"], "escape.txt");
    assert_eq!(message["attachments"][1]["file_name"], "wintxt.exe.txt");
    let parent = app.dir.path();
    assert!(!parent.join("escape.txt").exists());
    assert!(files_under(parent).iter().all(|p| !p.to_string_lossy().contains("escape")));
    let stored = files_under(&uploads_dir(&app).join("chat"));
    assert_eq!(stored.len(), 2);
    let r = download(&app.admin, message["attachments"][0]["url"].as_str().unwrap()).await;
    assert!(header(&r, "content-disposition").contains("\"escape.txt\""), "{}", header(&r, "content-disposition"));
    assert_eq!(&r.bytes().await.unwrap()[..], b"one");

    // A name beyond ASCII is kept, and offered both ways in Content-Disposition.
    let message = upload_ok(&app.admin, room, vec![(b"%PDF-1.4\n".to_vec(), "Zoé résumé.pdf")]).await;
    assert_eq!(message["attachments"][0]["file_name"], "Zoé résumé.pdf");
    let r = download(&app.admin, message["attachments"][0]["url"].as_str().unwrap()).await;
    let cd = header(&r, "content-disposition");
    assert!(cd.starts_with("attachment"), "{cd}");
    assert!(cd.contains("filename=\"Zo_ r_sum_.pdf\""), "{cd}");
    assert!(cd.contains("filename*=UTF-8''Zo%C3%A9%20r%C3%A9sum%C3%A9.pdf"), "{cd}");
}

/// The peak resident memory of a process, from `/proc/PID/status`.
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status is readable");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

#[tokio::test]
async fn decompression_bomb_is_refused_quickly() {
    // The server in a process of its own, so that its memory is its own.
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _database) = test_database(dir.path());
    let mut server = ServerProcess::start(dir.path(), &database_url, Some(ADMIN_PASSWORD), &[]);
    server.drain_log();
    let admin = login(&server.address, "admin", ADMIN_PASSWORD).await;
    let room = admin.create_room("group", "Bombs", &[]).await;
    let started = std::time::Instant::now();
    let r = upload(&admin, room, "", vec![(png_bomb(), "bomb.png")]).await;
    let status = r.status();
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{status}: {}",
        r.text().await.unwrap()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Its peak memory stays far below the 14 GB the header asks for.
    let peak_kib = peak_memory_kib(server.child.id());
    assert!(peak_kib < 512 * 1024, "peak memory {peak_kib} KiB");
    let health = admin.client.get(format!("{}/healthz", server.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(files_under(&dir.path().join("uploads").join("chat")).is_empty());
    assert!(messages_in(&admin, room).await.is_empty());
}

#[tokio::test]
async fn only_members_who_may_read_see_the_files() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let eve = app.user("eve").await;
    let room = app.admin.create_room("group", "Private", &[&alice]).await;
    let message = upload_ok(&alice, room, vec![(png(10, 10), "secret.png")]).await;
    let attachment = &message["attachments"][0];
    let id = int(attachment, "id");
    for path in
        [format!("/attachments/{id}"), format!("/attachments/{id}/thumbnail"), format!("/rooms/{room}/attachments")]
    {
        assert_error(eve.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_error(eve.get("/attachments/999999").await, StatusCode::NOT_FOUND, "not_found").await;
    // Nor may a stranger post files into the room.
    let r = upload(&eve, room, "hi", vec![(b"x".to_vec(), "x.txt")]).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(files_under(&uploads_dir(&app).join("chat")).len(), 2);
    assert!(files_under(&uploads_dir(&app).join("tmp")).is_empty());

    // Deleting the message hides its files.
    assert_eq!(download(&app.admin, attachment["url"].as_str().unwrap()).await.status(), StatusCode::OK);
    let mid = int(&message, "id");
    expect_status(alice.delete(&format!("/messages/{mid}")).await, StatusCode::NO_CONTENT).await;
    // The message keeps its place, without its text or files.
    let gone = messages_in(&alice, room).await.into_iter().find(|m| m["id"] == mid).expect("the deleted message");
    assert_eq!((&gone["is_deleted"], &gone["content"]), (&Value::Bool(true), &Value::from("")));
    assert_eq!(gone["attachments"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["message_type"], "file");
    assert_error(alice.get(&format!("/attachments/{id}")).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(alice.get(&format!("/attachments/{id}/thumbnail")).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(alice.get_json(&format!("/rooms/{room}/attachments")).await, serde_json::json!([]));
    assert!(files_under(&uploads_dir(&app).join("chat")).is_empty(), "the deleted message's files are removed");
}

#[tokio::test]
async fn the_gc_command_removes_orphans_and_keeps_live_files() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Files", &[]).await;
    let kept = upload_ok(&app.admin, room, vec![(png(10, 10), "keep.png")]).await;
    // A deleted message's files, left behind as by a crash between the commit and the clean-up.
    let deleted = upload_ok(&app.admin, room, vec![(b"bye".to_vec(), "bye.txt")]).await;
    let deleted_dir = uploads_dir(&app).join("chat").join(room.to_string()).join(int(&deleted, "id").to_string());
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&deleted_dir, copy.path());
    expect_status(app.admin.delete(&format!("/messages/{}", deleted["id"])).await, StatusCode::NO_CONTENT).await;
    assert!(!deleted_dir.exists());
    copy_dir(copy.path(), &deleted_dir);
    let stray = uploads_dir(&app).join("chat").join(room.to_string()).join("999999");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("orphan.bin"), b"orphan").unwrap();
    // Older than the grace period that protects uploads being committed.
    backdate(&deleted_dir);
    backdate(&stray);
    let live_before = files_under(&uploads_dir(&app).join("chat")).len();
    let uploads = uploads_dir(&app);
    let out = cli(&app.database_url, &["uploads", "gc", "--uploads", &uploads.display().to_string()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stray.exists());
    assert!(!deleted_dir.exists());
    assert_eq!(files_under(&uploads_dir(&app).join("chat")).len(), live_before - 2);
    let r = download(&app.admin, kept["attachments"][0]["url"].as_str().unwrap()).await;
    expect_status(r, StatusCode::OK).await;
}

/// Sets a folder's and its contents' modification time two hours back.
fn backdate(dir: &Path) {
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            backdate(&entry.path());
        } else {
            std::fs::File::open(entry.path()).unwrap().set_modified(long_ago).unwrap();
        }
    }
    std::fs::File::open(dir).unwrap().set_modified(long_ago).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn form_fields_are_validated() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Forms", &[]).await;
    let send = |form: Form| app.admin.client.post(app.admin.url("/messages")).multipart(form).send();

    let r = send(Form::new().text("content", "hi").part("files", file_part(b"x".to_vec(), "x.txt"))).await.unwrap();
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("room_id"));
    let r = send(Form::new().text("room_id", "abc").text("content", "hi")).await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    // Without files, the text is required.
    let r = send(Form::new().text("room_id", room.to_string()).text("content", "  ")).await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = send(Form::new().text("room_id", room.to_string()).text("content", "x".repeat(10_001))).await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    // A reply must be in the same room.
    let other = app.admin.create_room("group", "Other", &[]).await;
    let elsewhere = int(&app.admin.send(other, "elsewhere").await, "id");
    let form = Form::new()
        .text("room_id", room.to_string())
        .text("reply_to_id", elsewhere.to_string())
        .part("files", file_part(b"x".to_vec(), "x.txt"));
    assert_error(send(form).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_input").await;
    assert!(files_under(&uploads_dir(&app)).is_empty());

    // Text and a reply along with a file; a text-only form is a plain message.
    let first = int(&app.admin.send(room, "first").await, "id");
    let form = Form::new()
        .text("room_id", room.to_string())
        .text("content", "  see attached  ")
        .text("reply_to_id", first.to_string())
        .part("files", file_part(b"x".to_vec(), "x.md"));
    let message = expect_status(send(form).await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(message["content"], "see attached");
    assert_eq!(message["reply_to_id"], first);
    assert_eq!(message["attachments"][0]["file_type"], "text/markdown; charset=utf-8");
    let r = send(Form::new().text("room_id", room.to_string()).text("content", "just text")).await.unwrap();
    let message = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(message["message_type"], "text");
    assert_eq!(message["attachments"], serde_json::json!([]));

    // Not multipart at all, or a broken body.
    let r = app
        .admin
        .client
        .post(app.admin.url("/messages"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nnonsense")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
}

#[tokio::test]
async fn new_message_event_carries_the_attachments() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Events", &[]).await;
    let r = app.admin.get(&format!("/stream?room_id={room}")).await;
    let mut stream = SseReader::over(expect_head(r, StatusCode::OK).await);
    let message = upload_ok(&app.admin, room, vec![(jpeg(20, 20), "pic.jpg")]).await;
    assert_eq!(message["message_type"], "file");
    assert_eq!(message["attachments"].as_array().unwrap().len(), 1);
    let found = stream.collect(1, "new_message").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].data, message);
}
