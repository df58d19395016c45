//! Steps 2-4: the partial-signature exchanges, in charon's order: deposit
//! data per amount, builder registrations, then the lock hash over the lock
//! those two complete.

use crate::dkg::preflight::DEFAULT_GAS_LIMIT;
use crate::frost::bls::PublicKey;
use crate::lock::definition::ValidatorAddresses;
use crate::lock::lockfile::{
    BuilderRegistration, DepositRecord, DistValidator, Lock, RegistrationMessage,
};
use crate::lock::network::Network;
use crate::lock::signing;
use crate::p2p::parsigex::{SIG_LOCK, SIG_VALIDATOR_REGISTRATION, deposit_sig_type};

use super::error::CeremonyError;
use super::exchange::{Combine, exchange};
use super::keygen::{Keys, Share};
use super::session::Session;

/// Step 2's result: every validator's deposit data, one per amount.
pub(super) struct Deposited {
    keys: Keys,
    deposits: Vec<Vec<DepositRecord>>,
}

/// Step 3's result: the deposits and every validator's builder registration.
pub(super) struct Registered {
    keys: Keys,
    deposits: Vec<Vec<DepositRecord>>,
    registrations: Vec<BuilderRegistration>,
}

/// Step 4's result: the lock with its aggregate signature. The key shares
/// are not needed any more and are dropped (wiped) here.
pub(super) struct SignedLock {
    pub(super) lock: Lock,
    pub(super) lock_hash: [u8; 32],
    /// Validator public keys in lock order.
    pub(super) validators: Vec<PublicKey>,
}

/// Step 2: deposit data.
pub(super) async fn deposit_data(
    cx: &mut Session<'_>,
    keys: Keys,
) -> Result<Deposited, CeremonyError> {
    let cx = cx.enter(2).await?;
    let deposits = cx.guarded(2, deposits(cx, &keys.shares)).await?;
    Ok(Deposited { keys, deposits })
}

/// Step 3: builder registrations.
pub(super) async fn builder_registrations(
    cx: &mut Session<'_>,
    step2: Deposited,
) -> Result<Registered, CeremonyError> {
    let cx = cx.enter(3).await?;
    let Deposited { keys, deposits } = step2;
    let registrations = cx.guarded(3, registrations(cx, &keys.shares)).await?;
    Ok(Registered {
        keys,
        deposits,
        registrations,
    })
}

/// Step 4: the lock is complete; every share signs its hash.
pub(super) async fn lock_hash(
    cx: &mut Session<'_>,
    step3: Registered,
) -> Result<SignedLock, CeremonyError> {
    let cx = cx.enter(4).await?;
    let Registered {
        keys,
        deposits,
        registrations,
    } = step3;
    let mut lock = build_lock(cx, &keys.shares, deposits, registrations)?;
    let lock_hash = cx
        .guarded(4, lock_signature(cx, &keys.shares, &mut lock))
        .await?;
    Ok(SignedLock {
        lock,
        lock_hash,
        validators: keys.shares.iter().map(|s| s.pubkey).collect(),
    })
}

/// Validator `vi`'s address that `pick` selects, parsed; `what` names it in
/// the step's error. A validator without addresses parses the empty string.
fn validator_address(
    cx: &Session<'_>,
    step: u64,
    vi: usize,
    what: &str,
    pick: fn(&ValidatorAddresses) -> &String,
) -> Result<[u8; 20], CeremonyError> {
    let addr = cx
        .checked
        .definition
        .validator_addresses(vi)
        .map(|a| pick(a).as_str())
        .unwrap_or_default();
    crate::lock::k1::parse_address(addr)
        .map_err(|e| cx.fail(step, format!("validator {vi} {what}: {e}")))
}

/// Step 2: one exchange per deposit amount (ascending).
async fn deposits(
    cx: &Session<'_>,
    shares: &[Share],
) -> Result<Vec<Vec<DepositRecord>>, CeremonyError> {
    let def = &cx.checked.definition;
    let fork = fork4(&cx.checked.network);
    let mut out: Vec<Vec<DepositRecord>> = vec![Vec::new(); shares.len()];
    for (ai, &amount) in cx.checked.deposit_amounts.iter().enumerate() {
        let mut roots = Vec::with_capacity(shares.len());
        let mut wcs = Vec::with_capacity(shares.len());
        for (vi, s) in shares.iter().enumerate() {
            let addr =
                validator_address(cx, 2, vi, "withdrawal address", |a| &a.withdrawal_address)?;
            let wc = signing::withdrawal_credentials(&addr, def.compounding);
            roots.push(signing::deposit_signing_root(
                &s.pubkey.0,
                &wc,
                amount,
                fork,
            ));
            wcs.push(wc);
        }
        let what = format!("deposit ({} gwei)", amount);
        let sigs = exchange(
            cx,
            2,
            deposit_sig_type(ai),
            &what,
            shares,
            &roots,
            Combine::Threshold,
        )
        .await?;
        for (vi, sig) in sigs.into_iter().enumerate() {
            if let (Some(list), Some(s), Some(wc)) = (out.get_mut(vi), shares.get(vi), wcs.get(vi))
            {
                list.push(DepositRecord {
                    pubkey: s.pubkey.0.to_vec(),
                    withdrawal_credentials: wc.to_vec(),
                    amount,
                    signature: sig.0.to_vec(),
                });
            }
        }
        tracing::info!(
            amount_gwei = amount,
            validators = shares.len(),
            "Deposit data signed"
        );
    }
    Ok(out)
}

/// Step 3: pre-generated builder registrations.
async fn registrations(
    cx: &Session<'_>,
    shares: &[Share],
) -> Result<Vec<BuilderRegistration>, CeremonyError> {
    let def = &cx.checked.definition;
    let fork = fork4(&cx.checked.network);
    let gas = if def.target_gas_limit == 0 {
        DEFAULT_GAS_LIMIT
    } else {
        def.target_gas_limit
    };
    let ts = cx.checked.network.genesis_time;
    let mut fees = Vec::with_capacity(shares.len());
    let mut roots = Vec::with_capacity(shares.len());
    for (vi, s) in shares.iter().enumerate() {
        let fee = validator_address(cx, 3, vi, "fee recipient", |a| &a.fee_recipient_address)?;
        roots.push(signing::registration_signing_root(
            &fee,
            gas,
            ts,
            &s.pubkey.0,
            fork,
        ));
        fees.push(fee);
    }
    let sigs = exchange(
        cx,
        3,
        SIG_VALIDATOR_REGISTRATION,
        "builder registration",
        shares,
        &roots,
        Combine::Threshold,
    )
    .await?;
    Ok(sigs
        .into_iter()
        .zip(shares.iter().zip(fees))
        .map(|(sig, (s, fee))| BuilderRegistration {
            message: RegistrationMessage {
                fee_recipient: fee.to_vec(),
                gas_limit: gas,
                timestamp: ts,
                pubkey: s.pubkey.0.to_vec(),
            },
            signature: sig.0.to_vec(),
        })
        .collect())
}

fn build_lock(
    cx: &Session<'_>,
    shares: &[Share],
    deposits: Vec<Vec<DepositRecord>>,
    registrations: Vec<BuilderRegistration>,
) -> Result<Lock, CeremonyError> {
    let def = cx.checked.definition.clone();
    let version = def.version;
    let validators = shares
        .iter()
        .zip(deposits)
        .zip(registrations)
        .map(|((s, dd), reg)| DistValidator {
            pubkey: s.pubkey.0.to_vec(),
            public_shares: s.public_shares.values().map(|p| p.0.to_vec()).collect(),
            deposit_data: dd,
            builder_registration: if version.has_registrations() {
                reg
            } else {
                BuilderRegistration::default()
            },
        })
        .collect();
    let lock = Lock {
        definition: def,
        validators,
        signature_aggregate: Vec::new(),
        signature_aggregate_null: false,
        lock_hash: Vec::new(),
        node_signatures: Vec::new(),
    };
    // charon hashes the definition as loaded (its stored config hash is
    // part of the lock hash); only the JSON output refreshes it.
    let lock_hash = lock
        .lock_hash()
        .map_err(|e| cx.fail(4, format!("lock hash: {e}")))?;
    Ok(Lock {
        lock_hash: lock_hash.to_vec(),
        ..lock
    })
}

/// Step 4: every share signs the lock hash; the aggregate of all n x V
/// partial signatures becomes `signature_aggregate`.
async fn lock_signature(
    cx: &Session<'_>,
    shares: &[Share],
    lock: &mut Lock,
) -> Result<[u8; 32], CeremonyError> {
    let lock_hash: [u8; 32] = lock
        .lock_hash
        .as_slice()
        .try_into()
        .map_err(|_| cx.fail(4, "lock hash is not 32 bytes"))?;
    let roots = vec![lock_hash; shares.len()];
    // Each partial was verified against its public share, so their sum is
    // a valid aggregate over all n x V shares; step 6 checks it again.
    let agg = exchange(
        cx,
        4,
        SIG_LOCK,
        "lock hash",
        shares,
        &roots,
        Combine::Aggregate,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| cx.fail(4, "no lock hash signatures"))?;
    lock.signature_aggregate = agg.0.to_vec();
    tracing::info!(lock_hash = %format!("0x{}", hex::encode(lock_hash)), "Lock hash signed by every share");
    Ok(lock_hash)
}

fn fork4(n: &Network) -> [u8; 4] {
    n.genesis_fork_version
}
