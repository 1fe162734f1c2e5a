//! Message search: the words of a query as terms the stores can look for, and the
//! highlighted excerpt of a found message.
//!
//! A query is never handed to the full-text engines as written. Its words are runs of
//! letters and digits; every other character separates words and is otherwise ignored, so
//! `AND`, `NEAR`, `*`, `:` or `(` are plain text and no query can be malformed. Words
//! outside double quotes match by prefix; a chunk such as `e-mail` or `don't` keeps its
//! words together as a phrase; `"two words"` matches that phrase exactly. Every term must
//! match. Case and accents never matter.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::input::{invalid, InvalidInput};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words a query may hold.
pub const MAX_QUERY_WORDS: usize = 20;
/// The longest highlight, in UTF-16 code units (so also in characters), markup included.
pub const HIGHLIGHT_MAX: usize = 300;
/// Text kept before the first match when an excerpt cannot start at the beginning.
const LEAD: usize = 40;
const ELLIPSIS: &str = "…";

/// Words that must appear one after the other; the last by prefix when `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// A parsed query: every term must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<Term>,
}

impl SearchQuery {
    /// Reads the `q` parameter: required, at most 200 characters and 20 words. A query
    /// without a single letter or digit is valid and finds nothing.
    pub fn parse(q: &str) -> Result<Self, InvalidInput> {
        let q = q.trim();
        if q.is_empty() {
            return Err(invalid("q: must not be empty"));
        }
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(format!("q: must be at most {MAX_QUERY_CHARS} characters")));
        }
        let mut terms = Vec::new();
        for (i, part) in q.split('"').enumerate() {
            // Odd parts lie between quotes (an unclosed quote runs to the end).
            if i % 2 == 1 {
                terms.push(Term { words: words(part), prefix: false });
            } else {
                terms.extend(part.split_whitespace().map(|chunk| Term { words: words(chunk), prefix: true }));
            }
        }
        terms.retain(|t| !t.words.is_empty());
        if terms.iter().map(|t| t.words.len()).sum::<usize>() > MAX_QUERY_WORDS {
            return Err(invalid(format!("q: must hold at most {MAX_QUERY_WORDS} words")));
        }
        Ok(Self { terms })
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Nothing to look for: the query held no letter or digit.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The FTS5 query: every term a quoted phrase (`"two words"`, `"deplo"*`), implicitly
    /// joined by AND. Words hold only letters and digits; quotes are doubled all the same.
    pub fn fts5(&self) -> String {
        let mut out = String::new();
        for term in &self.terms {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push('"');
            out.push_str(&term.words.join(" ").replace('"', "\"\""));
            out.push('"');
            if term.prefix {
                out.push('*');
            }
        }
        out
    }

    /// A `tsquery` in its text form, from each term's lexemes as PostgreSQL made them (the
    /// same function as the indexed text): `('two' <-> 'words') & ('deplo':*)`. `None` when
    /// no term has a lexeme left.
    pub fn tsquery(&self, lexemes_per_term: &[Vec<String>]) -> Option<String> {
        let mut parts = Vec::new();
        for (term, lexemes) in self.terms.iter().zip(lexemes_per_term) {
            if lexemes.is_empty() {
                continue;
            }
            let last = lexemes.len() - 1;
            let phrase: Vec<String> = lexemes
                .iter()
                .enumerate()
                .map(|(i, lexeme)| {
                    let quoted = format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"));
                    if term.prefix && i == last {
                        quoted + ":*"
                    } else {
                        quoted
                    }
                })
                .collect();
            parts.push(format!("({})", phrase.join(" <-> ")));
        }
        (!parts.is_empty()).then(|| parts.join(" & "))
    }

    /// An excerpt of `text` of at most [`HIGHLIGHT_MAX`] characters, HTML-escaped, with
    /// each match in `<mark>`…`</mark>`; `…` where it was cut. It starts shortly before the
    /// first match when the whole text does not fit.
    pub fn highlight(&self, text: &str) -> String {
        let tokens = tokens(text);
        let spans = self.matches(&tokens);
        let whole = render(text, 0, &spans, usize::MAX);
        if whole.encode_utf16().count() <= HIGHLIGHT_MAX {
            return whole;
        }
        let start = match spans.first() {
            Some(&(first, _)) => excerpt_start(text, &tokens, first),
            None => 0,
        };
        render(text, start, &spans, HIGHLIGHT_MAX)
    }

    /// Byte ranges of `text` that match a term, in order, merged where they overlap.
    fn matches(&self, tokens: &[Token]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        for term in &self.terms {
            let words: Vec<String> = term.words.iter().map(|w| fold(w)).collect();
            let n = words.len();
            for i in 0..tokens.len().saturating_sub(n - 1) {
                let hit = words.iter().enumerate().all(|(k, word)| {
                    let token = &tokens[i + k].folded;
                    if term.prefix && k == n - 1 {
                        token.starts_with(word.as_str())
                    } else {
                        token == word
                    }
                });
                if hit {
                    spans.push((tokens[i].start, tokens[i + n - 1].end));
                }
            }
        }
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

/// The words of a chunk of the query: its runs of letters and digits.
fn words(chunk: &str) -> Vec<String> {
    chunk.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// A word as compared for highlighting: compatibility-decomposed, without its combining
/// marks, in lower case (`Ｃafé` -> `cafe`).
fn fold(word: &str) -> String {
    word.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

struct Token {
    start: usize,
    end: usize,
    folded: String,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Token { start: s, end: i, folded: fold(&text[s..i]) });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Token { start: s, end: text.len(), folded: fold(&text[s..]) });
    }
    out
}

/// Where an excerpt starts: at a word up to [`LEAD`] characters before the first match.
fn excerpt_start(text: &str, tokens: &[Token], first: usize) -> usize {
    let lead_from = text[..first].char_indices().rev().nth(LEAD - 1).map_or(0, |(i, _)| i);
    tokens.iter().map(|t| t.start).find(|&s| s >= lead_from && s <= first).unwrap_or(first)
}

fn escape(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text.chars().for_each(|c| escape(c, &mut out));
    out
}

fn cost(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Renders `text` from byte `start`, escaped, marks around `spans`, within `budget`
/// UTF-16 units: nothing is cut inside an entity or a mark, and `…` shows each cut.
fn render(text: &str, start: usize, spans: &[(usize, usize)], budget: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    if start > 0 {
        out.push_str(ELLIPSIS);
        used += cost(ELLIPSIS);
    }
    // Room kept for a closing `…`.
    let room = budget.saturating_sub(cost(ELLIPSIS));
    let mut at = start;
    let mut spans = spans.iter().filter(|(_, end)| *end > start).peekable();
    while at < text.len() {
        let (piece, len) = match spans.peek() {
            Some(&&(s, e)) if s <= at => {
                spans.next();
                (format!("<mark>{}</mark>", escaped(&text[at..e])), e - at)
            }
            _ => {
                let Some(c) = text[at..].chars().next() else { break };
                let mut piece = String::new();
                escape(c, &mut piece);
                (piece, c.len_utf8())
            }
        };
        let piece_cost = cost(&piece);
        let is_last = at + len >= text.len();
        let limit = if is_last { budget } else { room };
        if used + piece_cost > limit {
            out.push_str(ELLIPSIS);
            return out;
        }
        out.push_str(&piece);
        used += piece_cost;
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> SearchQuery {
        SearchQuery::parse(text).unwrap()
    }

    #[test]
    fn words_become_quoted_prefix_terms_and_phrases_stay_whole() {
        assert_eq!(q("deplo Café").fts5(), r#""deplo"* "Café"*"#);
        assert_eq!(q(r#"say "two words" e-mail"#).fts5(), r#""say"* "two words" "e mail"*"#);
        assert_eq!(q(r#"a AND b OR NOT NEAR(c) * ^ : -"#).fts5(), r#""a"* "AND"* "b"* "OR"* "NOT"* "NEAR c"*"#);
        assert!(q("!!! ... ()").is_empty());
        assert_eq!(q(r#"unclosed "quote here"#).fts5(), r#""unclosed"* "quote here""#);
    }

    #[test]
    fn bad_queries_are_refused() {
        assert!(SearchQuery::parse("  ").is_err());
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
        assert!(SearchQuery::parse(&"a ".repeat(MAX_QUERY_WORDS + 1)).is_err());
    }

    #[test]
    fn tsquery_quotes_lexemes() {
        let query = q(r#"deplo "two words" x"#);
        let lexemes = vec![vec!["deplo".into()], vec!["two".into(), "words".into()], vec![]];
        assert_eq!(query.tsquery(&lexemes).unwrap(), "('deplo':*) & ('two' <-> 'words')");
        assert_eq!(q("o'k").tsquery(&[vec!["o'k".into()]]).unwrap(), "('o''k':*)");
        assert_eq!(q("x").tsquery(&[vec![]]), None);
    }

    #[test]
    fn highlights_mark_matches_in_escaped_text() {
        assert_eq!(
            q("cafe").highlight("<b>Café</b> & cafeteria"),
            "&lt;b&gt;<mark>Café</mark>&lt;/b&gt; &amp; <mark>cafeteria</mark>"
        );
        assert_eq!(q(r#""two words""#).highlight("two  words, two"), "<mark>two  words</mark>, two");
        assert_eq!(q("deploy").highlight("no match here"), "no match here");
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{} needle {}", "word ".repeat(200), "<tail> ".repeat(200));
        let out = q("needle").highlight(&text);
        assert!(out.encode_utf16().count() <= HIGHLIGHT_MAX, "{}", out.len());
        assert!(out.starts_with('…') && out.ends_with('…'));
        assert!(out.contains("<mark>needle</mark>"));
        assert!(!out.contains("<tail>"));
        let emoji = "😀".repeat(400);
        assert!(q("x").highlight(&emoji).encode_utf16().count() <= HIGHLIGHT_MAX);
        let entities = "<".repeat(400);
        let out = q("x").highlight(&entities);
        assert!(out.encode_utf16().count() <= HIGHLIGHT_MAX && out.ends_with("&lt;…"));
    }
}
