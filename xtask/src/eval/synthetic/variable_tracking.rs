//! `variable_tracking`: `VAR A = 12345` early, `VAR B = VAR A` at the cell's depth; given the
//! value and `A`, the answer is `B`, found only by following the chain.

use mss::Tokenizer;

use super::text::plant;
use super::{Parts, Rng};

/// The `variable_tracking` question of a cell.
pub(super) fn item(
    tokenizer: &Tokenizer,
    haystack: &[u32],
    tokens: usize,
    depth: f64,
    rng: &mut Rng,
) -> mss::Result<Parts> {
    let first = rng.name();
    let mut second = rng.name();
    while second == first {
        second = rng.name();
    }
    let value = 10_000 + rng.below(90_000);
    // The value is assigned before the hop, anywhere up to the cell's depth.
    let planted = vec![
        (depth * rng.unit(), format!(" VAR {first} = {value}.")),
        (depth, format!(" VAR {second} = VAR {first}.")),
    ];
    let intro = "Memorize and track the chain of variable assignments hidden in the following \
                 text.\n\n";
    let context = plant(tokenizer, intro, haystack, tokens, planted)?;
    let question = format!(
        "\n\nQuestion: Find all variables that are assigned the value {value} in the text \
         above. Answer: According to the chain of variable assignments in the text above, 2 \
         variables are assigned the value {value}, they are: VAR {first}, VAR"
    );
    Ok((context, question, vec![second]))
}
