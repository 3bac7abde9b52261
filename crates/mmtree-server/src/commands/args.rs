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

    /// Consumes the next argument if it is one of `words` (any case): which one.
    pub fn eat_any(&mut self, words: &[&'static str]) -> Option<&'static str> {
        words.iter().copied().find(|w| self.eat(w))
    }

    /// Consumes `word value` if `word` (any case) is next and a value follows it (as Redis'
    /// `!strcasecmp(opt, word) && moreargs`): the value.
    pub fn eat_value(&mut self, word: &str) -> Option<&'a [u8]> {
        match self.rest {
            [w, value, rest @ ..] if w.eq_ignore_ascii_case(word.as_bytes()) => {
                self.rest = rest;
                Some(value)
            }
            _ => None,
        }
    }

    /// The next argument.
    pub fn take(&mut self) -> Option<&'a [u8]> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    /// What is left.
    pub fn rest(&self) -> &'a [Vec<u8>] {
        self.rest
    }

    /// The next argument as an integer: None if there is none, Some(None) if it is not one.
    pub fn take_i64(&mut self) -> Option<Option<i64>> {
        self.take().map(super::parse_i64)
    }
}

/// The expiry options SET and GETEX share (as Redis parses both with one function): EX
/// seconds, PX milliseconds, EXAT Unix seconds, PXAT Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

impl ExpiryUnit {
    /// Consumes EX, PX, EXAT or PXAT if it is next.
    pub fn eat(args: &mut Args<'_>) -> Option<ExpiryUnit> {
        for (word, unit) in [
            ("EX", ExpiryUnit::Seconds),
            ("PX", ExpiryUnit::Millis),
            ("EXAT", ExpiryUnit::UnixSeconds),
            ("PXAT", ExpiryUnit::UnixMillis),
        ] {
            if args.eat(word) {
                return Some(unit);
            }
        }
        None
    }

    /// The time, in Unix milliseconds, that `n` of this unit names at `now`; None if it does
    /// not fit an i64.
    pub fn deadline(self, n: i64, now: u64) -> Option<i64> {
        let now = i64::try_from(now).ok()?;
        match self {
            ExpiryUnit::Seconds => n.checked_mul(1000)?.checked_add(now),
            ExpiryUnit::Millis => n.checked_add(now),
            ExpiryUnit::UnixSeconds => n.checked_mul(1000),
            ExpiryUnit::UnixMillis => Some(n),
        }
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

    #[test]
    fn words_with_values_need_the_value() {
        let raw: Vec<Vec<u8>> = ["db", "3", "Rank", "NX", "DB"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut args = Args::new(&raw);
        assert_eq!(args.eat_value("RANK"), None);
        assert_eq!(args.eat_value("DB"), Some(&b"3"[..]));
        assert_eq!(args.eat_any(&["NX", "RANK"]), Some("RANK"));
        assert_eq!(args.eat_any(&["XX", "GT"]), None);
        assert_eq!(args.eat_any(&["XX", "NX"]), Some("NX"));
        // A word without its value is left in place.
        assert_eq!(args.eat_value("DB"), None);
        assert_eq!(args.rest().len(), 1);
    }

    #[test]
    fn expiry_units_name_their_deadlines() {
        let raw: Vec<Vec<u8>> = ["px", "5", "EXAT", "7", "KEEPTTL"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut args = Args::new(&raw);
        assert_eq!(ExpiryUnit::eat(&mut args), Some(ExpiryUnit::Millis));
        assert_eq!(args.take(), Some(&b"5"[..]));
        assert_eq!(ExpiryUnit::eat(&mut args), Some(ExpiryUnit::UnixSeconds));
        args.take();
        assert_eq!(ExpiryUnit::eat(&mut args), None);
        assert!(args.eat("KEEPTTL"));
        assert_eq!(ExpiryUnit::Seconds.deadline(2, 1000), Some(3000));
        assert_eq!(ExpiryUnit::Millis.deadline(2, 1000), Some(1002));
        assert_eq!(ExpiryUnit::UnixSeconds.deadline(2, 1000), Some(2000));
        assert_eq!(ExpiryUnit::UnixMillis.deadline(2, 1000), Some(2));
        assert_eq!(ExpiryUnit::Seconds.deadline(i64::MAX / 10, 0), None);
    }
}
