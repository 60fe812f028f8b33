//! tiktoken rank files: `<base64 token> <rank>` lines, read as Python's reader
//! (`lexforge.formats.tiktoken`) reads the well-formed ones; anything else is `None`, for
//! that reader to name.

/// The value of a base64 character, `None` outside the standard alphabet.
fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64 with its padding, as Python's `base64.b64decode(s, validate=True)`
/// reads it: a length that is a multiple of 4, at most two `=` at the end (the bits a
/// padded quantum leaves over are ignored, as there). `None` for anything else.
pub fn base64_bytes(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 4 != 0 {
        return None;
    }
    let padding = text.iter().rev().take_while(|&&c| c == b'=').count();
    if padding > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let last = i + 1 == text.len() / 4;
        let kept = if last { 4 - padding } else { 4 };
        let mut word = 0u32;
        for (j, &c) in quad.iter().enumerate() {
            word = (word << 6) | if j < kept { sextet(c)? } else { 0 };
        }
        let bytes = word.to_be_bytes();
        out.extend_from_slice(&bytes[1..kept]);
    }
    Some(out)
}

/// One `<base64 token> <rank>` line (a `\r` before its end allowed), `None` otherwise.
pub fn rank_line(line: &[u8]) -> Option<(Vec<u8>, u32)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let space = line.iter().position(|&c| c == b' ')?;
    let (token, rank) = (&line[..space], &line[space + 1..]);
    if rank.is_empty() || rank.len() > 10 || !rank.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let rank = rank.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Some((base64_bytes(token)?, u32::try_from(rank).ok()?))
}

#[cfg(test)]
mod tests {
    use super::{base64_bytes, rank_line};

    #[test]
    fn base64_reads_as_pythons_validated_decoder() {
        assert_eq!(base64_bytes(b"IQ=="), Some(b"!".to_vec()));
        assert_eq!(base64_bytes(b"aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_bytes(b"aGVsbG8gd29ybGQ="), Some(b"hello world".to_vec()));
        assert_eq!(base64_bytes(b"//79"), Some(vec![0xff, 0xfe, 0xfd]));
        // left-over bits of a padded quantum are ignored, as base64.b64decode does
        assert_eq!(base64_bytes(b"IR=="), Some(b"!".to_vec()));
        for bad in [&b""[..], b"=", b"IQ=", b"I===", b"IQ==IQ==", b"I Q=", b"IQ-_", b"\xc3\xa9AA"] {
            assert_eq!(base64_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rank_lines_take_one_space_and_decimal_digits() {
        assert_eq!(rank_line(b"IQ== 0"), Some((b"!".to_vec(), 0)));
        assert_eq!(rank_line(b"IQ== 4294967295\r"), Some((b"!".to_vec(), u32::MAX)));
        for bad in [
            &b"IQ== 4294967296"[..],
            b"IQ==  1",
            b"IQ==\t1",
            b"IQ== -1",
            b"IQ== 1 2",
            b"IQ== ",
            b"= 5",
            b"IQ== \xd9\xa1",
            b" IQ== 1",
        ] {
            assert_eq!(rank_line(bad), None, "{bad:?}");
        }
    }
}
