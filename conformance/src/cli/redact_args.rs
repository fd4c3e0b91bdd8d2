//! The `--redact` / `--redact-file` flags `phx record` and `phx replay` share
//! (conformance/TRANSCRIPTS.md, "Redactions").

use crate::transcript::rules::{Rules, RulesError};

/// Redaction flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RedactArgs {
    /// A redaction rule (repeatable), in the grammar of conformance/TRANSCRIPTS.md.
    #[arg(
        long,
        value_name = "RULE",
        help = "A redaction rule (repeatable): a JSON path into received frames and/or a regex, \
                with an optional replacement, e.g. '$..phx_ref => [ref]', \
                're:\"online_at\":\"(\\d+)\"', '$..online_at re:^\\d+$ => [any:string]'. \
                Without a replacement a path writes [any:TYPE] and a regex [any]; [NAME] \
                numbers distinct values as captures."
    )]
    pub redact: Vec<String>,
    /// A rules file (repeatable): lines `redact RULE` and `unordered TOPIC_GLOB:EVENT,…`,
    /// `#` comments.
    #[arg(long, value_name = "FILE")]
    pub redact_file: Vec<std::path::PathBuf>,
}

impl RedactArgs {
    /// The rules of the files, then of the flags; `unordered` adds `--unordered` values.
    pub fn rules(&self, unordered: &[String]) -> Result<Rules, RulesError> {
        Rules::from_flags(&self.redact, &self.redact_file, unordered)
    }
}
