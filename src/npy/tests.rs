//! The .npy reader and writer against hand-made files: versions, headers, dtypes, shapes,
//! truncated and hostile input.

use super::*;

/// A file of the given version with `dict` as its header (padded like numpy) and `data`.
fn file(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if version.0 == 1 { 2 } else { 4 };
    let mut header = dict.to_string();
    let unpadded = 8 + len_size + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[version.0, version.1]);
    if len_size == 2 {
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A fresh path in the temp dir, unique per test and process.
fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("byzagg-npy-{}-{name}.npy", std::process::id()))
}

fn write_temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = temp(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn matrix_err(name: &str, bytes: &[u8]) -> String {
    let path = write_temp(name, bytes);
    let err = read_matrix(&path).unwrap_err();
    std::fs::remove_file(&path).ok();
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text} names no path");
    text
}

#[test]
fn reads_f32_matrix_in_every_version() {
    let values = [1.0f32, -2.5, f32::NAN, f32::INFINITY, 0.0, 7.0];
    for version in [(1, 0), (2, 0), (3, 0)] {
        let bytes = file(
            version,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &f32_bytes(&values),
        );
        let (got, n, d) = parse_matrix(&bytes, "x").unwrap();
        assert_eq!((n, d), (2, 3));
        assert_eq!(got.len(), 6);
        for (g, v) in got.iter().zip(values) {
            assert!(g.to_bits() == v.to_bits(), "{version:?}: {g} != {v}");
        }
    }
}

#[test]
fn reads_f64_matrix_converted() {
    let values = [1.0f64, 0.1, 1e300, -3.0];
    // Keys in another order and double quotes are valid Python too.
    let bytes = file(
        (1, 0),
        "{\"shape\": (2L, 2L), \"fortran_order\": False, \"descr\": \"<f8\"}",
        &f64_bytes(&values),
    );
    let path = write_temp("f64", &bytes);
    let (data, n, d) = read_matrix(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!((n, d), (2, 2));
    assert_eq!(data, vec![1.0, 0.1f64 as f32, f32::INFINITY, -3.0]);
}

#[test]
fn reads_weights_f32_and_f64() {
    let bytes = file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        &f64_bytes(&[0.1, 2.0, 3.5]),
    );
    assert_eq!(parse_vector_f64(&bytes, "w").unwrap(), vec![0.1, 2.0, 3.5]);
    let bytes = file(
        (2, 0),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &f32_bytes(&[0.5, 4.0]),
    );
    let path = write_temp("weights", &bytes);
    assert_eq!(read_vector_f64(&path).unwrap(), vec![0.5, 4.0]);
    std::fs::remove_file(&path).ok();
}

#[test]
fn write_then_read_round_trips() {
    let values: Vec<f32> = (0..37).map(|i| i as f32 * 0.37 - 3.0).collect();
    let path = temp("round-trip");
    write_vector_f32(&path, &values).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // numpy's layout: v1.0, header padded to 64 bytes, ending in a newline.
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    assert_eq!(bytes[10 + header_len - 1], b'\n');
    assert!(
        std::str::from_utf8(&bytes[10..10 + header_len])
            .unwrap()
            .starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (37,), }")
    );
    assert_eq!(
        read_vector_f64(&path).unwrap(),
        values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()
    );
    // A vector is not a matrix.
    assert!(read_matrix(&path).unwrap_err().to_string().contains("2-d"));

    write_matrix_f32(&path, &values[..36], 4).unwrap();
    let (data, n, d) = read_matrix(&path).unwrap();
    assert_eq!((n, d), (4, 9));
    assert_eq!(data, values[..36]);
    assert!(read_vector_f64(&path).unwrap_err().to_string().contains("1-d"));
    std::fs::remove_file(&path).ok();
    assert!(write_matrix_f32(&path, &values, 4).is_err());
}

#[test]
fn rejects_what_it_does_not_read() {
    let data = f32_bytes(&[1.0; 6]);
    let cases = [
        (
            "fortran",
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            "fortran_order",
        ),
        (
            "big-endian",
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
            "big-endian",
        ),
        (
            "int",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
            "'<i4'",
        ),
        (
            "f2",
            "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }",
            "'<f2'",
        ),
        (
            "ndim3",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
            "(1, 2, 3)",
        ),
        (
            "ndim1",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
            "(6,)",
        ),
        (
            "short",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
            "truncated data",
        ),
        (
            "long",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
            "unexpected bytes",
        ),
        (
            "empty",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }",
            "no values",
        ),
        (
            "no-shape",
            "{'descr': '<f4', 'fortran_order': False, }",
            "'shape'",
        ),
        (
            "extra-key",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
            "malformed",
        ),
        (
            "extra-key2",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': True}",
            "'x'",
        ),
        ("not-dict", "(2, 3)", "not a dict"),
        ("garbage", "{'descr': '<f4' 'shape': (2, 3)}", "malformed"),
        (
            "negative",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
            "malformed",
        ),
        (
            "huge",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
            "too large",
        ),
    ];
    for (name, dict, expected) in cases {
        let text = matrix_err(name, &file((1, 0), dict, &data));
        assert!(text.contains(expected), "{name}: {text:?} lacks {expected:?}");
    }
    let good = file(
        (1, 0),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        &data,
    );
    let mut bad_magic = good.clone();
    bad_magic[1] = b'X';
    assert!(matrix_err("magic", &bad_magic).contains("magic"));
    assert!(matrix_err("tiny", b"\x93NU").contains("magic"));
    let mut bad_version = good.clone();
    bad_version[6] = 4;
    assert!(matrix_err("version", &bad_version).contains("version 4.0"));
    assert!(matrix_err("cut-header", &good[..40]).contains("truncated header"));
    assert!(matrix_err("cut-len", &good[..9]).contains("truncated header"));
    assert!(matrix_err("cut-data", &good[..good.len() - 1]).contains("truncated data"));
}

#[test]
fn hostile_headers_are_refused_before_allocating() {
    let data = f32_bytes(&[1.0; 6]);
    // 60,000 nested dicts: a stack overflow for a recursive parser without a bound.
    let deep = "{'a': ".repeat(60_000) + &"}".repeat(60_000);
    let text = matrix_err("deep", &file((2, 0), &deep, &data));
    assert!(text.contains("longer than the 65536 bytes"), "{text}");
    let deep = "{'a': ".repeat(9_000) + &"}".repeat(9_000);
    let text = matrix_err("deep-short", &file((2, 0), &deep, &data));
    assert!(text.contains("nest deeper than 8"), "{text}");
    // A header length of 4 GB in a tiny file.
    let mut huge_len = file(
        (2, 0),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        &data,
    );
    huge_len[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matrix_err("huge-len", &huge_len).contains("longer than"));
    // A shape of 10^12 x 10^12 f32 does not fit usize bytes; 10^9 x 10^3 claims 4 TB
    // against a file of 24 bytes: both refused from the header and the file length.
    let text = matrix_err(
        "tera",
        &file(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }",
            &data,
        ),
    );
    assert!(
        text.contains("truncated data") && text.contains("4000000000000 bytes"),
        "{text}"
    );
}

#[test]
fn streams_without_a_length_are_read_up_to_the_declared_size() {
    let good = file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        &f64_bytes(&[1.0, 2.0, 3.0]),
    );
    // A reader of unknown length, as a pipe: exactly the declared data, then EOF.
    assert_eq!(vector(&mut &good[..], None).unwrap(), vec![1.0, 2.0, 3.0]);
    let mut longer = good.clone();
    longer.push(0);
    let err = vector(&mut &longer[..], None).unwrap_err();
    assert!(err.contains("unexpected bytes"), "{err}");
    let err = vector(&mut &good[..good.len() - 1], None).unwrap_err();
    assert!(err.contains("truncated data"), "{err}");
    // An endless stream of zeros (/dev/zero) fails at the magic, after 8 bytes.
    let err = matrix(&mut std::io::repeat(0), None).unwrap_err();
    assert!(err.contains("bad magic"), "{err}");
    // An endless stream after a valid header stops at the declared size.
    let header = file(
        (1, 0),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        &[],
    );
    let mut endless = (&header[..]).chain(std::io::repeat(0));
    let err = matrix(&mut endless, None).unwrap_err();
    assert!(err.contains("unexpected bytes"), "{err}");
}

#[test]
fn reads_devices_and_directories_with_an_error() {
    if std::path::Path::new("/dev/zero").exists() {
        let err = read_matrix("/dev/zero").unwrap_err().to_string();
        assert!(err.contains("/dev/zero") && err.contains("bad magic"), "{err}");
    }
    let err = read_matrix(std::env::temp_dir()).unwrap_err().to_string();
    assert!(err.contains("directory"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let path = temp("does-not-exist");
    let err = read_matrix(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    assert!(err.to_string().contains("cannot read"), "{err}");
}
