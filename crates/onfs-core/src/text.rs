//! Small text helpers shared by the crates.

/// `%XX` sequences decoded (invalid ones, and results that are not UTF-8, left as they were).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && text.is_char_boundary(i + 3) {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_valid_escapes_only() {
        assert_eq!(percent_decode("a%2Fb%3a"), "a/b:");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%ff"), "%zz%ff");
    }
}
