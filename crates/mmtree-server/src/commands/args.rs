//! A cursor over a command's arguments for option parsing (as kvrocks' `CommandParser`): words
//! are matched case-insensitively, values taken one at a time, and what is left is an error
//! the caller names.

/// The arguments after the fixed ones, consumed from the front.
pub struct Args<'a> {
    rest: &'a [Vec<u8>],
}

impl<'a> Args<'a> {
    pub fn new(rest: &'a [Vec<u8>]) -> Args<'a> {
        Args { rest }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Consumes the next argument if it is `word` (any case).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.rest.first() {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.rest = &self.rest[1..];
                true
            }
            _ => false,
        }
    }

    /// The next argument.
    pub fn take(&mut self) -> Option<&'a [u8]> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    /// The next argument as an integer: None if there is none, Some(None) if it is not one.
    pub fn take_i64(&mut self) -> Option<Option<i64>> {
        self.take().map(super::parse_i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_in_any_case_and_values_come_in_order() {
        let raw: Vec<Vec<u8>> = ["match", "a*", "COUNT", "12", "count", "x"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut args = Args::new(&raw);
        assert!(!args.eat("COUNT"));
        assert!(args.eat("MATCH"));
        assert_eq!(args.take(), Some(&b"a*"[..]));
        assert!(args.eat("count"));
        assert_eq!(args.take_i64(), Some(Some(12)));
        assert!(args.eat("COUNT"));
        assert_eq!(args.take_i64(), Some(None));
        assert!(args.is_empty());
        assert_eq!(args.take(), None);
    }
}
