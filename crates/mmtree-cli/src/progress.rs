//! Progress on standard error for the long walks (`stat`, `check`, `compact`, `backup`,
//! `dump`), drawn only when standard error is a terminal (indicatif hides it otherwise, and when
//! TERM is unset or dumb), so pipes and logs see nothing of it.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner saying `what` is under way, with the time taken so far.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar.tick(); // drawn at once, not at the first tick
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar of `total` units (`unit`: "records", or "bytes" for a byte count).
pub fn bar(what: &str, total: u64, unit: &str) -> ProgressBar {
    let template = if unit == "bytes" {
        "{msg} {bar:40} {bytes}/{total_bytes} eta {eta}".to_string()
    } else {
        format!("{{msg}} {{bar:40}} {{pos}}/{{len}} {unit} eta {{eta}}")
    };
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar.tick(); // drawn at once, however short the walk
    bar
}
