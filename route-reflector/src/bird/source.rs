//! The files a configuration is read from, positions in them, and errors that name them.

use std::fmt;
use std::path::{Path, PathBuf};

/// A range of bytes in one of the files of a [`Sources`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: u32, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// From the start of `self` to the end of `other` (same file).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            start: self.start,
            end: other.end.max(self.start),
        }
    }
}

/// One file as read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as BIRD would name it: the main file as given, an included file joined to
    /// the directory of the file that includes it.
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// Line and column (both from 1, the column in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (line, column)
    }
}

/// Every file read for one configuration, the main file first.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: PathBuf, text: String) -> u32 {
        self.files.push(SourceFile::new(path, text));
        (self.files.len() - 1) as u32
    }

    pub fn file(&self, span: Span) -> &SourceFile {
        &self.files[span.file as usize]
    }

    /// The text a span covers.
    pub fn text(&self, span: Span) -> &str {
        let f = self.file(span);
        f.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// An error at `span`.
    pub fn error(&self, span: Span, message: impl Into<String>) -> Error {
        let f = self.file(span);
        let (line, column) = f.line_column(span.start as usize);
        Error {
            file: f.path.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// A configuration error: where (file, line and column from 1) and what was wrong. A line
/// of 0 means the error is about the file as a whole (it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Error {
    /// An error about a whole file.
    pub fn file(path: &Path, message: impl Into<String>) -> Error {
        Error {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }

    /// The line BIRD prints for a configuration error (after its `bird: ` prefix):
    /// `FILE:LINE:COLUMN MESSAGE`, or the message alone for a file that cannot be read.
    pub fn bird_line(&self) -> String {
        if self.line == 0 {
            self.message.clone()
        } else {
            format!(
                "{}:{}:{} {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for Error {}
