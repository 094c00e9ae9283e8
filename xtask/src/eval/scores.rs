//! How a generated answer is scored against its references: exact match, substring and
//! token F1, after SQuAD's normalisation (lower case, no punctuation, no articles, single
//! spaces); the best over the references is kept. Shared by the QA task and the synthetic ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// SQuAD's normalisation: lower case, punctuation removed, the articles a/an/the removed,
/// whitespace collapsed.
pub fn normalize(text: &str) -> String {
    let lower: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The three scores of `prediction` against the best of `answers`, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// 1 when the normalised prediction equals a normalised answer.
    pub exact: f64,
    /// 1 when a normalised answer occurs in the normalised prediction.
    pub substring: f64,
    /// The harmonic mean of token precision and recall.
    pub f1: f64,
}

impl Scores {
    /// Whether an answer was found in the prediction: how the synthetic tasks count a question
    /// right (RULER's string match).
    pub fn found(&self) -> bool {
        self.substring == 1.0
    }
}

/// Scores `prediction` against `answers`, keeping the best of each.
pub fn score(prediction: &str, answers: &[String]) -> Scores {
    let predicted = normalize(prediction);
    let mut best = Scores::default();
    for answer in answers {
        let answer = normalize(answer);
        let exact = f64::from(u8::from(predicted == answer));
        let contained =
            !answer.is_empty() && format!(" {predicted} ").contains(&format!(" {answer} "));
        best.exact = best.exact.max(exact);
        best.substring = best.substring.max(f64::from(u8::from(contained)));
        best.f1 = best.f1.max(token_f1(&predicted, &answer));
    }
    best
}

fn token_f1(prediction: &str, answer: &str) -> f64 {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for word in answer.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let predicted: Vec<&str> = prediction.split_whitespace().collect();
    let answer_len = answer.split_whitespace().count();
    let mut common = 0;
    for word in &predicted {
        if let Some(n) = counts.get_mut(word).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / predicted.len() as f64;
    let recall = common as f64 / answer_len as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_squad_normalisation() {
        let answers = vec!["The Eiffel Tower".to_string(), "Eiffel".to_string()];
        assert_eq!(score("eiffel tower.", &answers).exact, 1.0);
        assert_eq!(
            score("It is the Eiffel Tower, in Paris", &answers).substring,
            1.0
        );
        let partial = score("Eiffel Bridge", &answers);
        assert_eq!((partial.exact, partial.substring), (0.0, 1.0));
        // Against "eiffel tower": precision 1/2, recall 1/2; against "eiffel": 1/2 and 1.
        assert!((partial.f1 - 2.0 / 3.0).abs() < 1e-12, "{partial:?}");
        assert_eq!(score("London", &answers), Scores::default());
        // A word inside another is no substring match.
        assert_eq!(score("Eiffelish", &answers).substring, 0.0);
    }
}
