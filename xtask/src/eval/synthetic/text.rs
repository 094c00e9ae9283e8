//! The haystack's text: its vocabulary, and statements planted at their depths.

use mss::Tokenizer;

/// The distinct lower-case words of 4 to 10 characters in `text` (a letter, then letters or
/// digits), in order of first appearance.
pub(super) fn vocabulary(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if (4..=10).contains(&word.len())
            && word.starts_with(|c: char| c.is_ascii_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && seen.insert(word)
        {
            words.push(word.to_string());
        }
    }
    words
}

/// `intro`, then the haystack filled to about `tokens` tokens with each statement at its
/// depth (moved to the next word start, so no word is cut).
pub(super) fn plant(
    tokenizer: &Tokenizer,
    intro: &str,
    haystack: &[u32],
    tokens: usize,
    mut planted: Vec<(f64, String)>,
) -> mss::Result<String> {
    let mut fixed = tokenizer.encode(intro, false)?.len();
    for (_, statement) in &planted {
        fixed += tokenizer.encode(statement, false)?.len();
    }
    let fill = tokens.saturating_sub(fixed).min(haystack.len());
    let starts_word = |at: usize| -> mss::Result<bool> {
        Ok(at == 0
            || at >= fill
            || tokenizer
                .decode(&haystack[at..=at])?
                .starts_with(char::is_whitespace))
    };
    planted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut context = intro.to_string();
    let mut from = 0;
    for (depth, statement) in planted {
        let mut at = ((fill as f64) * depth.clamp(0.0, 1.0)).round() as usize;
        at = at.clamp(from, fill);
        let mut moved = 0;
        while !starts_word(at)? && moved < 16 {
            at += 1;
            moved += 1;
        }
        context.push_str(&tokenizer.decode(&haystack[from..at])?);
        context.push_str(&statement);
        from = at;
    }
    context.push_str(&tokenizer.decode(&haystack[from..fill])?);
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_keeps_lower_case_words_of_four_to_ten_letters_once() {
        assert_eq!(
            vocabulary(
                "The cat sat upon the mat, upon Mats and extraordinarily long words w127 1234"
            ),
            ["upon", "long", "words", "w127"]
        );
    }
}
