//! One page of a list that can grow without bound (patches, hosts, API
//! tokens), asked for with the optional `page` and `size` query parameters
//! as the package list is. Without them these answers keep their original
//! shape, the whole list, which StarlingX's and older clients read.

/// The largest page: a console page shows 10 to 100 rows.
pub const MAX_SIZE: u64 = 500;
/// The size when only `page` is given.
pub const DEFAULT_SIZE: u64 = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// 1-based.
    pub page: u64,
    pub size: u64,
}

impl Window {
    /// `None` when neither is given: the whole list.
    pub fn new(page: Option<u64>, size: Option<u64>) -> Result<Option<Self>, String> {
        if page.is_none() && size.is_none() {
            return Ok(None);
        }
        let page = page.unwrap_or(1);
        let size = size.unwrap_or(DEFAULT_SIZE);
        if page < 1 {
            return Err("page starts at 1".into());
        }
        if !(1..=MAX_SIZE).contains(&size) {
            return Err(format!("size must be between 1 and {MAX_SIZE}, got {size}"));
        }
        // Rows to skip must fit a database's signed 64-bit offset.
        if (page - 1)
            .checked_mul(size)
            .is_none_or(|o| i64::try_from(o).is_err())
        {
            return Err(format!("page {page} lies beyond any list"));
        }
        Ok(Some(Self { page, size }))
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_means_everything() {
        assert_eq!(Window::new(None, None), Ok(None));
    }

    #[test]
    fn bounds() {
        let w = Window::new(Some(3), Some(20)).unwrap().unwrap();
        assert_eq!(w.offset(), 40);
        assert_eq!(
            Window::new(Some(2), None).unwrap(),
            Some(Window {
                page: 2,
                size: DEFAULT_SIZE
            })
        );
        assert!(Window::new(None, Some(MAX_SIZE)).is_ok());
        for (page, size) in [(Some(0), None), (None, Some(0)), (None, Some(MAX_SIZE + 1))] {
            assert!(Window::new(page, size).is_err(), "{page:?} {size:?}");
        }
        assert!(Window::new(Some(u64::MAX), Some(2)).is_err());
    }
}
