//! Diagnostics: configuration problems, each pointing at a file, line, section and key,
//! saying what is wrong and what to do. Collected, never thrown one at a time.

use std::fmt;
use std::path::PathBuf;

use super::ini::Origin;

/// One problem: `FILE:LINE: [section] key: what is wrong — what to do`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub problem: String,
    pub hint: String,
}

impl Diagnostic {
    /// A problem located at `origin` in `[section]`, about `key` if given.
    pub fn at(
        origin: &Origin,
        section: &str,
        key: Option<&str>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: Some(origin.file.to_path_buf()),
            line: Some(origin.line),
            section: Some(section.to_string()),
            key: key.map(str::to_string),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", printable(&file.display().to_string()))?;
            match self.line {
                Some(0) | None => {}
                Some(line) => write!(f, ":{line}")?,
            }
            write!(f, ": ")?;
        }
        match (&self.section, &self.key) {
            (Some(s), Some(k)) => write!(f, "[{}] {}: ", clip(s), clip(k))?,
            (Some(s), None) => write!(f, "[{}]: ", clip(s))?,
            (None, Some(k)) => write!(f, "{}: ", clip(k))?,
            (None, None) => {}
        }
        write!(f, "{}", one_line(&self.problem))?;
        if !self.hint.is_empty() {
            write!(f, " — {}", one_line(&self.hint))?;
        }
        Ok(())
    }
}

/// `text` on one line, nothing in it able to drive the terminal.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\n') {
        std::borrow::Cow::Owned(printable(&text.replace('\n', "\\n")).into_owned())
    } else {
        printable(text)
    }
}

/// A non-empty list of problems, displayed one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// One problem per line, at most [`SHOWN_PROBLEMS`]; then how many more there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().take(SHOWN_PROBLEMS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > SHOWN_PROBLEMS {
            write!(
                f,
                "\n… and {} more problems (fix the ones above first)",
                self.0.len() - SHOWN_PROBLEMS
            )?;
        }
        Ok(())
    }
}

/// Most problems a report shows (the rest are counted).
pub const SHOWN_PROBLEMS: usize = 50;

/// Most characters of a value a message quotes.
pub const SHOWN_MAX: usize = 80;

/// A value as messages quote it: in backticks, control characters escaped (`\n`, `\u{0}`),
/// cut to [`SHOWN_MAX`] characters (then followed by its full length).
pub fn shown(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(SHOWN_MAX * 2) + 2);
    out.push('`');
    let mut chars = value.chars();
    for c in chars.by_ref().take(SHOWN_MAX) {
        push_escaped(&mut out, c);
    }
    out.push('`');
    if chars.next().is_some() {
        out.push_str(&format!("… ({} characters)", value.chars().count()));
    }
    out
}

/// A name or path as messages show it without quotes: control characters escaped, cut to
/// [`SHOWN_MAX`] characters (`…` marks the cut).
pub fn clip(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    for c in chars.by_ref().take(SHOWN_MAX) {
        push_escaped(&mut out, c);
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `text` with every control character but the line break escaped, so nothing a file or a
/// server sent can move the cursor or recolour the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\n' {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within distance 2, if any.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    closest_word(word, candidates, 2)
}

/// The candidate closest to `word` within `max` edits (case ignored), if any. Words far
/// longer than any sensible candidate are not compared (the distance costs their length
/// squared).
pub fn closest_word<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    if word.len() > 200 {
        return None;
    }
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.len().abs_diff(word.len()) <= max)
        .map(|c| (distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
