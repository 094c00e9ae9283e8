//! The chat template of a Hugging Face tokenizer config, rendered with Jinja (`minijinja`).

use std::path::{Path, PathBuf};

use minijinja::{Environment, Error as JinjaError, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::json_file::{parse_json, read_text};
use crate::{ModelError, Result};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A turn of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// The fields of `tokenizer_config.json` that rendering reads.
#[derive(Debug, Deserialize)]
struct TokenizerConfig {
    chat_template: Option<TemplateField>,
    bos_token: Option<TokenField>,
    eos_token: Option<TokenField>,
}

/// A template, or (newer configs) a list of named templates.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

/// A special token, as a string or as an added-token object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TokenField {
    Text(String),
    Added { content: String },
}

impl TokenField {
    fn text(self) -> String {
        match self {
            Self::Text(text) | Self::Added { content: text } => text,
        }
    }
}

/// A model's chat template, as `transformers`' `apply_chat_template` renders it.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    path: PathBuf,
}

impl ChatTemplate {
    /// The template of a model folder's `tokenizer_config.json` (its `default` one where the
    /// config names several); `None` when the folder has no such file or it holds no template.
    ///
    /// # Errors
    /// A config that cannot be read or parsed.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("tokenizer_config.json");
        if !path.is_file() {
            return Ok(None);
        }
        let config: TokenizerConfig = parse_json(&read_text(&path)?, &path)?;
        let source = match config.chat_template {
            None => return Ok(None),
            Some(TemplateField::One(source)) => source,
            Some(TemplateField::Named(templates)) => {
                match templates.into_iter().find(|t| t.name == "default") {
                    Some(t) => t.template,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(Self {
            source,
            bos_token: config.bos_token.map(TokenField::text).unwrap_or_default(),
            eos_token: config.eos_token.map(TokenField::text).unwrap_or_default(),
            path,
        }))
    }

    /// A template given as text (special tokens empty).
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            bos_token: String::new(),
            eos_token: String::new(),
            path: PathBuf::from("<chat template>"),
        }
    }

    /// The conversation as the model was trained to read it; with `add_generation_prompt`,
    /// followed by the opening of the assistant's turn. Tokenize the result without adding
    /// special tokens: the template writes the ones it wants.
    ///
    /// # Errors
    /// A template that does not compile or fails (its own `raise_exception` included).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let mut env = Environment::new();
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, message))
            },
        );
        let fail = |e: JinjaError| ModelError::Tokenizer {
            path: self.path.clone(),
            reason: format!("chat template: {e}"),
        };
        let template = env.template_from_str(&self.source).map_err(fail)?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(fail)
    }

    /// A long `context` and a `question` about it as one user turn, rendered and cut where the
    /// question begins: the first part is prefilled into the pruned memory, the second (the
    /// question, the end of the turn and the assistant's opening) appended without pruning.
    ///
    /// # Errors
    /// As [`render`](Self::render); a template that drops or repeats the user's words.
    pub fn split_question(&self, context: &str, question: &str) -> Result<(String, String)> {
        // A private-use character: no template writes it, no text of a user's likely holds it.
        const CUT: char = '\u{F8FF}';
        let content = format!("{context}{CUT}{question}");
        let rendered = self.render(&[ChatMessage::new("user", content)], true)?;
        let mut parts = rendered.split(CUT);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(head), Some(tail), None) => Ok((head.to_string(), tail.to_string())),
            _ => Err(ModelError::Tokenizer {
                path: self.path.clone(),
                reason: "the chat template does not write the user's message once, as given".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template (ChatML with a default system turn).
    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_renders_as_transformers_does() {
        let template = ChatTemplate::new(CHATML);
        let text = template
            .render(&[ChatMessage::new("user", "Hi")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
             Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let no_prompt = template
            .render(&[ChatMessage::new("user", "Hi")], false)
            .unwrap();
        assert!(no_prompt.ends_with("Hi<|im_end|>\n"));
    }

    #[test]
    fn a_question_is_cut_from_its_context_where_it_begins() {
        let template = ChatTemplate::new(CHATML);
        let (head, tail) = template.split_question("A long text.", " What?").unwrap();
        assert!(head.ends_with("<|im_start|>user\nA long text."), "{head}");
        assert_eq!(tail, " What?<|im_end|>\n<|im_start|>assistant\n");
        let twice = ChatTemplate::new("{{ messages[0].content }}{{ messages[0].content }}");
        assert!(twice.split_question("a", "b").is_err());
    }

    #[test]
    fn templates_come_from_the_tokenizer_config_and_their_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ChatTemplate::from_dir(dir.path()).unwrap().is_none());
        let config = serde_json::json!({
            "bos_token": "<s>",
            "eos_token": {"content": "</s>", "lstrip": false},
            "chat_template": [
                {"name": "tool_use", "template": "tools"},
                {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}
            ]
        });
        std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
        let template = ChatTemplate::from_dir(dir.path()).unwrap().unwrap();
        let text = template
            .render(&[ChatMessage::new("user", "x")], false)
            .unwrap();
        assert_eq!(text, "<s>x</s>");

        let failing = ChatTemplate::new("{{ raise_exception('roles must alternate') }}");
        let error = failing.render(&[], false).unwrap_err().to_string();
        assert!(error.contains("roles must alternate"), "{error}");
        let broken = ChatTemplate::new("{% for %}");
        assert!(broken.render(&[], false).is_err());
    }
}
