//! Message formatting and mentions: the Markdown subset rendered to sanitized HTML, the
//! `@username` and `@room` tokens a message carries, and a member's notification level.
//! No I/O here.

use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::UrlRelative;
use linkify::{LinkFinder, LinkKind};
use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

use super::{text_enum, MessageType, Role, RoomType};

text_enum!(
    /// Which new messages of a room a member hears of: all, those that mention them, none.
    Notify, "notify" { All => "all", Mentions => "mentions", None => "none" }
);

impl Notify {
    /// What a member's level reads as: their choice, else the room type's default (`all`
    /// in direct rooms and groups, `mentions` in channels); a muted room reads as `none`.
    pub fn effective(stored: Option<&str>, room_type: RoomType, is_muted: bool) -> Notify {
        if is_muted {
            return Notify::None;
        }
        match stored.and_then(|s| Notify::parse(s).ok()) {
            Some(level) => level,
            None if room_type == RoomType::Channel => Notify::Mentions,
            None => Notify::All,
        }
    }
}

/// The tags and attributes rendered content may hold. Raw HTML never reaches it as
/// markup (it is turned into text first); this is the second wall.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .add_tags(["p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"])
        .add_tag_attributes("a", ["href"])
        .add_tag_attributes("ol", ["start"])
        .add_clean_content_tags(["script", "style"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true);
    builder
});

static LINKS: LazyLock<LinkFinder> = LazyLock::new(|| {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url, LinkKind::Email]);
    finder
});

/// The HTML a message shows: the Markdown subset for text and file messages, the escaped
/// text for system notices, nothing for a deleted message.
pub fn message_html(content: &str, message_type: MessageType, is_deleted: bool) -> String {
    if is_deleted || content.is_empty() {
        return String::new();
    }
    match message_type {
        MessageType::System => escaped(content),
        MessageType::Text | MessageType::File => render(content),
    }
}

/// Text as HTML text, nothing interpreted.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    pulldown_cmark::html::push_html(&mut out, std::iter::once(Event::Text(CowStr::Borrowed(text))));
    out
}

/// The Markdown subset (emphasis, strong, inline code, fenced code blocks, block quotes,
/// lists, links, auto-linked URLs, line breaks) as sanitized HTML. Raw HTML shows as text;
/// headings show as the text written; images as links to them.
pub fn render(content: &str) -> String {
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut in_link = 0usize;
    let mut in_code_block = false;
    for event in Parser::new_ext(content, Options::empty()) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                events.push(Event::Start(Tag::Paragraph));
                events.push(Event::Text(CowStr::from(format!("{} ", "#".repeat(level as usize)))));
            }
            Event::End(TagEnd::Heading(_)) => events.push(Event::End(TagEnd::Paragraph)),
            Event::Start(Tag::HtmlBlock) => events.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => events.push(Event::End(TagEnd::Paragraph)),
            Event::Html(html) | Event::InlineHtml(html) => events.push(Event::Text(html)),
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                in_link += 1;
                events.push(Event::Start(Tag::Link { link_type, dest_url, title, id }));
            }
            Event::End(TagEnd::Image) => {
                in_link = in_link.saturating_sub(1);
                events.push(Event::End(TagEnd::Link));
            }
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                in_link += 1;
                events.push(Event::Start(Tag::Link { link_type, dest_url, title, id }));
            }
            Event::End(TagEnd::Link) => {
                in_link = in_link.saturating_sub(1);
                events.push(Event::End(TagEnd::Link));
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code_block = true;
                events.push(Event::Start(Tag::CodeBlock(kind)));
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code_block = false;
                events.push(Event::End(TagEnd::CodeBlock));
            }
            Event::SoftBreak => events.push(Event::HardBreak),
            Event::Text(text) if in_link == 0 && !in_code_block => autolink(text, &mut events),
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(content.len() * 3 / 2 + 16);
    pulldown_cmark::html::push_html(&mut html, capped(events).into_iter());
    CLEANER.clean(&html).to_string()
}

/// How deep elements nest in rendered HTML: deeper ones (5,000 nested quotes fit in one
/// message) keep their text and lose their element, which keeps sanitizing linear.
const MAX_DEPTH: usize = 16;

fn capped(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut out = Vec::with_capacity(events.len());
    let mut kept: Vec<bool> = Vec::new();
    let mut depth = 0usize;
    for event in events {
        match event {
            Event::Start(_) => {
                let keep = depth < MAX_DEPTH;
                kept.push(keep);
                if keep {
                    depth += 1;
                    out.push(event);
                }
            }
            Event::End(_) => {
                if kept.pop().unwrap_or(false) {
                    depth = depth.saturating_sub(1);
                    out.push(event);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Text with the URLs and e-mail addresses in it made links.
fn autolink<'a>(text: CowStr<'a>, events: &mut Vec<Event<'a>>) {
    if !text.contains(['.', '@', ':']) {
        events.push(Event::Text(text));
        return;
    }
    let mut rest = 0;
    let mut linked = false;
    for link in LINKS.links(&text) {
        linked = true;
        if link.start() > rest {
            events.push(Event::Text(CowStr::from(text[rest..link.start()].to_owned())));
        }
        let shown = link.as_str().to_owned();
        let dest = match link.kind() {
            LinkKind::Email => format!("mailto:{shown}"),
            _ => shown.clone(),
        };
        events.push(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: CowStr::from(dest),
            title: CowStr::Borrowed(""),
            id: CowStr::Borrowed(""),
        }));
        events.push(Event::Text(CowStr::from(shown)));
        events.push(Event::End(TagEnd::Link));
        rest = link.end();
    }
    if !linked {
        events.push(Event::Text(text));
    } else if rest < text.len() {
        events.push(Event::Text(CowStr::from(text[rest..].to_owned())));
    }
}

/// The mentions written in a message: the `@username` tokens (lowercased, without the
/// `@`, each once) and whether `@room` was used. Code spans, code blocks, URLs and e-mail
/// addresses mention nobody.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub usernames: Vec<String>,
    pub room: bool,
}

pub fn written_mentions(content: &str) -> Written {
    let mut found = Written::default();
    if !content.contains('@') {
        return found;
    }
    let mut in_code_block = false;
    let mut text = String::new();
    for event in Parser::new_ext(content, Options::empty()) {
        match event {
            Event::Text(t) if !in_code_block => text.push_str(&t),
            other => {
                scan_text(&text, &mut found);
                text.clear();
                match other {
                    Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
                    Event::End(TagEnd::CodeBlock) => in_code_block = false,
                    _ => {}
                }
            }
        }
    }
    scan_text(&text, &mut found);
    found
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The mentions in one run of plain text, outside the URLs and e-mail addresses in it.
fn scan_text(text: &str, found: &mut Written) {
    if !text.contains('@') {
        return;
    }
    let mut rest = 0;
    for link in LINKS.links(text) {
        scan_plain(&text[rest..link.start()], found);
        rest = link.end();
    }
    scan_plain(&text[rest..], found);
}

fn scan_plain(text: &str, found: &mut Written) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        // `a@b` is an address, not a mention; so is anything glued to a word before it.
        if at > 0 && (is_name_byte(bytes[at - 1]) || bytes[at - 1] == b'@' || bytes[at - 1] == b'+') {
            continue;
        }
        let start = at + 1;
        let mut end = start;
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        if end < bytes.len() && bytes[end] == b'@' {
            continue;
        }
        // A full stop after a name ends the sentence.
        let name = text[start..end].trim_end_matches('.');
        if name.is_empty() || name.len() > 32 {
            continue;
        }
        let name = name.to_ascii_lowercase();
        if name == "room" {
            found.room = true;
        } else if !found.usernames.contains(&name) {
            found.usernames.push(name);
        }
    }
}

/// Whether a sender with this role may mention the whole room: anyone in direct rooms and
/// groups, only admins and moderators in a channel.
pub fn may_mention_room(room_type: RoomType, role: Option<Role>) -> bool {
    match room_type {
        RoomType::Channel => role.is_some_and(Role::moderates),
        RoomType::Direct | RoomType::Group => role.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_subset() {
        assert_eq!(render("*a* **b** `c`"), "<p><em>a</em> <strong>b</strong> <code>c</code></p>\n");
        assert_eq!(render("a\nb"), "<p>a<br>\nb</p>\n");
        assert!(render("```\nx < y\n```").contains("<pre><code>x &lt; y\n</code></pre>"));
        assert!(render("> q").contains("<blockquote>"));
        assert!(render("- a\n- b").contains("<ul>"));
    }

    #[test]
    fn links_are_safe() {
        let html = render("[x](javascript:alert(1))");
        assert!(!html.contains("javascript"), "{html}");
        let html = render("see https://example.com/a?b=1");
        assert!(html.contains(r#"<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">"#), "{html}");
        let html = render("[x](/relative)");
        assert!(!html.contains("href"), "{html}");
        assert!(render("mail bob@example.com").contains(r#"href="mailto:bob@example.com""#));
    }

    #[test]
    fn raw_html_is_text() {
        assert_eq!(render("<script>alert(1)</script>"), "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
        assert_eq!(render("a <b>b</b>"), "<p>a &lt;b&gt;b&lt;/b&gt;</p>\n");
        assert!(!render("<img src=x onerror=alert(1)>").contains("<img"));
        assert_eq!(render("# Title"), "<p># Title</p>\n");
    }

    #[test]
    fn finds_mentions() {
        let w = written_mentions("hi @Bob and @carol.x, @room. mail bob@example.com `@dave` @eve.");
        assert_eq!(w.usernames, vec!["bob", "carol.x", "eve"]);
        assert!(w.room);
        let w = written_mentions("```\n@bob\n```\nhttps://example.com/@carol");
        assert!(w.usernames.is_empty());
        assert!(!w.room);
        assert_eq!(written_mentions("**@bob**").usernames, vec!["bob"]);
    }

    /// The longest content, built to make parsers work hard, renders in bounded time.
    #[test]
    fn pathological_content_stays_cheap() {
        let cases = [
            "> ".repeat(4_999) + "x",
            "*a".repeat(5_000),
            "[".repeat(10_000),
            "`".repeat(10_000),
            "<a ".repeat(3_333),
            "- ".repeat(5_000),
            "@a ".repeat(3_333),
            "http://x.y/".repeat(900),
        ];
        for case in cases {
            let started = std::time::Instant::now();
            let html = render(&case);
            written_mentions(&case);
            assert!(!html.contains("<a "), "no unsafe markup");
            let took = started.elapsed();
            assert!(took < std::time::Duration::from_secs(2), "{} chars took {took:?}", case.len());
        }
    }

    #[test]
    fn notify_defaults() {
        assert_eq!(Notify::effective(None, RoomType::Channel, false), Notify::Mentions);
        assert_eq!(Notify::effective(None, RoomType::Group, false), Notify::All);
        assert_eq!(Notify::effective(Some("all"), RoomType::Channel, true), Notify::None);
    }
}
