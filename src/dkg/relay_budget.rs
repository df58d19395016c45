//! Whether a relay-only ceremony fits through the relay's circuits. A relay
//! resets a circuit once it has carried its data limit, so a ceremony too
//! large for it would fail after minutes of work; with the limit known from
//! the reservation, the node refuses in the first seconds instead.

/// Relayed bytes per validator in each direction of one peer's circuit,
/// excluding the commitments: measured on relay-only ceremonies (4 nodes,
/// threshold 3: 2,412 bytes per validator) and rounded down, so a ceremony
/// is refused only when it clearly cannot fit.
const BYTES_PER_VALIDATOR: u64 = 2_200;
/// Bytes per validator per direction for each FROST commitment (a compressed
/// G1 point with its framing).
const BYTES_PER_COMMITMENT: u64 = 60;

/// Bytes one circuit carries in each direction for `validators` validators
/// with threshold `threshold`.
pub fn estimated_bytes(validators: usize, threshold: usize) -> u64 {
    (validators as u64)
        .saturating_mul(BYTES_PER_VALIDATOR + BYTES_PER_COMMITMENT * threshold as u64)
}

/// Most validators whose ceremony fits `limit` bytes per circuit direction.
pub fn max_validators(limit: u64, threshold: usize) -> u64 {
    limit / (BYTES_PER_VALIDATOR + BYTES_PER_COMMITMENT * threshold as u64)
}

/// A relay-only ceremony that a relay's circuit limit cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this relay-only ceremony needs about {need_mib} MiB per peer and direction through the relay, \
     but relay {relay} resets circuits after {limit_mib} MiB: allow direct connections (drop \
     --p2p-relay-only), use a relay with a larger circuit limit, or split the cluster's \
     validators into ceremonies of at most {max_validators}"
)]
pub struct OverBudget {
    /// The relay whose reservation stated the limit.
    pub relay: String,
    /// Estimated MiB per circuit direction.
    pub need_mib: u64,
    /// The relay's limit in MiB.
    pub limit_mib: u64,
    /// Most validators that fit.
    pub max_validators: u64,
}

/// Checks a relay-only ceremony against `limit` (bytes per circuit
/// direction, as circuit relay v2 states it) of `relay`.
pub fn check(
    relay: &str,
    limit: u64,
    validators: usize,
    threshold: usize,
) -> Result<(), OverBudget> {
    let need = estimated_bytes(validators, threshold);
    if need <= limit {
        return Ok(());
    }
    Err(OverBudget {
        relay: relay.to_string(),
        need_mib: need.div_ceil(1 << 20),
        limit_mib: limit >> 20,
        max_validators: max_validators(limit, threshold),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHARON_LIMIT: u64 = 32 << 20;

    #[test]
    fn ten_thousand_validators_fit_charons_relay_and_thirty_thousand_do_not() {
        assert!(check("relay", CHARON_LIMIT, 10_000, 3).is_ok());
        let e = check("16Uiu2relay", CHARON_LIMIT, 30_000, 3).unwrap_err();
        assert_eq!(e.limit_mib, 32);
        assert!(e.need_mib > 32 && e.need_mib < 80, "{e:?}");
        assert!(e.max_validators >= 10_000 && e.max_validators < 30_000);
        let msg = e.to_string();
        for part in ["16Uiu2relay", "32 MiB", "--p2p-relay-only", "at most"] {
            assert!(msg.contains(part), "{msg}");
        }
    }

    #[test]
    fn the_estimate_stays_below_what_was_measured() {
        // 4 nodes x 100 validators relay-only: 1.38 MiB through each node's
        // relay socket, over 3 circuits in 2 directions.
        let measured = (1.38 * (1u64 << 20) as f64 / 6.0 / 100.0) as u64;
        let per_validator = estimated_bytes(1, 3);
        assert!(per_validator <= measured && per_validator * 10 >= measured * 9);
    }

    #[test]
    fn the_most_validators_that_fit_do_fit_and_one_more_does_not() {
        for (limit, t) in [(CHARON_LIMIT, 3), (64 << 20, 7), (1 << 20, 2)] {
            let max = max_validators(limit, t) as usize;
            assert!(check("r", limit, max, t).is_ok());
            assert!(check("r", limit, max + 1, t).is_err());
        }
    }
}
