//! `.neco` container: round trips, the pinned golden stream, writer validation
//! and atomic file writes.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use neco_core::container::{
    write_atomic, Header, ImageStream, Kind, PixelFormat, CONTAINER_VERSION, MAGIC,
};
use neco_core::{Limits, NecoError};

fn header(pixel_format: PixelFormat, substreams: u16) -> Header {
    Header {
        kind: Kind::Image,
        width: 2,
        height: 3,
        pixel_format,
        bit_depth: 8,
        quality: 50,
        model_id: "t".into(),
        weights_sha256: std::array::from_fn(|i| i as u8),
        y_channels: 2,
        z_channels: 1,
        substreams,
        video: None,
    }
}

/// The golden stream: 2x3 RGB, two ŷ substreams (one empty), no alpha.
fn tiny() -> ImageStream {
    ImageStream {
        header: header(PixelFormat::Rgb8, 2),
        z_bits: vec![1, 2, 3],
        y_bits: vec![vec![4], vec![]],
        alpha: None,
        icc: None,
        exif: None,
    }
}

fn rgba() -> ImageStream {
    ImageStream {
        header: Header {
            width: 640,
            height: 480,
            quality: 100,
            model_id: "neco-hyperprior-v1/q6 ✓".into(),
            y_channels: 320,
            z_channels: 192,
            ..header(PixelFormat::Rgba8, 3)
        },
        z_bits: (0..=255).collect(),
        y_bits: vec![vec![0xAA; 1000], vec![7], vec![0; 17]],
        alpha: Some(b"\x89PNG fake alpha".to_vec()),
        icc: None,
        exif: None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn round_trip_is_byte_exact() {
    let gray = ImageStream {
        header: header(PixelFormat::Gray8, 1),
        z_bits: vec![],
        y_bits: vec![vec![9; 3]],
        alpha: None,
        icc: None,
        exif: None,
    };
    for stream in [tiny(), rgba(), gray] {
        let bytes = stream.to_bytes().unwrap();
        let back = ImageStream::from_bytes(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, stream);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

#[test]
fn metadata_makes_a_version_2_stream() {
    for (icc, exif) in [
        (Some(vec![0x42; 600]), None),
        (None, Some(b"MM\0*exif".to_vec())),
        (Some(vec![7]), Some(vec![8; 70_000])),
    ] {
        let stream = ImageStream {
            icc,
            exif,
            ..rgba()
        };
        let bytes = stream.to_bytes().unwrap();
        assert_eq!(bytes[8..10], 2u16.to_le_bytes());
        let back = ImageStream::from_bytes(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, stream);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
    // Without it, the same stream is version 1.
    assert_eq!(rgba().to_bytes().unwrap()[8..10], 1u16.to_le_bytes());
    // An empty profile or Exif block is refused rather than written.
    for empty in [
        ImageStream {
            icc: Some(vec![]),
            ..tiny()
        },
        ImageStream {
            exif: Some(vec![]),
            ..tiny()
        },
    ] {
        assert!(matches!(
            empty.to_bytes(),
            Err(NecoError::InvalidArgument(_))
        ));
    }
}

#[test]
fn rgba_without_alpha_round_trips() {
    let mut stream = rgba();
    stream.alpha = None;
    let bytes = stream.to_bytes().unwrap();
    assert_eq!(
        ImageStream::from_bytes(&bytes, &Limits::default()).unwrap(),
        stream
    );
}

#[test]
fn golden_bytes_are_pinned() {
    // Changing this is a format change: bump CONTAINER_VERSION or justify it.
    // The CRCs were cross-checked with Python's zlib.crc32.
    let expected = concat!(
        "894e45434f0d0a1a", // magic
        "0100",             // version 1
        // HEAD, 53 bytes
        "48454144",
        "35000000",
        "00",       // kind: image
        "02000000", // width 2
        "03000000", // height 3
        "00",       // RGB8
        "08",       // bit depth
        "00",       // sRGB
        "32",       // quality 50
        "01",
        "74", // model id "t"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "0200", // y channels
        "0100", // z channels
        "0200", // substreams
        "HEADCRC",
        // ZBIT [1, 2, 3]
        "5a424954",
        "03000000",
        "010203",
        "ZBITCRC",
        // YBIT [4]
        "59424954",
        "01000000",
        "04",
        "YBIT1CRC",
        // YBIT []
        "59424954",
        "00000000",
        "YBIT2CRC",
        // IEND
        "49454e44",
        "00000000",
        "IENDCRC",
    )
    .replace("HEADCRC", "74d7cbd9")
    .replace("ZBITCRC", "223928e3")
    .replace("YBIT1CRC", "1720cd64")
    .replace("YBIT2CRC", "3ba7e2a9")
    .replace("IENDCRC", "826042ae");
    let bytes = tiny().to_bytes().unwrap();
    assert_eq!(hex(&bytes), expected);
    assert_eq!(bytes[..8], MAGIC);
    assert_eq!(CONTAINER_VERSION, 1);
}

#[test]
fn writer_rejects_inconsistent_streams() {
    let cases: Vec<(&str, ImageStream)> = vec![
        (
            "too few substreams",
            ImageStream {
                y_bits: vec![vec![]],
                ..tiny()
            },
        ),
        (
            "alpha on RGB",
            ImageStream {
                alpha: Some(vec![1]),
                icc: None,
                exif: None,
                ..tiny()
            },
        ),
        ("zero width", with_header(|h| h.width = 0)),
        ("zero height", with_header(|h| h.height = 0)),
        ("bit depth 16", with_header(|h| h.bit_depth = 16)),
        ("quality 101", with_header(|h| h.quality = 101)),
        ("empty model id", with_header(|h| h.model_id.clear())),
        (
            "long model id",
            with_header(|h| h.model_id = "x".repeat(65)),
        ),
        ("zero y channels", with_header(|h| h.y_channels = 0)),
        ("too many z channels", with_header(|h| h.z_channels = 1025)),
        (
            "zero substreams",
            ImageStream {
                y_bits: vec![],
                ..with_header(|h| h.substreams = 0)
            },
        ),
    ];
    for (what, stream) in cases {
        match stream.to_bytes() {
            Err(NecoError::InvalidArgument(msg)) => assert!(!msg.is_empty(), "{what}"),
            other => panic!("{what}: expected InvalidArgument, got {other:?}"),
        }
    }
    // The edges of each range are accepted.
    let edge = with_header(|h| {
        h.quality = 0;
        h.model_id = "é".repeat(32);
        h.y_channels = 1024;
        h.z_channels = 1;
    });
    let bytes = edge.to_bytes().unwrap();
    assert_eq!(
        ImageStream::from_bytes(&bytes, &Limits::default()).unwrap(),
        edge
    );
}

fn with_header(f: impl FnOnce(&mut Header)) -> ImageStream {
    let mut s = tiny();
    f(&mut s.header);
    s
}

/// A fresh empty directory under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "neco-container-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn write_atomic_creates_a_new_file() {
    let dir = TestDir::new("create");
    let path = dir.0.join("a.neco");
    write_atomic(&path, b"hello", false).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"hello");
    assert_eq!(dir.entries(), ["a.neco"]);
}

#[test]
fn write_atomic_without_overwrite_keeps_the_old_file() {
    let dir = TestDir::new("keep");
    let path = dir.0.join("a.neco");
    fs::write(&path, b"old").unwrap();
    match write_atomic(&path, b"new", false) {
        Err(NecoError::Io(e)) => {
            assert_eq!(e.kind(), ErrorKind::AlreadyExists);
            assert!(e.to_string().contains("a.neco"), "{e}");
        }
        other => panic!("expected Io(AlreadyExists), got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert_eq!(dir.entries(), ["a.neco"]);
}

#[test]
fn write_atomic_with_overwrite_replaces() {
    let dir = TestDir::new("replace");
    let path = dir.0.join("a.neco");
    fs::write(&path, b"old contents, longer than the new").unwrap();
    let bytes = tiny().to_bytes().unwrap();
    write_atomic(&path, &bytes, true).unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(dir.entries(), ["a.neco"]);
    // Writing again over our own output also works.
    write_atomic(&path, b"x", true).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"x");
    assert_eq!(dir.entries(), ["a.neco"]);
}

#[test]
fn write_atomic_failure_leaves_no_temp_file() {
    let dir = TestDir::new("fail");
    // The target is a non-empty directory, so the final rename fails.
    let path = dir.0.join("a.neco");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"1").unwrap();
    assert!(write_atomic(&path, b"data", true).is_err());
    assert_eq!(dir.entries(), ["a.neco"]);
    // A missing parent directory fails before anything is created.
    let missing = dir.0.join("no-such-dir").join("b.neco");
    assert!(matches!(
        write_atomic(&missing, b"data", true),
        Err(NecoError::Io(_))
    ));
    assert_eq!(dir.entries(), ["a.neco"]);
}

#[test]
fn write_atomic_rejects_a_path_without_file_name() {
    assert!(matches!(
        write_atomic(std::path::Path::new("/"), b"x", true),
        Err(NecoError::InvalidArgument(_))
    ));
}
