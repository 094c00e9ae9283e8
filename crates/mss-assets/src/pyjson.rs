//! JSON written byte-for-byte as Python's `json.dump` writes it: `", "` / `": "` separators
//! when compact, `indent=2` layout otherwise, `ensure_ascii` escaping, and floats as Python's
//! `repr` (`1e-05`, `100000.0`). This lets converted files be compared with the reference's by
//! hash.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Python `json.dump` options that change the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyJson {
    /// `indent=2` when true, no indent (one line) when false.
    pub(crate) indent: bool,
    /// Python's `ensure_ascii`.
    pub(crate) ensure_ascii: bool,
}

impl PyJson {
    /// Serializes `value` as Python would dump it with these options.
    pub(crate) fn to_vec<T: Serialize + ?Sized>(self, value: &T) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::new();
        let fmt = PyFormatter {
            opts: self,
            depth: 0,
            has_value: false,
        };
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        value.serialize(&mut ser)?;
        Ok(out)
    }
}

struct PyFormatter {
    opts: PyJson,
    depth: usize,
    has_value: bool,
}

impl PyFormatter {
    fn newline_indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.opts.indent && self.has_value {
            self.newline_indent(w)?;
        }
        w.write_all(c)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.opts.indent {
            if !first {
                w.write_all(b",")?;
            }
            self.newline_indent(w)
        } else if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
}

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(py_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, value.into())
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        if !self.opts.ensure_ascii {
            return w.write_all(s.as_bytes());
        }
        for c in s.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Python's `repr(x)` of a finite float: the shortest round-tripping digits, written in fixed
/// notation with a `.0` when `1e-4 <= |x| < 1e16`, else as `d.ddde±XX`.
pub(crate) fn py_float_repr(x: f64) -> String {
    if !x.is_finite() {
        // json.dump writes these as NaN / Infinity; callers reject them before this point.
        return if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "-1.2345e-5".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // Python's rule: decimal point position `decpt = exp + 1`; exponent form when
    // decpt <= -4 or decpt > 16.
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{head}{frac}e{esign}{:02}", exp.abs())
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // Expected strings are Python 3's repr() of the same values.
        let cases = [
            (1e-5, "1e-05"),
            (100000.0, "100000.0"),
            (10000.0, "10000.0"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (1e300, "1e+300"),
            (9.999999747378752e-06, "9.999999747378752e-06"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float_repr(x), want, "{x:e}");
        }
    }

    #[derive(Serialize)]
    struct Sample {
        a: Vec<u32>,
        e: Vec<u32>,
        s: &'static str,
        f: f64,
        n: Option<u32>,
        o: Inner,
    }

    #[derive(Serialize)]
    struct Inner {
        b: bool,
    }

    fn sample() -> Sample {
        Sample {
            a: vec![1, 2],
            e: vec![],
            s: "é\"\n\u{7f}\u{1F600}",
            f: 1e-5,
            n: None,
            o: Inner { b: true },
        }
    }

    #[test]
    fn compact_like_python() {
        // json.dumps(obj, ensure_ascii=False)
        let got = PyJson {
            indent: false,
            ensure_ascii: false,
        }
        .to_vec(&sample())
        .unwrap();
        let want = "{\"a\": [1, 2], \"e\": [], \"s\": \"é\\\"\\n\u{7f}\u{1F600}\", \"f\": 1e-05, \
                    \"n\": null, \"o\": {\"b\": true}}";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn indented_like_python() {
        // json.dumps(obj, indent=2)
        let got = PyJson {
            indent: true,
            ensure_ascii: true,
        }
        .to_vec(&sample())
        .unwrap();
        let want = "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": [],\n  \
                    \"s\": \"\\u00e9\\\"\\n\\u007f\\ud83d\\ude00\",\n  \"f\": 1e-05,\n  \
                    \"n\": null,\n  \"o\": {\n    \"b\": true\n  }\n}";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }
}
