//! Message templates: text with `{{merge_field}}` placeholders, parsed once and rendered per
//! recipient.
//!
//! What must stay true: a [`Template`] only exists if every placeholder names a known
//! [`MergeField`] and every `{{` is closed, so rendering cannot fail; an HTML body additionally
//! has balanced tags ([`Template::parse_html`]). Errors name the field of the compose form and the
//! line and column, so an admin can find the mistake. Values merged into HTML are escaped.

use std::fmt;

/// The merge fields a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeField {
    /// The students the message concerns, by name ("Ana Diaz and Ben Diaz").
    Student,
    /// The recipient's name (a guardian, or a staff member).
    Guardian,
    /// The name of the message's school (the school of its calendar).
    School,
    /// The calendar's name, e.g. `2026-27`.
    Calendar,
    /// The sender's name.
    Sender,
    /// The parent portal's URL.
    PortalUrl,
}

impl MergeField {
    /// Every merge field, in the order the compose form lists them.
    pub const ALL: [Self; 6] = [
        Self::Student,
        Self::Guardian,
        Self::School,
        Self::Calendar,
        Self::Sender,
        Self::PortalUrl,
    ];

    /// The name written between the braces, e.g. `portal_url` in `{{portal_url}}`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Student => "student",
            Self::Guardian => "guardian",
            Self::School => "school",
            Self::Calendar => "calendar",
            Self::Sender => "sender",
            Self::PortalUrl => "portal_url",
        }
    }
}

/// The values a template is rendered with, for one recipient.
#[derive(Debug, Clone, Default)]
pub struct MergeData {
    /// The students' names; rendered as an English list for `{{student}}`.
    pub students: Vec<String>,
    /// The recipient's name, for `{{guardian}}`.
    pub guardian: String,
    /// For `{{school}}`.
    pub school: String,
    /// For `{{calendar}}`.
    pub calendar: String,
    /// For `{{sender}}`.
    pub sender: String,
    /// For `{{portal_url}}`.
    pub portal_url: String,
}

impl MergeData {
    fn value(&self, field: MergeField) -> std::borrow::Cow<'_, str> {
        match field {
            MergeField::Student => english_list(&self.students).into(),
            MergeField::Guardian => self.guardian.as_str().into(),
            MergeField::School => self.school.as_str().into(),
            MergeField::Calendar => self.calendar.as_str().into(),
            MergeField::Sender => self.sender.as_str().into(),
            MergeField::PortalUrl => self.portal_url.as_str().into(),
        }
    }
}

/// "Ana", "Ana and Ben", "Ana, Ben and Cara".
pub fn english_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A template that failed to parse: which form field, where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}, line {line}, column {column}: {problem}")]
pub struct TemplateError {
    /// The compose form's field the template came from, e.g. `Message body`.
    pub field: &'static str,
    /// The line of the mistake, from 1.
    pub line: usize,
    /// The column of the mistake, in characters from 1.
    pub column: usize,
    /// What is wrong.
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(MergeField),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Elements that never have a closing tag.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

impl Template {
    /// Parses text with `{{field}}` placeholders; `field` names the form field in errors.
    pub fn parse(field: &'static str, source: &str) -> Result<Self, TemplateError> {
        let at = |offset: usize, problem: String| {
            let (line, column) = line_column(source, offset);
            TemplateError {
                field,
                line,
                column,
                problem,
            }
        };
        let mut pieces = Vec::new();
        let mut rest = 0;
        while let Some(open) = source[rest..].find("{{").map(|i| i + rest) {
            if let Some(stray) = source[rest..open].find("}}") {
                return Err(at(rest + stray, "'}}' without an opening '{{'".into()));
            }
            if open > rest {
                pieces.push(Piece::Text(source[rest..open].to_string()));
            }
            let Some(close) = source[open + 2..].find("}}").map(|i| i + open + 2) else {
                return Err(at(open, "'{{' is never closed with '}}'".into()));
            };
            let inner = &source[open + 2..close];
            if inner.contains("{{") {
                return Err(at(open, "'{{' is never closed with '}}'".into()));
            }
            let name = inner.trim();
            let merge = MergeField::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    at(
                        open,
                        format!(
                            "unknown merge field '{name}' (known: {})",
                            MergeField::ALL.map(MergeField::name).join(", ")
                        ),
                    )
                })?;
            pieces.push(Piece::Field(merge));
            rest = close + 2;
        }
        if let Some(stray) = source[rest..].find("}}") {
            return Err(at(rest + stray, "'}}' without an opening '{{'".into()));
        }
        if rest < source.len() {
            pieces.push(Piece::Text(source[rest..].to_string()));
        }
        Ok(Self { pieces })
    }

    /// Like [`Template::parse`], and also requires the HTML tags to be balanced: every opened
    /// element is closed, in order.
    pub fn parse_html(field: &'static str, source: &str) -> Result<Self, TemplateError> {
        let template = Self::parse(field, source)?;
        check_tags(source).map_err(|(offset, problem)| {
            let (line, column) = line_column(source, offset);
            TemplateError {
                field,
                line,
                column,
                problem,
            }
        })?;
        Ok(template)
    }

    /// The merge fields used, in order of first use.
    pub fn fields(&self) -> Vec<MergeField> {
        let mut out = Vec::new();
        for p in &self.pieces {
            if let Piece::Field(f) = p
                && !out.contains(f)
            {
                out.push(*f);
            }
        }
        out
    }

    /// Renders as plain text.
    pub fn render(&self, data: &MergeData) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&data.value(*f)),
            }
        }
        out
    }

    /// Renders as HTML: the template's own markup is kept, merged values are escaped.
    pub fn render_html(&self, data: &MergeData) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => escape_html_into(&data.value(*f), &mut out),
            }
        }
        out
    }
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Checks that HTML elements nest properly. Returns the byte offset and problem of the first
/// mistake.
fn check_tags(source: &str) -> Result<(), (usize, String)> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    let bytes = source.as_bytes();
    while let Some(lt) = source[i..].find('<').map(|k| k + i) {
        if source[lt..].starts_with("<!--") {
            let end = source[lt..]
                .find("-->")
                .ok_or((lt, "comment '<!--' is never closed".to_string()))?;
            i = lt + end + 3;
            continue;
        }
        let Some(gt) = source[lt..].find('>').map(|k| k + lt) else {
            return Err((lt, "'<' starts a tag that is never closed with '>'".into()));
        };
        let inner = &source[lt + 1..gt];
        i = gt + 1;
        if inner.starts_with('!') || inner.starts_with('?') {
            continue;
        }
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            if bytes.get(lt + 1).is_some_and(|b| b.is_ascii_whitespace()) {
                // A lone '<' in text ("a < b"): not a tag.
                i = lt + 1;
                continue;
            }
            return Err((lt, format!("'<{inner}>' is not a valid tag")));
        }
        if closing {
            match open.pop() {
                Some((top, _)) if top == name => {}
                Some((top, at)) => {
                    let (l, c) = line_column(source, at);
                    return Err((
                        lt,
                        format!("</{name}> closes <{top}> opened at line {l}, column {c}"),
                    ));
                }
                None => return Err((lt, format!("</{name}> closes nothing"))),
            }
        } else if !VOID.contains(&name.as_str()) && !inner.trim_end().ends_with('/') {
            open.push((name, lt));
        }
    }
    match open.pop() {
        Some((name, at)) => Err((at, format!("<{name}> is never closed"))),
        None => Ok(()),
    }
}

fn escape_html_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}

/// A plain-text rendition of an HTML body, for the text part of an email when the admin left it
/// empty: tags dropped, block ends become line breaks, the common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&rest[lt..]);
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match name.as_str() {
            "br" => out.push('\n'),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "ul" | "ol" | "table"
                if tag.starts_with('/') =>
            {
                out.push_str("\n\n")
            }
            "li" if !tag.starts_with('/') => out.push_str("- "),
            "li" | "tr" => out.push('\n'),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut text = String::new();
    let mut blank = 0;
    for line in decoded.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 || text.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(line.trim_start());
        text.push('\n');
    }
    text.trim_end().to_string()
}

impl fmt::Display for MergeField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MergeData {
        MergeData {
            students: vec!["Ana Diaz".into(), "Ben Diaz".into(), "Cara Diaz".into()],
            guardian: "Maria Diaz".into(),
            school: "Lincoln <Elementary>".into(),
            calendar: "2026-27".into(),
            sender: "Principal Lee".into(),
            portal_url: "https://herald.example/portal".into(),
        }
    }

    #[test]
    fn a_template_renders_every_merge_field() {
        let t = Template::parse(
            "body",
            "Dear {{guardian}}, about {{ student }} at {{school}} ({{calendar}}): see {{portal_url}}. {{sender}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&data()),
            "Dear Maria Diaz, about Ana Diaz, Ben Diaz and Cara Diaz at Lincoln <Elementary> (2026-27): see https://herald.example/portal. Principal Lee"
        );
    }

    #[test]
    fn merged_values_are_escaped_in_html_but_the_template_markup_is_kept() {
        let t = Template::parse_html("HTML body", "<p>At <b>{{school}}</b></p>").unwrap();
        assert_eq!(
            t.render_html(&data()),
            "<p>At <b>Lincoln &lt;Elementary&gt;</b></p>"
        );
    }

    #[test]
    fn an_unknown_merge_field_is_rejected_with_its_field_line_and_column() {
        let e = Template::parse("subject", "Hello\n  {{teacher}}").unwrap_err();
        assert_eq!(e.field, "subject");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.problem.contains("unknown merge field 'teacher'"), "{e}");
    }

    #[test]
    fn unbalanced_braces_are_rejected() {
        assert!(
            Template::parse("body", "Hi {{guardian")
                .unwrap_err()
                .problem
                .contains("never closed")
        );
        assert!(
            Template::parse("body", "Hi guardian}}")
                .unwrap_err()
                .problem
                .contains("without an opening")
        );
        assert!(Template::parse("body", "{{guardian}} and }}").is_err());
    }

    #[test]
    fn unbalanced_html_tags_are_rejected() {
        let e = Template::parse_html("HTML body", "<p>Hi <b>there</p>").unwrap_err();
        assert!(e.problem.contains("</p> closes <b>"), "{e}");
        let e = Template::parse_html("HTML body", "<div>\n<p>Hi</p>").unwrap_err();
        assert_eq!((e.line, e.problem.as_str()), (1, "<div> is never closed"));
        assert!(Template::parse_html("HTML body", "</p>").is_err());
    }

    #[test]
    fn void_and_self_closing_elements_and_comments_need_no_closing_tag() {
        Template::parse_html("HTML body", "<p>a<br>b<img src=x /><!-- <b> --> 1 < 2</p>").unwrap();
    }

    #[test]
    fn english_lists_join_with_and() {
        assert_eq!(english_list(&[]), "");
        assert_eq!(english_list(&["A".into()]), "A");
        assert_eq!(english_list(&["A".into(), "B".into()]), "A and B");
    }

    #[test]
    fn html_becomes_readable_text() {
        assert_eq!(
            html_to_text("<p>Dear parent,</p><p>School is <b>closed</b> &amp; safe.<br>Bye</p>"),
            "Dear parent,\n\nSchool is closed & safe.\nBye"
        );
    }
}
