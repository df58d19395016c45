//! Step 7: every peer has verified the lock, so the staged outputs are
//! committed to disk at once; with a keymanager, the keys are imported after
//! step 8 and the rest written then.

use crate::dkg::keymanager::Keymanager;
use crate::dkg::output::{KEYS_DIR, LOCK_FILE};
use crate::frost::bls::PublicKey;

use super::config::Outcome;
use super::error::CeremonyError;
use super::session::Session;
use super::shutdown::ShutDown;
use super::stage::{Staged, add_keystores};

/// Step 7's result.
pub(super) enum Written<'a> {
    /// Everything is on disk.
    Committed {
        lock_hash: [u8; 32],
        validators: Vec<PublicKey>,
    },
    /// The keys go to the keymanager after the shutdown handshake, the rest
    /// to disk with them.
    ForKeymanager { km: &'a Keymanager, staged: Staged },
}

/// Step 7, on the outputs step 6 staged.
pub(super) async fn write<'a>(
    cx: &mut Session<'a>,
    step6: Staged,
) -> Result<Written<'a>, CeremonyError> {
    cx.barrier(7).await?;
    let cfg = cx.cfg;
    let Some(km) = &cfg.keymanager else {
        step6.outputs.commit(&cx.cfg.data_dir)?;
        cx.progress.mark_committed();
        tracing::info!(
            data_dir = %cx.cfg.data_dir.display(),
            lock_hash = %format!("0x{}", hex::encode(step6.lock_hash)),
            "Outputs written: {LOCK_FILE}, {KEYS_DIR}/, deposit-data files"
        );
        return Ok(Written::Committed {
            lock_hash: step6.lock_hash,
            validators: step6.validators,
        });
    };
    Ok(Written::ForKeymanager { km, staged: step6 })
}

/// After step 8: the keymanager import, if any, and the ceremony's outcome.
pub(super) async fn finish(
    cx: &Session<'_>,
    step8: ShutDown<Written<'_>>,
) -> Result<Outcome, CeremonyError> {
    let (km, staged) = match step8.into_inner() {
        Written::Committed {
            lock_hash,
            validators,
        } => {
            return Ok(Outcome {
                lock_hash,
                validators,
                step_seconds: cx.steps.clone(),
            });
        }
        Written::ForKeymanager { km, staged } => (km, staged),
    };
    // Imported only once every peer has verified the lock, after the
    // shutdown handshake so a slow import cannot run into the peers'
    // shutdown timeout, and never at the cost of the keys: a refused
    // import falls back to disk.
    let Staged {
        mut outputs,
        keystores,
        lock_hash,
        validators,
    } = staged;
    let mut fallback = None;
    {
        tracing::info!(
            url = km.url(),
            keys = keystores.len(),
            "Importing keys into the keymanager"
        );
        match km.import(&keystores).await {
            Ok(()) => {
                tracing::info!(keys = keystores.len(), "Keys imported into the keymanager")
            }
            Err(e) => {
                tracing::error!(error = %e, "Keymanager import failed; writing keystores to disk instead");
                add_keystores(&mut outputs, &keystores);
                fallback = Some(e);
            }
        }
    }
    outputs.commit(&cx.cfg.data_dir)?;
    cx.progress.mark_committed();
    if let Some(source) = fallback {
        return Err(CeremonyError::KeymanagerFallback {
            source,
            keys_dir: cx.cfg.data_dir.join(KEYS_DIR).display().to_string(),
        });
    }
    tracing::info!(
        data_dir = %cx.cfg.data_dir.display(),
        lock_hash = %format!("0x{}", hex::encode(lock_hash)),
        "Outputs written: {LOCK_FILE}, deposit-data files (keys are in the keymanager)"
    );
    Ok(Outcome {
        lock_hash,
        validators,
        step_seconds: cx.steps.clone(),
    })
}
