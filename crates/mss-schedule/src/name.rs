//! Matching of user-given names: case-insensitive, `-` and `_` interchangeable.

/// Whether `given` names `name`, ignoring ASCII case and treating `-` as `_`.
pub(crate) fn matches(given: &str, name: &str) -> bool {
    let given = given.trim();
    given.len() == name.len()
        && given
            .bytes()
            .zip(name.bytes())
            .all(|(g, n)| normalize(g) == normalize(n))
}

fn normalize(byte: u8) -> u8 {
    match byte {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_dashes_are_ignored() {
        assert!(matches("Inverse-Convex", "inverse_convex"));
        assert!(matches(" fm ", "FM"));
        assert!(!matches("fmx", "FM"));
        assert!(!matches("", "FM"));
    }
}
