//! Go's `sort.SliceStable`, step for step.
//!
//! Strategic merge patch sorts list elements with a comparator that is not a strict weak
//! order when an element is missing from the reference order (it then answers "less" both
//! ways). The result then depends on the exact sequence of comparisons and swaps, so to
//! order elements the way the API server does we run the same algorithm Go's standard
//! library uses: insertion sort on blocks of 20, then SymMerge (Kim & Kutzner) with
//! rotations. With a well-behaved comparator it is an ordinary stable sort.

/// Sorts `data` stably with `less`, comparing and swapping exactly as Go does.
pub(crate) fn slice_stable<T>(data: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, &mut less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, &mut less);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(data, a, a + block, b, &mut less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, &mut less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Merges the sorted runs `data[a..m]` and `data[m..b]`.
fn sym_merge<T>(
    data: &mut [T],
    a: usize,
    m: usize,
    b: usize,
    less: &mut impl FnMut(&T, &T) -> bool,
) {
    if m - a == 1 {
        // Binary search for the first i in [m, b) with !(data[i] < data[a]), then move
        // data[a] to just before it.
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        // Binary search for the first i in [a, m) with data[m] < data[i], then move
        // data[m] there.
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }

    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

/// Rotates `data[a..b]` so that `data[m..b]` comes first, by block swaps as Go does.
fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::slice_stable;

    #[test]
    fn sorts_stably_with_a_proper_order() {
        let mut v: Vec<(u32, usize)> = (0..100).map(|i| ((i * 37 % 11) as u32, i)).collect();
        let mut expected = v.clone();
        expected.sort_by_key(|x| x.0);
        slice_stable(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, expected);
    }

    #[test]
    fn always_less_reverses_a_short_slice_like_go() {
        // Go's insertion sort moves every element to the front when less is always
        // true, so a block of up to 20 comes out reversed.
        let mut v: Vec<u32> = (0..5).collect();
        slice_stable(&mut v, |_, _| true);
        assert_eq!(v, [4, 3, 2, 1, 0]);
    }
}
