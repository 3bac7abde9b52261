//! Page-fault counters of this process, from `/proc/self/stat` (Linux).

/// Minor and major page faults so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub minor: u64,
    pub major: u64,
}

impl Faults {
    /// Reads the counters; zeros where `/proc` is not available.
    pub fn now() -> Faults {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return Faults::default();
        };
        // The command name (field 2) may hold spaces: fields are counted after its `)`.
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            return Faults::default();
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
        Faults {
            minor: field(7),
            major: field(9),
        }
    }

    pub fn since(self, earlier: Faults) -> Faults {
        Faults {
            minor: self.minor.saturating_sub(earlier.minor),
            major: self.major.saturating_sub(earlier.major),
        }
    }
}
