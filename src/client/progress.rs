//! The progress bars of `push` and `pull`.

use indicatif::{ProgressBar, ProgressStyle};

/// Characters of a file name a bar shows.
const LABEL: usize = 40;

/// A bar for a transfer of `length` bytes of `file_name`, hidden unless a
/// person watches.
pub(super) fn bar(file_name: &str, length: u64, interactive: bool) -> ProgressBar {
    let bar = match interactive {
        true => ProgressBar::new(length),
        false => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_length(length);
    bar.set_message(label(file_name));
    bar
}

/// `file_name` in `LABEL` characters, padded. A long name keeps its end: the
/// versions and builds that tell packages apart are there
/// (`…gent-4.3.2-20241209.el7.x86_64.rpm`), not in their shared start.
pub(super) fn label(file_name: &str) -> String {
    let chars: Vec<char> = file_name.chars().collect();
    let shown: String = if chars.len() > LABEL {
        std::iter::once('…')
            .chain(chars[chars.len() - (LABEL - 1)..].iter().copied())
            .collect()
    } else {
        file_name.to_string()
    };
    format!("{shown:<LABEL$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_their_distinguishing_end() {
        let a = label("t-oceanbase-ocp-agent-3.1.2-20210812221645.alios7.x86_64.rpm");
        let b = label("t-oceanbase-ocp-agent-3.1.3-20211012221645.alios7.x86_64.rpm");
        assert_ne!(a, b);
        assert!(
            a.ends_with("alios7.x86_64.rpm") && a.starts_with('…'),
            "{a}"
        );
        assert_eq!(a.chars().count(), LABEL);
        assert_eq!(label("x.sh").trim_end(), "x.sh");
    }
}
