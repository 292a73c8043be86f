//! A hint to the processor to start loading memory that a loop reads a few steps later:
//! random reads of a large array (the push ledger's entries, the duplicate check's slots)
//! then wait for memory side by side instead of one after another. It changes nothing the
//! program computes.

/// Rows ahead of the current one whose memory a loop asks for: enough reads in flight to
/// cover memory latency, few enough that the lines stay cached until they are used.
pub const AHEAD: usize = 16;

/// Starts loading the cache line of `values[at]` (nothing if `at` is past the end).
#[inline(always)]
pub fn prefetch<T>(values: &[T], at: usize) {
    if let Some(value) = values.get(at) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch of a live reference's address reads nothing the program sees and
        // cannot fault; SSE is part of every x86-64 processor.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (value as *const T).cast(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_past_the_end_does_nothing_and_values_are_unchanged() {
        let values = vec![7u64; 4];
        prefetch(&values, 2);
        prefetch(&values, 4);
        prefetch(&values, usize::MAX);
        prefetch::<u64>(&[], 0);
        assert_eq!(values, [7; 4]);
    }
}
