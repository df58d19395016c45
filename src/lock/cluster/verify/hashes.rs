//! Config, definition and lock hashes against the ones stored in the file.

use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{Ctx, show_hex};

pub(super) fn definition_hashes(cx: Ctx, d: &Definition) -> Result<(), VerifyError> {
    let config = d.config_hash().map_err(|e| {
        cx.err("cannot compute config hash", Subject::File)
            .with(e.to_string())
    })?;
    if d.config_hash != config {
        return Err(cx.err("invalid config hash", Subject::File).with(format!(
            "file has {}, computed 0x{}",
            show_hex(&d.config_hash),
            hex::encode(config)
        )));
    }
    let def = d.definition_hash().map_err(|e| {
        cx.err("cannot compute definition hash", Subject::File)
            .with(e.to_string())
    })?;
    if d.definition_hash != def {
        return Err(cx
            .err("invalid definition hash", Subject::File)
            .with(format!(
                "file has {}, computed 0x{}",
                show_hex(&d.definition_hash),
                hex::encode(def)
            )));
    }
    Ok(())
}

pub(super) fn lock_hashes(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    definition_hashes(cx, &l.definition)?;
    if l.validators.len() as u64 != l.definition.num_validators {
        return Err(cx
            .err("lock validators count mismatch", Subject::File)
            .with(format!(
                "num_validators is {}, the lock has {} distributed validators",
                l.definition.num_validators,
                l.validators.len()
            )));
    }
    let h = l.lock_hash().map_err(|e| {
        cx.err("cannot compute lock hash", Subject::File)
            .with(e.to_string())
    })?;
    if l.lock_hash != h {
        return Err(cx.err("invalid lock hash", Subject::File).with(format!(
            "file has {}, computed 0x{}",
            show_hex(&l.lock_hash),
            hex::encode(h)
        )));
    }
    Ok(())
}
