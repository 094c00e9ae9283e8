//! Token ids from the user, checked before any work: a prompt is not empty, and every id lies
//! inside the model's vocabulary (an id past it would index past the embedding table).

use crate::{Error, Result};

/// A prompt with at least one token, every one inside a vocabulary of `vocab_size`.
pub(crate) fn check_prompt(tokens: &[u32], vocab_size: usize) -> Result<()> {
    if tokens.is_empty() {
        return Err(Error::InvalidArgument {
            name: "tokens",
            reason: "the prompt is empty".into(),
        });
    }
    check_vocabulary(tokens, vocab_size)
}

/// The first token id outside a vocabulary of `vocab_size`, as an error.
pub(crate) fn check_vocabulary(tokens: &[u32], vocab_size: usize) -> Result<()> {
    match tokens
        .iter()
        .enumerate()
        .find(|(_, id)| **id as usize >= vocab_size)
    {
        Some((index, &id)) => Err(Error::TokenOutOfVocabulary {
            id,
            index,
            vocab_size,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_prompt_is_refused_by_name() {
        let error = check_prompt(&[], 10).unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument { name: "tokens", .. }
        ));
    }

    #[test]
    fn the_first_id_past_the_vocabulary_is_named_with_its_index() {
        assert!(check_prompt(&[0, 9, 3], 10).is_ok());
        let error = check_vocabulary(&[0, 10, 11], 10).unwrap_err();
        assert!(matches!(
            error,
            Error::TokenOutOfVocabulary {
                id: 10,
                index: 1,
                vocab_size: 10
            }
        ));
        // Appending nothing is not an error; only a prompt must have a token.
        assert!(check_vocabulary(&[], 10).is_ok());
    }
}
