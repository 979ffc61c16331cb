//! The kernel's "list format" (cpuset(7)): comma-separated numbers and inclusive
//! ranges such as `0-3,7`. `process.execCPUAffinity` lists CPUs with it and
//! `linux.memoryPolicy.nodes` lists NUMA nodes; both become a bitmask of `u64`
//! words (bit `n` of word `n / 64` is CPU or node `n`), as the syscalls take them.

/// The largest mask the parser builds: 1024 bits, the size of glibc's `cpu_set_t`
/// and of the kernel's largest `MAX_NUMNODES` on x86-64.
pub const MAX_IDS: usize = 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("empty element in {list:?} (expected a list such as \"0-3,7\")")]
    EmptyElement { list: String },
    #[error("{element:?} in {list:?} is neither a number nor a range a-b")]
    NotANumber { list: String, element: String },
    #[error("range {element:?} in {list:?} goes backwards")]
    Backwards { list: String, element: String },
    #[error("{id} in {list:?} is above the largest supported id {max}")]
    TooLarge { list: String, id: usize, max: usize },
}

/// A set of CPU or node ids as the kernel's bitmask words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMask {
    words: Vec<u64>,
}

impl IdMask {
    /// The bitmask words, `MAX_IDS / 64` of them.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// No id is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The ids that are set, in increasing order.
    pub fn ids(&self) -> Vec<usize> {
        (0..MAX_IDS).filter(|i| self.contains(*i)).collect()
    }

    pub fn contains(&self, id: usize) -> bool {
        id < MAX_IDS && self.words[id / 64] & (1 << (id % 64)) != 0
    }

    fn set(&mut self, id: usize) {
        self.words[id / 64] |= 1 << (id % 64);
    }
}

/// Parse `list`; an empty (or all-blank) list is the empty mask. Blanks around
/// elements are allowed (the spec's schema allows them).
pub fn parse(list: &str) -> Result<IdMask, ListError> {
    let mut mask = IdMask {
        words: vec![0; MAX_IDS / 64],
    };
    if list.trim().is_empty() {
        return Ok(mask);
    }
    for element in list.split(',').map(str::trim) {
        let (first, last) = parse_element(list, element)?;
        for id in first..=last {
            mask.set(id);
        }
    }
    Ok(mask)
}

/// One element: `n` or `a-b`, as the inclusive range it names.
fn parse_element(list: &str, element: &str) -> Result<(usize, usize), ListError> {
    if element.is_empty() {
        return Err(ListError::EmptyElement { list: list.into() });
    }
    let number = |s: &str| -> Result<usize, ListError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ListError::NotANumber {
                list: list.into(),
                element: element.into(),
            });
        }
        let id = s.parse::<usize>().unwrap_or(usize::MAX);
        if id >= MAX_IDS {
            return Err(ListError::TooLarge {
                list: list.into(),
                id,
                max: MAX_IDS - 1,
            });
        }
        Ok(id)
    };
    let (first, last) = match element.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(element)?;
            (n, n)
        }
    };
    if last < first {
        return Err(ListError::Backwards {
            list: list.into(),
            element: element.into(),
        });
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges() {
        let m = parse("0-1,3, 5 ,7-7").unwrap();
        assert_eq!(m.ids(), vec![0, 1, 3, 5, 7]);
        assert_eq!(m.words()[0], 0b1010_1011);
        assert_eq!(m.words().len(), 16);
    }

    #[test]
    fn empty_list_is_the_empty_mask() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("  ").unwrap().is_empty());
    }

    #[test]
    fn high_ids_land_in_later_words() {
        let m = parse("64,1023").unwrap();
        assert_eq!(m.words()[1], 1);
        assert_eq!(m.words()[15], 1 << 63);
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        assert!(matches!(parse("0,,1"), Err(ListError::EmptyElement { .. })));
        assert!(matches!(parse("0-x"), Err(ListError::NotANumber { .. })));
        assert!(matches!(parse("-1"), Err(ListError::NotANumber { .. })));
        assert!(matches!(parse("3-1"), Err(ListError::Backwards { .. })));
        assert!(matches!(
            parse("1024"),
            Err(ListError::TooLarge { id: 1024, .. })
        ));
        assert!(matches!(
            parse("99999999999999999999999"),
            Err(ListError::TooLarge { .. })
        ));
        assert_eq!(
            parse("3-1").unwrap_err().to_string(),
            "range \"3-1\" in \"3-1\" goes backwards"
        );
    }
}
