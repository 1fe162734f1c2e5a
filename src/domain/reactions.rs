//! Reactions: what counts as an emoji, and how many a message may carry.

use unicode_segmentation::UnicodeSegmentation;

use super::input::{invalid, InvalidInput};

/// Distinct emoji one message may carry; a further one is refused (409).
pub const MAX_DISTINCT_PER_MESSAGE: usize = 20;

/// Bytes of a percent-encoded path segment looked at; the longest emoji sequences (families
/// with skin tones) take well under a hundred.
const MAX_ENCODED_BYTES: usize = 256;

/// One emoji: exactly one extended grapheme cluster that the Unicode emoji set knows, kept
/// in its fully qualified form (so `❤` and `❤️` are the same reaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(&'static str);

impl Emoji {
    /// Reads an emoji from a percent-encoded path segment.
    pub fn from_path_segment(segment: &str) -> Result<Self, InvalidInput> {
        if segment.len() > MAX_ENCODED_BYTES {
            return Err(invalid("emoji: must be one emoji"));
        }
        let text = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| invalid("emoji: not valid percent-encoded UTF-8"))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let mut clusters = text.graphemes(true);
        let (Some(first), None) = (clusters.next(), clusters.next()) else {
            return Err(invalid("emoji: must be exactly one emoji"));
        };
        emojis::get(first).map(|e| Self(e.as_str())).ok_or_else(|| invalid("emoji: not an emoji"))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_is_accepted_in_its_qualified_form() {
        for ok in ["👍", "%F0%9F%91%8D", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣"] {
            assert!(Emoji::from_path_segment(ok).is_ok(), "{ok}");
        }
        assert_eq!(Emoji::parse("❤").map(|e| e.as_str()), Ok("❤️"));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "a", "ab", "👍👍", "👍 ", "%", "%ZZ", "%FF", "%F0%9F", ":+1:", &"👍".repeat(100)] {
            assert!(Emoji::from_path_segment(bad).is_err(), "{bad:?}");
        }
    }
}
