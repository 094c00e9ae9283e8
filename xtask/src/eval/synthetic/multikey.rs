//! `multikey`: four "special magic numbers", each for a word, planted in the haystack; the
//! question asks for the one at the cell's depth, the others are distractors.

use mss::Tokenizer;

use super::text::plant;
use super::{Parts, Rng};

/// Words the keys of `multikey` are drawn from.
const KEY_WORDS: [&str; 24] = [
    "apple", "river", "lantern", "violet", "falcon", "harbor", "copper", "meadow", "thunder",
    "saffron", "glacier", "orchard", "pepper", "compass", "marble", "walnut", "beacon", "cobalt",
    "willow", "quartz", "ember", "tundra", "canyon", "jasmine",
];

/// Keys planted by `multikey`: the asked one and three distractors.
pub(super) const KEYS: usize = 4;

/// The `multikey` question of a cell.
pub(super) fn item(
    tokenizer: &Tokenizer,
    haystack: &[u32],
    tokens: usize,
    depth: f64,
    rng: &mut Rng,
) -> mss::Result<Parts> {
    let words = rng.distinct(KEYS, KEY_WORDS.len());
    let mut values: Vec<u64> = Vec::new();
    while values.len() < KEYS {
        let value = 100_000 + rng.below(900_000);
        if !values.contains(&value) {
            values.push(value);
        }
    }
    let statement = |i: usize| {
        format!(
            " One of the special magic numbers for {} is: {}.",
            KEY_WORDS[words[i]], values[i]
        )
    };
    let mut planted = vec![(depth, statement(0))];
    planted.extend((1..KEYS).map(|i| (rng.unit(), statement(i))));
    let intro = "Some special magic numbers are hidden within the following text. Make sure to \
                 memorize them. I will quiz you about the numbers afterwards.\n\n";
    let context = plant(tokenizer, intro, haystack, tokens, planted)?;
    let key = KEY_WORDS[words[0]];
    let question = format!(
        "\n\nWhat is the special magic number for {key}? The special magic number for {key} is"
    );
    Ok((context, question, vec![values[0].to_string()]))
}
