//! Paging long lists (hosts, violations) with plain links, so a page never carries thousands
//! of rows.

/// Where a list is and the links to its neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pager {
    /// The page shown, from 1.
    pub page: usize,
    /// How many pages there are (at least 1).
    pub pages: usize,
    /// The first item shown, from 1 (0 when the list is empty).
    pub from: usize,
    /// The last item shown.
    pub to: usize,
    /// All items.
    pub total: usize,
    /// The previous page's link.
    pub prev: Option<String>,
    /// The next page's link.
    pub next: Option<String>,
}

impl Pager {
    /// Page `asked` (from 1; clamped) of `total` items, `size` per page; `link(n)` is the URL
    /// of page `n`.
    pub fn new(asked: usize, total: usize, size: usize, link: impl Fn(usize) -> String) -> Self {
        let size = size.max(1);
        let pages = total.div_ceil(size).max(1);
        let page = asked.clamp(1, pages);
        let start = (page - 1) * size;
        Pager {
            page,
            pages,
            from: if total == 0 { 0 } else { start + 1 },
            to: (start + size).min(total),
            total,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }

    /// The items of this page.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self.from.saturating_sub(1).min(items.len());
        &items[start..self.to.min(items.len()).max(start)]
    }
}

/// A page number from a query value: anything unreadable is page 1.
pub fn page_number(value: Option<&str>) -> usize {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_clamp_and_link() {
        let items: Vec<u32> = (0..450).collect();
        let p = Pager::new(3, items.len(), 200, |n| format!("/?page={n}"));
        assert_eq!((p.page, p.pages, p.from, p.to), (3, 3, 401, 450));
        assert_eq!(p.slice(&items).len(), 50);
        assert_eq!(p.prev.as_deref(), Some("/?page=2"));
        assert_eq!(p.next, None);
        let p = Pager::new(99, 0, 200, |n| n.to_string());
        assert_eq!((p.page, p.from, p.to), (1, 0, 0));
        assert!(p.slice::<u32>(&[]).is_empty());
        assert_eq!(page_number(Some("x")), 1);
    }
}
