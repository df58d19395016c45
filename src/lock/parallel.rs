//! Splitting CPU-bound work (key generation, keystore encryption and
//! decryption) over the machine's cores.

/// Runs `work(offset, chunk)` on consecutive chunks of `items` on scoped
/// threads, one per core, and concatenates the results in input order. Chunk
/// lengths are multiples of `granule` (batched work keeps its batches whole).
/// A panicking worker is reported as `Err` with its payload, never as
/// silently missing results.
pub(crate) fn map_chunks<T, R, F>(
    items: &[T],
    granule: usize,
    work: F,
) -> std::thread::Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> Vec<R> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    if threads == 1 {
        return Ok(work(0, items));
    }
    let chunk = items
        .len()
        .div_ceil(threads)
        .next_multiple_of(granule.max(1));
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| s.spawn(move || work(c * chunk, part)))
            .collect();
        // Every worker is joined (an unjoined panicked one would make
        // `scope` itself panic); the first failure is returned.
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        let mut out = Vec::with_capacity(items.len());
        for part in joined {
            out.extend(part?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_offsets_and_panics() {
        let items: Vec<usize> = (0..1000).collect();
        let out = map_chunks(&items, 16, |offset, part| {
            assert!(part.len() % 16 == 0 || offset + part.len() == 1000);
            part.iter()
                .enumerate()
                .map(|(j, v)| (offset + j, *v))
                .collect()
        })
        .unwrap();
        assert!(out.iter().enumerate().all(|(i, (o, v))| i == *o && i == *v));
        assert!(
            map_chunks(&[0u8; 0], 1, |_, p| p.to_vec())
                .unwrap()
                .is_empty()
        );
        let r = map_chunks(&items, 1, |offset, part| {
            // Every worker but the first fails.
            if offset > 0 {
                panic!("worker failed");
            }
            part.to_vec()
        });
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert!(r.is_err());
        }
    }
}
