//! depot's own source tree, for the fitness tests that read it.

use std::path::{Path, PathBuf};

/// A Rust file of the workspace, relative to its root, with its text.
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// The lines with their number, without comments (`//` to the end of
    /// the line), so that a comment may name what the code may not use.
    pub fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or_default()))
    }

    /// `code_lines` up to the unit tests (`#[cfg(test)]`), which may use
    /// what the module itself may not.
    pub fn non_test_code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.code_lines()
            .take_while(|(_, code)| code.trim() != "#[cfg(test)]")
    }
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (relative to the workspace root).
pub fn rust_files(dir: &str) -> Vec<SourceFile> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join(dir), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| SourceFile {
            text: std::fs::read_to_string(&path).unwrap(),
            path: path.strip_prefix(root()).unwrap().to_path_buf(),
        })
        .collect()
}
