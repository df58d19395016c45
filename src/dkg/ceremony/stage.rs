//! Step 6: the lock is verified as charon does (with ERC-1271 signatures
//! asked of the execution client) and every output is staged in memory.
//! Keystores are encrypted meanwhile, from step 1 on.

use std::time::Duration;

use crate::dkg::output::{KEYS_DIR, LOCK_FILE, OutputSet};
use crate::frost::bls::{PublicKey, SecretKey};
use crate::lock::deposit::DepositData;
use crate::lock::keystore::{self, Keystore, Password};
use crate::lock::lockfile::Lock;
use crate::lock::verify::{VerifyOptions, verify_lock, verify_lock_deferred};

use super::config::{CeremonyConfig, Fault};
use super::error::CeremonyError;
use super::keygen::Keys;
use super::node_sigs::EndorsedLock;
use super::session::Session;

/// Keystores being encrypted on other threads.
pub(super) struct PendingKeystores(tokio::task::JoinHandle<Vec<(Keystore, Password)>>);

/// Step 6's result: everything to write, not yet on disk.
pub(super) struct Staged {
    /// The lock and deposit files, and the keystores unless a keymanager
    /// takes the keys.
    pub(super) outputs: OutputSet,
    pub(super) keystores: Vec<(Keystore, Password)>,
    pub(super) lock_hash: [u8; 32],
    /// Validator public keys in lock order.
    pub(super) validators: Vec<PublicKey>,
}

/// Starts encrypting every key share. Encrypting keystores is the slowest
/// local work (pbkdf2); it runs on other threads while the signature
/// exchanges wait on the network.
pub(super) fn encrypt_keystores(cfg: &CeremonyConfig, keys: &Keys) -> PendingKeystores {
    let secrets: Vec<SecretKey> = keys.shares.iter().map(|s| s.secret.clone()).collect();
    let c = cfg.keystore_pbkdf2_c;
    // Keymanager imports use charon's longer (32-byte) passwords.
    let password = if cfg.keymanager.is_some() {
        keystore::Password::random_keymanager
    } else {
        keystore::Password::random
    };
    PendingKeystores(tokio::task::spawn_blocking(move || {
        keystore::encrypt_many_with(&secrets, c, password)
    }))
}

/// Step 6, on the lock of step 5.
pub(super) async fn verify_and_stage(
    cx: &mut Session<'_>,
    step5: EndorsedLock,
    keystores: PendingKeystores,
) -> Result<Staged, CeremonyError> {
    let cx = cx.enter(6).await?;
    let EndorsedLock {
        lock,
        lock_hash,
        validators,
    } = step5;
    if !cx.cfg.no_verify {
        // Deposit signatures need no second check (see `outputs`).
        // Registration signatures, like the deposits' (see `outputs`), were
        // combined from verified partials; their structure is still checked.
        let opts = VerifyOptions {
            networks: cx.cfg.networks,
            check_deposits: false,
            registration_signatures: false,
        };
        match &cx.cfg.execution_client {
            None => verify_lock(&lock, &opts).map_err(|e| cx.fail(6, e))?,
            Some(client) => {
                let pending = verify_lock_deferred(&lock, &opts).map_err(|e| cx.fail(6, e))?;
                client.check(pending).await.map_err(|e| cx.fail(6, e))?;
            }
        }
        tracing::info!(
            "Lock verified: hashes, aggregate, shares, registrations, node signatures (each deposit and registration signature was combined from partials verified in steps 2-3)"
        );
    }
    let keystores = keystores
        .0
        .await
        .map_err(|e| cx.fail(6, format!("keystore encryption: {e}")))?;
    if keystores.len() != validators.len() {
        return Err(cx.fail(6, "keystore encryption lost keys"));
    }
    let mut outputs = outputs(cx, &lock, validators.len())?;
    if cx.cfg.keymanager.is_none() {
        add_keystores(&mut outputs, &keystores);
    }
    if cx.cfg.fault == Some(Fault::SlowBeforeStep7) {
        tokio::time::sleep(cx.cfg.timeout + Duration::from_secs(5)).await;
    }
    Ok(Staged {
        outputs,
        keystores,
        lock_hash,
        validators,
    })
}

/// The lock and deposit files; keystores are added by [`add_keystores`]
/// unless the keys go to a keymanager.
fn outputs(cx: &Session<'_>, lock: &Lock, validators: usize) -> Result<OutputSet, CeremonyError> {
    let mut set = OutputSet::default();
    // One deposit file per amount.
    for &amount in &cx.checked.deposit_amounts {
        let dds: Vec<DepositData> = lock
            .validators
            .iter()
            .filter_map(|v| v.deposit_data.iter().find(|d| d.amount == amount))
            .filter_map(|d| DepositData::try_from(d).ok())
            .collect();
        if dds.len() != validators {
            return Err(cx.fail(6, format!("missing deposit data for amount {amount} gwei")));
        }
        // Each signature was combined from partials verified against public
        // shares that verify_lock just proved reconstruct the validator's key:
        // it is that key's signature. Without that proof (--no-verify) the
        // signatures are checked here.
        let network = &cx.checked.network;
        let bytes = if cx.cfg.no_verify {
            crate::lock::deposit::marshal_deposit_data(&dds, network)
        } else {
            crate::lock::deposit::render_deposit_data(&dds, network)
        }
        .map_err(|e| cx.fail(6, e))?;
        set.add(
            crate::lock::deposit::deposit_file_name(amount),
            bytes,
            0o444,
        );
    }
    let json = lock.to_json().map_err(|e| cx.fail(6, e))?;
    set.add(LOCK_FILE, json, 0o444);
    Ok(set)
}

/// Stages `validator_keys/keystore-<i>.{json,txt}` (0444 / 0400).
pub(super) fn add_keystores(
    set: &mut OutputSet,
    keystores: &[(keystore::Keystore, keystore::Password)],
) {
    for (i, (ks, pw)) in keystores.iter().enumerate() {
        set.add(
            format!("{KEYS_DIR}/keystore-{i}.json"),
            keystore::to_json(ks),
            0o444,
        );
        set.add(
            format!("{KEYS_DIR}/keystore-{i}.txt"),
            pw.expose().as_bytes().to_vec(),
            0o400,
        );
    }
}
