//! `common_words`: a numbered list of words from the corpus in which three words recur many
//! times and the others twice; the answer is one of the three (no depth).

use mss::Tokenizer;

use super::text::vocabulary;
use super::{Parts, Rng};

/// How many words recur often (the answers), how often each does, and how often the others do.
pub(super) const COMMON: usize = 3;
pub(super) const COMMON_REPEATS: usize = 20;
pub(super) const RARE_REPEATS: usize = 2;

/// The `common_words` question of a cell.
pub(super) fn item(
    tokenizer: &Tokenizer,
    haystack: &[u32],
    tokens: usize,
    rng: &mut Rng,
) -> mss::Result<Parts> {
    let pool = vocabulary(&tokenizer.decode(haystack)?);
    if pool.len() <= COMMON {
        return Err(mss::Error::InvalidArgument {
            name: "common_words",
            reason: format!(
                "the haystack has {} distinct lower-case words of 4 to 10 characters; the list \
                 needs more than {COMMON}",
                pool.len()
            ),
        });
    }
    let intro = "Below is a numbered list of words. A few of the words appear many more times \
                 than the others.\n\n";
    let chosen = rng.distinct(pool.len(), pool.len());
    let (common, rare) = chosen.split_at(COMMON.min(chosen.len()));
    let mut entries: Vec<&str> = Vec::new();
    for &c in common {
        entries.extend(std::iter::repeat_n(pool[c].as_str(), COMMON_REPEATS));
    }
    // Rare words until the list (about five tokens an entry) fills the context.
    let budget = tokens.saturating_sub(tokenizer.encode(intro, false)?.len());
    let mut rare = rare.iter();
    while entries.len() * 5 < budget {
        let Some(&r) = rare.next() else { break };
        entries.extend(std::iter::repeat_n(pool[r].as_str(), RARE_REPEATS));
    }
    rng.shuffle(&mut entries);
    let mut context = intro.to_string();
    let mut used = tokens - budget;
    for (i, word) in entries.iter().enumerate() {
        // Lines start after a newline, so their tokens add up.
        let line = format!("{}. {word}\n", i + 1);
        used += tokenizer.encode(&line, false)?.len();
        if used > tokens && i > 0 {
            break;
        }
        context.push_str(&line);
    }
    let question =
        "\nWhat is the most common word in the list above? The most common word is".to_string();
    let answers = common.iter().map(|&c| pool[c].clone()).collect();
    Ok((context, question, answers))
}
