//! A kernel's source, hashed at compile time.
//!
//! CubeCL's persistent compilation cache keys a kernel by its type's name, launch settings and
//! compile-time arguments, not by its source: a kernel changed under the same name would load
//! its predecessor's compiled code from a carried cache. Each of the project's CubeCL kernels
//! takes [`source_hash`] of its file as a compile-time argument, so a change misses the cache.

/// FNV-1a (64 bits) of `source`, usable in a `const`.
pub const fn source_hash(source: &str) -> u64 {
    let bytes = source.as_bytes();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        assert_eq!(source_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(source_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(source_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn one_changed_character_changes_the_hash() {
        assert_ne!(source_hash("let x = 1;"), source_hash("let x = 2;"));
    }
}
